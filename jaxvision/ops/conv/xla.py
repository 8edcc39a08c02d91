"""XLA's own convolution (`lax.conv_general_dilated`), with its derivatives on batch chunks.

XLA:CPU's convolution slows down once its operands leave the cache, and most in the
derivatives. `chunked_derivatives` keeps the forward pass one conv on the whole batch and runs
the input and kernel gradients as several convs on batch chunks: a `custom_jvp` whose tangent
is computed chunk by chunk, so that reverse mode, which transposes that tangent, computes the
gradients on chunks. Forward mode and higher derivatives stay available (no `custom_vjp`).

Example:
  >>> x, k = jnp.ones((8, 6, 6, 3)), jnp.ones((3, 3, 3, 4))
  >>> conv = lowering((1, 1), ((1, 1), (1, 1)), (1, 1), 1, None)  # a 3x3 "SAME" conv
  >>> y = chunked_derivatives(conv, x, k, chunk=2)  # forward: one conv; gradients: 4 chunks
  >>> y.shape
  (8, 6, 6, 4)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from jaxvision.ops.conv.shapes import dimension_numbers

ConvFn = Callable[[jax.Array, jax.Array], jax.Array]


def lowering(
    strides: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
    rhs_dilation: tuple[int, ...],
    feature_group_count: int,
    precision: lax.PrecisionLike,
) -> ConvFn:
    """conv(x, kernel): one `lax.conv_general_dilated`, everything but the operands fixed."""
    return functools.partial(
        lax.conv_general_dilated,
        window_strides=strides,
        padding=pads,
        rhs_dilation=rhs_dilation,
        dimension_numbers=dimension_numbers(len(strides)),
        feature_group_count=feature_group_count,
        precision=precision,
    )


def conv_transpose(
    x: jax.Array,
    kernel: jax.Array,
    strides: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
    rhs_dilation: tuple[int, ...],
    precision: lax.PrecisionLike,
) -> jax.Array:
    """`lax.conv_transpose` (kernel not flipped): the stride-1 conv of the input dilated by s."""
    n = len(strides)
    return lax.conv_general_dilated(
        x,
        kernel,
        (1,) * n,
        pads,
        lhs_dilation=strides,
        rhs_dilation=rhs_dilation,
        dimension_numbers=dimension_numbers(n),
        precision=precision,
    )


def batch_chunked(fn: Callable[[jax.Array], jax.Array], x: jax.Array, chunk: int | None):
    """fn(x) computed as fn on chunks of about `chunk` images, for a per-image fn.

    With n chunks, n a divisor of the batch, chunk j holds images j, j + n, j + 2n, ...: a
    batch sharded over devices stays evenly sharded in every chunk. (Without a divisor near
    batch / chunk, the chunks are contiguous.) `lax.split` splits, as its transpose is one
    concatenate; the chunks are unrolled, as XLA:CPU runs the backward conv much slower
    under `lax.map`.
    """
    b = x.shape[0]
    if chunk is None or chunk >= b or b == 0:
        return fn(x)
    fewest = -(-b // chunk)
    n = next((d for d in range(fewest, 2 * fewest + 1) if b % d == 0), None)  # chunks
    if n is None:
        sizes = (chunk,) * (b // chunk) + ((b % chunk,) if b % chunk else ())
        return jnp.concatenate([fn(part) for part in lax.split(x, sizes, axis=0)], axis=0)
    xs = x.reshape(b // n, n, *x.shape[1:])  # [b/n, n, ...]
    ys = [fn(jnp.squeeze(part, 1)) for part in lax.split(xs, (1,) * n, axis=1)]  # n x [b/n, ..]
    y = jnp.stack(ys, axis=1)  # [b/n, n, ...]
    return y.reshape(b, *y.shape[2:])


def chunked_derivatives(
    conv: ConvFn,
    x: jax.Array,
    kernel: jax.Array,
    chunk: int | None,
    primal: ConvFn | None = None,
    derivatives_only: bool = True,
) -> jax.Array:
    """conv(x, kernel) on the whole batch, its derivatives on batch chunks (`batch_chunked`).

    Args:
      conv: the conv whose derivatives run on chunks.
      x: input, [b, *spatial, cin].
      kernel: [*window, cin / groups, cout].
      chunk: images a chunk; None (or the whole batch) for no chunks.
      primal: computes the forward value instead of `conv` (the same function by another
        lowering); the derivatives stay `conv`'s, on chunks or on the whole batch.
      derivatives_only: the forward pass on the whole batch (True) or on the chunks too.

    Returns:
      conv(x, kernel), [b, *spatial', cout].
    """
    chunked = not (chunk is None or chunk >= x.shape[0] or x.shape[0] == 0)
    if primal is None and not chunked:
        return conv(x, kernel)
    if primal is None and not derivatives_only:
        return batch_chunked(lambda part: conv(part, kernel), x, chunk)
    primal = primal or conv
    chunk = chunk if chunked else None

    @jax.custom_jvp
    def full(x: jax.Array, kernel: jax.Array) -> jax.Array:
        return primal(x, kernel)

    def jvp(primals: Sequence[jax.Array], tangents: Sequence[jax.Array]):
        x, kernel = primals
        dx, dkernel = tangents
        y = primal(x, kernel)
        dy = []
        if not isinstance(dx, SymbolicZero):
            dy.append(batch_chunked(lambda part: conv(part, kernel), dx, chunk))
        if not isinstance(dkernel, SymbolicZero):
            dy.append(batch_chunked(lambda part: conv(part, dkernel), x, chunk))
        return y, functools.reduce(jnp.add, dy) if dy else jnp.zeros_like(y)

    full.defjvp(jvp, symbolic_zeros=True)
    return full(x, kernel)
