"""``restoration.self_ensemble``: evaluation and prediction average the restoring network over
flips and transposes of its input (``jaxvision.ops.self_ensemble``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.tasks.base import MODEL
from tests.engine import runs

# A tiny generator that does not start as the identity, so that transforms change its output.
TINY = {
    "model.kwargs.features": 4,
    "model.kwargs.num_blocks": 1,
    "model.kwargs.zero_init_output": False,
}


def _task(transforms: int):
    from jaxvision.data.sources import DatasetMeta
    from jaxvision.engine import build
    from jaxvision.engine import mesh as mesh_lib

    config = runs.named_config("deblur_small", {**TINY, "restoration.self_ensemble": transforms})
    return build.build(config, DatasetMeta("synthetic", (), 2), mesh_lib.make_mesh()).task


def test_predict_averages_the_transforms_of_a_padded_image():
    plain, ensembled = _task(1), _task(8)
    # 10 x 14 pads to 12 x 16 (multiples of 4); its transpose is 16 x 12.
    images = np.random.default_rng(0).integers(0, 256, (1, 10, 14, 3), np.uint8)
    init = jax.jit(lambda key: plain.model.init(key, jnp.zeros((1, 12, 16, 3))))
    variables = {MODEL: init(jax.random.key(0))}
    one = np.asarray(jax.jit(plain.predict)(variables, jnp.asarray(images))["restored"])
    eight = np.asarray(jax.jit(ensembled.predict)(variables, jnp.asarray(images))["restored"])
    apply = jax.jit(lambda y: plain.model.apply(variables[MODEL], y, train=False))
    assert one.shape == eight.shape == (1, 10, 14, 3)
    assert not np.array_equal(one, eight)
    # By hand: the 8 dihedral transforms of the padded input, mapped back, averaged.
    x = jnp.pad(
        jnp.asarray(images, jnp.float32) / 255.0, ((0, 0), (0, 2), (0, 2), (0, 0)), "reflect"
    )
    outs = []
    for transposed in (False, True):
        for k in range(4):
            y = jnp.swapaxes(x, 1, 2) if transposed else x
            y = jnp.flip(y, [a for a, on in ((1, k & 2), (2, k & 1)) if on])
            out = apply(y)
            out = jnp.flip(out, [a for a, on in ((1, k & 2), (2, k & 1)) if on])
            outs.append(jnp.swapaxes(out, 1, 2) if transposed else out)
    want = np.asarray(jnp.round(jnp.mean(jnp.stack(outs), 0)[:, :10, :14] * 255.0))
    assert np.abs(eight.astype(np.float32) - want).max() <= 1.0  # rounding at the uint8 edge


def test_an_unknown_transform_count_is_refused_at_start():
    with pytest.raises(ValueError, match="self_ensemble must be one of"):
        _task(3)
