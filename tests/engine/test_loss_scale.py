"""Dynamic loss scaling in the train step, and mixed-precision training of a tiny ResNet."""

from __future__ import annotations

import grain
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from jaxvision import optim
from jaxvision.data.sources import DatasetMeta
from jaxvision.engine import checkpoint, loss_scale, train_state
from jaxvision.tasks.base import MODEL, SingleNetworkTask
from jaxvision.tasks.classification import ClassificationTask

NUM_CLASSES = 4
BATCH = 8
IMAGE = 16
LEARNING_RATE = 0.05


# A toy task: loss = sum(w * poison(x)); `poison` is the identity forward and multiplies
# the cotangent by `batch["grad_factor"]` backward, so an Inf gradient can be injected
# with a finite loss (as a float16 backward pass overflows while its forward does not).
@jax.custom_vjp
def _poison(x, factor):
    return x


def _poison_fwd(x, factor):
    return x, factor


def _poison_bwd(factor, g):
    return g * factor, jnp.zeros_like(factor)


_poison.defvjp(_poison_fwd, _poison_bwd)


class _ToyTask:
    """Duck-typed ``SingleNetworkTask``: its train step only calls ``loss``."""

    train_step = SingleNetworkTask.train_step

    def loss(self, params, model_state, batch, rng):
        w = _poison(params["w"], batch["grad_factor"])  # [3]
        loss = jnp.sum(w * batch["x"])
        new_state = {"calls": {"n": model_state["calls"]["n"] + 1}}
        return loss, (new_state, {})


def _state(variables, tx, scaler=None, schedule=None):
    schedule = schedule or optax.constant_schedule(0.1)
    net = train_state.create_network(variables, tx, schedule)
    return train_state.TrainState.create({MODEL: net}, loss_scale=scaler)


def _net(state):
    return state.networks[MODEL]


def _toy_step(scaler, grad_factor: float, state=None):
    if state is None:
        variables = {"params": {"w": jnp.ones(3)}, "calls": {"n": jnp.zeros(())}}
        state = _state(variables, optax.adam(0.1), scaler)
    batch = {"x": jnp.array([1.0, 2.0, 3.0]), "grad_factor": jnp.asarray(grad_factor)}
    step = jax.jit(_ToyTask().train_step)
    return state, step(state, batch, jax.random.key(0))


def test_injected_inf_gradient_skips_the_update_and_halves_the_scale():
    before, (after, metrics) = _toy_step(loss_scale.create(2.0**10, period=5), jnp.inf)
    np.testing.assert_array_equal(_net(after).params["w"], _net(before).params["w"])
    jax.tree.map(np.testing.assert_array_equal, _net(after).opt_state, _net(before).opt_state)
    assert float(_net(after).model_state["calls"]["n"]) == 0  # the skipped step's state is dropped
    assert int(after.step) == 1 == int(_net(after).step)  # ... but the step counts
    assert float(after.loss_scale.scale) == 2.0**9
    assert int(after.loss_scale.good_steps) == 0
    assert float(metrics["loss_scale"]) == 2.0**10
    assert float(metrics["grads_finite"]) == 0.0
    assert np.isfinite(float(metrics["loss"]))


def test_finite_step_applies_the_unscaled_gradient():
    scaled_before, (scaled, metrics) = _toy_step(loss_scale.create(2.0**10, period=5), 1.0)
    _, (plain, plain_metrics) = _toy_step(None, 1.0)
    # Powers of two scale exactly: the same update as without scaling.
    np.testing.assert_array_equal(_net(scaled).params["w"], _net(plain).params["w"])
    assert not np.array_equal(_net(scaled).params["w"], _net(scaled_before).params["w"])
    assert float(metrics["loss"]) == float(plain_metrics["loss"]) == 6.0
    assert float(_net(scaled).model_state["calls"]["n"]) == 1
    assert float(scaled.loss_scale.scale) == 2.0**10
    assert int(scaled.loss_scale.good_steps) == 1
    assert "loss_scale" not in plain_metrics and plain.loss_scale is None


def test_scale_doubles_after_the_period_of_finite_steps():
    period = 3
    scaler = loss_scale.create(8.0, period=period)
    scales = []
    for _ in range(2 * period):
        scaler = scaler.adjust(jnp.asarray(True))
        scales.append(float(scaler.scale))
    assert scales == [8.0, 8.0, 16.0, 16.0, 16.0, 32.0]
    assert int(scaler.good_steps) == 0
    # An overflow resets the clock: the next doubling is a full period away.
    scaler = scaler.adjust(jnp.asarray(False))
    assert float(scaler.scale) == 16.0
    for _ in range(period - 1):
        scaler = scaler.adjust(jnp.asarray(True))
    assert float(scaler.scale) == 16.0


def test_scale_never_falls_below_the_minimum():
    scaler = loss_scale.create(2.0, period=10)
    for _ in range(3):
        scaler = scaler.adjust(jnp.asarray(False))
    assert float(scaler.scale) == loss_scale.MIN_SCALE


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="initial_loss_scale"):
        loss_scale.create(0.0)
    with pytest.raises(ValueError, match="loss_scale_period"):
        loss_scale.create(2.0, period=0)
    config = optim.default_config()
    config.loss_scale_period = 0
    with pytest.raises(ValueError, match="loss_scale_period"):
        optim.make_optimizer(config, total_steps=10)


def _config(dtype: str) -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict(
        {
            "model": {"name": "resnet_tiny", "dtype": dtype, "kwargs": {"stem": "cifar"}},
            "label_smoothing": 0.0,
            "dataset": {"train_pp": "", "eval_pp": ""},
            "optimizer": optim.default_config(),
        }
    )
    config.optimizer.update(name="sgd", learning_rate=LEARNING_RATE, schedule="constant")
    return config


def _setup(dtype: str):
    """A ClassificationTask on ResNetTiny, its optimizer, a step-0 state and a fixed batch."""
    config = _config(dtype)
    names = tuple(f"c{i}" for i in range(NUM_CLASSES))
    task = ClassificationTask(config, DatasetMeta("synthetic", names, BATCH))
    rng = np.random.default_rng(0)
    batch = {
        "image": jnp.asarray(rng.integers(0, 256, (BATCH, IMAGE, IMAGE, 3)), jnp.uint8),
        "label": jnp.asarray(np.arange(BATCH) % NUM_CLASSES, jnp.int32),
    }
    tx, schedule = optim.make_optimizer(config.optimizer, total_steps=100)
    variables = jax.jit(task.init_variables)(jax.random.key(0, impl="rbg"), batch)[MODEL]
    state = _state(variables, tx, loss_scale.from_config(config), schedule)
    return task, tx, schedule, state, batch


def test_float32_step_is_bitwise_a_plain_value_and_grad_step():
    task, tx, schedule, state, batch = _setup("float32")
    assert state.loss_scale is None
    rng = jax.random.key(1)

    @jax.jit
    def reference(params, model_state, opt_state):
        grad_fn = jax.value_and_grad(task.loss, has_aux=True)
        (_, (model_state, _)), grads = grad_fn(params, model_state, batch, rng)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), model_state, opt_state

    step = jax.jit(task.train_step)
    expected = (_net(state).params, _net(state).model_state, _net(state).opt_state)
    for _ in range(2):
        state, metrics = step(state, batch, rng)
        expected = reference(*expected)
        jax.tree.map(
            np.testing.assert_array_equal,
            (_net(state).params, _net(state).model_state, _net(state).opt_state),
            expected,
        )
    assert "loss_scale" not in metrics


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_reduced_precision_resnet_fits_a_batch(dtype):
    task, tx, schedule, state, batch = _setup(dtype)
    assert (state.loss_scale is not None) == (dtype == "float16")
    assert {p.dtype for p in jax.tree.leaves(_net(state).params)} == {jnp.dtype(jnp.float32)}
    step = jax.jit(task.train_step)
    losses = []
    for i in range(8):
        state, metrics = step(state, batch, jax.random.key(i))
        losses.append(float(metrics["loss"]))
    assert np.all(np.isfinite(losses)), losses
    assert losses[-1] < 0.8 * losses[0], losses
    assert {p.dtype for p in jax.tree.leaves(_net(state).params)} == {jnp.dtype(jnp.float32)}
    if dtype == "float16":
        assert float(metrics["loss_scale"]) > 0
        assert float(metrics["grads_finite"]) == 1.0


def test_loss_scale_is_checkpointed_and_float32_checkpoints_keep_their_structure(tmp_path):
    tx = optax.sgd(0.1)
    variables = {"params": {"w": jnp.ones(3)}}
    plain = _state(variables, tx)
    assert set(checkpoint._leaves_by_path(plain)) == {
        "step",
        "networks/model/step",
        "networks/model/params/w",
    }

    scaled = _state(variables, tx, loss_scale.create(2.0**7, period=9))
    scaled = scaled.replace(loss_scale=scaled.loss_scale.adjust(jnp.asarray(False)))
    data = iter(grain.MapDataset.range(4).to_iter_dataset())
    ckpt = checkpoint.Checkpointer(str(tmp_path / "ckpt"))
    try:
        ckpt.save(1, scaled, data)
        ckpt.wait()
        fresh = _state(variables, tx, loss_scale.create(2.0**7, period=9))
        restored = ckpt.restore_latest(fresh)
    finally:
        ckpt.close()
    assert float(restored.loss_scale.scale) == 2.0**6
    assert restored.loss_scale.period == 9
