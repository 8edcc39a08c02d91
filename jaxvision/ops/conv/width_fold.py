"""Stride-1 convolutions over few channels as convolutions over width blocks.

XLA:CPU's conv runs far below its peak when the input has 3 or 4 channels (an RGB stem at
full resolution). Folding `g` adjacent output columns into channels widens it: block j of the
output, columns j*g .. j*g + g - 1, reads input columns j*g .. j*g + g + kw - 2 (its g
columns and a halo of kw - 1), so

    y[:, :, j*g + u, :] = sum_{h, t} X[:, h, j, t, :] . K[h, t, u]   (t < g + kw - 1, u < g)

with X the padded input cut into overlapping blocks of g + kw - 1 columns and K[h, t, u] =
w[h, t - u] where 0 <= t - u < kw, zero elsewhere: a conv with a kh x 1 window, (g + kw - 1) *
cin input and g * cout output channels. It multiplies (g + kw - 1) / kw times more than the
conv (the zeros of K), but at widths where XLA's conv is fast. The result is the conv's up to
float rounding.

Gradients are autodiff's: the blocks are a pad, a reshape and a concatenate.

Example:
  >>> x, w = jnp.ones((1, 6, 10, 3)), jnp.ones((3, 3, 3, 4))
  >>> y = conv(x, w, pads=((1, 1), (1, 1)), fold=4)
  >>> y.shape, float(y[0, 2, 5, 0])  # 3 x 3 taps inside the image, x 3 channels
  ((1, 6, 10, 4), 27.0)
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from jaxvision.ops.conv import shapes

# Whether `conv` computes this conv: stride 1, undilated, one group, at least 1-D.
applies = shapes.is_stride_one


def fold_kernel(kernel: jax.Array, fold: int) -> jax.Array:
    """[*window, kw, cin, cout] -> [*window, 1, (fold + kw - 1) * cin, fold * cout].

    Entry [..., 0, t * cin + c, u * cout + o] is kernel[..., t - u, c, o] where
    0 <= t - u < kw, else zero (channels ordered (column, channel) as `_blocks` makes them).
    """
    *window, kw, cin, cout = kernel.shape
    span = fold + kw - 1
    offset = jnp.arange(span)[:, None] - jnp.arange(fold)[None, :]  # [span, fold]: t - u
    # [*window, span, fold, cin, cout]
    taps = jnp.take(kernel, jnp.clip(offset, 0, kw - 1), axis=len(window))
    inside = (offset >= 0) & (offset < kw)
    taps = jnp.where(inside[:, :, None, None], taps, jnp.zeros((), kernel.dtype))
    taps = jnp.swapaxes(taps, -3, -2)  # [*window, span, cin, fold, cout]
    return taps.reshape(*window, 1, span * cin, fold * cout)


def _blocks(x: jax.Array, fold: int, span: int, blocks: int, extra: int) -> jax.Array:
    """[b, ..., W, c] with W >= (blocks + extra) * fold -> [b, ..., blocks, span * c]: block j
    holds columns j * fold .. j * fold + span - 1, its halo reaching into `extra` blocks."""
    *lead, width, c = x.shape
    total = (blocks + extra) * fold
    x = lax.slice_in_dim(x, 0, total, axis=len(lead))
    x = x.reshape(*lead, blocks + extra, fold * c)  # [..., blocks + extra, fold * c]
    axis = len(lead)
    views = [lax.slice_in_dim(x, e, e + blocks, axis=axis) for e in range(extra + 1)]
    # [..., blocks, (extra + 1) * fold * c]
    joined = jnp.concatenate(views, axis=-1) if extra else views[0]
    return joined[..., : span * c]


def conv(
    x: jax.Array,
    kernel: jax.Array,
    pads: Sequence[tuple[int, int]],
    fold: int,
    precision: lax.PrecisionLike = None,
) -> jax.Array:
    """The stride-1 conv `lax.conv_general_dilated(x, kernel, 1, pads)` (channels-last, flax
    kernel layout), computed over blocks of `fold` output columns (the last spatial dim).

    Args:
      x: [b, *spatial, cin].
      kernel: [*window, cin, cout].
      pads: explicit (low, high) padding a spatial dim (negative crops).
      fold: output columns a block (1 is the plain conv with a kh x 1 window per column).
      precision: passed to the conv.

    Returns:
      [b, *out, cout], out = size + low + high - k + 1 a dim.
    """
    n = kernel.ndim - 2
    window = kernel.shape[:n]
    kw = window[-1]
    out = [
        size + lo + hi - k + 1
        for size, k, (lo, hi) in zip(x.shape[1:-1], window, pads, strict=True)
    ]
    dimension_numbers = shapes.dimension_numbers(n)
    if x.shape[0] == 0 or kernel.shape[-1] == 0 or min(out) <= 0 or fold < 1:
        return lax.conv_general_dilated(
            x, kernel, (1,) * n, pads, dimension_numbers=dimension_numbers, precision=precision
        )
    span = fold + kw - 1
    blocks = -(-out[-1] // fold)
    extra = -(-(span - fold) // fold)  # whole blocks the halo reaches into
    width = x.shape[-2] + pads[-1][0] + pads[-1][1]
    # Zeros on the right up to the whole blocks `_blocks` reads (out columns past out[-1] are
    # cropped below).
    right = pads[-1][1] + max(0, (blocks + extra) * fold - width)
    config = [(0, 0, 0), *((lo, hi, 0) for lo, hi in pads[:-1]), (pads[-1][0], right, 0), (0, 0, 0)]
    xp = lax.pad(x, jnp.zeros((), x.dtype), config)  # [b, *padded, cin]
    y = lax.conv_general_dilated(
        _blocks(xp, fold, span, blocks, extra),  # [b, *padded[:-1], blocks, span * cin]
        fold_kernel(kernel, fold),
        window_strides=(1,) * n,
        padding="VALID",
        dimension_numbers=dimension_numbers,
        precision=precision,
    )  # [b, *out[:-1], blocks, fold * cout]
    y = y.reshape(*y.shape[:-2], blocks * fold, kernel.shape[-1])
    return lax.slice_in_dim(y, 0, out[-1], axis=n)  # [b, *out, cout]


def choose_fold(out_width: int, max_fold: int = 8) -> int:
    """Output columns a block: the largest power of two up to `max_fold` that leaves at least
    two blocks across `out_width`.

    Example:
      >>> choose_fold(128), choose_fold(6), choose_fold(3)
      (8, 2, 1)
    """
    fold = 1
    while fold * 2 <= max_fold and fold * 4 <= out_width:
        fold *= 2
    return fold


__all__ = ["applies", "choose_fold", "conv", "fold_kernel"]
