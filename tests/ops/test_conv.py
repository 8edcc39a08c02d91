"""Tests of jaxvision.ops.conv (im2col lowerings) and the jaxvision.models.layers conv modules.

Each case compiles one function that returns the output and both gradients of every impl, so
that the whole file stays within seconds on CPU.
"""

import functools
import itertools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxvision.models import get_model, layers
from jaxvision.ops import conv as conv_ops
from jaxvision.ops import winograd

RTOL = ATOL = 1e-5  # float32; inputs scaled so that outputs are O(1)


def _arrays(x_shape, k_shape, seed=0):
    """Input, a fan-in scaled kernel."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(np.float32)
    fan_in = np.prod(k_shape[:-1])
    w = (rng.standard_normal(k_shape) / np.sqrt(fan_in)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(w)


def _value_and_grads(fns, x, w):
    """(y, dL/dx, dL/dw) of each fn for L = <y, r>, a random linear functional; one jit.

    Fns with the same output shape share r.
    """
    shapes = [jax.eval_shape(fn, x, w).shape for fn in fns]
    distinct = list(dict.fromkeys(shapes))
    rs = [np.random.default_rng(1).standard_normal(s).astype(np.float32) for s in distinct]

    @jax.jit
    def run(x, w, rs):
        results = []
        for fn, shape in zip(fns, shapes, strict=True):
            y, vjp = jax.vjp(fn, x, w)
            results.append((y, *vjp(rs[distinct.index(shape)])))
        return results

    return run(x, w, rs)


def _assert_close(results, names=("y", "dx", "dw")):
    reference, *others = results
    for other in others:
        for name, a, b in zip(names, reference, other, strict=True):
            assert a.shape == b.shape, (name, a.shape, b.shape)
            np.testing.assert_allclose(
                np.asarray(b), np.asarray(a), rtol=RTOL, atol=ATOL, err_msg=name
            )


def _assert_jvp_and_kernel_hessian_match(conv, ref, x, w):
    """conv's forward-mode derivative, and Hessian of sum(conv^2) in the kernel, equal ref's."""
    np.testing.assert_allclose(
        jax.jvp(conv, (x, w), (x, w))[1], jax.jvp(ref, (x, w), (x, w))[1], RTOL, ATOL
    )
    hess = jax.jit(jax.hessian(lambda w: jnp.sum(conv(x, w) ** 2)))(w)  # jitted: eager
    hess_ref = jax.jit(jax.hessian(lambda w: jnp.sum(ref(x, w) ** 2)))(w)  # dispatch is slow
    np.testing.assert_allclose(hess, hess_ref, rtol=1e-4, atol=1e-4)


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
    x, w = _arrays((batch, *size, cin), (k, k, cin // groups, 6 if groups != cin else 8))
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
    _assert_close(_value_and_grads(fns, x, w))


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
    x, w = _arrays(x_shape, k_shape)
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
    _assert_close(_value_and_grads(fns, x, w))


def test_im2col_empty_output_matches_xla():
    x, w = _arrays((2, 2, 1, 4), (3, 3, 4, 5))
    for impl in ("xla", "im2col"):
        y = conv_ops.conv_general(x, w, padding="VALID", impl=impl)
        assert y.shape == (2, 0, 0, 5)


@pytest.mark.parametrize("stride", (1, 2))
@pytest.mark.parametrize("k", (2, 3, 4))
def test_conv_transpose_matches_lax(stride, k):
    x, w = _arrays((2, 5, 6, 3), (k, k, 3, 4))
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
    results = _value_and_grads(fns, x, w)
    _assert_close(results[:3])  # SAME
    _assert_close(results[3:])  # VALID


@pytest.mark.parametrize(
    "stride,padding,dilation",
    [(3, "SAME", 1), (2, ((2, 1), (0, 3)), 1), (2, "VALID", 2), (2, ((-1, 2), (3, -1)), 2)],
)
def test_conv_transpose_strides_pads_dilation(stride, padding, dilation):
    x, w = _arrays((1, 4, 5, 3), (3, 2, 3, 2))
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
    _assert_close(_value_and_grads([reference, im2col], x, w))


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
    x, w = _arrays(x_shape, (3, 3, x_shape[-1], 6))
    fns = [
        functools.partial(conv_ops.conv_general, padding=padding, impl=impl)
        for impl in ("xla", "winograd")
    ]
    _assert_close(_value_and_grads(fns, x, w))


def test_winograd_forward_mode_and_second_derivatives():
    x, w = _arrays((2, 5, 6, 3), (3, 3, 3, 4))
    wino = functools.partial(conv_ops.conv_general, impl="winograd")
    ref = functools.partial(conv_ops.conv_general, impl="xla")
    _assert_jvp_and_kernel_hessian_match(wino, ref, x, w)
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
    x, w = _arrays((2, 8, 8, 64), (3, 3, 64, 16))
    xb, wb = x.astype(jnp.bfloat16), w.astype(jnp.bfloat16)
    exact = conv_ops.conv_general(xb.astype(jnp.float32), wb.astype(jnp.float32), impl="xla")
    fns = [
        lambda x, w, impl=impl: conv_ops.conv_general(x, w, impl=impl).astype(jnp.float32)
        for impl in ("xla", "winograd")
    ]
    (_, *grads_xla), (_, *grads_wino) = _value_and_grads(fns, xb, wb)
    y_xla, y_wino = (conv_ops.conv_general(xb, wb, impl=i) for i in ("xla", "winograd"))
    assert y_wino.dtype == jnp.bfloat16 and all(g.dtype == jnp.bfloat16 for g in grads_wino)
    err = lambda y: float(jnp.sqrt(jnp.mean((y.astype(jnp.float32) - exact) ** 2)))  # noqa: E731
    assert err(y_wino) <= 1.5 * err(y_xla)
    for g, g_xla in zip(grads_wino, grads_xla, strict=True):
        np.testing.assert_allclose(
            np.asarray(g, np.float32), np.asarray(g_xla, np.float32), rtol=2e-2, atol=2e-2
        )


def test_winograd_dtypes_and_empty_outputs():
    x, w = _arrays((2, 6, 6, 8), (3, 3, 8, 4))
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
    x, w = _arrays(x_shape, k_shape)
    with pytest.raises(ValueError, match="winograd"):
        conv_ops.conv_general(x, w, impl="winograd", **kwargs)


def test_conv_transpose_rejects_winograd():
    x, w = _arrays((1, 4, 4, 3), (3, 3, 3, 2))
    with pytest.raises(ValueError, match="xla, im2col, auto"):
        conv_ops.conv_transpose(x, w, strides=2, impl="winograd")


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
    x, w = _arrays((2, 8, 8, 16), (3, 3, 16, 32))
    jaxpr = jax.make_jaxpr(functools.partial(conv_ops.conv_general, impl="winograd"))(x, w)
    (dot,) = _eqns(jaxpr.jaxpr, "dot_general")
    v, u = (var.aval.shape for var in dot.invars)
    assert v == (16, 2 * 4 * 4, 16) and u == (16, 16, 32)
    assert not _eqns(jaxpr.jaxpr, "conv_general_dilated")


def test_choose_impl():
    tiny = ((32, 2, 2, 512), (3, 3, 512, 512))
    large = ((32, 56, 56, 64), (3, 3, 64, 64))
    for backend in ("gpu", "cuda", "rocm", "tpu"):
        assert conv_ops.choose_impl(*tiny, backend=backend) == "xla"
        assert conv_ops.choose_impl(*large, 1, 1, 64, backend=backend) == "xla"
        assert conv_ops.choose_transpose_impl(backend) == "xla"
    assert conv_ops.choose_impl(*tiny, backend="cpu") == "im2col"
    assert conv_ops.choose_impl(*large, backend="cpu") == "xla"
    assert conv_ops.choose_impl((8, 56, 56, 64), (1, 1, 64, 256), backend="cpu") == "im2col"
    assert conv_ops.choose_impl((8, 56, 56, 64), (3, 3, 1, 64), 1, 1, 64, "cpu") == "im2col"
    # The output size decides, with a larger limit for strided convs.
    assert conv_ops.choose_impl((8, 3, 3, 512), (3, 3, 512, 512), backend="cpu") == "im2col"
    assert conv_ops.choose_impl((8, 4, 4, 512), (5, 5, 512, 512), backend="cpu") == "xla"
    assert conv_ops.choose_impl((8, 16, 16, 64), (3, 3, 64, 128), 2, backend="cpu") == "im2col"
    assert conv_ops.choose_impl((8, 32, 32, 64), (3, 3, 64, 128), 2, backend="cpu") == "xla"
    assert conv_ops.choose_transpose_impl("cpu") == "im2col"


def test_choose_impl_winograd():
    def choice(x_shape, k_shape, strides=1, dilation=1, groups=1, **kwargs):
        return conv_ops.choose_impl(x_shape, k_shape, strides, dilation, groups, **kwargs)

    many = conv_ops.CPU_WINOGRAD_MIN_CHANNELS
    # 32 images of 8 x 8 tiles: 2048 x 128 x 128 = 2^25 multiply-adds a Winograd matmul.
    big = (32, 16, 16, many)
    assert winograd.matmul_macs(big, (3, 3, many, many), ((1, 1), (1, 1))) == 2**25
    assert choice(big, (3, 3, many, many), backend="cpu") == "winograd"
    assert choice((128, 4, 4, 512), (3, 3, 512, 512), backend="cpu") == "winograd"
    assert choice(big, (3, 3, many, many), backend="gpu") == "xla"
    # Fewer input or output channels than the rule's floor: XLA's conv.
    assert choice((32, 16, 16, many // 2), (3, 3, many // 2, many), backend="cpu") == "xla"
    assert choice(big, (3, 3, many, many // 2), backend="cpu") == "xla"
    # Matmuls below CPU_WINOGRAD_MIN_MATMUL_MACS (fewer images, smaller maps): XLA's conv.
    assert choice((16, 16, 16, many), (3, 3, many, many), backend="cpu") == "xla"
    assert choice((32, 4, 4, many), (3, 3, many, many), backend="cpu") == "xla"
    # Not a 3x3 stride-1 conv of one group: the other rules.
    assert choice((32, 32, 32, many), (3, 3, many, many), 2, backend="cpu") == "xla"
    assert choice(big, (3, 3, many, many), 1, 2, backend="cpu") == "xla"
    assert choice(big, (3, 3, 2, many), 1, 1, many // 2, backend="cpu") == "im2col"
    assert choice((32, 256, many), (3, many, many), backend="cpu") == "xla"  # 1-D
    # float32 only; bfloat16 keeps XLA's conv.
    assert choice(big, (3, 3, many, many), backend="cpu", dtype=jnp.bfloat16) == "xla"


def test_auto_runs_winograd_convs_on_cpu(monkeypatch):
    monkeypatch.setattr(conv_ops, "CPU_WINOGRAD_MIN_MATMUL_MACS", 0)  # small arrays, same rule
    many = conv_ops.CPU_WINOGRAD_MIN_CHANNELS
    x, w = _arrays((2, 4, 4, many), (3, 3, many, many))
    auto = functools.partial(conv_ops.conv_general, impl="auto")
    jaxpr = jax.make_jaxpr(auto)(x, w).jaxpr
    if jax.default_backend() == "cpu":
        # One batched matmul over the 16 Winograd positions of 2 x 2 x 2 tiles, no conv.
        (dot,) = _eqns(jaxpr, "dot_general")
        assert [v.aval.shape for v in dot.invars] == [(16, 8, many), (16, many, many)]
        assert not _eqns(jaxpr, "conv_general_dilated")
    else:
        assert _count(jaxpr, "conv_general_dilated") == 1
    fns = [functools.partial(conv_ops.conv_general, impl="xla"), auto]
    _assert_close(_value_and_grads(fns, x, w))


def test_choose_batch_chunk():
    assert conv_ops.choose_batch_chunk((128, 32, 32, 64), (128, 32, 32, 64), 4, "gpu") is None
    # ~1 MiB a chunk (4 images of 256 KiB), but at most CPU_XLA_MAX_CHUNKS chunks.
    chunk = conv_ops.choose_batch_chunk((128, 32, 32, 64), (128, 32, 32, 64), 4, "cpu")
    assert chunk == 128 // conv_ops.CPU_XLA_MAX_CHUNKS
    assert conv_ops.choose_batch_chunk((64, 8, 8, 64), (64, 8, 8, 128), 4, "cpu") == 32
    assert conv_ops.choose_batch_chunk((8, 8, 8, 64), (8, 8, 8, 128), 4, "cpu") is None
    # Chunks would hold fewer than CPU_XLA_MIN_CHUNK_IMAGES images: one conv on the batch
    # (ResNet-50 at 224 px, batch 32: 4 images of 784 KiB; a detector at 640 px, batch 2).
    assert conv_ops.choose_batch_chunk((32, 56, 56, 64), (32, 56, 56, 64), 4, "cpu") is None
    assert conv_ops.choose_batch_chunk((2, 160, 160, 64), (2, 160, 160, 64), 4, "cpu") is None
    assert conv_ops.choose_batch_chunk((256, 56, 56, 64), (256, 56, 56, 64), 4, "cpu") == 32
    # CIFAR ResNet-18 at batch 64: 8 chunks of 8 images stay.
    assert conv_ops.choose_batch_chunk((64, 32, 32, 64), (64, 32, 32, 64), 4, "cpu") == 8


def test_batch_chunked_xla_matches_xla():
    x, w = _arrays((7, 5, 4, 3), (3, 3, 3, 4))
    # 7 images in chunks of 3: contiguous chunks 3, 3, 1 (no chunk count in 3..6 divides 7);
    # 6 images in chunks of 4: 2 strided chunks of 3 (images 0, 2, 4 and 1, 3, 5).
    fns = [
        functools.partial(conv_ops.conv_general, strides=2, impl="xla", batch_chunk=c)
        for c in (None, 3, 4)
    ]
    _assert_close(_value_and_grads(fns, x, w))
    _assert_close(_value_and_grads(fns, x[:6], w))


def _eqns(jaxpr, name):
    """The equations named `name` in a jaxpr and its sub-jaxprs."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == name:
            found.append(eqn)
        for value in eqn.params.values():
            for sub in value if isinstance(value, tuple | list) else (value,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    found += _eqns(inner, name)
    return found


def _count(jaxpr, name):
    """Equations named `name` in a jaxpr and its sub-jaxprs."""
    return len(_eqns(jaxpr, name))


def test_batch_chunks_run_in_the_derivatives_only():
    x, w = _arrays((8, 6, 6, 3), (3, 3, 3, 4))
    chunked = functools.partial(conv_ops.conv_general, impl="xla", batch_chunk=2)  # 4 chunks
    conv = "conv_general_dilated"
    # Forward (inference): one conv on the whole batch.
    assert _count(jax.make_jaxpr(chunked)(x, w).jaxpr, conv) == 1
    # Reverse mode: the input and kernel gradients, 4 chunks each, beside the forward conv.
    grads = jax.grad(lambda x, w: chunked(x, w).sum(), argnums=(0, 1))
    assert _count(jax.make_jaxpr(grads)(x, w).jaxpr, conv) == 1 + 2 * 4
    # The kernel gradient alone: no input-gradient convs.
    grad_w = jax.grad(lambda w: chunked(x, w).sum())
    assert _count(jax.make_jaxpr(grad_w)(w).jaxpr, conv) == 1 + 4
    # Forward mode and second derivatives work and agree with lax.
    ref = functools.partial(conv_ops.conv_general, impl="xla")
    _assert_jvp_and_kernel_hessian_match(chunked, ref, x, w)


def test_bad_arguments_raise():
    x, w = _arrays((1, 5, 5, 4), (3, 3, 4, 8))
    with pytest.raises(ValueError, match="impl"):
        conv_ops.conv_general(x, w, impl="cudnn")
    with pytest.raises(ValueError, match="feature_group_count"):
        conv_ops.conv_general(x, w, feature_group_count=2)
    with pytest.raises(ValueError, match="padding"):
        conv_ops.conv_general(x, w, padding="FULL")
    with pytest.raises(ValueError, match="strides"):
        conv_ops.conv_general(x, w, strides=(1, 2, 3))


# --- jaxvision.models.layers ---------------------------------------------------------------

LAYER_CONFIGS = [
    dict(features=6, kernel_size=(3, 3)),
    dict(features=6, kernel_size=(3, 3), strides=2, padding=((1, 1), (1, 1)), use_bias=False),
    dict(features=8, kernel_size=(5, 3), padding="VALID", kernel_dilation=(2, 1)),
    dict(features=8, kernel_size=(3, 3), feature_group_count=2, padding=1),
    dict(features=4, kernel_size=(1, 1), strides=(2, 2), bias_init=nn.initializers.normal(1.0)),
    dict(features=4, kernel_size=(3, 3), padding="CIRCULAR"),
    dict(features=4, kernel_size=(3, 3), padding="REFLECT", dtype=jnp.bfloat16),
]


def _same_tree(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for leaf_a, leaf_b in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert leaf_a.shape == leaf_b.shape and leaf_a.dtype == leaf_b.dtype
        np.testing.assert_array_equal(np.asarray(leaf_a), np.asarray(leaf_b))


IMPLS = ("xla", "im2col", "auto")


def _check_drop_in(reference_cls, cls, config, x):
    """cls(**config, impl=...) has reference_cls(**config)'s variables and outputs."""
    key = jax.random.key(0, impl="rbg")  # cheaper to compile than threefry on CPU

    @jax.jit
    def run(x):
        expected, variables = reference_cls(**config).init_with_output(key, x)
        init = cls(**config).init(key, x)  # the impl does not change the variables
        outs = [cls(**config, impl=impl).apply(variables, x) for impl in IMPLS]
        return variables, expected, init, outs

    variables, expected, init, outs = run(x)
    _same_tree(init, variables)
    tol = 1e-2 if config.get("dtype") == jnp.bfloat16 else 1e-5
    for y in outs:
        assert y.shape == expected.shape and y.dtype == expected.dtype
        np.testing.assert_allclose(
            np.asarray(y, np.float32), np.asarray(expected, np.float32), rtol=tol, atol=tol
        )


@pytest.mark.parametrize("config", LAYER_CONFIGS, ids=lambda c: str(sorted(c)))
def test_layers_conv_is_a_drop_in_nn_conv(config):
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 7, 6, 4)), jnp.float32)
    _check_drop_in(nn.Conv, layers.Conv, config, x)


@pytest.mark.parametrize(
    "config",
    [
        dict(features=5, kernel_size=(3, 3), strides=(2, 2)),
        dict(features=5, kernel_size=(4, 4), strides=(2, 2), padding="VALID", use_bias=False),
        dict(features=5, kernel_size=(2, 2), strides=(2, 2), kernel_dilation=(1, 2)),
        dict(features=5, kernel_size=(3, 3), strides=(2, 2), padding="CIRCULAR"),
        dict(features=5, kernel_size=(3, 3), padding=((1, 2), (0, 1))),
        dict(features=5, kernel_size=(3, 2), strides=(2, 1), transpose_kernel=True),
        dict(
            features=5,
            kernel_size=(4, 4),
            strides=(2, 2),
            padding="CIRCULAR",
            transpose_kernel=True,
        ),
    ],
    ids=lambda c: str(sorted(c)),
)
def test_layers_conv_transpose_is_a_drop_in_nn_conv_transpose(config):
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 5, 4, 3)), jnp.float32)
    _check_drop_in(nn.ConvTranspose, layers.ConvTranspose, config, x)


def test_layers_conv_1d_causal():
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 9, 3)), jnp.float32)
    config = dict(features=4, kernel_size=3, kernel_dilation=2, padding="CAUSAL")
    _check_drop_in(nn.Conv, layers.Conv, config, x)


def test_layers_conv_extra_batch_dims():
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 3, 5, 5, 4)), jnp.float32)
    _check_drop_in(nn.Conv, layers.Conv, dict(features=6, kernel_size=(3, 3)), x)
    # No batch dim: like flax, one is added and removed.
    variables = {"params": {"kernel": jnp.ones((3, 3, 4, 6)), "bias": jnp.zeros(6)}}
    assert layers.Conv(6, (3, 3)).apply(variables, x[0, 0]).shape == (5, 5, 6)


def test_resnet_param_tree_same_with_layers_conv():
    def shapes(conv):
        model = get_model("resnet_tiny", num_classes=10, stem="cifar", conv=conv)
        x = jax.ShapeDtypeStruct((2, 32, 32, 3), jnp.float32)
        init = functools.partial(model.init, train=False)
        return jax.eval_shape(init, jax.random.key(0), x)

    reference, ours = shapes(nn.Conv), shapes(layers.Conv)
    assert jax.tree.structure(ours) == jax.tree.structure(reference)
    assert jax.tree.map(lambda a: a.shape, ours) == jax.tree.map(lambda a: a.shape, reference)


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
    x, w = _arrays((2, *size, 3), (*(k,) * n, 3, 5))
    fns = [
        functools.partial(conv_ops.conv_general, strides=stride, padding=padding, impl=impl)
        for impl in ("space_to_depth", "im2col", "xla")
    ]
    s2d, im2col, xla = _value_and_grads(fns, x, w)
    _assert_close([s2d, im2col])
    negative = not isinstance(padding, str) and any(lo < 0 or hi < 0 for lo, hi in padding)
    if not negative:  # XLA:CPU's strided conv over several channels misreads negative pads
        _assert_close([s2d, xla])


def test_space_to_depth_folds_into_one_stride_1_conv():
    x, w = _arrays((2, 64, 64, 3), (7, 7, 3, 32))
    fn = functools.partial(
        conv_ops.conv_general, strides=2, padding=((3, 3), (3, 3)), impl="space_to_depth"
    )
    (conv,) = _eqns(jax.make_jaxpr(fn)(x, w).jaxpr, "conv_general_dilated")
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


def test_choose_impl_space_to_depth():
    stem = ((32, 64, 64, 3), (7, 7, 3, 32), 2)
    assert conv_ops.choose_impl(*stem, backend="cpu", padding=((3, 3), (3, 3))) == (
        "space_to_depth"
    )
    assert conv_ops.choose_impl(*stem, backend="gpu") == "xla"
    # More input channels, stride 1, dilation, negative pads: the other rules.
    assert conv_ops.choose_impl((32, 64, 64, 8), (7, 7, 8, 32), 2, backend="cpu") == "xla"
    assert conv_ops.choose_impl((32, 64, 64, 3), (7, 7, 3, 32), 1, backend="cpu") == "xla"
    assert conv_ops.choose_impl(*stem, 2, backend="cpu") == "xla"
    assert conv_ops.choose_impl(*stem, backend="cpu", padding=((-1, 3), (3, 3))) == "xla"
    # Small outputs stay with im2col, which the output-size rule picks first.
    assert conv_ops.choose_impl((8, 8, 8, 3), (3, 3, 3, 16), 2, backend="cpu") == "im2col"
    if jax.default_backend() == "cpu":  # and auto runs it
        x, w = _arrays((2, 64, 64, 3), (7, 7, 3, 32))
        auto = functools.partial(conv_ops.conv_general, strides=2, padding=((3, 3), (3, 3)))
        (conv,) = _eqns(jax.make_jaxpr(auto)(x, w).jaxpr, "conv_general_dilated")
        assert conv.invars[0].aval.shape == (2, 35, 35, 12)


def test_auto_folds_the_forward_and_keeps_xla_gradients():
    """ "auto"'s space-to-depth stem: forward by the fold, derivatives by XLA's conv (on batch
    chunks when the batch is large), the same values and gradients as XLA's conv."""
    if jax.default_backend() != "cpu":
        pytest.skip("the space-to-depth rule is the CPU's")
    x, w = _arrays((4, 32, 32, 3), (7, 7, 3, 8))
    fns = [
        functools.partial(conv_ops.conv_general, strides=2, padding=((3, 3), (3, 3)), impl=i)
        for i in ("xla", "auto", "space_to_depth")
    ]
    _assert_close(_value_and_grads(fns, x, w))

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
    _assert_jvp_and_kernel_hessian_match(fns[1], fns[0], small_x, small_w)
    # With batch chunks: the fold forward, XLA's gradients chunk by chunk.
    x6, _ = _arrays((6, 20, 20, 3), (7, 7, 3, 8))  # 10 x 10 outputs: the fold
    chunked = [
        functools.partial(
            conv_ops.conv_general, strides=2, padding=((3, 3), (3, 3)), impl=i, batch_chunk=c
        )
        for i, c in (("xla", None), ("auto", 2))
    ]
    assert "f32[2,20,20,3]" not in str(jax.make_jaxpr(chunked[1])(x6, w))  # x whole
    grad_text = str(jax.make_jaxpr(jax.grad(lambda w: jnp.sum(chunked[1](x6, w) ** 2)))(w))
    assert "f32[2,20,20,3]" in grad_text  # 3 chunks of 2 images
    (y, dx, dw), (y_auto, dx_auto, dw_auto) = _value_and_grads(chunked, x6, w)
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
    assert fold(jnp.ones((1, 1, 1, 3)), jnp.ones((2, 2, 3, 4)), padding="VALID").shape == (
        1,
        0,
        0,
        4,
    )
    assert fold(jnp.ones((1, 8, 8, 3)), jnp.ones((2, 2, 3, 0)), padding="VALID").shape == (
        1,
        4,
        4,
        0,
    )
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
