"""`jaxvision.ops.pixel_shuffle` against torch.nn.PixelShuffle / PixelUnshuffle (exact layout)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxvision.ops.pixel_shuffle import pixel_shuffle, pixel_unshuffle


def _nchw_to_nhwc(x: torch.Tensor) -> np.ndarray:
    return x.numpy().transpose(0, 2, 3, 1)


@pytest.mark.parametrize(
    ("b", "c", "r", "h", "w"), [(2, 3, 2, 5, 7), (1, 2, 3, 4, 3), (3, 1, 4, 2, 2)]
)
def test_pixel_shuffle_matches_torch_exactly(b, c, r, h, w):
    x = torch.arange(b * c * r * r * h * w, dtype=torch.float32).reshape(b, c * r * r, h, w)
    expected = _nchw_to_nhwc(torch.nn.PixelShuffle(r)(x))  # [b, h * r, w * r, c]
    y = pixel_shuffle(jnp.asarray(_nchw_to_nhwc(x)), r)
    assert y.shape == (b, h * r, w * r, c)
    np.testing.assert_array_equal(np.asarray(y), expected)


@pytest.mark.parametrize(("b", "c", "r", "h", "w"), [(2, 3, 2, 5, 7), (1, 2, 3, 4, 3)])
def test_pixel_unshuffle_matches_torch_exactly_and_inverts(b, c, r, h, w):
    x = torch.randn(b, c, h * r, w * r, generator=torch.Generator().manual_seed(0))
    expected = _nchw_to_nhwc(torch.nn.PixelUnshuffle(r)(x))  # [b, h, w, c * r * r]
    x_nhwc = jnp.asarray(_nchw_to_nhwc(x))
    y = pixel_unshuffle(x_nhwc, r)
    np.testing.assert_array_equal(np.asarray(y), expected)
    np.testing.assert_array_equal(np.asarray(pixel_shuffle(y, r)), np.asarray(x_nhwc))


def test_sub_pixel_conv_weights_convert_with_a_plain_transpose():
    """A torch conv + PixelShuffle equals the OIHW->HWIO conv + pixel_shuffle."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4 * 5, 3, padding=1)
    x = torch.randn(2, 3, 6, 5)
    with torch.no_grad():
        expected = _nchw_to_nhwc(torch.nn.PixelShuffle(2)(conv(x)))
    kernel = jnp.asarray(conv.weight.detach().numpy().transpose(2, 3, 1, 0))  # [3, 3, 3, 20]
    y = jax.lax.conv_general_dilated(
        jnp.asarray(_nchw_to_nhwc(x)),
        kernel,
        (1, 1),
        "SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    ) + jnp.asarray(conv.bias.detach().numpy())
    np.testing.assert_allclose(np.asarray(pixel_shuffle(y, 2)), expected, rtol=1e-5, atol=1e-5)


def test_leading_batch_dims_dtype_and_jit():
    x = jnp.arange(2 * 3 * 2 * 2 * 8, dtype=jnp.bfloat16).reshape(2, 3, 2, 2, 8)
    y = jax.jit(pixel_shuffle, static_argnums=1)(x, 2)
    assert y.shape == (2, 3, 4, 4, 2) and y.dtype == jnp.bfloat16
    np.testing.assert_array_equal(y[1, 2], pixel_shuffle(x[1, 2][None], 2)[0])


def test_errors():
    with pytest.raises(ValueError, match="multiple of factor"):
        pixel_shuffle(jnp.zeros((1, 2, 2, 6)), 2)
    with pytest.raises(ValueError, match="positive int"):
        pixel_shuffle(jnp.zeros((1, 2, 2, 4)), 0)
    with pytest.raises(ValueError, match="multiples of factor"):
        pixel_unshuffle(jnp.zeros((1, 3, 4, 1)), 2)
    with pytest.raises(ValueError, match="expects"):
        pixel_shuffle(jnp.zeros((4, 4)), 2)
