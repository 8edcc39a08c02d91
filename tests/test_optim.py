"""Tests for jaxvision.optim: optimizers, schedules, decay mask, clipping, accumulation."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from jaxvision import optim

TARGET = {"kernel": jnp.full((3, 2), 2.0), "bias": jnp.full((2,), -1.0)}


def _config(**overrides) -> ml_collections.ConfigDict:
    config = optim.default_config()
    config.update(overrides)
    return config


def _params():
    return {"kernel": jnp.zeros((3, 2)), "bias": jnp.zeros((2,))}


def _quadratic(params):
    return sum(jnp.sum((params[k] - TARGET[k]) ** 2) for k in params)


def _apply(tx, params, grads_seq):
    """Runs tx over a sequence of gradient pytrees; returns the final params."""
    state = tx.init(params)
    update = jax.jit(tx.update)
    for grads in grads_seq:
        updates, state = update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return params


class _TinyNet(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Conv(4, (3, 3))(x)
        x = nn.BatchNorm(use_running_average=not train)(x)
        x = nn.LayerNorm()(x)
        return nn.Dense(2)(x.mean(axis=(1, 2)))


@pytest.fixture(scope="module")
def net_params():
    """Params of a tiny conv + norm + dense net, all ones (shapes via eval_shape: no compile)."""
    init = lambda: _TinyNet().init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)))["params"]
    return jax.tree.map(lambda s: jnp.ones(s.shape, s.dtype), jax.eval_shape(init))


def test_default_config_keys():
    config = optim.default_config()
    assert config.name in optim.OPTIMIZER_NAMES
    assert config.schedule in optim.SCHEDULE_NAMES
    assert config.decay_mask in optim.DECAY_MASK_NAMES
    assert config.accumulation_steps == 1
    assert config.grad_clip_norm == 0.0


@pytest.mark.parametrize("name", optim.OPTIMIZER_NAMES)
def test_every_optimizer_decreases_quadratic(name):
    weight_decay = 0.0 if name == "adam" else 1e-4
    tx, _ = optim.make_optimizer(
        _config(name=name, learning_rate=0.05, schedule="constant", weight_decay=weight_decay),
        total_steps=10,
    )

    @jax.jit
    def step(params, state):
        updates, state = tx.update(jax.grad(_quadratic)(params), state, params)
        return optax.apply_updates(params, updates), state

    params = _params()
    state = tx.init(params)
    losses = [float(_quadratic(params))]
    for _ in range(5):
        params, state = step(params, state)
        losses.append(float(_quadratic(params)))
    assert losses[-1] < losses[0]
    assert all(b <= a for a, b in zip(losses, losses[1:], strict=False))


def test_sgd_nesterov_matches_numpy():
    lr, mu, wd = 0.1, 0.9, 0.01
    tx, _ = optim.make_optimizer(
        _config(
            name="sgd",
            learning_rate=lr,
            momentum=mu,
            nesterov=True,
            weight_decay=wd,
            schedule="constant",
        ),
        total_steps=3,
    )
    rng = np.random.default_rng(0)
    params = {"kernel": rng.normal(size=(3, 2)), "bias": rng.normal(size=(2,))}
    grads_seq = [{k: rng.normal(size=v.shape) for k, v in params.items()} for _ in range(3)]

    expected = {k: v.copy() for k, v in params.items()}
    trace = {k: np.zeros_like(v) for k, v in params.items()}
    for grads in grads_seq:
        for k in expected:
            g = grads[k] + (wd * expected[k] if k == "kernel" else 0.0)  # bias: no decay
            trace[k] = g + mu * trace[k]
            expected[k] = expected[k] - lr * (g + mu * trace[k])

    to_jnp = lambda t: jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), t)
    got = _apply(tx, to_jnp(params), [to_jnp(g) for g in grads_seq])
    for k in expected:
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-5, atol=1e-6)


def test_decay_mask_skips_bias_and_norm(net_params):
    mask = optim.decay_mask_fn("no_bias_no_norm")(net_params)
    assert mask["Conv_0"] == {"kernel": True, "bias": False}
    assert mask["BatchNorm_0"] == {"scale": False, "bias": False}
    assert mask["LayerNorm_0"] == {"scale": False, "bias": False}
    assert mask["Dense_0"] == {"kernel": True, "bias": False}
    assert all(jax.tree.leaves(optim.decay_mask_fn("all")(net_params)))


@pytest.mark.parametrize("name", ["sgd", "adamw", "lamb", "lars"])
@pytest.mark.parametrize("decay_mask", optim.DECAY_MASK_NAMES)
def test_huge_weight_decay_shrinks_only_masked_leaves(net_params, name, decay_mask):
    params = net_params  # all ones: non-zero everywhere, biases too
    zero_grads = jax.tree.map(jnp.zeros_like, params)
    tx, _ = optim.make_optimizer(
        _config(
            name=name,
            learning_rate=0.1,
            weight_decay=5.0,
            decay_mask=decay_mask,
            schedule="constant",
            momentum=0.0 if name == "sgd" else 0.9,
            lars_trust_coefficient=1.0,  # the default 1e-3 shrinks by only lr * 1e-3
        ),
        total_steps=1,
    )
    new = _apply(tx, params, [zero_grads])
    mask = optim.decay_mask_fn(decay_mask)(params)
    for path_new, m in zip(jax.tree.leaves(new), jax.tree.leaves(mask), strict=True):
        norm = float(jnp.linalg.norm(path_new))
        norm_before = float(np.sqrt(path_new.size))
        if m:
            assert norm < 0.95 * norm_before
        else:
            assert norm == pytest.approx(norm_before)


def test_warmup_cosine_schedule():
    peak, warmup, total, end_factor = 0.4, 10, 110, 0.1
    schedule = optim.make_schedule(
        _config(
            learning_rate=peak,
            schedule="warmup_cosine",
            warmup_steps=warmup,
            end_learning_rate_factor=end_factor,
        ),
        total_steps=total,
    )
    assert float(schedule(0)) == pytest.approx(0.0)
    assert float(schedule(warmup // 2)) == pytest.approx(peak / 2)
    assert float(schedule(warmup)) == pytest.approx(peak)
    midpoint = warmup + (total - warmup) // 2
    assert float(schedule(midpoint)) == pytest.approx(peak * (1 + end_factor) / 2)
    assert float(schedule(total)) == pytest.approx(peak * end_factor)
    assert float(schedule(total + 50)) == pytest.approx(peak * end_factor)


def test_piecewise_schedule():
    lr, factor = 0.1, 0.1
    schedule = optim.make_schedule(
        _config(
            learning_rate=lr,
            schedule="piecewise",
            piecewise_boundaries=(0.5, 0.75),
            piecewise_factor=factor,
        ),
        total_steps=100,
    )
    for step, value in [(0, lr), (49, lr), (50, lr * factor), (74, lr * factor)]:
        assert float(schedule(step)) == pytest.approx(value), step
    assert float(schedule(75)) == pytest.approx(lr * factor**2)
    assert float(schedule(100)) == pytest.approx(lr * factor**2)


def test_piecewise_with_warmup_and_constant():
    warm = optim.make_schedule(
        _config(learning_rate=0.2, schedule="piecewise", warmup_steps=10), total_steps=100
    )
    assert float(warm(0)) == pytest.approx(0.0)
    assert float(warm(5)) == pytest.approx(0.1)
    assert float(warm(10)) == pytest.approx(0.2)
    assert float(warm(60)) == pytest.approx(0.02)
    constant = optim.make_schedule(_config(learning_rate=0.3, schedule="constant"), 100)
    assert float(constant(0)) == pytest.approx(0.3)
    assert float(constant(10_000)) == pytest.approx(0.3)


def test_clipping_matches_optax_clip_by_hand():
    lr, max_norm = 0.1, 1.0
    tx, _ = optim.make_optimizer(
        _config(
            name="sgd",
            learning_rate=lr,
            momentum=0.0,
            schedule="constant",
            grad_clip_norm=max_norm,
        ),
        total_steps=1,
    )
    params = _params()
    grads = {"kernel": jnp.full((3, 2), 100.0), "bias": jnp.full((2,), -50.0)}
    updates, _ = tx.update(grads, tx.init(params), params)

    clip = optax.clip_by_global_norm(max_norm)
    clipped, _ = clip.update(grads, clip.init(params))
    assert float(optax.global_norm(clipped)) == pytest.approx(max_norm)
    for k in grads:
        np.testing.assert_allclose(updates[k], -lr * clipped[k], rtol=1e-6)


def test_accumulation_equals_mean_gradient_step():
    k, updates_count = 4, 2
    # Piecewise with a boundary at update 1: also checks the schedule advances per update.
    common = dict(
        name="adamw",
        learning_rate=0.1,
        weight_decay=0.1,
        schedule="piecewise",
        piecewise_boundaries=(0.5,),
        grad_clip_norm=1.0,
    )
    tx_acc, _ = optim.make_optimizer(
        _config(accumulation_steps=k, **common), total_steps=updates_count
    )
    tx_one, _ = optim.make_optimizer(_config(**common), total_steps=updates_count)

    rng = np.random.default_rng(1)
    micro = [
        {"kernel": jnp.asarray(rng.normal(size=(3, 2)), jnp.float32),
         "bias": jnp.asarray(rng.normal(size=(2,)), jnp.float32)}
        for _ in range(k * updates_count)
    ]  # fmt: skip
    means = [
        jax.tree.map(lambda *g: sum(g) / k, *micro[i * k : (i + 1) * k])
        for i in range(updates_count)
    ]
    params = jax.tree.map(lambda a: a + 0.5, _params())

    partial = _apply(tx_acc, params, micro[: k - 1])
    for key in params:  # no update before the k-th micro-step
        np.testing.assert_array_equal(partial[key], params[key])
    got = _apply(tx_acc, params, micro)
    expected = _apply(tx_one, params, means)
    for key in params:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("overrides", "needles"),
    [
        ({"name": "rmsprop"}, optim.OPTIMIZER_NAMES),
        ({"schedule": "linear"}, optim.SCHEDULE_NAMES),
        ({"decay_mask": "kernels"}, optim.DECAY_MASK_NAMES),
        ({"name": "adam", "weight_decay": 0.1}, ("adamw",)),
        ({"learning_rate": -0.1}, ("learning_rate",)),
        ({"weight_decay": -1.0}, ("weight_decay",)),
        ({"momentum": 1.5}, ("momentum",)),
        ({"grad_clip_norm": -1.0}, ("grad_clip_norm",)),
        ({"accumulation_steps": 0}, ("accumulation_steps",)),
        ({"warmup_steps": -1}, ("warmup_steps",)),
        ({"warmup_steps": 100, "schedule": "warmup_cosine"}, ("warmup_steps",)),
        ({"schedule": "piecewise", "piecewise_boundaries": (0.75, 0.5)}, ("piecewise",)),
        ({"schedule": "piecewise", "piecewise_boundaries": (0.5, 1.5)}, ("piecewise",)),
        ({"nesterov": True, "momentum": 0.0}, ("nesterov",)),
        ({"name": "lamb", "nesterov": True}, ("nesterov",)),
    ],
)
def test_invalid_config_raises(overrides, needles):
    with pytest.raises(ValueError) as info:
        optim.make_optimizer(_config(**overrides), total_steps=100)
    for needle in needles:
        assert needle in str(info.value)


def test_invalid_decay_mask_fn_and_keys_and_steps():
    with pytest.raises(ValueError, match="no_bias_no_norm, all"):
        optim.decay_mask_fn("bias_only")
    with pytest.raises(ValueError, match="learning_rate"):
        optim.make_optimizer({"learning_rat": 0.1}, total_steps=10)
    with pytest.raises(ValueError, match="total_steps"):
        optim.make_optimizer(optim.default_config(), total_steps=0)
    with pytest.raises(ValueError, match="warmup_cosine"):
        optim.make_schedule(_config(schedule="cosine"), total_steps=10)


def test_partial_mapping_config_uses_defaults():
    tx, schedule = optim.make_optimizer({"name": "adamw", "learning_rate": 1e-3}, 10)
    assert float(schedule(0)) == pytest.approx(1e-3)
    assert tx.init(_params()) is not None
