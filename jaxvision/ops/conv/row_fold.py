"""Stride-1 convolutions to few output channels, their kernel rows folded into channels.

XLA:CPU's conv runs far below its peak when the output has 1 to 4 channels (the RGB output
conv of a restoration or colorization network), forward and kernel gradient alike. Writing the
conv over the first spatial dim's kh taps apart,

    y[:, i] = sum_t z[:, i + t, ..., t, :],   z = conv_{1 x rest}(x padded along dim 1, W),

with W[0, ..., c, (t, o)] = w[t, ..., c, o]: one conv whose window spans the other dims only
and which gives kh * cout output channels (cout for each tap row t), then a sum of kh shifted
slices. The conv multiplies exactly as often as the original one but at an output width XLA's
conv runs well at; z holds kh * (out + kh - 1) / out times the output, small when cout is.
The result is the conv's up to float rounding.

Gradients are autodiff's: the fold is a pad, a reshape and slices, and the derivatives of the
wider conv are faster than those of the narrow one (`benchmarks/RESULTS.md`, "Conv lowering
rules").

The conv over the other dims is a callable, so that the caller picks its lowering.

Example:
  >>> x, w = jnp.ones((1, 6, 6, 8)), jnp.ones((3, 3, 8, 3))
  >>> y = conv(x, w, pads=((1, 1), (1, 1)))
  >>> y.shape, float(y[0, 2, 2, 0]), float(y[0, 0, 0, 0])  # 3 x 3 taps x 8, then 2 x 2 x 8
  ((1, 6, 6, 3), 72.0, 32.0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jax import lax

from jaxvision.ops.conv import shapes

# conv(x, kernel, pads): a stride-1, undilated, channels-last conv with explicit padding.
ConvFn = Callable[[jax.Array, jax.Array, Sequence[tuple[int, int]]], jax.Array]


# Whether `conv` computes this conv: stride 1, undilated, one group, at least 1-D.
applies = shapes.is_stride_one


def fold_kernel(kernel: jax.Array) -> jax.Array:
    """[kh, *rest, cin, cout] -> [1, *rest, cin, kh * cout], output channels ordered (t, o)."""
    kh, cout = kernel.shape[0], kernel.shape[-1]
    folded = jnp.moveaxis(kernel, 0, -2)  # [*rest, cin, kh, cout]
    return folded.reshape(1, *folded.shape[:-2], kh * cout)


def _lax_conv(x: jax.Array, kernel: jax.Array, pads: Sequence[tuple[int, int]]) -> jax.Array:
    n = kernel.ndim - 2
    return lax.conv_general_dilated(
        x, kernel, (1,) * n, pads, dimension_numbers=shapes.dimension_numbers(n)
    )


def conv(
    x: jax.Array,
    kernel: jax.Array,
    pads: Sequence[tuple[int, int]],
    conv_fn: ConvFn | None = None,
) -> jax.Array:
    """The stride-1 conv `lax.conv_general_dilated(x, kernel, 1, pads)` (channels-last, flax
    kernel layout), its first spatial dim's taps folded into output channels.

    Args:
      x: [b, *spatial, cin].
      kernel: [*window, cin, cout].
      pads: explicit (low, high) padding a spatial dim (negative crops).
      conv_fn: computes the folded conv, `conv_fn(x, kernel, pads)` with a window of 1 along
        the first spatial dim (None: `lax.conv_general_dilated`).

    Returns:
      [b, *out, cout], out = size + low + high - k + 1 a dim.
    """
    conv_fn = conv_fn or _lax_conv
    n = kernel.ndim - 2
    kh, cout = kernel.shape[0], kernel.shape[-1]
    out = [
        size + lo + hi - k + 1
        for size, k, (lo, hi) in zip(x.shape[1:-1], kernel.shape[:n], pads, strict=True)
    ]
    if x.shape[0] == 0 or cout == 0 or min(out) <= 0 or kh == 1:
        return _lax_conv(x, kernel, pads)
    config = [(0, 0, 0), (*pads[0], 0), *((0, 0, 0),) * n]
    xp = lax.pad(x, jnp.zeros((), x.dtype), config)  # [b, out[0] + kh - 1, *spatial[1:], cin]
    z = conv_fn(xp, fold_kernel(kernel), ((0, 0), *pads[1:]))  # [b, out0+kh-1, *out[1:], kh*cout]
    z = z.reshape(*z.shape[:-1], kh, cout)
    # y[:, i] = sum_t z[:, i + t, ..., t, :], summed in at least float32 (as a conv sums).
    acc = jnp.promote_types(z.dtype, jnp.float32)
    taps = [lax.slice_in_dim(z[..., t, :], t, t + out[0], axis=1).astype(acc) for t in range(kh)]
    return sum(taps[1:], taps[0]).astype(z.dtype)  # [b, *out, cout]


__all__ = ["applies", "conv", "fold_kernel"]
