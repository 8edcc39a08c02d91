"""Transposed convolutions as one stride-1 convolution to s**n sub-pixel phases.

`lax.conv_transpose` (kernel not flipped, no dilation) computes y[o] = sum_t w[t] x[(o + t -
lo) / s] where the division is exact. Output o = s*m + r (phase r < s) reads tap t from input
m + e with e = (r + t - lo) / s, for the taps t with r + t - lo divisible by s. Over all
phases the offsets e span K = e_max - e_min + 1 input positions, so every phase is a
stride-1 conv with a K-tap window over the input, and all s**n phases are one conv to
s**n * cout channels, whose kernel places each tap of w at its (phase, offset) and zeros
elsewhere; a depth-to-space interleave of the phases gives y. A 3x3 stride-2 transposed conv
becomes a 2x2 conv to 4 * cout channels (16 multiplies where 9 are needed), a 4x4 stride-2
one a 2x2 conv with none wasted, a 2x2 stride-2 one a 1x1 conv (a matmul). Its derivatives
are those of a stride-1 conv, which XLA:CPU computes far faster than those of the
input-dilated conv `lax.conv_transpose` lowers to.

The stride-1 conv is a callable, so that the caller picks its lowering (`conv_general`
under "auto").

Example:
  >>> x, w = jnp.ones((1, 4, 4, 8)), jnp.ones((3, 3, 8, 2))
  >>> conv = lambda x, k: lax.conv_general_dilated(
  ...     x, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  >>> conv_transpose(x, w, (2, 2), ((1, 2), (1, 2)), conv).shape
  (1, 8, 8, 2)
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

ConvFn = Callable[[jax.Array, jax.Array], jax.Array]


def applies(rhs_dilation: Sequence[int]) -> bool:
    """Whether `conv_transpose` computes a transposed conv of this dilation (none)."""
    return all(d == 1 for d in rhs_dilation)


def _placement(k: int, s: int, lo: int) -> tuple[np.ndarray, int]:
    """One dim's tap placement P [K, s, k] (P[p, r, t] = 1 where phase r reads tap t at
    window position p) and e_min, the input offset of window position 0."""
    offsets = [
        (r, t, (r + t - lo) // s) for r in range(s) for t in range(k) if (r + t - lo) % s == 0
    ]
    if not offsets:  # no tap reaches any phase (k = 0): one all-zero position
        return np.zeros((1, s, k), np.float32), 0
    e_min = min(e for _, _, e in offsets)
    e_max = max(e for _, _, e in offsets)
    placement = np.zeros((e_max - e_min + 1, s, k), np.float32)
    for r, t, e in offsets:
        placement[e - e_min, r, t] = 1.0
    return placement, e_min


def phase_kernel(kernel: jax.Array, strides: Sequence[int], pads: Sequence[tuple[int, int]]):
    """The stride-1 kernel of all phases and each dim's e_min.

    Args:
      kernel: [*window, cin, cout] (not flipped).
      strides: one a spatial dim.
      pads: (low, high) padding of the input-dilated conv, one a spatial dim.

    Returns:
      ([*K, cin, prod(strides) * cout], phase channels ordered (r_1, .., r_n, cout); e_min a
      dim).
    """
    n = len(strides)
    placements, e_mins = zip(
        *(
            _placement(k, s, lo)
            for k, s, (lo, _) in zip(kernel.shape[:n], strides, pads, strict=True)
        ),
        strict=True,
    )
    letters = iter(string.ascii_letters)
    p, r, t = ([next(letters) for _ in range(n)] for _ in range(3))
    ci, co = next(letters), next(letters)
    spec = ",".join(f"{p[d]}{r[d]}{t[d]}" for d in range(n))
    spec += f",{''.join(t)}{ci}{co}->{''.join(p)}{ci}{''.join(r)}{co}"
    operands = [jnp.asarray(pl, kernel.dtype) for pl in placements]
    big = jnp.einsum(spec, *operands, kernel)  # [*K, cin, *s, cout]
    shape = big.shape
    return big.reshape(*shape[:n], shape[n], math.prod(strides) * kernel.shape[-1]), e_mins


def conv_transpose(
    x: jax.Array,
    kernel: jax.Array,
    strides: Sequence[int],
    pads: Sequence[tuple[int, int]],
    conv: ConvFn,
) -> jax.Array:
    """`lax.conv_transpose(x, kernel, strides, pads)` (no dilation, kernel not flipped) as
    `conv` over the s**n phases, interleaved.

    Args:
      x: [b, *spatial, cin].
      kernel: [*window, cin, cout].
      strides: upsampling factors, one a spatial dim.
      pads: (low, high) padding of the input-dilated conv (`shapes.conv_transpose_padding`).
      conv: a stride-1, VALID, channels-last conv `conv(x, kernel)`.

    Returns:
      [b, *out, cout], out = (size - 1) * s + 1 + lo + hi - (k - 1) a dim.
    """
    n = len(strides)
    window = kernel.shape[:n]
    b, cout = x.shape[0], kernel.shape[-1]
    sizes = x.shape[1:-1]
    out = [
        max(0, (size - 1) * s + 1 + lo + hi - (k - 1))
        for size, s, (lo, hi), k in zip(sizes, strides, pads, window, strict=True)
    ]
    dtype = jnp.result_type(x, kernel)
    if b == 0 or min(out, default=1) == 0 or min(sizes, default=1) == 0:
        return jnp.zeros((b, *out, cout), dtype)
    big, e_mins = phase_kernel(kernel, strides, pads)  # [*K, cin, S * cout]
    phases = [-(-o // s) for o, s in zip(out, strides, strict=True)]  # M: positions a phase
    config = [(0, 0, 0)]
    for size, e_min, m, k_big in zip(sizes, e_mins, phases, big.shape[:n], strict=True):
        # phase position m reads inputs m + e_min .. m + e_min + K - 1
        config.append((-e_min, (m - 1 + e_min + k_big - 1) - (size - 1), 0))
    config.append((0, 0, 0))
    xp = lax.pad(x.astype(dtype), jnp.zeros((), dtype), config)  # [b, *(M + K - 1), cin]
    y = conv(xp, big.astype(dtype))  # [b, *M, S * cout]
    y = y.reshape(b, *phases, *strides, cout)  # [b, m_1..m_n, r_1..r_n, cout]
    order = [0] + [a for d in range(n) for a in (1 + d, 1 + n + d)] + [1 + 2 * n]
    y = jnp.transpose(y, order).reshape(
        b, *(m * s for m, s in zip(phases, strides, strict=True)), cout
    )
    for d, o in enumerate(out):
        y = lax.slice_in_dim(y, 0, o, axis=1 + d)
    return y  # [b, *out, cout]


__all__ = ["applies", "conv_transpose", "phase_kernel"]
