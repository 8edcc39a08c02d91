"""Tests of jaxvision.ops.pooling: the "slices" max pool equals flax's, gradients and ties too."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.models import get_model
from jaxvision.ops import pooling
from jaxvision.ops.conv import DEFAULT_RULES

CASES = [
    # (input shape, window, strides, padding)
    ((2, 9, 9, 3), (3, 3), (2, 2), ((1, 1), (1, 1))),  # the ResNet stem's pool
    ((2, 8, 8, 3), (2, 2), (2, 2), "VALID"),
    ((3, 7, 6, 2), (3, 3), (1, 1), "SAME"),
    ((2, 10, 7, 4), (3, 2), (2, 3), "SAME"),
    ((2, 11, 5), (3,), (2,), "VALID"),  # 1-D
    ((1, 5, 6, 4, 2), (2, 3, 2), (1, 2, 2), "SAME"),  # 3-D
]


def _value_and_grad(fn, x):
    """fn(x) and the gradient of <fn(x), r> for a fixed random r, compiled once."""

    @jax.jit
    def run(x):
        y, vjp = jax.vjp(fn, x)
        r = jax.random.normal(jax.random.key(1), y.shape)
        return y, vjp(r)[0]

    return run(x)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("shape, window, strides, padding", CASES)
def test_slices_equal_flax_max_pool(shape, window, strides, padding, ties):
    x = jax.random.normal(jax.random.key(0), shape)
    if ties:  # ReLU output rounded: many windows hold their maximum more than once
        x = jnp.round(jnp.maximum(x, 0.0))
    ref = lambda x: nn.max_pool(x, window, strides=strides, padding=padding)  # noqa: E731
    new = lambda x: pooling.max_pool(x, window, strides, padding, impl="slices")  # noqa: E731
    y_ref, g_ref = _value_and_grad(ref, x)
    y_new, g_new = _value_and_grad(new, x)
    np.testing.assert_array_equal(y_new, y_ref)
    # The first maximum of each window takes the gradient, as XLA's select-and-scatter does
    # (equal up to float summation order where windows overlap).
    np.testing.assert_allclose(g_new, g_ref, rtol=1e-6, atol=1e-6)
    if ties:
        assert float(jnp.sum(g_new != 0)) < x.size  # tied pixels get nothing, not a share


def test_slices_gradient_has_no_scatter():
    x = jnp.ones((2, 8, 8, 4))
    grad = lambda impl: jax.grad(  # noqa: E731
        lambda x: pooling.max_pool(x, (3, 3), (2, 2), "SAME", impl=impl).sum()
    )
    assert "select_and_scatter" in str(jax.make_jaxpr(grad("xla"))(x))
    slices = str(jax.make_jaxpr(grad("slices"))(x))
    assert "select_and_scatter" not in slices and "scatter" not in slices


def test_choose_impl_and_bad_impl():
    assert pooling.choose_impl("cpu") == "slices"
    assert pooling.choose_impl("gpu") == "xla"
    assert pooling.choose_impl("tpu") == "xla"
    with pytest.raises(ValueError, match="Unknown impl"):
        pooling.max_pool(jnp.ones((1, 4, 4, 1)), (2, 2), impl="cuda")


ON_CPU = jax.default_backend() == "cpu"


@pytest.mark.parametrize(
    "conv_impl, uses_reduce_window",
    [("xla", True), ("im2col", False), ("auto", not ON_CPU), (DEFAULT_RULES, not ON_CPU)],
)
def test_resnet_stem_pool_follows_conv_impl(conv_impl, uses_reduce_window):
    model = get_model("resnet18", num_classes=3, conv_impl=conv_impl)
    x = jnp.ones((1, 32, 32, 3))
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
    jaxpr = str(jax.make_jaxpr(lambda v: model.apply(v, x, train=False))(variables))
    assert ("reduce_window_max" in jaxpr) == uses_reduce_window
