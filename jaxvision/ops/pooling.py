"""Max pooling whose gradient is elementwise work, for backends where XLA's is slow (XLA:CPU).

`flax.linen.max_pool` is `lax.reduce_window(max)`. Its gradient is XLA's select-and-scatter,
which XLA:CPU lowers to a scatter driven by iota index tensors, a visible part of a ResNet
train step with the "imagenet" stem (`python -m benchmarks.step_variants --stem=imagenet
--impls=auto,xla`; figures in benchmarks/RESULTS.md, "Conv lowering rules (CPU)").

`impl="slices"` computes the same pooling as the maximum of the k**n strided windows
(`lax.slice` of the input padded with -inf), and its gradient (`jax.custom_vjp`) as the same
windows again: each window's pixel gets the output gradient where it holds the maximum and no
earlier window did (XLA's select-and-scatter gives the first maximum in window order all of
it), placed back with `lax.pad` (interior padding for the stride). That is compares, selects
and pads, which XLA fuses into loops; no scatter. Forward and gradient equal
`nn.max_pool`'s exactly, ties included. (A custom VJP: reverse mode only.)

`impl="auto"` is "slices" on the CPU and "xla" (`lax.reduce_window`) elsewhere.

Layout: [b, *spatial, c] (NHWC in 2-D), as `nn.max_pool`.

Example:
  >>> x = jnp.arange(16.0).reshape(1, 4, 4, 1)
  >>> max_pool(x, (2, 2), strides=(2, 2))[0, :, :, 0]
  Array([[ 5.,  7.],
         [13., 15.]], dtype=float32)
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jaxvision.ops import conv as conv_ops

IMPLS = ("xla", "slices", "auto")


def choose_impl(backend: str | None = None) -> str:
    """The faster max-pool lowering on `backend`: "slices" on "cpu", "xla" elsewhere.

    Args:
      backend: "cpu", "gpu", "tpu", ...; None means `jax.default_backend()`.

    Returns:
      "xla" or "slices".
    """
    return "slices" if (backend or jax.default_backend()).lower() == "cpu" else "xla"


def _windows(
    xp: jax.Array, window: tuple[int, ...], strides: tuple[int, ...], out: tuple[int, ...]
) -> list[jax.Array]:
    """The k**n strided windows of padded `xp`, in row-major tap order: [b, *out, c] each."""
    views = []
    for tap in itertools.product(*(range(k) for k in window)):
        limits = [t + (o - 1) * s + 1 for t, o, s in zip(tap, out, strides, strict=True)]
        views.append(
            lax.slice(xp, (0, *tap, 0), (xp.shape[0], *limits, xp.shape[-1]), (1, *strides, 1))
        )
    return views


def _out_spatial(
    padded: Sequence[int], window: tuple[int, ...], strides: tuple[int, ...]
) -> tuple[int, ...]:
    return tuple((p - k) // s + 1 for p, k, s in zip(padded, window, strides, strict=True))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _max_pool_slices(
    x: jax.Array,
    window: tuple[int, ...],
    strides: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
) -> jax.Array:
    return _forward(x, window, strides, pads)[0]


def _forward(x, window, strides, pads):
    low = jnp.array(-jnp.inf, x.dtype)
    xp = lax.pad(x, low, ((0, 0, 0), *((lo, hi, 0) for lo, hi in pads), (0, 0, 0)))
    out = _out_spatial(xp.shape[1:-1], window, strides)
    y = functools.reduce(jnp.maximum, _windows(xp, window, strides, out))  # [b, *out, c]
    return y, xp


def _fwd(x, window, strides, pads):
    y, xp = _forward(x, window, strides, pads)
    return y, (xp, y)


def _bwd(window, strides, pads, residuals, g):
    xp, y = residuals  # [b, *padded, c], [b, *out, c]
    out = y.shape[1:-1]
    zero = jnp.zeros((), g.dtype)
    taken = jnp.zeros(y.shape, bool)
    dxp = None
    for tap, view in zip(
        itertools.product(*(range(k) for k in window)),
        _windows(xp, window, strides, out),
        strict=True,
    ):
        hit = (view == y) & ~taken  # the first window holding the maximum takes the gradient
        taken = taken | hit
        config = [(0, 0, 0)]
        for t, o, s, p in zip(tap, out, strides, xp.shape[1:-1], strict=True):
            config.append((t, p - t - ((o - 1) * s + 1), s - 1))
        config.append((0, 0, 0))
        part = lax.pad(jnp.where(hit, g, zero), zero, config)  # [b, *padded, c]
        dxp = part if dxp is None else dxp + part
    crop = tuple(slice(lo, size - hi) for (lo, hi), size in zip(pads, xp.shape[1:-1], strict=True))
    return (dxp[(slice(None), *crop, slice(None))],)


_max_pool_slices.defvjp(_fwd, _bwd)


def max_pool(
    x: jax.Array,
    window: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: str | Sequence[tuple[int, int]] = "VALID",
    impl: str = "auto",
) -> jax.Array:
    """Max pooling over the spatial dims, what `flax.linen.max_pool` computes.

    Args:
      x: [b, *spatial, c].
      window: window size a spatial dim.
      strides: stride a spatial dim (None: 1).
      padding: "SAME", "VALID", or a (low, high) pair a spatial dim (padding never wins).
      impl: "xla" (`nn.max_pool`), "slices" (maximum of strided windows, elementwise gradient)
        or "auto" (`choose_impl()`).

    Returns:
      [b, *spatial', c].

    Raises:
      ValueError: for an unknown impl.

    Example:
      >>> max_pool(jnp.ones((2, 8, 8, 4)), (3, 3), (2, 2), ((1, 1), (1, 1))).shape
      (2, 4, 4, 4)
    """
    if impl not in IMPLS:
        raise ValueError(f"Unknown impl {impl!r}; valid: {', '.join(IMPLS)}.")
    n = x.ndim - 2
    window = tuple(int(k) for k in window)
    strides = conv_ops.as_tuple(strides, n, "strides")
    if impl == "auto":
        impl = choose_impl()
    if impl == "xla":
        return nn.max_pool(x, window, strides=strides, padding=padding)
    pads = conv_ops.resolve_padding(padding, x.shape[1:-1], window, strides, (1,) * n)
    return _max_pool_slices(x, window, strides, pads)
