"""Shapes and padding of convolutions, shared by the lowerings and the rules.

Layouts are flax's: input [b, *spatial, cin] (NHWC in 2-D), kernel [*window, cin / groups, cout]
(HWIO), output [b, *spatial', cout]; any number of spatial dims.

Example:
  >>> resolve_padding("SAME", (8, 8), (3, 3), (2, 2), (1, 1))
  ((0, 1), (0, 1))
  >>> out_spatial((8, 8), (3, 3), (2, 2), (1, 1), ((0, 1), (0, 1)))
  (4, 4)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
from jax import lax

PaddingLike = str | int | Sequence[int | tuple[int, int]]


def as_tuple(value: int | Sequence[int] | None, n: int, name: str) -> tuple[int, ...]:
    """Broadcasts an int (None means 1) to an n-tuple; checks a sequence's length.

    Args:
      value: an int, None, or a sequence of n ints.
      n: number of spatial dims.
      name: argument name, for the error message.

    Returns:
      A tuple of n ints.

    Raises:
      ValueError: for a sequence whose length is not n.

    Example:
      >>> as_tuple(2, 3, "strides"), as_tuple(None, 2, "rhs_dilation")
      ((2, 2, 2), (1, 1))
    """
    if value is None:
        value = 1
    if isinstance(value, int):
        return (value,) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(f"{name} needs {n} values (one a spatial dim), got {value}.")
    return value


def check_shapes(x: jax.Array, kernel: jax.Array, feature_group_count: int) -> int:
    """Validates [b, *spatial, cin] / [*window, cin/groups, cout]; returns the spatial rank.

    Raises:
      ValueError: for ranks that differ or are below 3, or channels that do not match the
        groups.
    """
    n = kernel.ndim - 2
    if n < 1 or x.ndim != kernel.ndim:
        raise ValueError(
            f"Expected input [b, *spatial, cin] and kernel [*window, cin/groups, cout] of equal "
            f"rank >= 3, got {x.shape} and {kernel.shape}."
        )
    cin, cin_g, cout = x.shape[-1], kernel.shape[-2], kernel.shape[-1]
    if feature_group_count < 1 or cin != cin_g * feature_group_count:
        raise ValueError(
            f"Input channels {cin} != kernel input channels {cin_g} * feature_group_count "
            f"{feature_group_count}."
        )
    if cout % feature_group_count:
        raise ValueError(
            f"Output channels {cout} not divisible by feature_group_count {feature_group_count}."
        )
    return n


def _explicit_pads(padding: PaddingLike, n: int) -> tuple[tuple[int, int], ...]:
    """An int, or a sequence of ints / (low, high) pairs, as n (low, high) pairs."""
    if isinstance(padding, int):
        return ((padding, padding),) * n
    pads = tuple((p, p) if isinstance(p, int) else tuple(int(q) for q in p) for p in padding)
    if len(pads) != n or any(len(p) != 2 for p in pads):
        raise ValueError(f"Padding needs {n} ints or (low, high) pairs, got {padding}.")
    return pads


def resolve_padding(
    padding: PaddingLike,
    in_spatial: Sequence[int],
    window: Sequence[int],
    strides: Sequence[int],
    rhs_dilation: Sequence[int],
) -> tuple[tuple[int, int], ...]:
    """Explicit (low, high) padding of each spatial dim, as `lax.conv_general_dilated` pads.

    Args:
      padding: "SAME", "VALID", an int (both sides of every dim), or a sequence with an int or
        a (low, high) pair a spatial dim (the forms flax's `canonicalize_padding` accepts).
      in_spatial: input spatial sizes.
      window: kernel spatial sizes.
      strides: window strides.
      rhs_dilation: kernel dilation.

    Returns:
      One (low, high) pair a spatial dim.

    Raises:
      ValueError: for another string or a malformed sequence.
    """
    if isinstance(padding, str):
        if padding.upper() not in ("SAME", "VALID"):
            raise ValueError(f"Unsupported padding {padding!r}; use SAME, VALID or pairs.")
        dilated = [(k - 1) * d + 1 for k, d in zip(window, rhs_dilation, strict=True)]
        pads = lax.padtype_to_pads(in_spatial, dilated, strides, padding.upper())
        return tuple((int(lo), int(hi)) for lo, hi in pads)
    return _explicit_pads(padding, len(window))


def conv_transpose_padding(
    padding: PaddingLike,
    window: Sequence[int],
    strides: Sequence[int],
    rhs_dilation: Sequence[int],
) -> tuple[tuple[int, int], ...]:
    """Padding of the input-dilated conv that `lax.conv_transpose` computes.

    "SAME" gives an output of size * stride, "VALID" of (size - 1) * stride + dilated window
    (when the window is at least the stride); explicit pairs are used as they are (lax's and
    `nn.ConvTranspose`'s meaning, not torch's).

    Args:
      padding: "SAME", "VALID", an int, or ints / (low, high) pairs, one a spatial dim.
      window: kernel spatial sizes.
      strides: upsampling factors.
      rhs_dilation: kernel dilation.

    Returns:
      One (low, high) pair a spatial dim.

    Example:
      >>> conv_transpose_padding("SAME", (4, 4), (2, 2), (1, 1))
      ((2, 2), (2, 2))
    """
    if not isinstance(padding, str):
        return _explicit_pads(padding, len(window))
    mode = padding.upper()
    if mode not in ("SAME", "VALID"):
        raise ValueError(f"Unsupported padding {padding!r}; use SAME, VALID or pairs.")
    pads = []
    for k, s, d in zip(window, strides, rhs_dilation, strict=True):
        k = (k - 1) * d + 1  # dilated window
        if mode == "SAME":
            total = k + s - 2
            lo = k - 1 if s > k - 1 else math.ceil(total / 2)
        else:
            total = k + s - 2 + max(k - s, 0)
            lo = k - 1
        pads.append((lo, total - lo))
    return tuple(pads)


def out_size(size: int, k: int, s: int, d: int, lo: int, hi: int) -> int:
    """Output length of a strided, dilated, padded window along one dim."""
    return max(0, (size + lo + hi - (k - 1) * d - 1) // s + 1)


def out_spatial(
    in_spatial: Sequence[int],
    window: Sequence[int],
    strides: Sequence[int],
    rhs_dilation: Sequence[int],
    pads: Sequence[tuple[int, int]],
) -> tuple[int, ...]:
    """Output spatial sizes of a conv (`out_size` of each dim)."""
    return tuple(
        out_size(size, k, s, d, lo, hi)
        for size, k, s, d, (lo, hi) in zip(
            in_spatial, window, strides, rhs_dilation, pads, strict=True
        )
    )


def is_stride_one(
    kernel_shape: Sequence[int],
    strides: Sequence[int],
    rhs_dilation: Sequence[int],
    feature_group_count: int,
) -> bool:
    """Whether a conv is stride 1, undilated and of one group, at least 1-D (what the width
    and row folds compute).

    Example:
      >>> kernel = (3, 3, 8, 4)
      >>> is_stride_one(kernel, (1, 1), (1, 1), 1), is_stride_one(kernel, (2, 1), (1, 1), 1)
      (True, False)
    """
    n = len(kernel_shape) - 2
    return (
        n >= 1
        and len(strides) == len(rhs_dilation) == n
        and all(s == 1 for s in strides)
        and all(d == 1 for d in rhs_dilation)
        and feature_group_count == 1
    )


def dimension_numbers(n: int) -> tuple[str, str, str]:
    """("NHWC", "HWIO", "NHWC") for n = 2, and the like for 1-D and 3-D (`lax`'s limit)."""
    if n > 3:
        raise ValueError(f"impl='xla' supports 1 to 3 spatial dims, got {n}.")
    spatial = "DHW"[-n:]
    return f"N{spatial}C", f"{spatial}IO", f"N{spatial}C"
