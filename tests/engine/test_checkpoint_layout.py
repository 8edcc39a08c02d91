"""What a checkpoint holds; old single-network checkpoints restore or are refused, never misread."""

from __future__ import annotations

import os

import flax
import grain
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

from jaxvision.engine import checkpoint, train_state
from jaxvision.engine.checkpoint import CheckpointError


@flax.struct.dataclass
class _OldTrainState:
    """The state's layout before named networks, as the old engine saved it."""

    step: jax.Array
    params: dict
    model_state: dict
    opt_state: object
    loss_scale: object = None


def _variables(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "params": {"w": jnp.asarray(rng.normal(size=(3, 2)), jnp.float32)},
        "batch_stats": {"mean": jnp.asarray(rng.normal(size=2), jnp.float32)},
    }


def _net(seed: int, tx=None, ema: float = 0.0) -> train_state.NetworkState:
    tx = tx or optax.adam(1e-3)
    return train_state.create_network(_variables(seed), tx, optax.constant_schedule(1e-3), 1, ema)


def _data():
    return iter(grain.MapDataset.range(8).to_iter_dataset())


def _save_old(directory: str, step: int) -> _OldTrainState:
    """A checkpoint written as the old engine wrote it (its state class, the same items)."""
    tx = optax.adam(1e-3)
    variables = _variables(7)
    params = variables.pop("params")
    opt_state = tx.update(params, tx.init(params), params)[1]  # one update: non-zero moments
    old = _OldTrainState(jnp.asarray(step, jnp.int32), params, variables, opt_state)
    manager = ocp.CheckpointManager(
        directory,
        options=ocp.CheckpointManagerOptions(create=True),
        item_handlers={
            checkpoint.STATE_ITEM: ocp.StandardCheckpointHandler(),
            checkpoint.DATA_ITEM: grain.checkpoint.CheckpointHandler(),
        },
    )
    manager.save(
        step,
        args=ocp.args.Composite(
            **{
                checkpoint.STATE_ITEM: ocp.args.StandardSave(old),
                checkpoint.DATA_ITEM: grain.checkpoint.CheckpointSave(_data()),
            }
        ),
    )
    manager.wait_until_finished()
    manager.close()
    return old


def _restore(directory: str, state):
    ckpt = checkpoint.Checkpointer(directory)
    try:
        return ckpt.restore_latest(state, _data())
    finally:
        ckpt.close()


def test_an_old_single_network_checkpoint_restores_into_its_fields(tmp_path):
    old = _save_old(str(tmp_path), step=5)
    state = train_state.TrainState.create({"model": _net(0)})
    restored = _restore(str(tmp_path), state)
    net = restored.networks["model"]
    assert int(restored.step) == 5 and int(net.step) == 5
    np.testing.assert_array_equal(net.params["w"], old.params["w"])
    np.testing.assert_array_equal(
        net.model_state["batch_stats"]["mean"], old.model_state["batch_stats"]["mean"]
    )
    jax.tree.map(np.testing.assert_array_equal, net.opt_state, old.opt_state)
    assert net.tx is state.networks["model"].tx  # the run's optimizer, not a saved one


@pytest.mark.parametrize(
    "networks, message",
    [
        ({"generator": 0, "discriminator": 1}, r"trains \['discriminator', 'generator'\]"),
        ({"model": "ema"}, "holds no EMA"),
    ],
)
def test_an_old_checkpoint_is_refused_where_it_cannot_fit(tmp_path, networks, message):
    _save_old(str(tmp_path), step=5)
    nets = {
        name: _net(0, ema=0.9) if seed == "ema" else _net(seed) for name, seed in networks.items()
    }
    with pytest.raises(CheckpointError, match=message):
        _restore(str(tmp_path), train_state.TrainState.create(nets))
    assert os.listdir(tmp_path / "5")  # left in place


def test_checkpoints_hold_networks_and_emas_but_not_frozen_variables(tmp_path):
    frozen = {"features": {"params": {"k": jnp.ones((4, 4))}}}
    state = train_state.TrainState.create(
        {"generator": _net(1, ema=0.5), "discriminator": _net(2)}, frozen=frozen
    )
    ckpt = checkpoint.Checkpointer(str(tmp_path))
    ckpt.save(3, state.replace(step=jnp.asarray(3, jnp.int32)), _data())
    ckpt.wait()
    ckpt.close()
    saved = ocp.PyTreeCheckpointer().restore(str(tmp_path / "3" / checkpoint.STATE_ITEM))
    assert sorted(saved["networks"]) == ["discriminator", "generator"]
    assert "ema_params" in saved["networks"]["generator"]
    assert not saved.get("frozen")
    fresh = train_state.TrainState.create(
        {"generator": _net(9, ema=0.5), "discriminator": _net(8)}, frozen=frozen
    )
    restored = _restore(str(tmp_path), fresh)
    assert int(restored.step) == 3
    pairs = zip(jax.tree.leaves(restored.networks), jax.tree.leaves(state.networks), strict=True)
    assert all(np.array_equal(a, b) for a, b in pairs)
    assert restored.frozen is fresh.frozen  # the run's own frozen variables
