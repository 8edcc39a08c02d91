"""The one Optax optimizer factory of jaxvision: optimizer, LR schedule, decay mask, clipping.

Every task builds its optimizer here from an `ml_collections.ConfigDict`, so a run's
optimizer is fully described by its config and nothing is hard-coded in a train step.

The transformation built by `make_optimizer` is, in order::

    MultiSteps(                              # only when accumulation_steps > 1
        chain(
            clip_by_global_norm(grad_clip_norm),   # only when grad_clip_norm > 0
            <optimizer with schedule and masked weight decay>,
        ),
        every_k_schedule=accumulation_steps,
    )

Clipping sits inside the accumulation wrapper, so the *mean* gradient of the accumulated
micro-batches is clipped, exactly as the gradient of one large batch would be.

Weight decay:

- ``sgd``: classic L2 regularisation, ``optax.add_decayed_weights`` before ``optax.sgd``, i.e.
  ``g <- g + weight_decay * p`` (as in PyTorch's ``SGD(weight_decay=...)``).
- ``adamw`` / ``lamb`` / ``lars``: the optimizer's own weight decay, restricted by the mask.
  For ``lars`` the mask also selects the leaves that get the layer-wise trust ratio
  (SimCLR / BYOL convention: biases and norm parameters are neither decayed nor adapted).
- ``adam``: no weight decay; ``weight_decay > 0`` raises and points to ``adamw``.

Steps: ``total_steps`` and the returned schedule count *optimizer updates*. With
``accumulation_steps = k`` the inner optimizer (and so the schedule) advances once every
``k`` calls of ``update``; the learning rate in effect at micro-step ``s`` is
``schedule(s // k)``.

Example:
    >>> import jax.numpy as jnp
    >>> from jaxvision import optim
    >>> config = optim.default_config()
    >>> config.name = "adamw"
    >>> config.learning_rate = 1e-3
    >>> config.weight_decay = 0.05
    >>> config.warmup_steps = 100
    >>> tx, schedule = optim.make_optimizer(config, total_steps=1000)
    >>> params = {"kernel": jnp.ones((3, 4)), "bias": jnp.zeros((4,))}
    >>> opt_state = tx.init(params)
    >>> round(float(schedule(100)), 6)
    0.001
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

# Valid choices. -------------------------------------------------------------------------
OPTIMIZER_NAMES = ("sgd", "adam", "adamw", "lamb", "lars")
SCHEDULE_NAMES = ("constant", "warmup_cosine", "piecewise")
DECAY_MASK_NAMES = ("no_bias_no_norm", "all")

# Defaults. ------------------------------------------------------------------------------
DEFAULT_NAME = "sgd"
DEFAULT_LEARNING_RATE = 0.1
DEFAULT_MOMENTUM = 0.9
DEFAULT_NESTEROV = False
DEFAULT_B1 = 0.9
DEFAULT_B2 = 0.999
DEFAULT_EPS = 1e-8
DEFAULT_WEIGHT_DECAY = 0.0
DEFAULT_DECAY_MASK = "no_bias_no_norm"
DEFAULT_SCHEDULE = "warmup_cosine"
DEFAULT_WARMUP_STEPS = 0
DEFAULT_END_LEARNING_RATE_FACTOR = 0.0
DEFAULT_PIECEWISE_BOUNDARIES = (0.5, 0.75)
DEFAULT_PIECEWISE_FACTOR = 0.1
DEFAULT_GRAD_CLIP_NORM = 0.0
DEFAULT_ACCUMULATION_STEPS = 1
DEFAULT_LARS_TRUST_COEFFICIENT = 0.001
# Dynamic loss scaling (float16 compute only; applied by the train step, see
# `jaxvision.engine.loss_scale`, not by the transformation built here).
DEFAULT_INITIAL_LOSS_SCALE = 2.0**15
DEFAULT_LOSS_SCALE_PERIOD = 2000

# Leaves with at most this many dimensions (biases, norm scales/offsets, scalars) are
# excluded from weight decay by the "no_bias_no_norm" mask.
MAX_UNDECAYED_NDIM = 1
# Warmup ramps linearly from this fraction of the peak learning rate.
WARMUP_INIT_FACTOR = 0.0
# grad_clip_norm / accumulation_steps values that mean "off".
NO_CLIPPING = 0.0
NO_ACCUMULATION = 1

_FLOAT_KEYS = (
    "learning_rate",
    "momentum",
    "b1",
    "b2",
    "eps",
    "weight_decay",
    "end_learning_rate_factor",
    "piecewise_factor",
    "grad_clip_norm",
    "lars_trust_coefficient",
    "initial_loss_scale",
)
_INT_KEYS = ("warmup_steps", "accumulation_steps", "loss_scale_period")
_UNIT_INTERVAL_KEYS = ("momentum", "b1", "b2")  # must lie in [0, 1)
_NON_NEGATIVE_KEYS = (
    "learning_rate",
    "eps",
    "weight_decay",
    "end_learning_rate_factor",
    "grad_clip_norm",
)
_POSITIVE_KEYS = (
    "piecewise_factor",
    "lars_trust_coefficient",
    "initial_loss_scale",
    "loss_scale_period",
)

ConfigLike = ml_collections.ConfigDict | Mapping[str, Any]


def default_config() -> ml_collections.ConfigDict:
    """Returns the optimizer config with its defaults.

    Keys:
        name: one of ``OPTIMIZER_NAMES`` ("sgd", "adam", "adamw", "lamb", "lars").
        learning_rate: peak (warmup_cosine) or base (constant, piecewise) learning rate.
        momentum: momentum of sgd and lars (0 turns it off for sgd).
        nesterov: Nesterov momentum for sgd and lars; NAdam(W) for adam and adamw.
        b1, b2, eps: moment decay rates and epsilon of adam, adamw and lamb (eps is
            also lars' trust-ratio epsilon).
        weight_decay: decay coefficient; L2 on the gradient for sgd, decoupled for
            adamw / lamb / lars; must be 0 for adam.
        decay_mask: "no_bias_no_norm" (decay only leaves with ndim > 1) or "all".
        schedule: one of ``SCHEDULE_NAMES``.
        warmup_steps: linear warmup from 0 to the learning rate; applies to every schedule.
        end_learning_rate_factor: final learning rate of warmup_cosine, as a fraction of
            the peak.
        piecewise_boundaries: increasing fractions of ``total_steps`` in (0, 1) at which
            the piecewise schedule multiplies the learning rate by ``piecewise_factor``.
        piecewise_factor: multiplier applied at each piecewise boundary.
        grad_clip_norm: global-norm gradient clipping threshold; 0 turns it off.
        accumulation_steps: gradients of this many micro-steps are averaged before one
            optimizer update (``optax.MultiSteps``); 1 turns it off.
        lars_trust_coefficient: LARS trust coefficient.
        initial_loss_scale: first dynamic loss scale of a float16 run (``model.dtype``);
            unused otherwise. Applied by the train step (``jaxvision.engine.loss_scale``).
        loss_scale_period: finite-gradient steps in a row after which the loss scale
            doubles (it halves, and the update is skipped, on a non-finite gradient).

    Returns:
        A fresh, unlocked ``ml_collections.ConfigDict``.

    Example:
        >>> config = default_config()
        >>> config.name = "lars"
        >>> config.weight_decay = 1e-6
    """
    config = ml_collections.ConfigDict()
    config.name = DEFAULT_NAME
    config.learning_rate = DEFAULT_LEARNING_RATE
    config.momentum = DEFAULT_MOMENTUM
    config.nesterov = DEFAULT_NESTEROV
    config.b1 = DEFAULT_B1
    config.b2 = DEFAULT_B2
    config.eps = DEFAULT_EPS
    config.weight_decay = DEFAULT_WEIGHT_DECAY
    config.decay_mask = DEFAULT_DECAY_MASK
    config.schedule = DEFAULT_SCHEDULE
    config.warmup_steps = DEFAULT_WARMUP_STEPS
    config.end_learning_rate_factor = DEFAULT_END_LEARNING_RATE_FACTOR
    config.piecewise_boundaries = DEFAULT_PIECEWISE_BOUNDARIES
    config.piecewise_factor = DEFAULT_PIECEWISE_FACTOR
    config.grad_clip_norm = DEFAULT_GRAD_CLIP_NORM
    config.accumulation_steps = DEFAULT_ACCUMULATION_STEPS
    config.lars_trust_coefficient = DEFAULT_LARS_TRUST_COEFFICIENT
    config.initial_loss_scale = DEFAULT_INITIAL_LOSS_SCALE
    config.loss_scale_period = DEFAULT_LOSS_SCALE_PERIOD
    return config


def decay_mask_fn(kind: str) -> Callable[[Any], Any]:
    """Returns a function mapping params to a same-structure pytree of bools.

    ``True`` marks a leaf that receives weight decay.

    Args:
        kind: "no_bias_no_norm" (True only for leaves with ``ndim > 1``: conv and dense
            kernels, embeddings; False for biases, BatchNorm/LayerNorm scales and offsets
            and scalars) or "all" (True everywhere).

    Returns:
        A callable ``params -> pytree of bool``, usable as an Optax ``mask=``.

    Raises:
        ValueError: if ``kind`` is not one of ``DECAY_MASK_NAMES``.

    Example:
        >>> import jax.numpy as jnp
        >>> mask = decay_mask_fn("no_bias_no_norm")
        >>> mask({"kernel": jnp.ones((3, 4)), "bias": jnp.zeros((4,))})
        {'bias': False, 'kernel': True}
    """
    if kind == "no_bias_no_norm":
        return lambda params: jax.tree.map(lambda p: jnp.ndim(p) > MAX_UNDECAYED_NDIM, params)
    if kind == "all":
        return lambda params: jax.tree.map(lambda _: True, params)
    raise ValueError(_unknown_message("decay_mask", kind, DECAY_MASK_NAMES))


def make_schedule(config: ConfigLike, total_steps: int) -> optax.Schedule:
    """Builds the learning-rate schedule described by ``config``.

    Schedules (``lr`` = ``config.learning_rate``, ``w`` = ``config.warmup_steps``):

    - "constant": ``lr``.
    - "warmup_cosine": linear 0 -> ``lr`` over ``w`` steps, then cosine decay to
      ``lr * end_learning_rate_factor`` at ``total_steps`` (held after it).
    - "piecewise": ``lr`` multiplied by ``piecewise_factor`` at every step
      ``round(b * total_steps)`` for ``b`` in ``piecewise_boundaries`` (from that step on).

    For "constant" and "piecewise", ``w > 0`` multiplies the schedule by a linear ramp
    ``min(step / w, 1)`` (Goyal et al. warmup); boundaries stay absolute steps.

    Args:
        config: optimizer config (see `default_config`); missing keys take defaults.
        total_steps: number of optimizer updates of the run (not micro-steps).

    Returns:
        An ``optax.Schedule``: optimizer-update count -> learning rate.

    Raises:
        ValueError: on an unknown schedule or invalid numbers.

    Example:
        >>> config = default_config()
        >>> config.update(learning_rate=0.1, schedule="piecewise", piecewise_factor=0.1)
        >>> schedule = make_schedule(config, total_steps=100)
        >>> round(float(schedule(80)), 6)
        0.001
    """
    cfg = _resolve(config, total_steps)
    return _make_schedule(cfg, total_steps)


def make_optimizer(
    config: ConfigLike, total_steps: int
) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """Builds the optimizer (clipping, optimizer with schedule, masked decay, accumulation).

    Args:
        config: optimizer config (see `default_config`); missing keys take defaults,
            unknown keys raise.
        total_steps: number of optimizer updates of the run. With
            ``accumulation_steps = k`` the run makes ``k * total_steps`` calls of
            ``update``; the schedule advances once per ``k`` of them.

    Returns:
        ``(tx, schedule)``: the ``optax.GradientTransformation`` and the learning-rate
        schedule it uses (indexed by optimizer update; log ``schedule(step // k)``).

    Raises:
        ValueError: on an unknown name / schedule / decay_mask, on ``adam`` with weight
            decay, on ``nesterov`` without momentum or with ``lamb``, and on invalid numbers.

    Example:
        >>> import jax.numpy as jnp
        >>> config = default_config()
        >>> config.update(name="sgd", learning_rate=0.1, weight_decay=1e-4)
        >>> tx, schedule = make_optimizer(config, total_steps=1000)
        >>> params = {"kernel": jnp.ones((3, 4)), "bias": jnp.zeros((4,))}
        >>> state = tx.init(params)
        >>> updates, state = tx.update(params, state, params)
        >>> params = optax.apply_updates(params, updates)
    """
    cfg = _resolve(config, total_steps)
    schedule = _make_schedule(cfg, total_steps)
    mask = decay_mask_fn(cfg["decay_mask"])
    name = cfg["name"]
    weight_decay = cfg["weight_decay"]

    if name == "sgd":
        momentum = cfg["momentum"] or None  # 0 -> plain SGD without a momentum buffer.
        opt = optax.sgd(schedule, momentum=momentum, nesterov=cfg["nesterov"])
        if weight_decay > 0:
            opt = optax.chain(optax.add_decayed_weights(weight_decay, mask=mask), opt)
    elif name == "adam":
        opt = optax.adam(
            schedule, b1=cfg["b1"], b2=cfg["b2"], eps=cfg["eps"], nesterov=cfg["nesterov"]
        )
    elif name == "adamw":
        opt = optax.adamw(
            schedule,
            b1=cfg["b1"],
            b2=cfg["b2"],
            eps=cfg["eps"],
            weight_decay=weight_decay,
            mask=mask,
            nesterov=cfg["nesterov"],
        )
    elif name == "lamb":
        opt = optax.lamb(
            schedule,
            b1=cfg["b1"],
            b2=cfg["b2"],
            eps=cfg["eps"],
            weight_decay=weight_decay,
            mask=mask,
        )
    else:  # lars; the name was validated in _resolve.
        opt = optax.lars(
            schedule,
            weight_decay=weight_decay,
            weight_decay_mask=mask,
            trust_coefficient=cfg["lars_trust_coefficient"],
            eps=cfg["eps"],
            trust_ratio_mask=mask,
            momentum=cfg["momentum"],
            nesterov=cfg["nesterov"],
        )

    if cfg["grad_clip_norm"] > NO_CLIPPING:
        opt = optax.chain(optax.clip_by_global_norm(cfg["grad_clip_norm"]), opt)
    if cfg["accumulation_steps"] > NO_ACCUMULATION:
        opt = optax.MultiSteps(
            opt, every_k_schedule=cfg["accumulation_steps"]
        ).gradient_transformation()
    return opt, schedule


# Internals. -----------------------------------------------------------------------------


def _make_schedule(cfg: dict[str, Any], total_steps: int) -> optax.Schedule:
    """Builds the schedule from an already validated config dict."""
    lr = cfg["learning_rate"]
    warmup_steps = cfg["warmup_steps"]
    kind = cfg["schedule"]
    if kind == "warmup_cosine":
        return optax.warmup_cosine_decay_schedule(
            init_value=lr * WARMUP_INIT_FACTOR,
            peak_value=lr,
            warmup_steps=warmup_steps,
            decay_steps=total_steps,
            end_value=lr * cfg["end_learning_rate_factor"],
        )
    if kind == "constant":
        base = optax.constant_schedule(lr)
    else:  # piecewise
        scales: dict[int, float] = {}
        for fraction in cfg["piecewise_boundaries"]:
            step = round(fraction * total_steps)
            # Fractions that round to the same step compound, as they would unrounded.
            scales[step] = scales.get(step, 1.0) * cfg["piecewise_factor"]
        base = optax.piecewise_constant_schedule(lr, scales)
    if warmup_steps == 0:
        return base
    ramp = optax.linear_schedule(WARMUP_INIT_FACTOR, 1.0, warmup_steps)
    return lambda count: base(count) * ramp(count)


def _unknown_message(key: str, value: Any, valid: tuple[str, ...]) -> str:
    return f"Unknown {key} {value!r}; valid: {', '.join(valid)}."


def _resolve(config: ConfigLike, total_steps: int) -> dict[str, Any]:
    """Merges ``config`` over the defaults and validates every value, in a fixed order.

    Args:
        config: optimizer config (see `default_config`); missing keys take defaults.
        total_steps: number of optimizer updates of the run.

    Returns:
        A dict of every default key: numbers coerced, ``piecewise_boundaries`` a tuple.
    """
    cfg = _merge_with_defaults(config)
    _check_total_steps(total_steps)
    _check_choices(cfg)
    cfg = _coerce_numbers(cfg)
    _check_ranges(cfg)
    _check_warmup_steps(cfg, total_steps)
    cfg = {**cfg, "piecewise_boundaries": _piecewise_boundaries(cfg)}
    _check_optimizer_options(cfg)
    return cfg


def _merge_with_defaults(config: ConfigLike) -> dict[str, Any]:
    """The defaults updated with ``config``; raises on a key the defaults do not have."""
    cfg = default_config().to_dict()
    given = config.to_dict() if isinstance(config, ml_collections.ConfigDict) else dict(config)
    unknown = sorted(set(given) - set(cfg))
    if unknown:
        raise ValueError(f"Unknown optimizer config keys {unknown}; valid: {', '.join(cfg)}.")
    cfg.update(given)
    return cfg


def _check_total_steps(total_steps: int) -> None:
    """Raises unless ``total_steps`` is a positive int (bools rejected)."""
    is_int = isinstance(total_steps, numbers.Integral) and not isinstance(total_steps, bool)
    if not is_int or total_steps < 1:
        raise ValueError(f"total_steps must be a positive int, got {total_steps!r}.")


def _check_choices(cfg: dict[str, Any]) -> None:
    """Raises on a name, schedule or decay mask outside its valid choices."""
    for key, valid in (
        ("name", OPTIMIZER_NAMES),
        ("schedule", SCHEDULE_NAMES),
        ("decay_mask", DECAY_MASK_NAMES),
    ):
        if cfg[key] not in valid:
            raise ValueError(_unknown_message(key, cfg[key], valid))


def _coerce_numbers(cfg: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``cfg`` with floats and ints coerced; raises on bools and wrong kinds."""
    cfg = dict(cfg)
    for key in _FLOAT_KEYS:
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{key} must be a number, got {value!r}.")
        cfg[key] = float(value)
    for key in _INT_KEYS:
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{key} must be an int, got {value!r}.")
        cfg[key] = int(value)
    return cfg


def _check_ranges(cfg: dict[str, Any]) -> None:
    """Raises on a number outside its range (each key checked on its own)."""
    for key in _NON_NEGATIVE_KEYS:
        if cfg[key] < 0:
            raise ValueError(f"{key} must be >= 0, got {cfg[key]}.")
    for key in _POSITIVE_KEYS:
        if cfg[key] <= 0:
            raise ValueError(f"{key} must be > 0, got {cfg[key]}.")
    for key in _UNIT_INTERVAL_KEYS:
        if not 0 <= cfg[key] < 1:
            raise ValueError(f"{key} must be in [0, 1), got {cfg[key]}.")
    if cfg["warmup_steps"] < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {cfg['warmup_steps']}.")
    if cfg["accumulation_steps"] < NO_ACCUMULATION:
        raise ValueError(f"accumulation_steps must be >= 1, got {cfg['accumulation_steps']}.")


def _check_warmup_steps(cfg: dict[str, Any], total_steps: int) -> None:
    """Raises when the warmup does not fit in the run (strictly, for warmup_cosine)."""
    if cfg["schedule"] == "warmup_cosine" and cfg["warmup_steps"] >= total_steps:
        raise ValueError(
            f"warmup_steps ({cfg['warmup_steps']}) must be < total_steps ({total_steps}) "
            "for the warmup_cosine schedule."
        )
    if cfg["warmup_steps"] > total_steps:
        raise ValueError(
            f"warmup_steps ({cfg['warmup_steps']}) must be <= total_steps ({total_steps})."
        )


def _piecewise_boundaries(cfg: dict[str, Any]) -> tuple[Any, ...]:
    """``piecewise_boundaries`` as a tuple; for the piecewise schedule, checked as well."""
    boundaries = cfg["piecewise_boundaries"]
    if isinstance(boundaries, numbers.Real):
        boundaries = (boundaries,)
    boundaries = tuple(boundaries)
    if cfg["schedule"] == "piecewise" and (
        not all(isinstance(b, numbers.Real) and 0 < b < 1 for b in boundaries)
        or any(a >= b for a, b in zip(boundaries, boundaries[1:], strict=False))
    ):
        raise ValueError(
            "piecewise_boundaries must be strictly increasing fractions of total_steps "
            f"in (0, 1), got {boundaries}."
        )
    return boundaries


def _check_optimizer_options(cfg: dict[str, Any]) -> None:
    """Raises on weight decay with adam, and on nesterov where the optimizer cannot do it."""
    if cfg["name"] == "adam" and cfg["weight_decay"] > 0:
        raise ValueError(
            "adam does not take weight_decay (L2 in Adam is not weight decay); "
            "use name='adamw' for decoupled weight decay."
        )
    if cfg["nesterov"]:
        if cfg["name"] == "lamb":
            raise ValueError(
                "nesterov is not supported by lamb; valid with sgd, adam, adamw, lars."
            )
        if cfg["name"] in ("sgd", "lars") and cfg["momentum"] == 0:
            raise ValueError(f"nesterov needs momentum > 0 for {cfg['name']}.")
