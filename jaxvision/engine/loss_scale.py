"""Dynamic loss scaling for float16 compute (Micikevicius et al., 2018, "Mixed Precision Training").

float16 has 5 exponent bits: gradients below ~6e-8 flush to zero. The loss is multiplied by a
large scale before differentiation, so the backward pass runs in float16's representable
range, and the gradients are divided by it afterwards (in float32, the dtype of the master
weights). A non-finite gradient means the scale was too large: the update is skipped and the
scale halved. After ``period`` finite steps in a row the scale is doubled, to probe for more
range. bfloat16 has float32's exponent range and needs none of this.

The state is a small pytree (two scalars) carried in ``TrainState.loss_scale``, so it is
jitted, sharded (replicated) and checkpointed with the rest; the period is static.

Example:
  >>> ls = create(initial_scale=2.0**15, period=2000)
  >>> params = {"w": jnp.full(3, 0.25)}  # float32 master weights
  >>> loss_fn = lambda p: jnp.sum(p["w"].astype(jnp.float16) ** 2)  # float16 compute
  >>> scaled_grads = jax.grad(lambda p: ls.scale_loss(loss_fn(p)))(params)
  >>> grads = ls.unscale(scaled_grads)
  >>> grads["w"]
  Array([0.5, 0.5, 0.5], dtype=float32)
  >>> finite = all_finite(grads)  # apply the update only where finite (select_tree)
  >>> ls = ls.adjust(finite)
  >>> ls.scale, ls.good_steps  # a finite step: the scale stays, the clock advances
  (Array(32768., dtype=float32), Array(1, dtype=int32))
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections

from jaxvision import optim

# The compute dtype that turns dynamic loss scaling on.
SCALED_DTYPE = "float16"
DEFAULT_INITIAL_SCALE = optim.DEFAULT_INITIAL_LOSS_SCALE  # 2**15
DEFAULT_PERIOD = optim.DEFAULT_LOSS_SCALE_PERIOD  # 2000
# The scale is multiplied by this after `period` finite steps and divided by it on overflow.
GROWTH_FACTOR = 2.0
# The scale never falls below this (a scale < 1 would only lose gradient range).
MIN_SCALE = 1.0


@flax.struct.dataclass
class DynamicLossScale:
    """The loss scale and its clock.

    Attributes:
      scale: the current scale (float32 scalar).
      good_steps: finite steps since the scale last changed (int32 scalar).
      period: finite steps in a row after which the scale doubles (static).
    """

    scale: jax.Array
    good_steps: jax.Array
    period: int = flax.struct.field(pytree_node=False, default=DEFAULT_PERIOD)

    def scale_loss(self, loss: jax.Array) -> jax.Array:
        """``loss * scale`` (float32), the quantity to differentiate."""
        return loss.astype(jnp.float32) * self.scale

    def unscale(self, grads: Any) -> Any:
        """Gradients of the scaled loss divided by the scale, in float32."""
        inverse = 1.0 / self.scale
        return jax.tree.map(lambda g: g.astype(jnp.float32) * inverse, grads)

    def adjust(self, finite: jax.Array) -> DynamicLossScale:
        """The next scale: halved (and the clock reset) if not ``finite``, doubled every period.

        Args:
          finite: whether this step's gradients were all finite (bool scalar).

        Returns:
          The updated ``DynamicLossScale``.
        """
        good = self.good_steps + 1  # []
        grow = good >= self.period  # []
        grown = jnp.where(grow, self.scale * GROWTH_FACTOR, self.scale)
        scale = jnp.where(finite, grown, jnp.maximum(self.scale / GROWTH_FACTOR, MIN_SCALE))
        good_steps = jnp.where(finite & ~grow, good, 0).astype(jnp.int32)
        return self.replace(scale=scale.astype(jnp.float32), good_steps=good_steps)


def create(
    initial_scale: float = DEFAULT_INITIAL_SCALE, period: int = DEFAULT_PERIOD
) -> DynamicLossScale:
    """A fresh loss scale.

    Args:
      initial_scale: the first scale (> 0).
      period: finite steps in a row before the scale doubles (>= 1).

    Returns:
      The ``DynamicLossScale``.

    Raises:
      ValueError: for a non-positive scale or period.

    Example:
      >>> create(2.0**15, 2000).scale
      Array(32768., dtype=float32)
    """
    if not initial_scale > 0:
        raise ValueError(f"initial_loss_scale must be > 0, got {initial_scale}")
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise ValueError(f"loss_scale_period must be an int >= 1, got {period!r}")
    return DynamicLossScale(
        scale=jnp.asarray(initial_scale, jnp.float32),
        good_steps=jnp.zeros((), jnp.int32),
        period=period,
    )


def from_config(config: ml_collections.ConfigDict) -> DynamicLossScale | None:
    """The run's loss scale: one when ``model.dtype`` is float16, else None (off).

    Reads ``model.dtype``, ``optimizer.initial_loss_scale`` and
    ``optimizer.loss_scale_period`` (defaults when a saved config predates them).

    Example:
      >>> import ml_collections
      >>> config = ml_collections.ConfigDict({"model": {"dtype": "bfloat16"}, "optimizer": {}})
      >>> from_config(config) is None  # float32 / bfloat16 runs
      True
      >>> config.model.dtype = "float16"
      >>> from_config(config).scale
      Array(32768., dtype=float32)
    """
    if config.model.get("dtype", "float32") != SCALED_DTYPE:
        return None
    opt = config.optimizer
    return create(
        float(opt.get("initial_loss_scale", DEFAULT_INITIAL_SCALE)),
        int(opt.get("loss_scale_period", DEFAULT_PERIOD)),
    )


def all_finite(tree: Any) -> jax.Array:
    """Whether every element of every leaf is finite (bool scalar)."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.asarray(True)
    return jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]).all()


def select_tree(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """``on_true`` where the bool scalar ``pred`` holds, else ``on_false`` (same structure)."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)
