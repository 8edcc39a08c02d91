"""3x3 stride-1 convolutions by Winograd's minimal filtering, F(2x2, 3x3).

A 3x3 conv computes each 2x2 block of outputs from a 4x4 window of its input with 36
multiplies a (cin, cout) pair. Winograd's F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for
Convolutional Neural Networks", CVPR 2016) computes the same block with 16: the 4x4 input
tile `d` and the 3x3 kernel `g` are taken to a 4x4 "Winograd domain", multiplied there
element by element (summed over cin: one matmul per each of the 16 positions), and the product
taken back:

    Y = A^T [(G g G^T) * (B^T d B)] A

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

So the matmuls hold 2.25x fewer FLOPs than the direct conv's (or im2col's). The transforms
are additions and subtractions with coefficients 0, 1 and 1/2: in float32 the result agrees
with `lax.conv_general_dilated`'s to about 1e-6 relative (the tests hold it to 1e-5).
(F(4x4, 3x3) would save 4x, but its transforms' coefficients of up to 5 amplify rounding
errors; it is not built.)

The transforms cost memory traffic: the input goes to the Winograd domain 4x larger
(16 values a tile of 4 outputs), and the matmuls' output comes back from 4x larger. That
traffic is a fixed cost an element, while the saving grows with the channel counts, so the
lowering pays on wide convs over enough tiles only: `jaxvision.ops.conv.ConvRules` holds the
rule (`winograd_min_channels`, `winograd_min_matmul_macs`), and benchmarks/RESULTS.md
("Conv lowering rules (CPU)") the measurements.

Both gradients run in the Winograd domain too, with 2.25x fewer matmul FLOPs. The kernel
gradient is autodiff's transpose of the formulation (16 matmuls over the tiles, of the
Winograd-domain input and cotangent). The input gradient is not: autodiff's transpose of the
input transform scatters 16 planes back onto overlapping tiles, slower than the forward
pass on XLA:CPU. A `custom_jvp` (`_jvp`) makes it the forward Winograd conv of the
cotangent with the kernel flipped, its channels swapped. Forward mode and higher derivatives
work (tested against `lax`).

Inputs of lower precision than float32 (bfloat16, float16) are computed in float32 and the
result rounded once, as XLA's convs round (rounding after each transform adds error).

Layouts are flax's: input [b, h, w, cin] (NHWC), kernel [3, 3, cin, cout] (HWIO).

Example:
  >>> x = jnp.ones((2, 8, 8, 16))
  >>> k = jnp.ones((3, 3, 16, 32))
  >>> conv3x3(x, k, ((1, 1), (1, 1))).shape
  (2, 8, 8, 32)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

TILE = 2  # outputs a tile, each spatial dim
WINDOW = 4  # inputs a tile, each spatial dim (TILE + 3 - 1)


def applies(
    kernel_shape: Sequence[int],
    strides: Sequence[int],
    rhs_dilation: Sequence[int],
    feature_group_count: int,
) -> bool:
    """Whether `conv3x3` computes this conv: 2-D, 3x3 kernel, stride 1, no dilation, 1 group.

    Example:
      >>> applies((3, 3, 64, 64), (1, 1), (1, 1), 1)
      True
      >>> applies((3, 3, 64, 64), (2, 2), (1, 1), 1)
      False
    """
    return (
        tuple(kernel_shape[:-2]) == (3, 3)
        and tuple(strides) == (1, 1)
        and tuple(rhs_dilation) == (1, 1)
        and feature_group_count == 1
    )


def matmul_macs(
    x_shape: Sequence[int], kernel_shape: Sequence[int], padding: Sequence[tuple[int, int]]
) -> int:
    """Multiply-adds of each of `conv3x3`'s 16 matmuls: tiles x cin x cout.

    Example:
      >>> matmul_macs((8, 16, 16, 64), (3, 3, 64, 32), ((1, 1), (1, 1)))  # 8 * 8 * 8 tiles
      1048576
    """
    out = _out_size(x_shape, padding)
    tiles = x_shape[0] * math.prod(-(-max(0, o) // TILE) for o in out)
    return tiles * kernel_shape[-2] * kernel_shape[-1]


def _input_rows(x: jax.Array, axis: int, tiles: int) -> list[jax.Array]:
    """B^T along `axis`: the 4 transformed rows of every tile, each [.., tiles, ..].

    `x` holds 2 * tiles + 2 rows along `axis`; tile i reads rows 2i .. 2i + 3. The rows are
    taken as contiguous slices of x reshaped to [.., tiles + 1, 2, ..] (row 2i + r is
    [i, r]), not as stride-2 slices.
    """
    shape = x.shape[:axis] + (tiles + 1, TILE) + x.shape[axis + 1 :]
    pairs = x.reshape(shape)

    def row(r: int) -> jax.Array:  # row r of every tile: [.., tiles, ..]
        rows = lax.slice_in_dim(pairs, r // TILE, r // TILE + tiles, axis=axis)
        return lax.index_in_dim(rows, r % TILE, axis=axis + 1, keepdims=False)

    d = [row(r) for r in range(WINDOW)]
    return [d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3]]


def _output_rows(m: Sequence[jax.Array]) -> list[jax.Array]:
    """A^T: the 2 output rows from the 4 Winograd-domain rows."""
    return [m[0] + m[1] + m[2], m[1] - m[2] - m[3]]


def transform_kernel(kernel: jax.Array) -> jax.Array:
    """G g G^T: [3, 3, cin, cout] -> [16, cin, cout], position 4 * i + j of the 4x4 domain.

    Example:
      >>> transform_kernel(jnp.ones((3, 3, 2, 5))).shape
      (16, 2, 5)
    """

    def g_rows(g: jax.Array) -> jax.Array:  # G along axis 0: [3, ...] -> [4, ...]
        half = jnp.asarray(0.5, g.dtype)
        return jnp.stack([g[0], (g[0] + g[1] + g[2]) * half, (g[0] - g[1] + g[2]) * half, g[2]])

    u = g_rows(g_rows(kernel).swapaxes(0, 1)).swapaxes(0, 1)  # [4, 4, cin, cout]
    return u.reshape(WINDOW * WINDOW, *kernel.shape[2:])


def transform_input(x: jax.Array, tiles: tuple[int, int]) -> jax.Array:
    """B^T d B of every tile: [b, 2 th + 2, 2 tw + 2, c] -> [16, b * th * tw, c].

    Args:
      x: the padded input, [b, 2 * th + 2, 2 * tw + 2, c].
      tiles: (th, tw), tiles down and across.

    Returns:
      [16, b * th * tw, c]: position 4 * i + j of the 4x4 domain, then tiles in (b, th, tw)
      order.
    """
    th, tw = tiles
    b, c = x.shape[0], x.shape[-1]
    v = [col for row in _input_rows(x, 1, th) for col in _input_rows(row, 2, tw)]
    return jnp.stack(v).reshape(WINDOW * WINDOW, b * th * tw, c)


def transform_output(m: jax.Array, b: int, tiles: tuple[int, int]) -> jax.Array:
    """A^T M A of every tile: [16, b * th * tw, cout] -> [b, 2 th, 2 tw, cout]."""
    th, tw = tiles
    m = m.reshape(WINDOW, WINDOW, b, th, tw, m.shape[-1])
    rows = _output_rows([m[i] for i in range(WINDOW)])  # 2 x [4, b, th, tw, cout]
    y = [_output_rows([r[j] for j in range(WINDOW)]) for r in rows]  # [2][2][b, th, tw, c]
    y = jnp.stack([jnp.stack(cols, axis=3) for cols in y], axis=2)  # [b, th, 2, tw, 2, c]
    return y.reshape(b, TILE * th, TILE * tw, y.shape[-1])


def conv3x3(
    x: jax.Array,
    kernel: jax.Array,
    padding: Sequence[tuple[int, int]],
    precision: lax.PrecisionLike = None,
) -> jax.Array:
    """A 3x3, stride-1 conv by Winograd F(2x2, 3x3).

    Computes `lax.conv_general_dilated(x, kernel, (1, 1), padding,
    dimension_numbers=("NHWC", "HWIO", "NHWC"))`. Its input gradient is again a Winograd
    conv (of the cotangent with the kernel flipped and its channels swapped, `_jvp`); its
    kernel gradient is autodiff's: 16 matmuls over the tiles, of the Winograd-domain input
    (kept from the forward pass) and cotangent.

    Args:
      x: input, [b, h, w, cin].
      kernel: [3, 3, cin, cout].
      padding: explicit (low, high) pads of h and w (negative pads crop, as in `lax`).
      precision: passed to the Winograd-domain matmuls.

    Returns:
      [b, h + pads - 2, w + pads - 2, cout], in the promoted dtype of x and kernel.

    Raises:
      ValueError: for a kernel that is not [3, 3, cin, cout] with x's cin, or integer dtypes.

    Example:
      >>> y = conv3x3(jnp.ones((1, 5, 5, 4)), jnp.ones((3, 3, 4, 8)), ((0, 0), (0, 0)))
      >>> y.shape
      (1, 3, 3, 8)
    """
    if (
        x.ndim != 4
        or kernel.ndim != 4
        or kernel.shape[:2] != (3, 3)
        or kernel.shape[2] != x.shape[-1]
    ):
        raise ValueError(
            f"conv3x3 takes x [b, h, w, cin] and a [3, 3, cin, cout] kernel; got "
            f"{x.shape} and {kernel.shape}."
        )
    dtype = jnp.result_type(x, kernel)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"conv3x3 computes floating-point convs; got {dtype}.")
    padding = tuple((int(lo), int(hi)) for lo, hi in padding)
    out = _out_size(x.shape, padding)
    if x.shape[0] == 0 or min(out) <= 0:
        return jnp.zeros((x.shape[0], *(max(0, o) for o in out), kernel.shape[-1]), dtype)
    compute = jnp.promote_types(dtype, jnp.float32)  # bfloat16 -> float32, float64 stays
    y = _conv3x3(x.astype(compute), kernel.astype(compute), padding, precision)
    return y.astype(dtype)


def _out_size(x_shape: Sequence[int], padding: Sequence[tuple[int, int]]) -> list[int]:
    return [size + lo + hi - 2 for size, (lo, hi) in zip(x_shape[1:3], padding, strict=True)]


def _forward(
    x: jax.Array, kernel: jax.Array, padding: tuple[tuple[int, int], ...], precision
) -> jax.Array:
    """`conv3x3` for a non-empty output, as plain JAX (autodiff would transpose it as is)."""
    b = x.shape[0]
    out = _out_size(x.shape, padding)
    tiles = tuple(-(-o // TILE) for o in out)  # (th, tw)
    # Pad (or crop) to 2 * tiles + 2 rows and columns: the low pads as asked, the high ones
    # as asked or one more, to fill the last tile (its extra outputs are cropped below).
    pads = [
        (lo, TILE * t + 2 - size - lo)
        for size, (lo, _), t in zip(x.shape[1:3], padding, tiles, strict=True)
    ]
    zero = jnp.zeros((), x.dtype)
    xp = lax.pad(x, zero, [(0, 0, 0), *((lo, hi, 0) for lo, hi in pads), (0, 0, 0)])
    v = transform_input(xp, tiles)  # [16, T, cin]
    u = transform_kernel(kernel)  # [16, cin, cout]
    m = lax.dot_general(v, u, (((2,), (1,)), ((0,), (0,))), precision=precision)  # [16, T, cout]
    y = transform_output(m, b, tiles)  # [b, 2 th, 2 tw, cout]
    return y[:, : out[0], : out[1]]


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _conv3x3(x, kernel, padding, precision):
    return _forward(x, kernel, padding, precision)


def _jvp(padding, precision, primals, tangents):
    """The tangent conv(dx, kernel) + conv(x, dkernel), its first term written so that its
    transpose, the input gradient, is a Winograd conv.

    Autodiff's transpose of `_forward` in x scatters the 16 Winograd-domain planes back onto
    overlapping tiles, slower than the forward on XLA:CPU. The input gradient of a
    3x3 conv is the 3x3 conv of the cotangent with the kernel flipped and cin, cout swapped,
    padded (2 - low, 2 - high). Written as the `jax.linear_transpose` of that conv, the input
    tangent transposes back to it in reverse mode. (Forward mode runs the slow transpose.)
    """
    x, kernel = primals
    dx, dkernel = tangents
    y = _forward(x, kernel, padding, precision)
    dy = []
    if not isinstance(dx, SymbolicZero):
        flipped = kernel[::-1, ::-1].swapaxes(2, 3)  # [3, 3, cout, cin]
        adjoint_pads = tuple((2 - lo, 2 - hi) for lo, hi in padding)
        input_gradient = lambda ct: _forward(ct, flipped, adjoint_pads, precision)
        dy.append(jax.linear_transpose(input_gradient, y)(dx)[0])
    if not isinstance(dkernel, SymbolicZero):
        dy.append(_forward(x, dkernel, padding, precision))
    return y, functools.reduce(jnp.add, dy) if dy else jnp.zeros_like(y)


_conv3x3.defjvp(_jvp, symbolic_zeros=True)
