"""Tests of jaxvision.ops.conv.winograd: F(2x2, 3x3) equals XLA's conv, values, gradients,
forward mode and second derivatives; its transforms and matmul shapes."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.ops import conv as conv_ops
from jaxvision.ops.conv import DEFAULT_RULES, winograd
from tests.ops.conv.compare import (
    arrays,
    assert_close,
    assert_jvp_and_kernel_hessian_match,
    count,
    eqns,
    value_and_grads,
)


@pytest.mark.parametrize(
    "x_shape,padding",
    [
        ((2, 8, 8, 16), "SAME"),  # whole tiles
        ((1, 7, 5, 4), "SAME"),  # odd sizes: the last tile half outside, cropped
        ((2, 6, 9, 5), "VALID"),
        ((1, 11, 9, 3), ((2, 1), (0, 3))),  # asymmetric pads
        ((1, 7, 7, 3), ((-1, 2), (1, -2))),  # negative pads crop
        ((2, 1, 1, 8), "SAME"),  # 1x1 map: only the centre tap is live
        ((2, 2, 3, 8), "SAME"),
        ((1, 3, 3, 4), "VALID"),  # one output pixel
    ],
)
def test_winograd_matches_xla(x_shape, padding):
    x, w = arrays(x_shape, (3, 3, x_shape[-1], 6))
    fns = [
        functools.partial(conv_ops.conv_general, padding=padding, impl=impl)
        for impl in ("xla", "winograd")
    ]
    assert_close(value_and_grads(fns, x, w))


def test_winograd_forward_mode_and_second_derivatives():
    x, w = arrays((2, 5, 6, 3), (3, 3, 3, 4))
    wino = functools.partial(conv_ops.conv_general, impl="winograd")
    ref = functools.partial(conv_ops.conv_general, impl="xla")
    assert_jvp_and_kernel_hessian_match(wino, ref, x, w)
    # Through the input: a gradient penalty differentiates the custom input gradient again.
    x1 = x[:1]

    def penalty(conv, w):
        grad_x = jax.grad(lambda x: jnp.sum(jnp.tanh(conv(x, w))))(x1)
        return jnp.sum(grad_x**2)

    np.testing.assert_allclose(
        jax.jit(jax.grad(penalty, 1), static_argnums=0)(wino, w),
        jax.jit(jax.grad(penalty, 1), static_argnums=0)(ref, w),
        rtol=1e-4,
        atol=1e-4,
    )
    hess_x = jax.jit(jax.hessian(lambda x: jnp.sum(jnp.tanh(wino(x, w)))))(x1)
    hess_x_ref = jax.jit(jax.hessian(lambda x: jnp.sum(jnp.tanh(ref(x, w)))))(x1)
    np.testing.assert_allclose(hess_x, hess_x_ref, rtol=1e-4, atol=1e-4)


def test_winograd_low_precision_rounds_once():
    # bfloat16 in, bfloat16 out, computed in float32: as close to the float32 conv of the same
    # bfloat16 inputs as XLA's bfloat16 conv is (one rounding of the output).
    x, w = arrays((2, 8, 8, 64), (3, 3, 64, 16))
    xb, wb = x.astype(jnp.bfloat16), w.astype(jnp.bfloat16)
    exact = conv_ops.conv_general(xb.astype(jnp.float32), wb.astype(jnp.float32), impl="xla")
    fns = [
        lambda x, w, impl=impl: conv_ops.conv_general(x, w, impl=impl).astype(jnp.float32)
        for impl in ("xla", "winograd")
    ]
    (_, *grads_xla), (_, *grads_wino) = value_and_grads(fns, xb, wb)
    y_xla, y_wino = (conv_ops.conv_general(xb, wb, impl=i) for i in ("xla", "winograd"))
    assert y_wino.dtype == jnp.bfloat16 and all(g.dtype == jnp.bfloat16 for g in grads_wino)
    err = lambda y: float(jnp.sqrt(jnp.mean((y.astype(jnp.float32) - exact) ** 2)))  # noqa: E731
    assert err(y_wino) <= 1.5 * err(y_xla)
    for g, g_xla in zip(grads_wino, grads_xla, strict=True):
        np.testing.assert_allclose(
            np.asarray(g, np.float32), np.asarray(g_xla, np.float32), rtol=2e-2, atol=2e-2
        )


def test_winograd_dtypes_and_empty_outputs():
    x, w = arrays((2, 6, 6, 8), (3, 3, 8, 4))
    ref = conv_ops.conv_general(x, w, impl="xla")
    # Mixed dtypes promote, in every impl.
    for impl in ("xla", "im2col", "winograd"):
        mixed = conv_ops.conv_general(x.astype(jnp.bfloat16), w, impl=impl)
        assert mixed.dtype == jnp.float32
        np.testing.assert_allclose(mixed, ref, rtol=2e-2, atol=2e-2, err_msg=impl)
    empty = conv_ops.conv_general(x[:, :2, :1], w, padding="VALID", impl="winograd")
    assert empty.shape == (2, 0, 0, 4)
    assert conv_ops.conv_general(x[:0], w, impl="winograd").shape == (0, 6, 6, 4)
    grad = jax.grad(lambda w: conv_ops.conv_general(x[:0], w, impl="winograd").sum())(w)
    np.testing.assert_array_equal(grad, np.zeros_like(w))
    with pytest.raises(ValueError, match="floating-point"):
        winograd.conv3x3(
            jnp.ones((1, 4, 4, 2), jnp.int32), jnp.ones((3, 3, 2, 2), jnp.int32), ((1, 1), (1, 1))
        )


@pytest.mark.parametrize(
    "x_shape,k_shape,kwargs",
    [
        ((1, 8, 8, 4), (3, 3, 4, 4), dict(strides=2)),
        ((1, 8, 8, 4), (5, 5, 4, 4), {}),
        ((1, 8, 8, 4), (3, 3, 4, 4), dict(rhs_dilation=2)),
        ((1, 8, 8, 4), (3, 3, 2, 4), dict(feature_group_count=2)),
        ((1, 8, 4), (3, 4, 4), {}),  # 1-D
    ],
)
def test_winograd_rejects_other_convs(x_shape, k_shape, kwargs):
    x, w = arrays(x_shape, k_shape)
    with pytest.raises(ValueError, match="winograd"):
        conv_ops.conv_general(x, w, impl="winograd", **kwargs)


def test_winograd_kernel_transform_is_g_g_gt():
    # G g G^T against the matrices written out; the centre tap alone reaches every position
    # whose row and column are both inner (1 or 2), at 1/4.
    g = np.random.default_rng(0).standard_normal((3, 3, 2, 3)).astype(np.float32)
    big_g = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float32)
    expected = np.einsum("ai,ijcd,bj->abcd", big_g, g, big_g).reshape(16, 2, 3)
    np.testing.assert_allclose(winograd.transform_kernel(jnp.asarray(g)), expected, 1e-6, 1e-6)
    centre = np.zeros((3, 3, 1, 1), np.float32)
    centre[1, 1] = 1.0
    u = np.asarray(winograd.transform_kernel(jnp.asarray(centre))).reshape(4, 4)
    np.testing.assert_array_equal(u, np.outer([0, 0.5, -0.5, 0], [0, 0.5, -0.5, 0]))


def test_winograd_matmuls_hold_16_of_36_multiplies():
    # 16 Winograd-domain matmuls a tile of 2x2 outputs, against 9 taps a pixel: 16 / 36.
    x, w = arrays((2, 8, 8, 16), (3, 3, 16, 32))
    jaxpr = jax.make_jaxpr(functools.partial(conv_ops.conv_general, impl="winograd"))(x, w)
    (dot,) = eqns(jaxpr.jaxpr, "dot_general")
    v, u = (var.aval.shape for var in dot.invars)
    assert v == (16, 2 * 4 * 4, 16) and u == (16, 16, 32)
    assert not eqns(jaxpr.jaxpr, "conv_general_dilated")


def test_auto_runs_winograd_convs_on_cpu():
    # Small arrays, the same rule: rules without the multiply-add floor.
    rules = dataclasses.replace(DEFAULT_RULES, winograd_min_matmul_macs=0)
    many = rules.winograd_min_channels
    x, w = arrays((2, 4, 4, many), (3, 3, many, many))
    auto = functools.partial(conv_ops.conv_general, impl=rules)
    jaxpr = jax.make_jaxpr(auto)(x, w).jaxpr
    if jax.default_backend() == "cpu":
        # One batched matmul over the 16 Winograd positions of 2 x 2 x 2 tiles, no conv.
        (dot,) = eqns(jaxpr, "dot_general")
        assert [v.aval.shape for v in dot.invars] == [(16, 8, many), (16, many, many)]
        assert not eqns(jaxpr, "conv_general_dilated")
    else:
        assert count(jaxpr, "conv_general_dilated") == 1
    # The shipped rules keep this small conv on XLA's conv.
    shipped = jax.make_jaxpr(functools.partial(conv_ops.conv_general, impl="auto"))(x, w)
    assert count(shipped.jaxpr, "conv_general_dilated") == 1
    fns = [functools.partial(conv_ops.conv_general, impl="xla"), auto]
    assert_close(value_and_grads(fns, x, w))
