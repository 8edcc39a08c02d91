"""Tests of jaxvision.ops.conv.width_fold: a stride-1 conv over blocks of output columns
folded into channels equals XLA's; under "auto" only the forward value is folded."""

import functools

import jax
import jax.numpy as jnp
import pytest

from jaxvision.ops import conv as conv_ops
from jaxvision.ops.conv import width_fold
from tests.ops.conv.compare import (
    arrays,
    assert_close,
    assert_jvp_and_kernel_hessian_match,
    eqns,
    value_and_grads,
)


@pytest.mark.parametrize(
    "window,padding,size,fold",
    [
        ((3, 3), "SAME", (10, 16), 4),  # the U-Net stem's shape, blocks tile the width
        ((7, 7), ((3, 3), (3, 3)), (9, 13), 8),  # 7x7, a last block past the width
        ((9, 9), "SAME", (6, 24), 2),  # 9x9: the halo reaches four blocks on
        ((3, 5), ((0, 2), (-1, 3)), (7, 9), 4),  # asymmetric and negative pads
        ((5,), ((2, 2),), (17,), 4),  # 1-D
        ((3, 3, 3), "SAME", (4, 5, 9), 2),  # 3-D: the last dim is folded
        ((3, 3), "VALID", (5, 5), 1),  # fold 1: a kh x 1 conv a column
    ],
)
def test_width_fold_matches_xla(window, padding, size, fold):
    x, w = arrays((2, *size, 3), (*window, 3, 5))
    pads = conv_ops.resolve_padding(padding, size, window, (1,) * len(size), (1,) * len(size))
    fns = [
        functools.partial(width_fold.conv, pads=pads, fold=fold),
        functools.partial(conv_ops.conv_general, padding=padding, impl="xla"),
    ]
    assert_close(value_and_grads(fns, x, w))


def test_the_fold_is_one_conv_over_column_blocks():
    x, w = arrays((2, 16, 32, 3), (3, 3, 3, 8))
    fn = functools.partial(conv_ops.conv_general, padding="SAME", impl="width_fold")
    (conv,) = eqns(jax.make_jaxpr(fn)(x, w).jaxpr, "conv_general_dilated")
    # 32 output columns in blocks of 8 (choose_fold), each reading 8 + 2 columns of 3 channels
    assert [v.aval.shape for v in conv.invars] == [(2, 18, 4, 30), (3, 1, 30, 64)]
    assert fn(x, w).shape == (2, 16, 32, 8)
    with pytest.raises(ValueError, match="width_fold"):
        conv_ops.conv_general(x, w, strides=2, impl="width_fold")
    with pytest.raises(ValueError):
        conv_ops.check_conv_impl("width_fold")


def test_fold_kernel_places_each_tap_once():
    w = jnp.arange(1 * 3 * 1 * 1, dtype=jnp.float32).reshape(1, 3, 1, 1) + 1  # taps 1, 2, 3
    k = width_fold.fold_kernel(w, 2)  # [1, 1, 4, 2]: 4 input columns, 2 outputs
    assert k.shape == (1, 1, 4, 2)
    assert k[0, 0, :, 0].tolist() == [1, 2, 3, 0] and k[0, 0, :, 1].tolist() == [0, 1, 2, 3]


def test_auto_folds_the_forward_and_keeps_xla_gradients():
    if jax.default_backend() != "cpu":
        pytest.skip("the width-fold rule is the CPU's")
    x, w = arrays((2, 12, 20, 3), (3, 3, 3, 8))
    fns = [functools.partial(conv_ops.conv_general, impl=i) for i in ("xla", "auto")]
    assert_close(value_and_grads(fns, x, w))
    text = str(jax.make_jaxpr(fns[1])(x, w))
    assert "custom_jvp_call" in text and "f32[2,14,3,30]" in text  # 3 blocks of 8 columns
    grad = jax.make_jaxpr(jax.grad(lambda w: jnp.sum(fns[1](x, w) ** 2)))(w).jaxpr
    # The kernel gradient is XLA's conv of the input with the output gradient, unfolded.
    shapes = [[v.aval.shape for v in e.invars] for e in eqns(grad, "conv_general_dilated")]
    assert [(2, 12, 20, 3), (2, 12, 20, 8)] in shapes
    assert_jvp_and_kernel_hessian_match(fns[1], fns[0], x, w)
