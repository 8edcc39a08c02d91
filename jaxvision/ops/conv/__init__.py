"""Convolutions whose lowering is chosen per backend and shape, for XLA:CPU's slow cases.

`conv_general` computes what `lax.conv_general_dilated` (and `nn.Conv`) computes, and
`conv_transpose` what `lax.conv_transpose` (and `nn.ConvTranspose`) computes, by one of
these lowerings, a module each:

  * "xla" (`xla`): XLA's convolution; under "auto" on CPU its derivatives run on batch
    chunks (`xla.chunked_derivatives`).
  * "im2col" (`im2col`): slices and matmuls, which XLA:CPU runs through its fast matmul;
    transposed convs as one matmul and an overlap-add.
  * "subpixel" (`subpixel`, transposed convs only): one stride-1 conv to the s**n sub-pixel
    phases, interleaved; the stride-1 conv is lowered by "auto".
  * "winograd" (`winograd`): Winograd's F(2x2, 3x3), 2.25x fewer FLOPs for 3x3 stride-1 convs.
  * "space_to_depth" (`space_to_depth`): a strided conv as a stride-1 conv over its input
    folded into channels; under "auto" only its forward value, the derivatives being XLA's.
  * "width_fold" (`width_fold`): a stride-1 conv over few channels as a conv over blocks of
    output columns folded into channels; under "auto" only its forward value, likewise.
  * "row_fold" (`row_fold`): a stride-1 conv to few channels as a conv whose output channels
    hold its kernel rows, then a shifted sum; its derivatives too (autodiff), the conv over
    the other dims lowered by "auto".

`impl="auto"` picks one per backend, shape and dtype by `rules.choose_impl` under
`DEFAULT_RULES`; a `ConvRules` object as `impl` means "auto" under those rules. On GPU and
TPU "auto" is always "xla", the fast path there.

Layouts are flax's: input [b, *spatial, cin] (NHWC in 2-D), kernel [*window, cin / groups, cout]
(HWIO), output [b, *spatial', cout]; any number of spatial dims.

Example:
  >>> x = jnp.ones((2, 8, 8, 16))
  >>> k = jnp.ones((3, 3, 16, 32))
  >>> conv_general(x, k, strides=2, padding="SAME", impl="im2col").shape
  (2, 4, 4, 32)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from jaxvision.ops.conv import (
    im2col,
    row_fold,
    space_to_depth,
    subpixel,
    width_fold,
    winograd,
    xla,
)
from jaxvision.ops.conv.rules import (
    DEFAULT_RULES,
    EVERY_CONV_IMPLS,
    IMPLS,
    TRANSPOSE_IMPLS,
    ConvRules,
    check_conv_impl,
    choose_batch_chunk,
    choose_impl,
    choose_transpose_impl,
)
from jaxvision.ops.conv.shapes import (
    PaddingLike,
    as_tuple,
    check_shapes,
    conv_transpose_padding,
    out_spatial,
    resolve_padding,
)

# The lowerings that compute some convs only: impl -> (whether it computes a conv, which ones).
_PARTIAL_IMPLS = {
    "winograd": (winograd.applies, "2-D 3x3 convs of stride 1, no dilation, one group"),
    "space_to_depth": (
        space_to_depth.applies,
        "strided convs (some stride > 1) of one group, no dilation",
    ),
    "width_fold": (width_fold.applies, "stride-1 convs of one group, no dilation"),
    "row_fold": (row_fold.applies, "stride-1 convs of one group, no dilation"),
}


def _check_applies(impl: str, kernel_shape, strides, rhs_dilation, feature_group_count) -> None:
    """Raises ValueError where a partial lowering ("winograd", ...) does not compute the conv."""
    if impl not in _PARTIAL_IMPLS:
        return
    applies, scope = _PARTIAL_IMPLS[impl]
    if not applies(kernel_shape, strides, rhs_dilation, feature_group_count):
        raise ValueError(
            f"impl={impl!r} computes {scope}; got kernel {kernel_shape}, strides {strides}, "
            f"rhs_dilation {rhs_dilation}, feature_group_count {feature_group_count}."
        )


def conv_general(
    x: jax.Array,
    kernel: jax.Array,
    *,
    strides: int | Sequence[int] = 1,
    padding: PaddingLike = "SAME",
    rhs_dilation: int | Sequence[int] | None = 1,
    feature_group_count: int = 1,
    impl: str | ConvRules = "auto",
    precision: lax.PrecisionLike = None,
    batch_chunk: int | None = None,
) -> jax.Array:
    """Convolution of channels-last input with a flax-layout kernel, lowered as `impl` says.

    Computes `lax.conv_general_dilated(x, kernel, strides, padding, rhs_dilation=...,
    dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=...)`, what `nn.Conv`
    computes.

    Args:
      x: input, [b, *spatial, cin] (NHWC in 2-D).
      kernel: [*window, cin / feature_group_count, cout] (HWIO in 2-D).
      strides: window strides, an int or one a spatial dim.
      padding: "SAME", "VALID", an int, or an int or (low, high) pair a spatial dim.
      rhs_dilation: kernel dilation (atrous rate), an int or one a spatial dim.
      feature_group_count: number of groups (cin for a depthwise conv).
      impl: "xla" (`lax.conv_general_dilated`), "im2col" (slicing + matmuls), "winograd"
        (F(2x2, 3x3), for 3x3 stride-1 convs of one group only), "space_to_depth" (a strided
        conv of one group, no dilation, as a stride-1 conv over the folded input),
        "width_fold" (a stride-1 conv of one group, no dilation, over blocks of output
        columns folded into channels), "row_fold" (likewise, its kernel rows folded into
        output channels), "auto"
        (`choose_impl` under `DEFAULT_RULES` for the default backend, this shape and dtype;
        "xla" then runs its derivatives on batch chunks of `choose_batch_chunk` images, and
        "space_to_depth" and "width_fold" fold the forward value only, "row_fold" the value
        and its derivatives), or a `ConvRules`
        ("auto" under it).
      precision: passed to the conv or the matmuls.
      batch_chunk: with impl "xla" or "auto", compute the XLA conv's derivatives on chunks of
        about this many images (and the forward too, unless the rules'
        `chunk_derivatives_only`); None: the whole batch at once under "xla",
        `choose_batch_chunk`'s under "auto".

    Returns:
      [b, *spatial', cout], in the promoted dtype of x and kernel.

    Raises:
      ValueError: for inconsistent shapes, an unknown impl or padding, or "winograd",
        "space_to_depth", "width_fold" or "row_fold" for a conv it does not compute.

    Example:
      >>> y = conv_general(jnp.ones((1, 7, 7, 4)), jnp.ones((3, 3, 4, 8)), padding="VALID")
      >>> y.shape
      (1, 5, 5, 8)
    """
    check_conv_impl(impl, every_conv=False)
    auto = isinstance(impl, ConvRules) or impl == "auto"
    rules = impl if isinstance(impl, ConvRules) else DEFAULT_RULES
    n = check_shapes(x, kernel, feature_group_count)
    strides = as_tuple(strides, n, "strides")
    rhs_dilation = as_tuple(rhs_dilation, n, "rhs_dilation")
    pads = resolve_padding(padding, x.shape[1:-1], kernel.shape[:n], strides, rhs_dilation)
    dtype = jnp.result_type(x, kernel)
    x, kernel = x.astype(dtype), kernel.astype(dtype)
    if auto:
        shapes = (x.shape, kernel.shape, strides, rhs_dilation, feature_group_count)
        impl = choose_impl(*shapes, padding=pads, dtype=dtype, rules=rules)
    _check_applies(impl, kernel.shape, strides, rhs_dilation, feature_group_count)
    out = out_spatial(x.shape[1:-1], kernel.shape[:n], strides, rhs_dilation, pads)
    if impl == "winograd":
        return winograd.conv3x3(x, kernel, pads, precision)
    if impl == "im2col":
        return im2col.conv(x, kernel, strides, pads, rhs_dilation, feature_group_count, precision)
    if impl in ("row_fold", "space_to_depth", "width_fold"):
        fold = _fold(impl, auto, rules, strides, pads, out, precision, batch_chunk)
        if impl == "row_fold" or not auto:
            return fold(x, kernel)
        # "auto": the space-to-depth and width folds compute the forward value only; the
        # derivatives are XLA's conv's on batch chunks (autodiff through those folds made
        # train steps slower).
        primal = fold
    else:
        primal = None
    if auto and batch_chunk is None:
        out_shape = (x.shape[0], *out, kernel.shape[-1])
        batch_chunk = choose_batch_chunk(x.shape, out_shape, dtype.itemsize, rules=rules)
    conv = xla.lowering(strides, pads, rhs_dilation, feature_group_count, precision)
    return xla.chunked_derivatives(
        conv, x, kernel, batch_chunk, primal, derivatives_only=rules.chunk_derivatives_only
    )


def _fold(impl, auto, rules, strides, pads, out, precision, batch_chunk):
    """The fold lowering `impl` ("row_fold", "space_to_depth" or "width_fold") as a function
    of (x, kernel)."""
    if impl == "row_fold":
        # Derivatives by autodiff through the fold, the wider conv lowered by "auto" under
        # `rules` (or XLA's); they beat XLA's derivatives of the narrow conv.
        inner = rules if auto else "xla"
        return lambda x, kernel: row_fold.conv(
            x,
            kernel,
            pads,
            lambda x, k, p: conv_general(
                x, k, padding=p, impl=inner, precision=precision, batch_chunk=batch_chunk
            ),
        )
    if impl == "space_to_depth":
        return functools.partial(
            space_to_depth.conv, strides=strides, pads=pads, precision=precision
        )
    return functools.partial(
        width_fold.conv,
        pads=pads,
        fold=width_fold.choose_fold(out[-1], rules.width_fold_max_fold),
        precision=precision,
    )


def conv_transpose(
    x: jax.Array,
    kernel: jax.Array,
    *,
    strides: int | Sequence[int] = 1,
    padding: PaddingLike = "SAME",
    rhs_dilation: int | Sequence[int] | None = 1,
    impl: str | ConvRules = "auto",
    precision: lax.PrecisionLike = None,
) -> jax.Array:
    """Transposed ("fractionally strided") conv, what `flax.linen.ConvTranspose` computes.

    Computes `lax.conv_transpose(x, kernel, strides, padding, rhs_dilation=...,
    dimension_numbers=("NHWC", "HWIO", "NHWC"), transpose_kernel=False)`: the kernel is
    [*window, cin, cout] and is not flipped; "SAME" with stride s gives s times the input size.

    Args:
      x: input, [b, *spatial, cin].
      kernel: [*window, cin, cout].
      strides: upsampling factor, an int or one a spatial dim.
      padding: "SAME", "VALID", an int, or ints / (low, high) pairs of the input-dilated conv
        (lax's meaning, see `conv_transpose_padding`).
      rhs_dilation: kernel dilation.
      impl: "xla" (`lax.conv_transpose`), "im2col" (matmul + overlap-add), "subpixel" (a
        stride-1 conv to the sub-pixel phases under "auto"; no dilation), "auto"
        (`choose_transpose_impl` of the default backend), or a `ConvRules` ("auto" under it,
        the sub-pixel conv too).
      precision: passed to the conv or the matmul.

    Returns:
      [b, *spatial', cout], in the promoted dtype of x and kernel.

    Raises:
      ValueError: for inconsistent shapes, an unknown impl or padding.

    Example:
      >>> conv_transpose(jnp.ones((1, 4, 4, 8)), jnp.ones((3, 3, 8, 2)), strides=2).shape
      (1, 8, 8, 2)
    """
    check_conv_impl(impl, every_conv=True, transposed=True)
    n = check_shapes(x, kernel, 1)
    strides = as_tuple(strides, n, "strides")
    dilation = as_tuple(rhs_dilation, n, "rhs_dilation")
    pads = conv_transpose_padding(padding, kernel.shape[:n], strides, dilation)
    rules = impl if isinstance(impl, ConvRules) else DEFAULT_RULES
    if isinstance(impl, ConvRules) or impl == "auto":
        impl = choose_transpose_impl(rules=rules, rhs_dilation=dilation)
    if impl == "xla":
        return xla.conv_transpose(x, kernel, strides, pads, dilation, precision)
    dtype = jnp.result_type(x, kernel)
    if impl == "subpixel":
        if not subpixel.applies(dilation):
            raise ValueError(
                f'impl="subpixel" computes undilated transposed convs; got {dilation}.'
            )
        phase_conv = functools.partial(
            conv_general, padding="VALID", impl=rules, precision=precision
        )
        return subpixel.conv_transpose(
            x.astype(dtype), kernel.astype(dtype), strides, pads, phase_conv
        )
    return im2col.conv_transpose(
        x.astype(dtype), kernel.astype(dtype), strides, pads, dilation, precision
    )


__all__ = [
    "DEFAULT_RULES",
    "EVERY_CONV_IMPLS",
    "IMPLS",
    "TRANSPOSE_IMPLS",
    "ConvRules",
    "PaddingLike",
    "as_tuple",
    "check_conv_impl",
    "choose_batch_chunk",
    "choose_impl",
    "choose_transpose_impl",
    "conv_general",
    "conv_transpose",
    "conv_transpose_padding",
    "resolve_padding",
]
