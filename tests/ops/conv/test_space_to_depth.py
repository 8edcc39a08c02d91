"""Tests of jaxvision.ops.conv.space_to_depth: a strided conv as a stride-1 conv over its folded
input equals XLA's and im2col's; under "auto" only the forward value is folded."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.ops import conv as conv_ops
from tests.ops.conv.compare import (
    ATOL,
    RTOL,
    arrays,
    assert_close,
    assert_jvp_and_kernel_hessian_match,
    eqns,
    value_and_grads,
)


@pytest.mark.parametrize(
    "n,k,stride,padding,size",
    [
        (2, 7, 2, ((3, 3), (3, 3)), (20, 20)),  # the ImageNet ResNet stem
        (2, 7, 2, "SAME", (17, 14)),  # odd and even sizes
        (2, 3, 2, ((1, 0), (0, 2)), (11, 9)),  # asymmetric padding
        (2, 4, (2, 3), "VALID", (13, 14)),  # per-dim strides, a kernel stride does not divide
        (2, 2, 2, ((-1, 2), (2, -1)), (9, 10)),  # negative pads crop
        (1, 5, 3, ((2, 2),), (17,)),  # 1-D
        (3, 3, 2, "SAME", (6, 7, 5)),  # 3-D
    ],
)
def test_space_to_depth_matches_im2col_and_xla(n, k, stride, padding, size):
    x, w = arrays((2, *size, 3), (*(k,) * n, 3, 5))
    fns = [
        functools.partial(conv_ops.conv_general, strides=stride, padding=padding, impl=impl)
        for impl in ("space_to_depth", "im2col", "xla")
    ]
    s2d, im2col, xla = value_and_grads(fns, x, w)
    assert_close([s2d, im2col])
    negative = not isinstance(padding, str) and any(lo < 0 or hi < 0 for lo, hi in padding)
    if not negative:  # XLA:CPU's strided conv over several channels misreads negative pads
        assert_close([s2d, xla])


def test_space_to_depth_folds_into_one_stride_1_conv():
    x, w = arrays((2, 64, 64, 3), (7, 7, 3, 32))
    fn = functools.partial(
        conv_ops.conv_general, strides=2, padding=((3, 3), (3, 3)), impl="space_to_depth"
    )
    (conv,) = eqns(jax.make_jaxpr(fn)(x, w).jaxpr, "conv_general_dilated")
    assert conv.params["window_strides"] == (1, 1)
    assert [v.aval.shape for v in conv.invars] == [(2, 35, 35, 12), (4, 4, 12, 32)]
    assert fn(x, w).shape == (2, 32, 32, 32)
    with pytest.raises(ValueError, match="space_to_depth"):
        conv_ops.conv_general(x, w, strides=1, impl="space_to_depth")
    with pytest.raises(ValueError, match="space_to_depth"):
        conv_ops.conv_general(x, w, strides=2, rhs_dilation=2, impl="space_to_depth")
    with pytest.raises(ValueError):
        conv_ops.conv_transpose(x, w, strides=(2, 2), impl="space_to_depth")
    with pytest.raises(ValueError):
        conv_ops.check_conv_impl("space_to_depth")


def test_auto_runs_the_fold_on_cpu():
    if jax.default_backend() != "cpu":
        pytest.skip("the space-to-depth rule is the CPU's")
    x, w = arrays((2, 64, 64, 3), (7, 7, 3, 32))
    auto = functools.partial(conv_ops.conv_general, strides=2, padding=((3, 3), (3, 3)))
    (conv,) = eqns(jax.make_jaxpr(auto)(x, w).jaxpr, "conv_general_dilated")
    assert conv.invars[0].aval.shape == (2, 35, 35, 12)


def test_auto_folds_the_forward_and_keeps_xla_gradients():
    """ "auto"'s space-to-depth stem: forward by the fold, derivatives by XLA's conv (on batch
    chunks when the batch is large), the same values and gradients as XLA's conv."""
    if jax.default_backend() != "cpu":
        pytest.skip("the space-to-depth rule is the CPU's")
    x, w = arrays((4, 32, 32, 3), (7, 7, 3, 8))
    fns = [
        functools.partial(conv_ops.conv_general, strides=2, padding=((3, 3), (3, 3)), impl=i)
        for i in ("xla", "auto", "space_to_depth")
    ]
    assert_close(value_and_grads(fns, x, w))

    def kernel_gradient_is_xlas(fn):  # XLA's kernel gradient of a stride-2 conv is a conv
        text = str(jax.make_jaxpr(jax.grad(lambda w: jnp.sum(fn(x, w) ** 2)))(w))
        return "rhs_dilation=(2, 2)" in text  # dilated by the stride

    assert "f32[4,19,19,12]" in str(jax.make_jaxpr(fns[1])(x, w))  # the folded input
    # auto: the folded stride-1 conv forward, XLA's conv's gradient; the explicit impl
    # differentiates the fold (stride-1 convs only).
    assert kernel_gradient_is_xlas(fns[0]) and kernel_gradient_is_xlas(fns[1])
    assert not kernel_gradient_is_xlas(fns[2])
    small_x, small_w = x[:1, :18, :18], w[:, :, :, :2]  # 9 x 9 outputs: still the fold
    assert "custom_jvp_call" in str(jax.make_jaxpr(fns[1])(small_x, small_w))
    assert_jvp_and_kernel_hessian_match(fns[1], fns[0], small_x, small_w)
    # With batch chunks: the fold forward, XLA's gradients chunk by chunk.
    x6, _ = arrays((6, 20, 20, 3), (7, 7, 3, 8))  # 10 x 10 outputs: the fold
    chunked = [
        functools.partial(
            conv_ops.conv_general, strides=2, padding=((3, 3), (3, 3)), impl=i, batch_chunk=c
        )
        for i, c in (("xla", None), ("auto", 2))
    ]
    assert "f32[2,20,20,3]" not in str(jax.make_jaxpr(chunked[1])(x6, w))  # x whole
    grad_text = str(jax.make_jaxpr(jax.grad(lambda w: jnp.sum(chunked[1](x6, w) ** 2)))(w))
    assert "f32[2,20,20,3]" in grad_text  # 3 chunks of 2 images
    (y, dx, dw), (y_auto, dx_auto, dw_auto) = value_and_grads(chunked, x6, w)
    np.testing.assert_allclose(y_auto, y, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(dx_auto, dx, rtol=RTOL, atol=ATOL)
    # dw sums 6 x 100 outputs a tap, in another order across chunks: float32 rounding.
    np.testing.assert_allclose(dw_auto, dw, rtol=1e-4, atol=1e-4)


def test_space_to_depth_empty_shapes_and_unread_rows():
    w = jnp.ones((7, 7, 3, 8))
    for impl in ("auto", "space_to_depth", "xla"):  # an empty batch, as XLA's conv takes it
        y = conv_ops.conv_general(
            jnp.zeros((0, 64, 64, 3)), w, strides=2, padding=((3, 3), (3, 3)), impl=impl
        )
        assert y.shape == (0, 32, 32, 8)
    fold = functools.partial(conv_ops.conv_general, impl="space_to_depth", strides=2)
    empty_out = fold(jnp.ones((1, 1, 1, 3)), jnp.ones((2, 2, 3, 4)), padding="VALID")
    assert empty_out.shape == (1, 0, 0, 4)
    no_channels = fold(jnp.ones((1, 8, 8, 3)), jnp.ones((2, 2, 3, 0)), padding="VALID")
    assert no_channels.shape == (1, 4, 4, 0)
    # Rows the strided conv never reads (here the last one) stay out of the fold: an inf there
    # must not become inf * 0 = NaN.
    x = np.ones((1, 32, 32, 3), np.float32)
    x[0, 31, :, :] = np.inf
    k3 = jnp.ones((3, 3, 3, 4))
    assert conv_ops.choose_impl(x.shape, k3.shape, 2, padding="VALID", backend="cpu") == (
        "space_to_depth"
    )
    folded = fold(jnp.asarray(x), k3, padding="VALID")
    np.testing.assert_array_equal(
        np.asarray(folded),
        np.asarray(conv_ops.conv_general(x, k3, strides=2, impl="xla", padding="VALID")),
    )
    assert np.isfinite(np.asarray(folded)).all()
