"""Tests of jaxvision.ops.conv.subpixel: a transposed conv as one stride-1 conv to its
sub-pixel phases equals lax's, values and both gradients."""

import functools

import jax
import pytest
from jax import lax

from jaxvision.ops import conv as conv_ops
from jaxvision.ops.conv import subpixel
from tests.ops.conv.compare import arrays, assert_close, eqns, value_and_grads


@pytest.mark.parametrize(
    "window,stride,padding",
    [
        ((3, 3), 2, "SAME"),  # DeblurGAN's up-convs (torch padding 1, output_padding 1)
        ((4, 4), 2, "SAME"),  # DCGAN's: no tap wasted
        ((2, 2), 2, "VALID"),  # U-Net's: a 1x1 conv to 4 phases
        ((3, 3), 3, "SAME"),  # kernel = stride 3
        ((1, 1), 3, "VALID"),  # phases no tap reaches stay zero
        ((5, 3), (2, 3), ((1, 2), (0, 3))),  # per-dim windows, strides, asymmetric pads
        ((3, 3), 2, ((-1, 2), (3, -1))),  # negative pads crop
        ((3, 3), 1, "SAME"),  # stride 1: a plain (flipped) conv
    ],
)
def test_subpixel_matches_lax(window, stride, padding):
    x, w = arrays((2, 5, 6, 3), (*window, 3, 4))
    strides = stride if isinstance(stride, tuple) else (stride, stride)
    fns = [
        functools.partial(
            lax.conv_transpose,
            strides=strides,
            padding=padding,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        ),
        functools.partial(
            conv_ops.conv_transpose, strides=strides, padding=padding, impl="subpixel"
        ),
    ]
    assert_close(value_and_grads(fns, x, w))


@pytest.mark.parametrize("n", (1, 3))
def test_subpixel_in_1d_and_3d(n):
    size = (7,) if n == 1 else (3, 4, 5)
    x, w = arrays((2, *size, 3), (*(3,) * n, 3, 2))
    fns = [
        functools.partial(conv_ops.conv_transpose, strides=2, impl=impl)
        for impl in ("xla", "subpixel")
    ]
    assert_close(value_and_grads(fns, x, w))


def test_one_stride_1_conv_to_the_phases():
    x, w = arrays((2, 8, 8, 16), (3, 3, 16, 8))
    fn = functools.partial(conv_ops.conv_transpose, strides=2, impl="subpixel")
    (conv,) = eqns(jax.make_jaxpr(fn)(x, w).jaxpr, "conv_general_dilated")
    # 3x3 taps of stride 2 fall on 2x2 input offsets a phase; 4 phases of 8 channels
    assert conv.params["lhs_dilation"] == (1, 1) and conv.params["window_strides"] == (1, 1)
    assert [v.aval.shape for v in conv.invars] == [(2, 9, 9, 16), (2, 2, 16, 32)]
    assert fn(x, w).shape == (2, 16, 16, 8)
    big, e_mins = subpixel.phase_kernel(w, (2, 2), ((1, 2), (1, 2)))
    assert big.shape == (2, 2, 16, 32) and e_mins == (0, 0)
    assert float((big != 0).mean()) == pytest.approx(9 / 16)  # 9 taps of 16 places
    with pytest.raises(ValueError, match="subpixel"):
        conv_ops.conv_transpose(x, w, strides=2, rhs_dilation=2, impl="subpixel")
