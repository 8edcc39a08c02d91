"""Strided convolutions as stride-1 convolutions over a space-to-depth input.

A conv of stride s reads input rows i * s + t for tap t of its k taps. Writing t = a * s + r
(a < k' = ceil(k / s), r < s, the kernel zero-padded to k' * s taps) gives

    y[i] = sum_a sum_r xp[(i + a) * s + r] w[a * s + r] = sum_a X[i + a] . W[a],

with X[j] = (xp[j * s + r])_r, the padded input folded s-to-1 into channels (space to
depth), and W[a] the matching fold of the kernel: a stride-1, VALID conv with k' taps and
s times the input channels, a dim at a time. A 7x7 stride-2 stem over 3 channels becomes a
4x4 stride-1 conv over 12 channels, which XLA:CPU's conv runs faster than the strided conv
over 3 channels (`jaxvision.ops.conv.ConvRules.space_to_depth_max_in_channels`); MLPerf's
TPU ResNets fold their stem the same way. The result is the strided conv's up to float
rounding (input rows the strided conv never reads are cropped, so non-finite values there stay
out too).

Gradients are autodiff's: the fold is a pad, a reshape and a transpose.

Example:
  >>> x, w = jnp.ones((1, 8, 8, 3)), jnp.ones((7, 7, 3, 4))
  >>> y = conv(x, w, strides=(2, 2), pads=((3, 3), (3, 3)))
  >>> y.shape, float(y[0, 1, 1, 0])  # 6 x 6 taps of the window inside the image, x 3 channels
  ((1, 4, 4, 4), 108.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from jaxvision.ops.conv import shapes


def applies(
    kernel_shape: Sequence[int],
    strides: Sequence[int],
    rhs_dilation: Sequence[int],
    feature_group_count: int,
) -> bool:
    """Whether `conv` computes this conv: strided (some stride > 1), undilated, one group."""
    n = len(kernel_shape) - 2
    return (
        len(strides) == len(rhs_dilation) == n
        and any(s > 1 for s in strides)
        and all(d == 1 for d in rhs_dilation)
        and feature_group_count == 1
    )


def _fold_input(x: jax.Array, strides: Sequence[int]) -> jax.Array:
    """[b, *(j_d * s_d), c] -> [b, *j_d, prod(s_d) * c], channels ordered (r_1, ..., r_n, c)."""
    b, *sizes, c = x.shape
    n = len(strides)
    split = [b]
    for size, s in zip(sizes, strides, strict=True):
        split += [size // s, s]
    x = x.reshape(*split, c)  # [b, j_1, s_1, ..., j_n, s_n, c]
    order = [0, *(1 + 2 * d for d in range(n)), *(2 + 2 * d for d in range(n)), 1 + 2 * n]
    x = x.transpose(order)  # [b, j_1..j_n, s_1..s_n, c]
    folded = [size // s for size, s in zip(sizes, strides, strict=True)]
    return x.reshape(b, *folded, math.prod(strides) * c)


def _fold_kernel(kernel: jax.Array, strides: Sequence[int]) -> jax.Array:
    """[*k_d, cin, cout] -> [*ceil(k_d / s_d), prod(s_d) * cin, cout], matching `_fold_input`."""
    n = len(strides)
    window, (cin, cout) = kernel.shape[:n], kernel.shape[n:]
    taps = [math.ceil(k / s) for k, s in zip(window, strides, strict=True)]
    kernel = jnp.pad(
        kernel,
        [(0, a * s - k) for a, s, k in zip(taps, strides, window, strict=True)] + [(0, 0)] * 2,
    )  # [*(a_d * s_d), cin, cout], zero taps at the end
    split = []
    for a, s in zip(taps, strides, strict=True):
        split += [a, s]
    kernel = kernel.reshape(*split, cin, cout)  # [a_1, s_1, ..., a_n, s_n, cin, cout]
    order = [*(2 * d for d in range(n)), *(2 * d + 1 for d in range(n)), 2 * n, 2 * n + 1]
    return kernel.transpose(order).reshape(*taps, math.prod(strides) * cin, cout)


def conv(
    x: jax.Array,
    kernel: jax.Array,
    strides: Sequence[int],
    pads: Sequence[tuple[int, int]],
    precision: lax.PrecisionLike = None,
) -> jax.Array:
    """The strided conv `lax.conv_general_dilated(x, kernel, strides, pads)` (channels-last,
    flax kernel layout), computed as a stride-1 conv over the folded input.

    Args:
      x: [b, *spatial, cin].
      kernel: [*window, cin, cout].
      strides: one a spatial dim.
      pads: explicit (low, high) padding a spatial dim (negative crops).
      precision: passed to the conv.

    Returns:
      [b, *out, cout], out = floor((size + low + high - k) / s) + 1 a dim.
    """
    n = len(strides)
    window = kernel.shape[:n]
    out = [
        (size + lo + hi - k) // s + 1
        for size, k, s, (lo, hi) in zip(x.shape[1:-1], window, strides, pads, strict=True)
    ]
    dimension_numbers = shapes.dimension_numbers(n)
    if x.shape[0] == 0 or kernel.shape[-1] == 0 or min(out) <= 0:  # nothing to fold
        return lax.conv_general_dilated(
            x, kernel, strides, pads, dimension_numbers=dimension_numbers, precision=precision
        )
    taps = [math.ceil(k / s) for k, s in zip(window, strides, strict=True)]
    # The (o - 1) * s + k rows the conv reads (crop the rest, so that rows it never reads,
    # non-finite ones included, never meet the kernel's zero taps), then zeros up to the
    # (o + a - 1) * s rows of the fold.
    read = [
        (lo, (o - 1) * s + k - size - lo, 0)
        for size, o, s, k, (lo, _) in zip(x.shape[1:-1], out, strides, window, pads, strict=True)
    ]
    fill = [
        (0, (o + a - 1) * s - ((o - 1) * s + k), 0)
        for o, a, s, k in zip(out, taps, strides, window, strict=True)
    ]
    zero = jnp.zeros((), x.dtype)
    xp = lax.pad(x, zero, ((0, 0, 0), *read, (0, 0, 0)))  # [b, *((o - 1) s + k), c]
    xp = lax.pad(xp, zero, ((0, 0, 0), *fill, (0, 0, 0)))  # [b, *((o + a - 1) s), c]
    return lax.conv_general_dilated(
        _fold_input(xp, strides),
        _fold_kernel(kernel, strides),
        window_strides=(1,) * n,
        padding="VALID",
        dimension_numbers=dimension_numbers,
        precision=precision,
    )  # [b, *out, cout]
