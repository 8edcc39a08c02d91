"""Tests of jaxvision.ops.conv.im2col: convs and transposed convs as slices and matmuls equal
XLA's, values and both gradients."""

import functools
import itertools

import pytest
from jax import lax

from jaxvision.ops import conv as conv_ops
from tests.ops.conv.compare import arrays, assert_close, value_and_grads


def _conv_cases():
    """Every kernel size with every padding; stride, dilation, groups and batch varied along."""
    paddings = ("SAME", "VALID", ((2, 1), (0, 3)))
    groups_cycle = (1, 2, "depthwise")
    for i, (k, pad) in enumerate(itertools.product((1, 3, 5, 7), paddings)):
        stride = 1 + i % 2
        dilation = 1 + (i // 2) % 2
        groups = groups_cycle[i % 3] if k < 7 else 1  # 7x7 grouped: slow to compile, no news
        batch = 1 + (i // 3) % 2
        size = (11, 9) if k * dilation < 9 else (15, 13)
        yield pytest.param(
            k, stride, pad, dilation, groups, batch, size, id=f"k{k}s{stride}d{dilation}-{i}"
        )


@pytest.mark.parametrize("k,stride,padding,dilation,groups,batch,size", _conv_cases())
def test_im2col_matches_xla(k, stride, padding, dilation, groups, batch, size):
    cin = 4
    groups = cin if groups == "depthwise" else groups
    x, w = arrays((batch, *size, cin), (k, k, cin // groups, 6 if groups != cin else 8))
    fns = [
        functools.partial(
            conv_ops.conv_general,
            strides=stride,
            padding=padding,
            rhs_dilation=dilation,
            feature_group_count=groups,
            impl=impl,
        )
        for impl in ("xla", "im2col")
    ]
    assert_close(value_and_grads(fns, x, w))


@pytest.mark.parametrize(
    "x_shape,k_shape,groups,stride,padding",
    [
        ((2, 5, 5, 32), (3, 3, 2, 32), 16, 1, "SAME"),  # many groups: batched matmul
        ((2, 6, 6, 8), (3, 3, 4, 8), 2, 2, "SAME"),  # few groups: a matmul each
        ((2, 4, 4, 8), (3, 3, 1, 16), 8, 1, "SAME"),  # depthwise, channel multiplier 2
        ((2, 1, 1, 8), (3, 3, 8, 6), 1, 1, "SAME"),  # 1x1 map: only the centre tap is live
        ((2, 1, 3, 8), (5, 5, 8, 6), 1, 2, "SAME"),  # dead taps along one dim only
        ((1, 7, 7, 3), (3, 3, 3, 5), 1, 1, ((-1, 2), (1, -2))),  # negative padding crops
        ((1, 9, 5), (3, 5, 4), 1, 2, "SAME"),  # 1-D
        ((1, 5, 4, 6, 2), (3, 2, 3, 2, 3), 1, 2, "SAME"),  # 3-D
    ],
)
def test_im2col_special_cases(x_shape, k_shape, groups, stride, padding):
    x, w = arrays(x_shape, k_shape)
    fns = [
        functools.partial(
            conv_ops.conv_general,
            strides=stride,
            padding=padding,
            feature_group_count=groups,
            impl=impl,
        )
        for impl in ("xla", "im2col")
    ]
    assert_close(value_and_grads(fns, x, w))


def test_im2col_empty_output_matches_xla():
    x, w = arrays((2, 2, 1, 4), (3, 3, 4, 5))
    for impl in ("xla", "im2col"):
        y = conv_ops.conv_general(x, w, padding="VALID", impl=impl)
        assert y.shape == (2, 0, 0, 5)


@pytest.mark.parametrize("stride", (1, 2))
@pytest.mark.parametrize("k", (2, 3, 4))
def test_conv_transpose_matches_lax(stride, k):
    x, w = arrays((2, 5, 6, 3), (k, k, 3, 4))
    fns = []
    for padding in ("SAME", "VALID"):
        reference = functools.partial(
            lax.conv_transpose,
            strides=(stride, stride),
            padding=padding,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        fns += [reference] + [
            functools.partial(conv_ops.conv_transpose, strides=stride, padding=padding, impl=impl)
            for impl in ("xla", "im2col")
        ]
    results = value_and_grads(fns, x, w)
    assert_close(results[:3])  # SAME
    assert_close(results[3:])  # VALID


@pytest.mark.parametrize(
    "stride,padding,dilation",
    [(3, "SAME", 1), (2, ((2, 1), (0, 3)), 1), (2, "VALID", 2), (2, ((-1, 2), (3, -1)), 2)],
)
def test_conv_transpose_strides_pads_dilation(stride, padding, dilation):
    x, w = arrays((1, 4, 5, 3), (3, 2, 3, 2))
    reference = functools.partial(
        lax.conv_transpose,
        strides=(stride, stride),
        padding=padding,
        rhs_dilation=(dilation, dilation),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    im2col = functools.partial(
        conv_ops.conv_transpose,
        strides=stride,
        padding=padding,
        rhs_dilation=dilation,
        impl="im2col",
    )
    assert_close(value_and_grads([reference, im2col], x, w))
