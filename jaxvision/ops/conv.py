"""Convolutions as matrix products, for backends whose native convolution is slow (XLA:CPU).

XLA:CPU runs `lax.conv_general_dilated` well on large feature maps, but pathologically slowly
on tiny ones (a 3x3 conv on 2x2 maps with 512 channels: ~3 GFLOP/s against ~200 for a matmul,
forward and input gradient alike), on the input gradient of strided convs at small sizes, on
grouped and depthwise convs (forward + backward 0.2-1.4 GFLOP/s), and on the backward of
transposed convs (5-12 GFLOP/s); and its convs slow down on large batches, whose operands
leave the cache. The "im2col" lowering here computes the same function with slicing, padding
and `lax.dot_general`, which XLA:CPU runs through its fast matmul:

  * k x k conv: pad, take the k*k shifted (strided, dilated) windows with `lax.slice`,
    concatenate them into [b, ho, wo, k*k*cin] and multiply by the kernel reshaped to
    [k*k*cin, cout]. (One matmul on concatenated windows beat a sum of k*k shifted matmuls
    forward + backward, 1.1-2.3x, on the shapes where im2col is chosen.)
  * 1 x 1 conv: a plain matmul on the (strided) input.
  * depthwise conv: a sum of k*k shifted elementwise multiply-adds, no matmul.
  * grouped conv: one im2col matmul a group (few groups) or one batched over groups.
  * transposed conv: one matmul of every input pixel with every tap, then an overlap-add of the
    k*k tap planes (col2im); no multiply by the zeros an input-dilated conv inserts.

The "winograd" lowering (`jaxvision.ops.winograd`) computes a 3x3 stride-1 conv by Winograd's
F(2x2, 3x3): 16 matmuls over 2x2-output tiles, 2.25x fewer FLOPs than the direct conv, for the
price of a 4x larger input and output in the Winograd domain. "auto" takes it on CPU for wide
convs (`CPU_WINOGRAD_MIN_CHANNELS`).

The "space_to_depth" lowering (`jaxvision.ops.space_to_depth`) computes a strided conv as a
stride-1 conv over its input folded s-to-1 into channels: a ResNet's 7x7 stride-2 stem over
RGB becomes a 4x4 conv over 12 channels, which XLA:CPU's conv runs faster. "auto" takes it on
CPU for strided convs over few channels (`CPU_SPACE_TO_DEPTH_MAX_IN_CHANNELS`), for the
forward value only: their gradients stay XLA's conv's.

Gradients are JAX autodiff of these formulations: the transpose of a slice is a pad, of a
concatenate a slice, of a matmul a matmul, so input and kernel gradients are again matmuls.
(No custom_vjp, so forward-mode autodiff and higher derivatives work as for `lax` convs; the
batch chunks of the "xla" path are a `custom_jvp` whose tangent runs on chunks, and the
"winograd" lowering a `custom_jvp` whose input gradient is again a Winograd conv.)

`impl="auto"` picks per backend, shape and dtype with `choose_impl`, and on CPU runs the
gradients of XLA's conv on batch chunks (`choose_batch_chunk`; the forward pass stays one conv
on the batch); the rules and the measurements behind them are the constants below. On GPU and TPU
"auto" is always plain "xla", the fast path there.

The constants were measured with XLA:CPU's default convolution (YNNPACK). The engine compiles
its steps with `jaxvision.engine.compiler_options.CPU_OPTIONS`, which hand convolutions to XLA's
own (Eigen) kernels instead. Those have no collapse from 3x3 outputs up, and batch chunks help
them less. Under those options the rules were re-checked on whole train steps, in one process
with the variants interleaved (ResNet-18 at 32 and 64 px, batch 128; ResNet-50 at 224 px,
batch 32). They were compared with rules re-tuned per conv: no chunks, stride-1 1x1 convs to
XLA, strided convs to im2col only up to 3x3 outputs. The two agreed within 4%, which is the
machine's noise (2.89-3.08 s / 0.88-0.93 s / 8.2-8.5 s a step), so the rules stayed.

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
import itertools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from jaxvision.ops import space_to_depth, winograd

IMPLS = ("xla", "im2col", "winograd", "space_to_depth", "auto")
# The impls that compute every conv ("winograd" computes 3x3 stride-1 convs only,
# "space_to_depth" strided convs of one group): a model's `conv_impl`, the lowering of all
# its convs, is one of these.
EVERY_CONV_IMPLS = ("xla", "im2col", "auto")
PaddingLike = str | int | Sequence[int | tuple[int, int]]
# The impls that compute some convs only: impl -> (whether it computes a conv, which ones).
_PARTIAL_IMPLS = {
    "winograd": (winograd.applies, "2-D 3x3 convs of stride 1, no dilation, one group"),
    "space_to_depth": (
        space_to_depth.applies,
        "strided convs (some stride > 1) of one group, no dilation",
    ),
}

# The rule of `choose_impl` and `choose_batch_chunk` on XLA:CPU. Numbers: backward at batch 32,
# float32, 2 cores, from `python -m benchmarks.conv_lowering` ("HxWxCin->Cout", ms of XLA's
# conv against im2col's). That benchmark's "forward + backward" of JAX held the input and
# kernel gradients only until 2026-11-26 (the loss was linear in the conv's output, and XLA
# dropped the forward conv); it now runs the forward too.
#
# A stride-1 conv whose output has at most this many pixels an image (3x3) goes to im2col.
# XLA's conv is ~30x slower on 2x2 outputs (2x2x512 3x3: 279 against 8.3 ms) and on 1x1 ones
# (29 against 1.1 ms: only the centre tap reads data there), 1.25x slower on 3x3 (3x3x512: 44
# against 35 ms), even on 4x4 (4x4x256: 8.8 against 9.2 ms; 4x4x512: 32 against 28 ms) and
# faster from 5x5 on (5x5x512: 88 against 97 ms; 7x7x512: 95 against 108; 16x16x128: 30
# against 66), as im2col's k*k times larger window matrix stops fitting in cache.
CPU_IM2COL_MAX_OUT_PIXELS = 9
# A strided conv goes to im2col up to this many output pixels an image (8x8): XLA's input
# gradient of a strided conv (an input-dilated conv) is its weak spot (4x4x256->512 /2: 76
# against 4.2 ms); from 4x4 to 8x8 outputs im2col is mostly ahead (8x8x256->512 /2: 17.0 against
# 14.2 ms; 16x16x128->256 /2: 22.4 against 18.6; 14x14x256->512 /2: 52 against 49;
# 16x16x64->128 /2: 6.9 against 8.2), from 14x14 on XLA with batch chunks is
# (28x28x128->256 /2: 50 against 74 ms; 32x32x64->128 /2: 18 against 35).
CPU_IM2COL_MAX_OUT_PIXELS_STRIDED = 64
# 1x1 convs are a plain matmul, 1.0-3.4x faster than XLA's conv (56x56x64->256: 493 against
# 147 ms; 28x28x128->256 /2: 21 against 8.4; 16x16x64->128 /2: 2.3 against 2.3).
CPU_IM2COL_1X1 = True
# Grouped and depthwise convs: XLA's backward runs at 0.2-1.4 GFLOP/s (16x16x256 in 32 groups:
# 5329 against 104 ms; 4x4x512 in 32 groups: 564 against 5.6; depthwise 32x32x64: 83 against
# 38; depthwise 32x32x128 /2: 234 against 20).
CPU_IM2COL_GROUPED = True
# Up to this many taps (3x3), the im2col matrix is one concatenate of k*k windows; above
# (5x5, 7x7), it is built one spatial dim at a time (`_separable_patches`).
CONCAT_PATCHES_MAX_TAPS = 9
# Up to this many groups, a grouped conv is one im2col matmul a group; above, a batched matmul.
GROUPED_LOOP_MAX_GROUPS = 8
# XLA's conv slows down once its operands leave the cache; several convs on batch chunks of
# about this many bytes of input (or output, the larger) each are faster: at batch 32,
# 224x224x3->64 7x7/2 324 against 125 ms, 56x56x64 254 against 173; at batch 128, 32x32x64
# 390 against 217 ms, 56x56x64 1322 against 604. (0.5 to 4 MiB all gain; 1 MiB fits the
# 1 MiB L2 of a core here. The forward alone gains less and loses up to 1.4x on some shapes.)
CPU_XLA_CHUNK_BYTES = 2**20
# At most this many chunks a conv: each is a conv of its own to compile (ResNet-18 at batch 128
# compiles in 21 s with 32 chunks on its 32x32 convs, in 10 s with 8).
CPU_XLA_MAX_CHUNKS = 8
# No chunks of fewer images than this: the batch stays one conv. Under the engine's options
# (Eigen convs), forward + backward of a 3x3 conv in jitted micro-benchmarks, ms with no
# chunks against chunks of 1, 2 or 4 images: 2x160x160x64 123-140 against 148-151 (chunks of
# 1); 2x80x80x256 270 against 306-312; 8x80x80x128 256-281 against 283-395; 8x56x56x64 37
# against 43-72; 32x56x56x64 141 against 173-216. Whole train steps, interleaved
# (`python -m benchmarks.step_variants --rules=shipped,no_chunks`): ResNet-50 224 px batch 32
# (chunks of 4) 6.97 s without chunks against 7.12 s; ResNet-18 32 px batch 128 (chunks of 16)
# 2.71 s with chunks against 3.25 s without, and at batch 64 (chunks of 8) 1.37-1.42 s against
# 1.60 s. Chunks of 8 images are not always ahead either (32x56x56x64 in 4 chunks of 8: 157-160
# against 141 ms); the floor follows the whole-step measurements.
CPU_XLA_MIN_CHUNK_IMAGES = 8
# Chunks only in the derivatives: the forward pass of a chunked conv runs on the whole batch
# (`_chunked_backward`). Under the engine's compiler options (Eigen convs), train steps,
# interleaved in one process (`python -m benchmarks.step_variants --rules=shipped,
# chunked_forward`): ResNet-tiny 32 px batch 128 0.131 against 0.141 s, ResNet-18 32 px
# 2.77 against 2.88 s; its inference 40.5 against 50.1 ms.
CPU_CHUNK_FORWARD_ONLY_IN_GRADIENTS = True
# 3x3 stride-1 convs with at least this many input and output channels go to Winograd's
# F(2x2, 3x3) (`jaxvision.ops.winograd`), under the engine's options. Forward + backward,
# GFLOP/s (direct-conv FLOPs / time) of "winograd" against XLA's conv in the same run, and
# against "auto" before this rule (an earlier run the same hour), `python -m
# benchmarks.conv_lowering` (JSON in benchmarks/results/winograd/): at batch 128, 16x16x128
# 209 / 176 / 186, 8x8x128 202 / 197 / 185, 8x8x256 277 / 191 / 193, 4x4x256 233 / 193 / 185,
# 4x4x512 244 / 191 / 175; at batch 32, 28x28x128 218 / 187 / 168, 14x14x256 246 / 191 / 186,
# 7x7x512 187 / 193 / 176 (a quarter of its 8x8 tiles' outputs are cropped; its forward
# gains, 255 against 212). With 64 channels the transforms' memory traffic outweighs the
# saving: 32x32x64 117 / 131 / 157, 16x16x64 138 / 168 / 160, 56x56x64 121 / 164 / 164.
# Forward alone: 8x8x256 254 against 200, 4x4x512 324 against 206, 14x14x256 274 against 202.
# (Outputs of 3x3 pixels or fewer stay with im2col: on 2x2x512 Winograd's backward runs at 38
# GFLOP/s.) Whole train steps, each variant in processes of its own taking turns
# (`python -m benchmarks.step_variants --rules=shipped` against `--rules=no_winograd`), s a
# step: ResNet-18 32 px batch 128 2.53 / 2.34 / 2.38 against 2.78 / 2.61 / 2.65; ResNet-50
# 224 px batch 32 6.49 / 6.76 / 6.11 against 6.87 / 7.01 / 7.06.
CPU_WINOGRAD_MIN_CHANNELS = 128
# ... and only where each of its 16 matmuls holds at least this many multiply-adds (tiles x
# cin x cout, a tile 2x2 outputs of one image): on smaller problems the transforms' fixed
# costs win. Forward + backward, ms, Winograd against the rules without it (jitted, the two
# interleaved): 4x4x128 batch 32 3.5 against 2.9, batch 128 10.9 against 9.6 (2^23 MACs);
# 8x8x128 batch 32 11.1 against 10.2 (2^23); 8x8x256 batch 8 19.3 against 12.6 (2^23); from
# 2^25 on it gains (14x14x256 batch 16, 1.5 * 2^25: 57.6 against 61.5; 4x4x256 and 8x8x128
# at batch 128, 2^25: above). The localization config's backbone (4x4x128 at batch 32) trained
# at 703-850 img/s with Winograd against 898-934 without, before this floor.
CPU_WINOGRAD_MIN_MATMUL_MACS = 2**25
# Strided convs over at most this many input channels (stems over RGB images) compute their
# forward value as stride-1 convs over a space-to-depth input (`jaxvision.ops.space_to_depth`);
# XLA:CPU's conv is slow over 3 channels. The localizer's 7x7 stride-2 stem (64 px, batch 32,
# 3 -> 32 channels) forward: 3.0-3.3 ms folded against 3.9-4.6 ms; the localizer's predict,
# batch 32, in one process: 9.1-9.3 against 10.1-10.5 ms a batch. The gradients stay XLA's
# conv's on batch chunks: autodiff through the fold made the ResNet-18 (64 px, batch 128)
# train step slower (0.88-0.90 s against 0.85 and 0.76 s); forward folded and gradients by
# XLA: 0.76 and 0.80 s against 0.84 and 0.85 (`benchmarks.step_variants --rules=shipped` and
# `--rules=no_space_to_depth`, separate processes taking turns).
CPU_SPACE_TO_DEPTH_MAX_IN_CHANNELS = 4


def check_conv_impl(conv_impl: str) -> None:
    """Raises ValueError unless `conv_impl` lowers every conv (`EVERY_CONV_IMPLS`).

    For a model's `conv_impl` option, the lowering of all its convs.

    Example:
      >>> check_conv_impl("im2col")
    """
    if conv_impl not in EVERY_CONV_IMPLS:
        valid = ", ".join(EVERY_CONV_IMPLS)
        raise ValueError(f"Unknown conv_impl {conv_impl!r}; valid: {valid}.")


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
    """
    if value is None:
        value = 1
    if isinstance(value, int):
        return (value,) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(f"{name} needs {n} values (one a spatial dim), got {value}.")
    return value


def _check_shapes(x: jax.Array, kernel: jax.Array, feature_group_count: int) -> int:
    """Validates [b, *spatial, cin] / [*window, cin/groups, cout]; returns the spatial rank."""
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


def choose_impl(
    x_shape: Sequence[int],
    kernel_shape: Sequence[int],
    strides: int | Sequence[int] = 1,
    rhs_dilation: int | Sequence[int] = 1,
    feature_group_count: int = 1,
    backend: str | None = None,
    padding: PaddingLike = "SAME",
    dtype=jnp.float32,
) -> str:
    """The faster lowering of a conv on `backend`: "xla", "im2col", "winograd" or
    "space_to_depth".

    The rule (measured forward + backward, see the CPU_* constants of this module for the
    numbers behind each threshold):

      * any backend but "cpu" (gpu, cuda, rocm, tpu, ...): "xla".
      * cpu, grouped or depthwise conv: "im2col".
      * cpu, 1x1 kernel: "im2col" (a plain matmul).
      * cpu, output of at most `CPU_IM2COL_MAX_OUT_PIXELS` (stride 1) or
        `CPU_IM2COL_MAX_OUT_PIXELS_STRIDED` (stride > 1) pixels an image: "im2col".
      * cpu, float32, a 3x3 stride-1 conv (2-D, no dilation, one group) with at least
        `CPU_WINOGRAD_MIN_CHANNELS` input and output channels and at least
        `CPU_WINOGRAD_MIN_MATMUL_MACS` multiply-adds in each Winograd matmul: "winograd".
      * cpu, a strided conv (no dilation, one group, no negative padding) over at most
        `CPU_SPACE_TO_DEPTH_MAX_IN_CHANNELS` input channels: "space_to_depth".
      * cpu, otherwise: "xla".

    The batch size is not in it (XLA:CPU's slow cases are slow an image); it enters through
    `choose_batch_chunk`.

    Args:
      x_shape: input shape [b, *spatial, cin].
      kernel_shape: kernel shape [*window, cin / groups, cout].
      strides: window strides (an int or one a spatial dim).
      rhs_dilation: kernel dilation (an int or one a spatial dim).
      feature_group_count: number of groups.
      backend: "cpu", "gpu", "tpu", ...; None means `jax.default_backend()`.
      padding: as for `conv_general`; sets the output size.
      dtype: the compute dtype (float32 unless given; "winograd" for float32 only).

    Returns:
      "xla", "im2col", "winograd" or "space_to_depth".

    Example:
      >>> choose_impl((32, 2, 2, 512), (3, 3, 512, 512), backend="cpu")
      'im2col'
      >>> choose_impl((32, 2, 2, 512), (3, 3, 512, 512), backend="gpu")
      'xla'
    """
    backend = (backend or jax.default_backend()).lower()
    if backend != "cpu":
        return "xla"
    n = len(kernel_shape) - 2
    window = tuple(kernel_shape[:n])
    if feature_group_count > 1 and CPU_IM2COL_GROUPED:
        return "im2col"
    if math.prod(window) == 1 and CPU_IM2COL_1X1:
        return "im2col"
    strides = as_tuple(strides, n, "strides")
    dilation = as_tuple(rhs_dilation, n, "rhs_dilation")
    pads = resolve_padding(padding, tuple(x_shape[1:-1]), window, strides, dilation)
    out_pixels = math.prod(
        _out_size(size, k, s, d, lo, hi)
        for size, k, s, d, (lo, hi) in zip(
            x_shape[1:-1], window, strides, dilation, pads, strict=True
        )
    )
    strided = any(s > 1 for s in strides)
    limit = CPU_IM2COL_MAX_OUT_PIXELS_STRIDED if strided else CPU_IM2COL_MAX_OUT_PIXELS
    if out_pixels <= limit:
        return "im2col"
    if (
        jnp.dtype(dtype) == jnp.float32
        and winograd.applies(kernel_shape, strides, dilation, feature_group_count)
        and min(kernel_shape[-2:]) >= CPU_WINOGRAD_MIN_CHANNELS
        and winograd.matmul_macs(x_shape, kernel_shape, pads) >= CPU_WINOGRAD_MIN_MATMUL_MACS
    ):
        return "winograd"
    if (
        space_to_depth.applies(kernel_shape, strides, dilation, feature_group_count)
        and kernel_shape[-2] <= CPU_SPACE_TO_DEPTH_MAX_IN_CHANNELS
        and all(lo >= 0 and hi >= 0 for lo, hi in pads)
    ):
        return "space_to_depth"
    return "xla"


def choose_transpose_impl(backend: str | None = None) -> str:
    """The faster lowering of a transposed conv on `backend`: "xla" or "im2col".

    On XLA:CPU the backward of `lax.conv_transpose` runs at 5-12 GFLOP/s on decoder shapes
    (8x8x256->128 ... 32x32x64->32, k 2-4, stride 2): forward + backward 4.7-16x slower than
    the matmul + overlap-add lowering here (8x8x256->128 k4: 539 against 43 ms; 32x32x64->32
    k4: 705 against 151 ms), forward alone about as fast; so "im2col" on cpu, "xla" elsewhere.

    Args:
      backend: "cpu", "gpu", "tpu", ...; None means `jax.default_backend()`.

    Returns:
      "xla" or "im2col".
    """
    return "im2col" if (backend or jax.default_backend()).lower() == "cpu" else "xla"


def choose_batch_chunk(
    x_shape: Sequence[int],
    out_shape: Sequence[int],
    itemsize: int = 4,
    backend: str | None = None,
) -> int | None:
    """Images a chunk for the "xla" lowering on `backend`, or None for one conv on the batch.

    On cpu: as many images as keep the larger of a chunk's input and output within
    `CPU_XLA_CHUNK_BYTES`, but at most `CPU_XLA_MAX_CHUNKS` chunks, and None where that is
    fewer than `CPU_XLA_MIN_CHUNK_IMAGES` images; elsewhere None.

    Args:
      x_shape: input shape [b, *spatial, cin].
      out_shape: output shape [b, *spatial', cout].
      itemsize: bytes an element of the compute dtype.
      backend: "cpu", "gpu", "tpu", ...; None means `jax.default_backend()`.

    Returns:
      The chunk size, or None.
    """
    if (backend or jax.default_backend()).lower() != "cpu":
        return None
    batch = x_shape[0]
    image_bytes = itemsize * max(math.prod(x_shape[1:]), math.prod(out_shape[1:]))
    chunk = max(1, CPU_XLA_CHUNK_BYTES // max(1, image_bytes), -(-batch // CPU_XLA_MAX_CHUNKS))
    return chunk if CPU_XLA_MIN_CHUNK_IMAGES <= chunk < batch else None


def _batch_chunked(fn, x: jax.Array, chunk: int | None) -> jax.Array:
    """fn(x) computed as fn on chunks of about `chunk` images, for a per-image fn.

    With n chunks, n a divisor of the batch, chunk j holds images j, j + n, j + 2n, ...: a
    batch sharded over devices stays evenly sharded in every chunk. (Without a divisor near
    batch / chunk, the chunks are contiguous.) `lax.split` splits, as its transpose is one
    concatenate; the chunks are unrolled, as under `lax.map` XLA:CPU runs the backward conv
    ~30x slower.
    """
    b = x.shape[0]
    if chunk is None or chunk >= b or b == 0:
        return fn(x)
    fewest = -(-b // chunk)
    n = next((d for d in range(fewest, 2 * fewest + 1) if b % d == 0), None)  # chunks
    if n is None:
        sizes = (chunk,) * (b // chunk) + ((b % chunk,) if b % chunk else ())
        return jnp.concatenate([fn(part) for part in lax.split(x, sizes, axis=0)], axis=0)
    xs = x.reshape(b // n, n, *x.shape[1:])  # [b/n, n, ...]
    ys = [fn(jnp.squeeze(part, 1)) for part in lax.split(xs, (1,) * n, axis=1)]  # n x [b/n, ..]
    y = jnp.stack(ys, axis=1)  # [b/n, n, ...]
    return y.reshape(b, *y.shape[2:])


def _chunked_backward(
    conv, x: jax.Array, kernel: jax.Array, chunk: int | None, primal=None
) -> jax.Array:
    """conv(x, kernel) on the whole batch, its derivatives on batch chunks (`_batch_chunked`).

    A `custom_jvp` whose tangent, `conv(dx, kernel) + conv(x, dkernel)`, is computed chunk by
    chunk: reverse mode transposes that tangent, so the input and kernel gradients run on
    chunks, while the forward pass (and inference) runs one conv on the batch. Forward-mode
    and higher derivatives stay available (no `custom_vjp`). `primal`, when given, computes
    the forward value instead of `conv` (the same function by another lowering); the
    derivatives stay `conv`'s, on chunks or (chunk None) on the whole batch.
    """
    chunked = not (chunk is None or chunk >= x.shape[0] or x.shape[0] == 0)
    if primal is None and not chunked:
        return conv(x, kernel)
    if primal is None and not CPU_CHUNK_FORWARD_ONLY_IN_GRADIENTS:
        return _batch_chunked(lambda part: conv(part, kernel), x, chunk)
    primal = primal or conv
    chunk = chunk if chunked else None

    @jax.custom_jvp
    def full(x: jax.Array, kernel: jax.Array) -> jax.Array:
        return primal(x, kernel)

    def jvp(primals, tangents):
        x, kernel = primals
        dx, dkernel = tangents
        y = primal(x, kernel)
        dy = []
        if not isinstance(dx, SymbolicZero):
            dy.append(_batch_chunked(lambda part: conv(part, kernel), dx, chunk))
        if not isinstance(dkernel, SymbolicZero):
            dy.append(_batch_chunked(lambda part: conv(part, dkernel), x, chunk))
        return y, functools.reduce(jnp.add, dy) if dy else jnp.zeros_like(y)

    full.defjvp(jvp, symbolic_zeros=True)
    return full(x, kernel)


def _out_size(size: int, k: int, s: int, d: int, lo: int, hi: int) -> int:
    """Output length of a strided, dilated, padded window along one dim."""
    return max(0, (size + lo + hi - (k - 1) * d - 1) // s + 1)


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
    kh + kw slices instead of kh * kw (a 7x7 conv compiles ~2x faster and runs as fast or
    faster); the channel order (tap_h, tap_w, c) is the kernel's row-major one.
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


def _im2col_conv(
    x: jax.Array,
    kernel: jax.Array,
    strides: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
    rhs_dilation: tuple[int, ...],
    feature_group_count: int,
    precision: lax.PrecisionLike,
) -> jax.Array:
    """Convolution by slicing and matmuls; same result as `lax.conv_general_dilated`."""
    n = kernel.ndim - 2
    b = x.shape[0]
    cin_g, cout = kernel.shape[-2:]
    groups = feature_group_count
    cout_g = cout // groups
    in_spatial = x.shape[1:-1]
    out_spatial = tuple(
        _out_size(size, k, s, d, lo, hi)
        for size, k, s, d, (lo, hi) in zip(
            in_spatial, kernel.shape[:n], strides, rhs_dilation, pads, strict=True
        )
    )
    dtype = jnp.result_type(x, kernel)
    live = [
        _live_taps(size, out, k, s, d, lo)
        for size, out, k, s, d, (lo, _) in zip(
            in_spatial, out_spatial, kernel.shape[:n], strides, rhs_dilation, pads, strict=True
        )
    ]
    if b == 0 or any(o == 0 for o in out_spatial) or any(t0 == t1 for t0, t1 in live):
        return jnp.zeros((b, *out_spatial, cout), dtype)
    # Drop the taps that read padding only (their products are zero).
    kernel = lax.slice(
        kernel, (*(t0 for t0, _ in live), 0, 0), (*(t1 for _, t1 in live), cin_g, cout)
    )  # [*window', cin_g, cout]
    window = kernel.shape[:n]
    taps = list(itertools.product(*(range(k) for k in window)))  # row-major, as kernel.reshape
    num_taps = len(taps)

    # Pad (negative crops) the spatial dims only; the zero padding fuses into the slices.
    xp = lax.pad(
        x, jnp.zeros((), x.dtype), ((0, 0, 0), *((lo, hi, 0) for lo, hi in pads), (0, 0, 0))
    )

    def window_of(tap: tuple[int, ...]) -> jax.Array:
        """The input pixels tap `tap` of every output reads: [b, *out, cin]."""
        starts = [(t + t0) * d for t, (t0, _), d in zip(tap, live, rhs_dilation, strict=True)]
        limits = [
            start + (o - 1) * s + 1
            for start, o, s in zip(starts, out_spatial, strides, strict=True)
        ]
        return lax.slice(
            xp, (0, *starts, 0), (b, *limits, xp.shape[-1]), (1, *strides, 1)
        )  # [b, *out, cin]

    contract = (((n + 1,), (0,)), ((), ()))  # the channel axis of [b, *out, c] with rows
    if groups == 1:
        if num_taps <= CONCAT_PATCHES_MAX_TAPS:
            patches = jnp.concatenate([window_of(t) for t in taps], axis=-1)  # [b, *o, K*cin]
        else:
            patches = _separable_patches(xp, window, live, rhs_dilation, strides, out_spatial)
        kmat = kernel.reshape(num_taps * cin_g, cout)  # [K*cin, cout]
        return lax.dot_general(patches, kmat, contract, precision=precision)  # [b, *out, cout]

    windows = [window_of(t) for t in taps]  # K x [b, *out, cin]

    if cin_g == 1:
        # Depthwise (channel multiplier m = cout / cin): K shifted multiply-adds.
        kvec = kernel.reshape(num_taps, groups, cout_g)  # [K, cin, m]
        y = sum(w[..., None] * kvec[i] for i, w in enumerate(windows))  # [b, *out, cin, m]
        return y.reshape(b, *out_spatial, cout)

    kmat = kernel.reshape(num_taps, cin_g, groups, cout_g)  # [K, ci, g, co]
    if groups <= GROUPED_LOOP_MAX_GROUPS:
        # Few groups: one im2col matmul a group.
        outs = []
        for g in range(groups):
            lo, hi = g * cin_g, (g + 1) * cin_g
            patches = jnp.concatenate([w[..., lo:hi] for w in windows], axis=-1)  # [.., K*ci]
            k_g = kmat[:, :, g].reshape(num_taps * cin_g, cout_g)  # [K*ci, co]
            outs.append(lax.dot_general(patches, k_g, contract, precision=precision))
        return jnp.concatenate(outs, axis=-1)  # [b, *out, g*co]

    # Many groups: the im2col matmul batched over groups.
    patches = jnp.stack(windows, axis=n + 1)  # [b, *out, K, cin]
    patches = patches.reshape(b, *out_spatial, num_taps, groups, cin_g)  # [b, *out, K, g, ci]
    y = lax.dot_general(
        patches, kmat, (((n + 1, n + 3), (0, 1)), ((n + 2,), (2,))), precision=precision
    )  # [g, b, *out, co]
    return jnp.moveaxis(y, 0, -2).reshape(b, *out_spatial, cout)  # [b, *out, g*co]


def _dimension_numbers(n: int) -> tuple[str, str, str]:
    """("NHWC", "HWIO", "NHWC") for n = 2, and the like for 1-D and 3-D."""
    if n > 3:
        raise ValueError(f"impl='xla' supports 1 to 3 spatial dims, got {n}.")
    spatial = "DHW"[-n:]
    return f"N{spatial}C", f"{spatial}IO", f"N{spatial}C"


def conv_general(
    x: jax.Array,
    kernel: jax.Array,
    *,
    strides: int | Sequence[int] = 1,
    padding: PaddingLike = "SAME",
    rhs_dilation: int | Sequence[int] | None = 1,
    feature_group_count: int = 1,
    impl: str = "auto",
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
        conv of one group, no dilation, as a stride-1 conv over the folded input; when "auto"
        picks it, only the forward value is folded and the derivatives are XLA's conv's on
        batch chunks) or "auto" (`choose_impl` for
        the default backend, this shape and dtype; when that is "xla", on batch chunks of
        `choose_batch_chunk` images).
      precision: passed to the conv or the matmuls.
      batch_chunk: with impl "xla", compute the conv's derivatives on chunks of about this
        many images (`CPU_CHUNK_FORWARD_ONLY_IN_GRADIENTS`; else the forward too); None: the
        whole batch at once (or `choose_batch_chunk`'s for "auto").

    Returns:
      [b, *spatial', cout], in the promoted dtype of x and kernel.

    Raises:
      ValueError: for inconsistent shapes, an unknown impl or padding, or "winograd" or
        "space_to_depth" for a conv it does not compute.

    Example:
      >>> y = conv_general(jnp.ones((1, 7, 7, 4)), jnp.ones((3, 3, 4, 8)), padding="VALID")
      >>> y.shape
      (1, 5, 5, 8)
    """
    if impl not in IMPLS:
        raise ValueError(f"Unknown impl {impl!r}; valid: {', '.join(IMPLS)}.")
    n = _check_shapes(x, kernel, feature_group_count)
    strides = as_tuple(strides, n, "strides")
    rhs_dilation = as_tuple(rhs_dilation, n, "rhs_dilation")
    pads = resolve_padding(padding, x.shape[1:-1], kernel.shape[:n], strides, rhs_dilation)
    dtype = jnp.result_type(x, kernel)
    x, kernel = x.astype(dtype), kernel.astype(dtype)
    auto = impl == "auto"
    chunk_auto = auto and batch_chunk is None
    if auto:
        impl = choose_impl(
            x.shape,
            kernel.shape,
            strides,
            rhs_dilation,
            feature_group_count,
            padding=pads,
            dtype=dtype,
        )
    if impl in _PARTIAL_IMPLS:
        applies, scope = _PARTIAL_IMPLS[impl]
        if not applies(kernel.shape, strides, rhs_dilation, feature_group_count):
            raise ValueError(
                f"impl={impl!r} computes {scope}; got kernel {kernel.shape}, strides {strides}, "
                f"rhs_dilation {rhs_dilation}, feature_group_count {feature_group_count}."
            )
    if impl == "winograd":
        return winograd.conv3x3(x, kernel, pads, precision)
    primal = None
    if impl == "space_to_depth":
        fold = functools.partial(
            space_to_depth.conv, strides=strides, pads=pads, precision=precision
        )
        if not auto:
            return fold(x, kernel)
        # "auto": the fold computes the forward value only; the gradients are XLA's conv's on
        # batch chunks, the "xla" path below (autodiff through the fold was slower: ResNet-18
        # at 64 px, batch 128, train step 0.88-0.90 s against 0.76-0.85 s).
        impl, primal = "xla", fold
    if impl == "xla" and chunk_auto:
        batch_chunk = _auto_chunk(x, kernel, strides, rhs_dilation, pads)
    conv = _lowering(impl, n, strides, pads, rhs_dilation, feature_group_count, precision)
    if impl == "xla":
        return _chunked_backward(conv, x, kernel, batch_chunk, primal=primal)
    return conv(x, kernel)


def _auto_chunk(x, kernel, strides, rhs_dilation, pads) -> int | None:
    """`choose_batch_chunk` of this conv (its output shape worked out)."""
    n = len(strides)
    out_spatial = [
        _out_size(size, k, s, d, lo, hi)
        for size, k, s, d, (lo, hi) in zip(
            x.shape[1:-1], kernel.shape[:n], strides, rhs_dilation, pads, strict=True
        )
    ]
    out_shape = (x.shape[0], *out_spatial, kernel.shape[-1])
    return choose_batch_chunk(x.shape, out_shape, jnp.dtype(x.dtype).itemsize)


def _lowering(impl, n, strides, pads, rhs_dilation, feature_group_count, precision):
    """conv(x, kernel) of impl "xla" (one `lax` conv) or "im2col", everything else fixed."""
    if impl == "xla":
        return functools.partial(
            lax.conv_general_dilated,
            window_strides=strides,
            padding=pads,
            rhs_dilation=rhs_dilation,
            dimension_numbers=_dimension_numbers(n),
            feature_group_count=feature_group_count,
            precision=precision,
        )
    return functools.partial(
        _im2col_conv,
        strides=strides,
        pads=pads,
        rhs_dilation=rhs_dilation,
        feature_group_count=feature_group_count,
        precision=precision,
    )


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


def _matmul_conv_transpose(
    x: jax.Array,
    kernel: jax.Array,
    strides: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
    dilation: tuple[int, ...],
    precision: lax.PrecisionLike,
) -> jax.Array:
    """Transposed conv as one matmul, then an overlap-add of the k**n tap planes (col2im).

    `lax.conv_transpose` is the stride-1 conv of the input dilated by s (s - 1 zeros between
    pixels) and padded by `pads`: y[o] = sum_t w[t] * x[(o + t*d - lo) / s] where exact. So
    input pixel i through tap t lands on output o = s*i + lo - t*d: multiply every input pixel
    by every tap at once (z = x @ w, no zero multiplied), then place tap t's plane at offset
    lo - t*d with s - 1 zeros between pixels (`lax.pad` with interior padding; negative edges
    crop) and sum the planes. Its gradient is an im2col conv: strided slices of the output
    gradient and two matmuls.

    (A sub-pixel decomposition, s**n stride-1 im2col convs interleaved by a depth-to-space,
    measured 1.1-2.1x slower forward + backward on decoder shapes: more and smaller matmuls,
    and window matrices k**n / s**n times the input.)
    """
    n = kernel.ndim - 2
    window = kernel.shape[:n]
    b, cin = x.shape[0], x.shape[-1]
    cout = kernel.shape[-1]
    in_spatial = x.shape[1:-1]
    out_spatial = tuple(
        max(0, (size - 1) * s + 1 + lo + hi - (k - 1) * d)
        for size, s, (lo, hi), k, d in zip(in_spatial, strides, pads, window, dilation, strict=True)
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
            in_spatial, strides, pads, tap, dilation, out_spatial, strict=True
        ):
            low = lo - t * d  # output position of input pixel 0 through this tap
            config.append((low, o - low - ((size - 1) * s + 1), s - 1))
        config.append((0, 0, 0))
        plane = lax.pad(plane, zero, config)  # [b, *out, cout]
        y = plane if y is None else y + plane
    return y


def conv_transpose(
    x: jax.Array,
    kernel: jax.Array,
    *,
    strides: int | Sequence[int] = 1,
    padding: PaddingLike = "SAME",
    rhs_dilation: int | Sequence[int] | None = 1,
    impl: str = "auto",
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
      impl: "xla" (`lax.conv_transpose`), "im2col" (matmul + overlap-add), or "auto"
        (`choose_transpose_impl` of the default backend).
      precision: passed to the conv or the matmul.

    Returns:
      [b, *spatial', cout], in the promoted dtype of x and kernel.

    Raises:
      ValueError: for inconsistent shapes, an unknown impl or padding.

    Example:
      >>> conv_transpose(jnp.ones((1, 4, 4, 8)), jnp.ones((3, 3, 8, 2)), strides=2).shape
      (1, 8, 8, 2)
    """
    if impl not in EVERY_CONV_IMPLS:
        raise ValueError(f"Unknown impl {impl!r}; valid: {', '.join(EVERY_CONV_IMPLS)}.")
    n = _check_shapes(x, kernel, 1)
    strides = as_tuple(strides, n, "strides")
    dilation = as_tuple(rhs_dilation, n, "rhs_dilation")
    pads = conv_transpose_padding(padding, kernel.shape[:n], strides, dilation)
    if impl == "auto":
        impl = choose_transpose_impl()
    if impl == "xla":
        return lax.conv_general_dilated(
            x,
            kernel,
            (1,) * n,
            pads,
            lhs_dilation=strides,
            rhs_dilation=dilation,
            dimension_numbers=_dimension_numbers(n),
            precision=precision,
        )
    dtype = jnp.result_type(x, kernel)
    return _matmul_conv_transpose(
        x.astype(dtype), kernel.astype(dtype), strides, pads, dilation, precision
    )
