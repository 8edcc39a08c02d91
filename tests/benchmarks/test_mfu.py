"""Model FLOP counting (`benchmarks.mfu.model_flops`) against hand counts and a published figure."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from benchmarks import mfu
from jaxvision.models import resnet
from train import host_tuning as compiler_options

NHWC = ("NHWC", "HWIO", "NHWC")


def _conv(strides=(1, 1), groups=1, padding="SAME"):
    def conv(x, w):
        return jax.lax.conv_general_dilated(
            x, w, strides, padding, dimension_numbers=NHWC, feature_group_count=groups
        )

    return conv


def _shapes(n=2, size=8, cin=4, cout=6, k=3, groups=1):
    x = jax.ShapeDtypeStruct((n, size, size, cin), jnp.float32)
    w = jax.ShapeDtypeStruct((k, k, cin // groups, cout), jnp.float32)
    return x, w


def test_dot_counts_two_flops_per_multiply_add():
    a = jax.ShapeDtypeStruct((3, 64, 32), jnp.float32)  # batched: [b, m, k]
    b = jax.ShapeDtypeStruct((3, 32, 16), jnp.float32)  # [b, k, n]
    assert mfu.model_flops(jnp.matmul, a, b) == 2 * 3 * 64 * 32 * 16


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("stride", [1, 2])
def test_conv_forward_and_gradients(stride, groups):
    x, w = _shapes(groups=groups)
    conv = _conv((stride, stride), groups)
    out = 8 // stride
    forward = 2 * 2 * out * out * 6 * 3 * 3 * (4 // groups)  # 2 x n*h*w*cout * kh*kw*cin/g
    assert mfu.model_flops(conv, x, w) == forward
    # The input gradient and the kernel gradient each cost one forward pass (a strided conv's
    # input gradient runs on a zero-dilated input: only its real taps count).
    loss = lambda x, w: conv(x, w).sum()
    assert mfu.model_flops(jax.grad(loss, argnums=(0, 1)), x, w) == pytest.approx(3 * forward)
    assert mfu.model_flops(jax.grad(loss, argnums=1), x, w) == pytest.approx(2 * forward)


def test_scan_multiplies_its_body_and_cond_takes_the_costlier_branch():
    m = jax.ShapeDtypeStruct((16, 16), jnp.float32)
    one = 2 * 16**3

    def scanned(m):
        return jax.lax.scan(lambda c, _: (c @ m, None), m, None, length=5)[0]

    assert mfu.model_flops(scanned, m) == 5 * one

    def branches(m):
        return jax.lax.cond(m[0, 0] > 0, lambda m: m @ m @ m, lambda m: m, m)

    assert mfu.model_flops(branches, m) == 2 * one


def test_jitted_function_with_compiler_options_is_traced_directly():
    options = compiler_options.for_backend(jax.default_backend())
    f = jax.jit(lambda a: a @ a, compiler_options=options or None)
    m = jax.ShapeDtypeStruct((8, 8), jnp.float32)
    assert mfu.model_flops(f, m) == 2 * 8**3


def test_resnet50_forward_matches_the_published_4_1_gmacs():
    # torchvision's ResNet-50 at 224 px: 4.09 GMACs per image (its model card), i.e. 8.18
    # GFLOPs counting a multiply-add as two.
    model = resnet.ResNet50(num_classes=1000, conv_impl="xla")
    image = jax.ShapeDtypeStruct((1, 224, 224, 3), jnp.float32)
    variables = jax.eval_shape(model.init, jax.random.key(0), image)
    flops = mfu.model_flops(lambda v, x: model.apply(v, x, train=False), variables, image)
    assert flops == pytest.approx(2 * 4.09e9, rel=0.01)
