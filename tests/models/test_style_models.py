"""The style-transfer networks: Johnson et al.'s transformation network and AdaIN's decoder."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision import models
from jaxvision.models.adain import AdaINDecoder
from jaxvision.models.transform_net import TransformNet


def _key(seed: int = 0) -> jax.Array:
    """An rbg key: XLA:CPU compiles threefry's inits slowly (see tests/models/test_vit.py)."""
    return jax.random.key(seed, impl="rbg")


def _count(variables) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(variables))


def _conv(k: int, cin: int, cout: int) -> int:
    return k * k * cin * cout + cout


def test_transform_net_has_the_papers_layers_and_keeps_the_size():
    model = models.get_model("transform_net")
    images = jax.random.uniform(_key(0), (2, 20, 28, 3))
    variables = jax.eval_shape(model.init, _key(1), images)
    # 9x9 in, two stride-2 3x3, 5 residual blocks of two 3x3 at 128, two 3x3 up, 9x9 out,
    # and a scale and a shift for every instance norm (all convs but the last).
    convs = (
        _conv(9, 3, 32) + _conv(3, 32, 64) + _conv(3, 64, 128) + 10 * _conv(3, 128, 128)
        + _conv(3, 128, 64) + _conv(3, 64, 32) + _conv(9, 32, 3)
    )  # fmt: skip
    norms = 2 * (32 + 64 + 128 + 10 * 128 + 64 + 32)
    assert _count(variables) == convs + norms
    small = TransformNet(features=4, num_blocks=1)
    out = jax.jit(small.apply)(jax.jit(small.init)(_key(1), images), images)
    assert out.shape == images.shape and out.dtype == jnp.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_transform_net_refuses_sizes_that_are_not_multiples_of_4():
    with pytest.raises(ValueError, match="multiples of 4"):
        TransformNet(features=4, num_blocks=1).init(_key(0), jnp.zeros((1, 18, 16, 3)))


def test_adain_decoder_mirrors_vgg19_up_to_relu4_1():
    decoder = models.get_model("adain_decoder")
    features = jnp.ones((1, 3, 5, 512))
    variables = jax.eval_shape(decoder.init, _key(0), features)
    widths = [(512, 256), *[(256, 256)] * 3, (256, 128), (128, 128), (128, 64), (64, 64), (64, 3)]
    assert _count(variables) == sum(_conv(3, cin, cout) for cin, cout in widths)
    assert set(variables["params"]) == {"dec4_1", "dec1_1", "dec1_2", "dec2_1", "dec2_2"} | {
        f"dec3_{i}" for i in range(1, 5)
    }
    small = AdaINDecoder(widths=(8, 4, 4))
    out = jax.jit(small.apply)(jax.jit(small.init)(_key(0), features), features)
    assert out.shape == (1, 24, 40, 3)


def test_adain_decoder_refuses_a_wrong_number_of_widths():
    with pytest.raises(ValueError, match="blocks 3, 2 and 1"):
        AdaINDecoder(widths=(8, 8)).init(_key(0), jnp.ones((1, 2, 2, 512)))
