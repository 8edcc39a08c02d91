"""A few steps of the restoration GAN (a tiny DeblurGAN) on a synthetic batch, through the
engine's compiled step: shared by tests/tasks/test_restoration_gan.py and its 4-device child
(``python -m tests.tasks.gan_steps``, which prints the result as JSON)."""

from __future__ import annotations

import json

import jax
import numpy as np

from tests.engine import runs

STEPS = 3
BATCH = 8
SIZE = 32
TINY = {
    "model.kwargs.features": 8,
    "model.kwargs.num_blocks": 1,
    "discriminator.kwargs.features": 8,
    "gan.d_steps": 2,
    "total_steps": 10,
    "optimizers.generator.warmup_steps": 1,
    "init_from.workdir": "",  # from scratch, not from a deblur_small run
}


def config(**overrides):
    return runs.named_config("deblurgan_small", {**TINY, **overrides})


def run(**overrides) -> dict:
    """Losses of each step, and whether each network's parameters moved."""
    from jaxvision.data.sources import DatasetMeta
    from jaxvision.engine import build, steps
    from jaxvision.engine import mesh as mesh_lib
    from jaxvision.engine.sharding import shardings_of

    setup = build.build(
        config(**overrides), DatasetMeta("synthetic", (), BATCH), mesh_lib.make_mesh()
    )
    images = np.random.default_rng(0).integers(0, 256, (BATCH, SIZE, SIZE, 3), np.uint8)
    batch = mesh_lib.global_batch({"image": images}, setup.mesh)
    state = build.init_state(setup, batch, jax.random.key(0))
    before = jax.device_get({n: net.params for n, net in state.networks.items()})
    step = steps.compile_train_step(setup.task, setup.mesh, shardings_of(state))
    losses = []
    for i in range(STEPS):
        state, metrics = step(state, batch, jax.random.fold_in(jax.random.key(1), i))
        losses.append([float(metrics["d_loss"]), float(metrics["g_loss"])])
    after = jax.device_get({n: net.params for n, net in state.networks.items()})
    moved = {
        name: any(
            not np.array_equal(a, b)
            for a, b in zip(
                jax.tree.leaves(before[name]), jax.tree.leaves(after[name]), strict=True
            )
        )
        for name in before
    }
    updates = {n: int(net.step) for n, net in state.networks.items()}
    return {"losses": losses, "moved": moved, "updates": updates}


if __name__ == "__main__":
    print(json.dumps(run()))
