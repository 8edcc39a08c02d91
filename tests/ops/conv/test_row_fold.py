"""Tests of jaxvision.ops.conv.row_fold: a stride-1 conv whose kernel rows are folded into
output channels equals XLA's, values and both gradients."""

import functools

import jax
import jax.numpy as jnp
import pytest

from jaxvision.ops import conv as conv_ops
from jaxvision.ops.conv import row_fold
from tests.ops.conv.compare import arrays, assert_close, eqns, value_and_grads


@pytest.mark.parametrize(
    "window,padding,size,cout",
    [
        ((7, 7), "SAME", (12, 10), 3),  # DeblurGAN's RGB output conv
        ((9, 9), ((4, 4), (4, 4)), (10, 11), 3),  # SRResNet's
        ((3, 5), ((0, 2), (-1, 3)), (7, 9), 2),  # asymmetric and negative pads
        ((3, 3), ((-1, 0), (1, 1)), (6, 6), 1),  # a negative pad on the folded dim
        ((5,), ((2, 2),), (17,), 4),  # 1-D: the wider conv is a 1-tap conv
        ((3, 3, 3), "SAME", (4, 5, 6), 2),  # 3-D: the first dim is folded
        ((3, 3), "VALID", (3, 5), 3),  # one output row
    ],
)
def test_row_fold_matches_xla(window, padding, size, cout):
    x, w = arrays((2, *size, 6), (*window, 6, cout))
    pads = conv_ops.resolve_padding(padding, size, window, (1,) * len(size), (1,) * len(size))
    fns = [
        functools.partial(row_fold.conv, pads=pads),
        functools.partial(conv_ops.conv_general, padding=padding, impl="row_fold"),
        functools.partial(conv_ops.conv_general, padding=padding, impl="xla"),
    ]
    assert_close(value_and_grads(fns, x, w))


def test_the_fold_is_one_conv_to_kernel_rows_of_channels():
    x, w = arrays((2, 16, 12, 8), (7, 7, 8, 3))
    fn = functools.partial(conv_ops.conv_general, padding="SAME", impl="row_fold")
    (conv,) = eqns(jax.make_jaxpr(fn)(x, w).jaxpr, "conv_general_dilated")
    # rows padded by 3 + 3 (16 + 6), the kernel one row high with 7 rows x 3 outputs
    assert [v.aval.shape for v in conv.invars] == [(2, 22, 12, 8), (1, 7, 8, 21)]
    assert conv.outvars[0].aval.shape == (2, 22, 12, 21)
    assert fn(x, w).shape == (2, 16, 12, 3)
    with pytest.raises(ValueError, match="row_fold"):
        conv_ops.conv_general(x, w, strides=2, impl="row_fold")
    with pytest.raises(ValueError):
        conv_ops.check_conv_impl("row_fold")


def test_fold_kernel_puts_each_row_in_its_channels():
    w = jnp.arange(3 * 2 * 1 * 2, dtype=jnp.float32).reshape(3, 2, 1, 2)  # [kh, kw, cin, cout]
    k = row_fold.fold_kernel(w)
    assert k.shape == (1, 2, 1, 6)
    for t in range(3):
        assert (k[0, :, :, 2 * t : 2 * t + 2] == w[t]).all()


def test_degenerate_shapes_fall_back_to_the_conv():
    x, w = arrays((2, 2, 5, 4), (3, 3, 4, 2))  # fewer rows than the kernel: no output row
    y = row_fold.conv(x, w, ((0, 0), (1, 1)))
    assert y.shape == (2, 0, 5, 2)
    x1, w1 = arrays((2, 6, 5, 4), (1, 3, 4, 2))  # one kernel row: nothing to fold
    ref = conv_ops.conv_general(x1, w1, padding=((0, 0), (1, 1)), impl="xla")
    assert_close([(row_fold.conv(x1, w1, ((0, 0), (1, 1))),), (ref,)], names=("y",))


def test_auto_folds_value_and_gradients():
    if jax.default_backend() != "cpu":
        pytest.skip("the row-fold rule is the CPU's")
    x, w = arrays((2, 8, 10, 8), (7, 7, 8, 3))
    fns = [functools.partial(conv_ops.conv_general, impl=i) for i in ("xla", "auto")]
    assert_close(value_and_grads(fns, x, w))
    grad = jax.make_jaxpr(jax.grad(lambda w: jnp.sum(fns[1](x, w) ** 2)))(w).jaxpr
    # The kernel gradient is that of the folded conv, 7 x 3 output channels.
    shapes = [[v.aval.shape for v in e.invars] for e in eqns(grad, "conv_general_dilated")]
    assert any((2, 14, 10, 21) in s for s in shapes)


def test_bfloat16_sums_the_rows_in_float32():
    x, w = arrays((2, 8, 8, 8), (7, 7, 8, 3))
    xb, wb = x.astype(jnp.bfloat16), w.astype(jnp.bfloat16)
    y = row_fold.conv(xb, wb, ((3, 3), (3, 3)))
    ref = conv_ops.conv_general(xb, wb, padding="SAME", impl="xla")
    assert y.dtype == jnp.bfloat16
    exact = conv_ops.conv_general(xb.astype(jnp.float32), wb.astype(jnp.float32), impl="xla")
    # Within bfloat16's rounding of the exact result, as XLA's own bfloat16 conv is.
    tol = 2 * float(jnp.abs(ref.astype(jnp.float32) - exact).max()) + 1e-2
    assert float(jnp.abs(y.astype(jnp.float32) - exact).max()) <= tol
