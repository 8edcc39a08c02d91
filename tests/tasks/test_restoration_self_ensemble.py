"""``restoration.self_ensemble``: evaluation and prediction average the restoring network over
flips and transposes of its input (``jaxvision.ops.self_ensemble``), in the fidelity and the
GAN restoration tasks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.engine import runs
from tests.ops.test_self_ensemble import dihedral_mean

# A tiny generator that does not start as the identity, so that transforms change its output.
TINY = {
    "model.kwargs.features": 4,
    "model.kwargs.num_blocks": 1,
    "model.kwargs.zero_init_output": False,
    "init_from.workdir": "",
}
CONFIGS = ("deblur_small", "deblurgan_small")


def _task(name: str, transforms: int):
    from jaxvision.data.sources import DatasetMeta
    from jaxvision.engine import build
    from jaxvision.engine import mesh as mesh_lib

    config = runs.named_config(name, {**TINY, "restoration.self_ensemble": transforms})
    return build.build(config, DatasetMeta("synthetic", (), 2), mesh_lib.make_mesh()).task


def _variables(task, shape):
    module = task.restoring_module
    init = jax.jit(lambda key: module.init(key, jnp.zeros(shape)))
    return {task.restoring_network: init(jax.random.key(0))}


def _by_hand(task, variables, x):
    """The mean over the 8 dihedral transforms of ``x``, each output mapped back."""
    net = variables[task.restoring_network]
    apply = jax.jit(lambda y: task.restoring_module.apply(net, y, train=False))
    return dihedral_mean(apply, x)


@pytest.mark.parametrize("name", CONFIGS)
def test_predict_averages_the_transforms_of_a_padded_image(name):
    plain, ensembled = _task(name, 1), _task(name, 8)
    # 10 x 14 pads to 12 x 16 (multiples of 4); its transpose is 16 x 12.
    images = np.random.default_rng(0).integers(0, 256, (1, 10, 14, 3), np.uint8)
    variables = _variables(plain, (1, 12, 16, 3))
    one = np.asarray(jax.jit(plain.predict)(variables, jnp.asarray(images))["restored"])
    eight = np.asarray(jax.jit(ensembled.predict)(variables, jnp.asarray(images))["restored"])
    assert one.shape == eight.shape == (1, 10, 14, 3)
    assert not np.array_equal(one, eight)
    x = jnp.pad(
        jnp.asarray(images, jnp.float32) / 255.0, ((0, 0), (0, 2), (0, 2), (0, 0)), "reflect"
    )
    want = np.asarray(jnp.round(_by_hand(plain, variables, x)[:, :10, :14] * 255.0))
    assert np.abs(eight.astype(np.float32) - want).max() <= 1.0  # rounding at the uint8 edge


def test_evaluation_restores_the_blurred_inputs_with_the_ensemble():
    task = _task("deblur_small", 8)
    images = np.random.default_rng(1).integers(0, 256, (2, 16, 20, 3), np.uint8)
    batch = {
        "image": jnp.asarray(images),
        "image_size": jnp.asarray([[16, 20], [12, 16]]),
        "index": jnp.asarray([0, 1]),
    }
    variables = _variables(task, (1, 16, 20, 3))
    out = jax.jit(task.eval_forward)(variables, batch)
    assert not np.array_equal(np.asarray(out["inputs"]), images / 255.0)  # blurred
    want = _by_hand(task, variables, out["inputs"])
    np.testing.assert_allclose(np.asarray(out["restored"]), np.asarray(want), atol=1e-5)


def test_an_unknown_transform_count_is_refused_at_start():
    with pytest.raises(ValueError, match="self_ensemble must be one of"):
        _task("deblur_small", 3)
