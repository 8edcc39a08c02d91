"""The rules of `impl="auto"`: which lowering a conv gets on each backend, and its batch chunks.

On GPU and TPU "auto" is always XLA's convolution, the fast path there. On XLA:CPU, whose
convolution is slow on tiny feature maps, on the input gradient of strided convs, on grouped
and depthwise convs and on the backward of transposed convs, the rules send those to im2col
matmuls (undilated transposed convs to one stride-1 conv to their sub-pixel phases), wide 3x3
convs to Winograd's, strided convs over few channels (RGB stems) to a space-to-depth fold,
stride-1 convs from few channels to a width fold and those to few channels to a row fold,
and run the derivatives of XLA's conv on batch chunks. Their thresholds
are the fields of one frozen dataclass, `ConvRules`; `DEFAULT_RULES` are the shipped ones.
A model takes a `ConvRules` as its `conv_impl` ("auto" under those rules), and a benchmark
varies one with `dataclasses.replace(DEFAULT_RULES, ...)`.

Example:
  >>> choose_impl((32, 2, 2, 512), (3, 3, 512, 512), backend="cpu")
  'im2col'
  >>> choose_impl((32, 2, 2, 512), (3, 3, 512, 512), backend="gpu")
  'xla'
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxvision.ops.conv import row_fold, space_to_depth, width_fold, winograd
from jaxvision.ops.conv.shapes import PaddingLike, as_tuple, out_spatial, resolve_padding

# Every lowering `conv_general` takes by name.
IMPLS = ("xla", "im2col", "winograd", "space_to_depth", "width_fold", "row_fold", "auto")
# The lowerings that compute every conv: a model's `conv_impl` is one of these or a
# `ConvRules` ("winograd" computes 3x3 stride-1 convs only, "space_to_depth" strided convs,
# "width_fold" and "row_fold" stride-1 convs).
EVERY_CONV_IMPLS = ("xla", "im2col", "auto")
# The lowerings `conv_transpose` takes by name ("subpixel" for undilated transposed convs).
TRANSPOSE_IMPLS = (*EVERY_CONV_IMPLS, "subpixel")


@dataclasses.dataclass(frozen=True)
class ConvRules:
    """Thresholds of `choose_impl`, `choose_transpose_impl` and `choose_batch_chunk` on CPU.

    Frozen and hashable, so that a flax module field or a jit static argument can hold one.
    Each field's comment names its rule and, in brackets, the benchmark that measures it (run
    as `python -m benchmarks.conv_lowering ...`; `benchmarks.step_variants` compares
    `--rules=shipped` with the variant that turns the rule off). Both compile under the
    compiler options `python -m train` uses (`train/host_tuning.py`), as training does. The
    figures are in benchmarks/RESULTS.md, section "Conv lowering rules (CPU)".

    Example:
      >>> import dataclasses
      >>> no_winograd = dataclasses.replace(DEFAULT_RULES, winograd_min_channels=2**31)
      >>> choose_impl((128, 4, 4, 512), (3, 3, 512, 512), backend="cpu")
      'winograd'
      >>> choose_impl((128, 4, 4, 512), (3, 3, 512, 512), backend="cpu", rules=no_winograd)
      'xla'
    """

    # im2col up to this many output pixels an image, stride 1 [benchmarks.conv_lowering]
    im2col_max_out_pixels: int = 9
    # ... and with a stride > 1, XLA's input gradient being slow [benchmarks.conv_lowering]
    im2col_max_out_pixels_strided: int = 64
    # 1x1 convs as one plain matmul [benchmarks.conv_lowering --nets=other]
    im2col_1x1: bool = True
    # Grouped and depthwise convs by im2col [benchmarks.conv_lowering --nets=other]
    im2col_grouped: bool = True
    # Transposed convs as matmul + overlap-add [benchmarks.conv_lowering --nets=decoder]
    im2col_transpose: bool = True
    # ... and undilated ones as one stride-1 conv to the sub-pixel phases, ahead of that
    # [benchmarks.conv_lowering --nets=decoder,deblur_small]
    subpixel_transpose: bool = True
    # XLA's convs on batch chunks at all [benchmarks.step_variants --rules=shipped,no_chunks]
    batch_chunks: bool = True
    # Bytes of a chunk's input or output, the larger [benchmarks.conv_lowering --batch=128]
    chunk_bytes: int = 2**20
    # At most this many chunks a conv, each compiled apart [benchmarks.step_variants]
    max_chunks: int = 8
    # No chunks of fewer images [benchmarks.step_variants --rules=shipped,no_chunks]
    min_chunk_images: int = 8
    # Forward on the whole batch [benchmarks.step_variants --rules=shipped,chunked_forward]
    chunk_derivatives_only: bool = True
    # Winograd from this many channels in and out [benchmarks.step_variants --rules=no_winograd]
    winograd_min_channels: int = 128
    # ... and multiply-adds a Winograd matmul [benchmarks.conv_lowering --nets=tiny_32]
    winograd_min_matmul_macs: int = 2**25
    # Fold strided convs over at most this many channels [benchmarks.step_variants --stem=imagenet]
    space_to_depth_max_in_channels: int = 4
    # Fold output columns into channels for stride-1 convs over at most this many input
    # channels [benchmarks.conv_lowering --nets=unet_plain]
    width_fold_max_in_channels: int = 4
    # ... and at most this many output channels (XLA's conv is fast enough above)
    width_fold_max_out_channels: int = 32
    # ... with blocks of at most this many output columns
    width_fold_max_fold: int = 8
    # Fold kernel rows into output channels for stride-1 convs to at most this many output
    # channels (an RGB output conv) [benchmarks.conv_lowering --nets=narrow_out]
    row_fold_max_out_channels: int = 4

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type == "bool" and not isinstance(value, bool):
                raise ValueError(f"ConvRules.{field.name} must be a bool, got {value!r}.")
            if field.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"ConvRules.{field.name} must be an int, got {value!r}.")
            floor = 1 if field.name == "max_chunks" else 0
            if field.type == "int" and value < floor:
                raise ValueError(f"ConvRules.{field.name} must be >= {floor}, got {value}.")


DEFAULT_RULES = ConvRules()


def check_conv_impl(
    conv_impl: str | ConvRules, every_conv: bool = True, transposed: bool = False
) -> None:
    """Raises ValueError unless `conv_impl` names a lowering (or is a `ConvRules`).

    Args:
      conv_impl: a name of `EVERY_CONV_IMPLS`, a `ConvRules` (meaning "auto" under those
        rules), or, unless `every_conv`, "winograd", "space_to_depth", "width_fold" or
        "row_fold", or, with `transposed`, "subpixel".
      every_conv: whether the lowering must compute every conv (a model's `conv_impl`, a
        transposed conv's impl).
      transposed: whether it is a transposed conv's impl (one of `TRANSPOSE_IMPLS`).

    Raises:
      ValueError: naming the valid values.

    Example:
      >>> check_conv_impl("im2col")
      >>> check_conv_impl(DEFAULT_RULES)
      >>> check_conv_impl("winograd", every_conv=False)
    """
    if isinstance(conv_impl, ConvRules):
        return
    partial = tuple(i for i in IMPLS if i not in EVERY_CONV_IMPLS)
    valid = TRANSPOSE_IMPLS if transposed else EVERY_CONV_IMPLS if every_conv else IMPLS
    if not isinstance(conv_impl, str) or conv_impl not in valid:
        some = "" if every_conv else f"; for some convs only: {', '.join(partial)}"
        some += "; for transposed convs also: subpixel" if transposed else ""
        raise ValueError(
            f"Unknown conv impl {conv_impl!r}; valid: {', '.join(EVERY_CONV_IMPLS)} or a "
            f"jaxvision.ops.conv.ConvRules (auto under those rules){some}."
        )


def _on_cpu(backend: str | None) -> bool:
    return (backend or jax.default_backend()).lower() == "cpu"


def choose_impl(
    x_shape: Sequence[int],
    kernel_shape: Sequence[int],
    strides: int | Sequence[int] = 1,
    rhs_dilation: int | Sequence[int] = 1,
    feature_group_count: int = 1,
    backend: str | None = None,
    padding: PaddingLike = "SAME",
    dtype=jnp.float32,
    rules: ConvRules = DEFAULT_RULES,
) -> str:
    """The faster lowering of a conv on `backend`: "xla", "im2col", "winograd",
    "space_to_depth", "width_fold" or "row_fold".

    The rule (fields of `rules`):

      * any backend but "cpu" (gpu, cuda, rocm, tpu, ...): "xla".
      * cpu, grouped or depthwise conv (`im2col_grouped`): "im2col".
      * cpu, 1x1 kernel (`im2col_1x1`): "im2col" (a plain matmul).
      * cpu, output of at most `im2col_max_out_pixels` (stride 1) or
        `im2col_max_out_pixels_strided` (stride > 1) pixels an image: "im2col".
      * cpu, float32, a 3x3 stride-1 conv (2-D, no dilation, one group) with at least
        `winograd_min_channels` input and output channels and at least
        `winograd_min_matmul_macs` multiply-adds in each Winograd matmul: "winograd".
      * cpu, a strided conv (no dilation, one group, no negative padding) over at most
        `space_to_depth_max_in_channels` input channels: "space_to_depth".
      * cpu, a stride-1 conv (no dilation, one group, a kernel wider than 1) over at most
        `width_fold_max_in_channels` input and `width_fold_max_out_channels` output
        channels: "width_fold".
      * cpu, a stride-1 conv (no dilation, one group, a kernel taller than 1) to at most
        `row_fold_max_out_channels` output channels: "row_fold".
      * cpu, otherwise: "xla".

    The batch size enters through the Winograd matmuls and `choose_batch_chunk` only (XLA:CPU's
    slow cases are slow an image).

    Args:
      x_shape: input shape [b, *spatial, cin].
      kernel_shape: kernel shape [*window, cin / groups, cout].
      strides: window strides (an int or one a spatial dim).
      rhs_dilation: kernel dilation (an int or one a spatial dim).
      feature_group_count: number of groups.
      backend: "cpu", "gpu", "tpu", ...; None means `jax.default_backend()`.
      padding: as for `conv_general`; sets the output size.
      dtype: the compute dtype (float32 unless given; "winograd" for float32 only).
      rules: the thresholds.

    Returns:
      "xla", "im2col", "winograd", "space_to_depth", "width_fold" or "row_fold".

    Example:
      >>> choose_impl((8, 56, 56, 64), (1, 1, 64, 256), backend="cpu")
      'im2col'
    """
    if not _on_cpu(backend):
        return "xla"
    n = len(kernel_shape) - 2
    window = tuple(kernel_shape[:n])
    if feature_group_count > 1 and rules.im2col_grouped:
        return "im2col"
    if math.prod(window) == 1 and rules.im2col_1x1:
        return "im2col"
    strides = as_tuple(strides, n, "strides")
    dilation = as_tuple(rhs_dilation, n, "rhs_dilation")
    pads = resolve_padding(padding, tuple(x_shape[1:-1]), window, strides, dilation)
    out_pixels = math.prod(out_spatial(x_shape[1:-1], window, strides, dilation, pads))
    strided = any(s > 1 for s in strides)
    limit = rules.im2col_max_out_pixels_strided if strided else rules.im2col_max_out_pixels
    if out_pixels <= limit:
        return "im2col"
    if (
        jnp.dtype(dtype) == jnp.float32
        and winograd.applies(kernel_shape, strides, dilation, feature_group_count)
        and min(kernel_shape[-2:]) >= rules.winograd_min_channels
        and winograd.matmul_macs(x_shape, kernel_shape, pads) >= rules.winograd_min_matmul_macs
    ):
        return "winograd"
    if (
        space_to_depth.applies(kernel_shape, strides, dilation, feature_group_count)
        and kernel_shape[-2] <= rules.space_to_depth_max_in_channels
        and all(lo >= 0 and hi >= 0 for lo, hi in pads)
    ):
        return "space_to_depth"
    if (
        width_fold.applies(kernel_shape, strides, dilation, feature_group_count)
        and window[-1] > 1
        and kernel_shape[-2] <= rules.width_fold_max_in_channels
        and kernel_shape[-1] <= rules.width_fold_max_out_channels
    ):
        return "width_fold"
    if (
        row_fold.applies(kernel_shape, strides, dilation, feature_group_count)
        and window[0] > 1
        and kernel_shape[-1] <= rules.row_fold_max_out_channels
    ):
        return "row_fold"
    return "xla"


def choose_transpose_impl(
    backend: str | None = None,
    rules: ConvRules = DEFAULT_RULES,
    rhs_dilation: Sequence[int] | None = None,
) -> str:
    """The faster lowering of a transposed conv on `backend`: "xla", "subpixel" or "im2col".

    XLA:CPU's backward of `lax.conv_transpose` (an input-dilated conv) is slow on decoder
    shapes, so on cpu an undilated one is a stride-1 conv to its sub-pixel phases (with
    `rules.subpixel_transpose`), a dilated one a matmul + overlap-add (with
    `rules.im2col_transpose`); elsewhere "xla".

    Args:
      backend: "cpu", "gpu", "tpu", ...; None means `jax.default_backend()`.
      rules: the thresholds.
      rhs_dilation: the kernel dilation, one a spatial dim (None: none).

    Returns:
      "xla", "subpixel" or "im2col".

    Example:
      >>> choose_transpose_impl("cpu"), choose_transpose_impl("cpu", rhs_dilation=(2, 2))
      ('subpixel', 'im2col')
      >>> choose_transpose_impl("tpu")
      'xla'
    """
    if not _on_cpu(backend):
        return "xla"
    if rules.subpixel_transpose and all(d == 1 for d in rhs_dilation or ()):
        return "subpixel"
    return "im2col" if rules.im2col_transpose else "xla"


def choose_batch_chunk(
    x_shape: Sequence[int],
    out_shape: Sequence[int],
    itemsize: int = 4,
    backend: str | None = None,
    rules: ConvRules = DEFAULT_RULES,
) -> int | None:
    """Images a chunk for the "xla" lowering on `backend`, or None for one conv on the batch.

    On cpu (with `rules.batch_chunks`): as many images as keep the larger of a chunk's input
    and output within `rules.chunk_bytes`, but at most `rules.max_chunks` chunks, and None
    where that is fewer than `rules.min_chunk_images` images; elsewhere None.

    Args:
      x_shape: input shape [b, *spatial, cin].
      out_shape: output shape [b, *spatial', cout].
      itemsize: bytes an element of the compute dtype.
      backend: "cpu", "gpu", "tpu", ...; None means `jax.default_backend()`.
      rules: the thresholds.

    Returns:
      The chunk size, or None.

    Example:
      >>> choose_batch_chunk((128, 32, 32, 64), (128, 32, 32, 64), backend="cpu")
      16
    """
    if not (_on_cpu(backend) and rules.batch_chunks):
        return None
    batch = x_shape[0]
    image_bytes = itemsize * max(math.prod(x_shape[1:]), math.prod(out_shape[1:]))
    chunk = max(1, rules.chunk_bytes // max(1, image_bytes), -(-batch // rules.max_chunks))
    return chunk if rules.min_chunk_images <= chunk < batch else None
