"""Convolutions as slices and matrix products ("im2col"), for XLA:CPU's slow conv shapes.

The same function as `lax.conv_general_dilated` / `lax.conv_transpose`, computed with
slicing, padding and `lax.dot_general`, which XLA:CPU runs through its fast matmul:

  * k x k conv: pad, take the k*k shifted (strided, dilated) windows with `lax.slice`,
    concatenate them into [b, *out, k*k*cin] and multiply by the kernel reshaped to
    [k*k*cin, cout] (one matmul on concatenated windows, not a sum of k*k matmuls).
  * 1 x 1 conv: a plain matmul on the (strided) input.
  * depthwise conv: a sum of k*k shifted elementwise multiply-adds, no matmul.
  * grouped conv: one im2col matmul a group (few groups) or one batched over groups.
  * transposed conv: one matmul of every input pixel with every tap, then an overlap-add of
    the k*k tap planes (col2im); no multiply by the zeros an input-dilated conv inserts.

Gradients are JAX autodiff of these formulations: the transpose of a slice is a pad, of a
concatenate a slice, of a matmul a matmul, so input and kernel gradients are again matmuls
(and forward mode and higher derivatives work as for `lax` convs).

Example:
  >>> x, k = jnp.ones((2, 8, 8, 16)), jnp.ones((3, 3, 16, 32))
  >>> conv(x, k, (2, 2), ((0, 1), (0, 1)), (1, 1), 1, None).shape
  (2, 4, 4, 32)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from jaxvision.ops.conv.shapes import out_spatial as conv_out_spatial

# Up to this many taps (3x3), the im2col matrix is one concatenate of k*k windows; above
# (5x5, 7x7), it is built one spatial dim at a time, which compiles faster (`_separable_patches`).
CONCAT_PATCHES_MAX_TAPS = 9
# Up to this many groups, a grouped conv is one im2col matmul a group; above, a batched matmul.
GROUPED_LOOP_MAX_GROUPS = 8


def _live_taps(size: int, out: int, k: int, s: int, d: int, lo: int) -> tuple[int, int]:
    """[first, last + 1) of the taps that read any input (not only padding) along one dim.

    Tap t of output q reads padded position t*d + q*s, i.e. input t*d + q*s - lo. On maps
    smaller than the kernel (a 3x3 conv on 1x1 maps) the outer taps read padding only.
    """
    live = [t for t in range(k) if any(0 <= t * d + q * s - lo < size for q in range(out))]
    return (live[0], live[-1] + 1) if live else (0, 0)


def _separable_patches(
    xp: jax.Array,
    window: Sequence[int],
    live: Sequence[tuple[int, int]],
    rhs_dilation: Sequence[int],
    strides: Sequence[int],
    out_spatial: Sequence[int],
) -> jax.Array:
    """The im2col matrix [b, *out, K*c] one spatial dim at a time, last dim first.

    Gathers the kw windows along w into the channels, then the kh windows of that along h:
    kh + kw slices instead of kh * kw; the channel order (tap_h, tap_w, c) is the kernel's
    row-major one.
    """
    n = len(window)
    patches = xp  # [b, *padded, c]
    for dim in reversed(range(n)):
        axis = dim + 1
        cols = []
        for t in range(window[dim]):
            start = (t + live[dim][0]) * rhs_dilation[dim]
            begin = [0] * patches.ndim
            end = list(patches.shape)
            step = [1] * patches.ndim
            begin[axis] = start
            end[axis] = start + (out_spatial[dim] - 1) * strides[dim] + 1
            step[axis] = strides[dim]
            cols.append(lax.slice(patches, begin, end, step))
        patches = jnp.concatenate(cols, axis=-1)  # [b, ..., out_dim, ..., k_dim * c']
    return patches


def _windows(
    xp: jax.Array,
    taps: Sequence[tuple[int, ...]],
    live: Sequence[tuple[int, int]],
    strides: Sequence[int],
    rhs_dilation: Sequence[int],
    out_spatial: Sequence[int],
) -> list[jax.Array]:
    """The input pixels each tap of every output reads, [b, *out, cin] a tap."""
    windows = []
    for tap in taps:
        starts = [(t + t0) * d for t, (t0, _), d in zip(tap, live, rhs_dilation, strict=True)]
        limits = [
            start + (o - 1) * s + 1
            for start, o, s in zip(starts, out_spatial, strides, strict=True)
        ]
        windows.append(
            lax.slice(xp, (0, *starts, 0), (xp.shape[0], *limits, xp.shape[-1]), (1, *strides, 1))
        )  # [b, *out, cin]
    return windows


def _grouped(
    windows: Sequence[jax.Array], kernel: jax.Array, groups: int, precision: lax.PrecisionLike
) -> jax.Array:
    """A grouped conv (groups > 1) from its tap windows; kernel [*window', cin_g, cout]."""
    n = kernel.ndim - 2
    b, *out_spatial, _ = windows[0].shape
    num_taps = len(windows)
    cin_g, cout = kernel.shape[-2:]
    cout_g = cout // groups
    contract = (((n + 1,), (0,)), ((), ()))  # the channel axis of [b, *out, c] with rows
    if cin_g == 1:
        # Depthwise (channel multiplier m = cout / cin): K shifted multiply-adds.
        kvec = kernel.reshape(num_taps, groups, cout_g)  # [K, cin, m]
        y = sum(w[..., None] * kvec[i] for i, w in enumerate(windows))  # [b, *out, cin, m]
        return y.reshape(b, *out_spatial, cout)
    kmat = kernel.reshape(num_taps, cin_g, groups, cout_g)  # [K, ci, g, co]
    if groups <= GROUPED_LOOP_MAX_GROUPS:
        outs = []
        for g in range(groups):
            lo, hi = g * cin_g, (g + 1) * cin_g
            patches = jnp.concatenate([w[..., lo:hi] for w in windows], axis=-1)  # [.., K*ci]
            k_g = kmat[:, :, g].reshape(num_taps * cin_g, cout_g)  # [K*ci, co]
            outs.append(lax.dot_general(patches, k_g, contract, precision=precision))
        return jnp.concatenate(outs, axis=-1)  # [b, *out, g*co]
    patches = jnp.stack(windows, axis=n + 1)  # [b, *out, K, cin]
    patches = patches.reshape(b, *out_spatial, num_taps, groups, cin_g)  # [b, *out, K, g, ci]
    y = lax.dot_general(
        patches, kmat, (((n + 1, n + 3), (0, 1)), ((n + 2,), (2,))), precision=precision
    )  # [g, b, *out, co]
    return jnp.moveaxis(y, 0, -2).reshape(b, *out_spatial, cout)  # [b, *out, g*co]


def conv(
    x: jax.Array,
    kernel: jax.Array,
    strides: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
    rhs_dilation: tuple[int, ...],
    feature_group_count: int,
    precision: lax.PrecisionLike,
) -> jax.Array:
    """Convolution by slicing and matmuls; the result of `lax.conv_general_dilated`.

    Args:
      x: input, [b, *spatial, cin], in the compute dtype.
      kernel: [*window, cin / groups, cout], in the compute dtype.
      strides: window strides, one a spatial dim.
      pads: explicit (low, high) padding a spatial dim (negative crops).
      rhs_dilation: kernel dilation, one a spatial dim.
      feature_group_count: number of groups.
      precision: passed to the matmuls.

    Returns:
      [b, *spatial', cout].
    """
    n = kernel.ndim - 2
    b = x.shape[0]
    cin_g, cout = kernel.shape[-2:]
    in_spatial = x.shape[1:-1]
    out_spatial = conv_out_spatial(in_spatial, kernel.shape[:n], strides, rhs_dilation, pads)
    live = [
        _live_taps(size, out, k, s, d, lo)
        for size, out, k, s, d, (lo, _) in zip(
            in_spatial, out_spatial, kernel.shape[:n], strides, rhs_dilation, pads, strict=True
        )
    ]
    if b == 0 or any(o == 0 for o in out_spatial) or any(t0 == t1 for t0, t1 in live):
        return jnp.zeros((b, *out_spatial, cout), jnp.result_type(x, kernel))
    # Drop the taps that read padding only (their products are zero).
    kernel = lax.slice(
        kernel, (*(t0 for t0, _ in live), 0, 0), (*(t1 for _, t1 in live), cin_g, cout)
    )  # [*window', cin_g, cout]
    window = kernel.shape[:n]
    taps = list(itertools.product(*(range(k) for k in window)))  # row-major, as kernel.reshape
    # Pad (negative crops) the spatial dims only; the zero padding fuses into the slices.
    xp = lax.pad(
        x, jnp.zeros((), x.dtype), ((0, 0, 0), *((lo, hi, 0) for lo, hi in pads), (0, 0, 0))
    )
    if feature_group_count > 1:
        windows = _windows(xp, taps, live, strides, rhs_dilation, out_spatial)
        return _grouped(windows, kernel, feature_group_count, precision)
    if len(taps) <= CONCAT_PATCHES_MAX_TAPS:
        windows = _windows(xp, taps, live, strides, rhs_dilation, out_spatial)
        patches = jnp.concatenate(windows, axis=-1)  # [b, *out, K*cin]
    else:
        patches = _separable_patches(xp, window, live, rhs_dilation, strides, out_spatial)
    kmat = kernel.reshape(len(taps) * cin_g, cout)  # [K*cin, cout]
    contract = (((n + 1,), (0,)), ((), ()))  # the channel axis of [b, *out, c] with rows
    return lax.dot_general(patches, kmat, contract, precision=precision)  # [b, *out, cout]


def conv_transpose(
    x: jax.Array,
    kernel: jax.Array,
    strides: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
    rhs_dilation: tuple[int, ...],
    precision: lax.PrecisionLike,
) -> jax.Array:
    """Transposed conv as one matmul, then an overlap-add of the k**n tap planes (col2im).

    `lax.conv_transpose` is the stride-1 conv of the input dilated by s (s - 1 zeros between
    pixels) and padded by `pads`: y[o] = sum_t w[t] * x[(o + t*d - lo) / s] where exact. So
    input pixel i through tap t lands on output o = s*i + lo - t*d: multiply every input pixel
    by every tap at once (z = x @ w, no zero multiplied), then place tap t's plane at offset
    lo - t*d with s - 1 zeros between pixels (`lax.pad` with interior padding; negative edges
    crop) and sum the planes. Its gradient is an im2col conv: strided slices of the output
    gradient and two matmuls. (A sub-pixel decomposition, s**n stride-1 convs interleaved by
    a depth-to-space, makes more and smaller matmuls, and was slower.)

    Args:
      x: input, [b, *spatial, cin], in the compute dtype.
      kernel: [*window, cin, cout] (not flipped), in the compute dtype.
      strides: upsampling factors, one a spatial dim.
      pads: (low, high) padding of the input-dilated conv (`shapes.conv_transpose_padding`).
      rhs_dilation: kernel dilation, one a spatial dim.
      precision: passed to the matmul.

    Returns:
      [b, *spatial', cout].
    """
    n = kernel.ndim - 2
    window = kernel.shape[:n]
    b, cin, cout = x.shape[0], x.shape[-1], kernel.shape[-1]
    in_spatial = x.shape[1:-1]
    out_spatial = tuple(
        max(0, (size - 1) * s + 1 + lo + hi - (k - 1) * d)
        for size, s, (lo, hi), k, d in zip(
            in_spatial, strides, pads, window, rhs_dilation, strict=True
        )
    )
    dtype = jnp.result_type(x, kernel)
    if b == 0 or any(o == 0 for o in out_spatial) or any(size == 0 for size in in_spatial):
        return jnp.zeros((b, *out_spatial, cout), dtype)
    num_taps = math.prod(window)
    kmat = jnp.moveaxis(kernel, n, 0).reshape(cin, num_taps * cout)  # [cin, K*cout]
    z = lax.dot_general(x, kmat, (((n + 1,), (0,)), ((), ())), precision=precision)
    # [b, *in, K*cout] -> K x [b, *in, cout]. A split, not K slices: its transpose is one
    # concatenate, where that of K slices is K full-size pads that XLA materialises.
    planes = lax.split(z, (cout,) * num_taps, axis=n + 1)
    zero = jnp.zeros((), dtype)
    y = None
    for plane, tap in zip(planes, itertools.product(*(range(k) for k in window)), strict=True):
        config = [(0, 0, 0)]
        for size, s, (lo, _), t, d, o in zip(
            in_spatial, strides, pads, tap, rhs_dilation, out_spatial, strict=True
        ):
            low = lo - t * d  # output position of input pixel 0 through this tap
            config.append((low, o - low - ((size - 1) * s + 1), s - 1))
        config.append((0, 0, 0))
        plane = lax.pad(plane, zero, config)  # [b, *out, cout]
        y = plane if y is None else y + plane
    return y
