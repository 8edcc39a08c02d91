"""Tests of jaxvision.ops.conv.xla: XLA's conv with its derivatives on batch chunks."""

import dataclasses
import functools

import jax

from jaxvision.ops import conv as conv_ops
from jaxvision.ops.conv import DEFAULT_RULES
from tests.ops.conv.compare import (
    arrays,
    assert_close,
    assert_jvp_and_kernel_hessian_match,
    count,
    value_and_grads,
)

CONV = "conv_general_dilated"


def test_batch_chunked_xla_matches_xla():
    x, w = arrays((7, 5, 4, 3), (3, 3, 3, 4))
    # 7 images in chunks of 3: contiguous chunks 3, 3, 1 (no chunk count in 3..6 divides 7);
    # 6 images in chunks of 4: 2 strided chunks of 3 (images 0, 2, 4 and 1, 3, 5).
    fns = [
        functools.partial(conv_ops.conv_general, strides=2, impl="xla", batch_chunk=c)
        for c in (None, 3, 4)
    ]
    assert_close(value_and_grads(fns, x, w))
    assert_close(value_and_grads(fns, x[:6], w))


def test_batch_chunks_run_in_the_derivatives_only():
    x, w = arrays((8, 6, 6, 3), (3, 3, 3, 4))
    chunked = functools.partial(conv_ops.conv_general, impl="xla", batch_chunk=2)  # 4 chunks
    # Forward (inference): one conv on the whole batch.
    assert count(jax.make_jaxpr(chunked)(x, w).jaxpr, CONV) == 1
    # Reverse mode: the input and kernel gradients, 4 chunks each, beside the forward conv.
    grads = jax.grad(lambda x, w: chunked(x, w).sum(), argnums=(0, 1))
    assert count(jax.make_jaxpr(grads)(x, w).jaxpr, CONV) == 1 + 2 * 4
    # The kernel gradient alone: no input-gradient convs.
    grad_w = jax.grad(lambda w: chunked(x, w).sum())
    assert count(jax.make_jaxpr(grad_w)(w).jaxpr, CONV) == 1 + 4
    # Forward mode and second derivatives work and agree with lax.
    ref = functools.partial(conv_ops.conv_general, impl="xla")
    assert_jvp_and_kernel_hessian_match(chunked, ref, x, w)


def test_rules_put_the_forward_on_chunks_or_drop_the_chunks():
    x, w = arrays((8, 6, 6, 8), (3, 3, 8, 8))
    forward_too = dataclasses.replace(DEFAULT_RULES, chunk_derivatives_only=False)
    fns = {
        "derivatives": functools.partial(conv_ops.conv_general, impl="auto", batch_chunk=2),
        "forward_too": functools.partial(conv_ops.conv_general, impl=forward_too, batch_chunk=2),
    }
    # 36 output pixels from 8 channels: XLA's conv on every backend, with 4 chunks of 2 images.
    counts = {name: count(jax.make_jaxpr(fn)(x, w).jaxpr, CONV) for name, fn in fns.items()}
    assert counts == {"derivatives": 1, "forward_too": 4}
    assert_close(value_and_grads([conv_ops.conv_general, *fns.values()], x, w))
    # No chunks at all: choose_batch_chunk says None whatever the batch.
    no_chunks = dataclasses.replace(DEFAULT_RULES, batch_chunks=False)
    big = (256, 56, 56, 64)
    assert conv_ops.choose_batch_chunk(big, big, 4, "cpu") == 32
    assert conv_ops.choose_batch_chunk(big, big, 4, "cpu", no_chunks) is None
