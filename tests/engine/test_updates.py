"""``jaxvision.engine.updates``: a network's update keeps the state's types."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxvision.engine import updates
from jaxvision.engine.train_state import TrainState, create_network


def _state() -> TrainState:
    f32 = jnp.float32
    variables = {"params": {"w": jnp.ones(3, f32)}, "batch_stats": {"mean": jnp.zeros(3, f32)}}
    net = create_network(variables, optax.sgd(0.1), optax.constant_schedule(0.1))
    return TrainState.create({"model": net})


@pytest.mark.parametrize("update", ["apply_gradients", "update_model_state"])
def test_wider_statistics_keep_the_stored_dtype(update):
    # float64 activations give float64 batch statistics over float32 stored ones; kept as
    # float32, the next call's input types are the first's and the step compiles once.
    wide = {"batch_stats": {"mean": np.full(3, 0.5, np.float64)}}

    def step(state):
        if update == "apply_gradients":
            grads = {"w": jnp.ones(3, jnp.float32)}
            return updates.apply_gradients(state, "model", grads, wide)[0]
        return updates.update_model_state(state, "model", wide)

    with jax.enable_x64(True):
        jitted = jax.jit(step)
        once = jitted(_state())
        twice = jitted(once)
    mean = twice.networks["model"].model_state["batch_stats"]["mean"]
    assert mean.dtype == jnp.float32
    np.testing.assert_array_equal(mean, np.full(3, 0.5, np.float32))
