"""MTCNN's image pyramid, packed into one mosaic, and its crops; area resampling in JAX.

MTCNN looks for faces of at least ``min_face_size`` pixels by running P-Net (12x12 windows)
over the image scaled by ``12 / min_face_size``, then by ``scale_factor`` times that, and so
on while the shorter side stays >= 12 px (`pyramid_scales`). A level of scale s has
``int(h * s + 1)`` x ``int(w * s + 1)`` pixels (facenet-pytorch's sizes).

The levels are packed side by side into one canvas (`pack_levels`, at even offsets so that
P-Net's stride-2 pool keeps each level's own grid), so P-Net runs once on one array instead of
once a level; `conv1_mask` tells it where each level ends. Images are padded to a size bucket
(`bucket_size`): the mosaic's layout is the bucket's (static), the image's own level sizes are
traced values, so images of similar sizes share one compiled cascade.

Every resampling is torch's ``interpolate(mode="area")`` (adaptive average pooling): output
pixel i of n along a side of length L averages input pixels ``[floor(i L / n),
ceil((i + 1) L / n))``. Those box sums come from an integral image (`integral_image`) in
uint32, whose wrap-around arithmetic gives exact sums of up to 2**32 - 1 (16 million pixels
of 255); so an output pixel costs four gathers whatever the scale, and crop bounds may be
traced values.

Example:
  >>> [round(s, 4) for s in pyramid_scales(100, min_face_size=20, scale_factor=0.709)]
  [0.6, 0.4254, 0.3016, 0.2138, 0.1516]
  >>> level_sizes(100, 80, [0.6, 0.4254])
  [(61, 49), (43, 35)]
  >>> pack_levels([(61, 49), (43, 35)])
  ((62, 86), [(0, 0), (0, 50)])
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

# P-Net's input window: a pyramid level needs its shorter side >= this.
WINDOW = 12
# Buckets: a side is rounded up to a multiple of 2**(floor(log2(side)) - BUCKET_STEPS_LOG2),
# at least MIN_BUCKET_STEP: at most 1 / 2**BUCKET_STEPS_LOG2 (12.5%) of padding a side.
BUCKET_STEPS_LOG2 = 3
MIN_BUCKET_STEP = 32


def pyramid_scales(min_side: int, *, min_face_size: float, scale_factor: float) -> list[float]:
    """The scales of MTCNN's pyramid for an image whose shorter side is ``min_side``.

    Args:
      min_side: the image's shorter side in pixels.
      min_face_size: smallest face side to find, in pixels.
      scale_factor: ratio of consecutive scales, in (0, 1).

    Returns:
      Scales, largest first; empty when the image is smaller than ``min_face_size``.

    Example:
      >>> pyramid_scales(19, min_face_size=20, scale_factor=0.709)
      []
    """
    if min_face_size <= 0:
        raise ValueError(f"min_face_size must be > 0, got {min_face_size}")
    if not 0 < scale_factor < 1:
        raise ValueError(f"scale_factor must be in (0, 1), got {scale_factor}")
    scale = WINDOW / min_face_size
    side = min_side * scale
    scales = []
    while side >= WINDOW:  # facenet-pytorch's loop, in double precision
        scales.append(scale)
        scale *= scale_factor
        side *= scale_factor
    return scales


def level_sizes(height: int, width: int, scales: list[float]) -> list[tuple[int, int]]:
    """(height, width) of each pyramid level: ``int(side * scale + 1)``.

    Args:
      height, width: the image's size.
      scales: from `pyramid_scales`.

    Returns:
      One (height, width) a scale.

    Example:
      >>> level_sizes(12, 30, [1.0])
      [(13, 31)]
    """
    return [(int(height * s + 1), int(width * s + 1)) for s in scales]


def bucket_size(side: int) -> int:
    """The padded size of an image side: images in one bucket share a compiled cascade.

    Args:
      side: pixels (>= 1).

    Returns:
      ``side`` rounded up to a multiple of ``max(32, 2**(floor(log2(side)) - 3))``.

    Example:
      >>> bucket_size(480), bucket_size(500), bucket_size(513), bucket_size(20)
      (480, 512, 576, 32)
    """
    if side < 1:
        raise ValueError(f"side must be >= 1, got {side}")
    step = max(MIN_BUCKET_STEP, 2 ** (int(math.log2(side)) - BUCKET_STEPS_LOG2))
    return -(-side // step) * step


def _cumsum(x: jax.Array, axis: int) -> jax.Array:
    """``jnp.cumsum(x, axis)``; on the CPU a `lax.scan` over the axis, which XLA:CPU runs
    faster than its parallel-prefix cumsum (``python -m benchmarks.mtcnn --pieces``)."""
    if jax.default_backend() != "cpu":
        return jnp.cumsum(x, axis=axis)

    def add(total, row):
        total = total + row
        return total, total

    x = jnp.moveaxis(x, axis, 0)
    _, out = jax.lax.scan(add, jnp.zeros(x.shape[1:], x.dtype), x)
    return jnp.moveaxis(out, 0, axis)


@jax.jit
def integral_image(image: jax.Array) -> jax.Array:
    """Summed-area table of a uint8 image, with a leading zero row and column.

    Args:
      image: uint8 [h, w, c].

    Returns:
      uint32 [h + 1, w + 1, c]: entry (y, x) sums ``image[:y, :x]`` (modulo 2**32).

    Example:
      >>> integral_image(jnp.full((2, 2, 1), 255, jnp.uint8))[:, :, 0]
      Array([[   0,    0,    0],
             [   0,  255,  510],
             [   0,  510, 1020]], dtype=uint32)
    """
    table = _cumsum(_cumsum(image.astype(jnp.uint32), axis=0), axis=1)  # [h, w, c]
    return jnp.pad(table, ((1, 0), (1, 0), (0, 0)))  # [h + 1, w + 1, c]


def _bins(i: jax.Array, length: jax.Array, size: jax.Array) -> tuple[jax.Array, jax.Array]:
    """[lo, hi) of area bin i of ``size`` over ``[0, length)`` (elementwise, int32 >= 0):
    ``floor(i L / n)`` and ``ceil((i + 1) L / n)``. `lax.div` truncates, which is the floor
    here (no operand is negative), without ``//``'s sign fix-ups."""
    size = jnp.maximum(size, 1)
    lo = jax.lax.div(i * length, size)
    hi = jax.lax.div((i + 1) * length + size - 1, size)
    return lo, hi


@functools.partial(jax.jit, static_argnames="num")
def area_bins(start, length, size, num: int) -> tuple[jax.Array, jax.Array]:
    """Input ranges [lo, hi) of an area resampling of ``[start, start + length)`` to ``size``.

    Args:
      start, length, size: int32 scalars (may be traced); ``size`` >= 1 output pixels.
      num: static number of bins returned (>= size); bins ``i >= size`` are empty.

    Returns:
      (lo [num], hi [num]) int32: bin i is ``[start + floor(i L / n), start + ceil((i + 1)
      L / n))`` with L = length, n = size.

    Example:
      >>> area_bins(2, 5, 2, 3)
      (Array([2, 4, 7], dtype=int32), Array([5, 7, 7], dtype=int32))
    """
    i = jnp.arange(num, dtype=jnp.int32)  # [num]
    size = jnp.maximum(jnp.asarray(size, jnp.int32), 1)
    length = jnp.maximum(jnp.asarray(length, jnp.int32), 0)
    lo, hi = _bins(i, length, size)  # [num] each
    lo, hi = jnp.minimum(lo, length), jnp.minimum(hi, length)
    hi = jnp.where(i < size, hi, lo)  # [num] empty past the output
    return (start + lo).astype(jnp.int32), (start + hi).astype(jnp.int32)


@jax.jit
def area_resize(
    table: jax.Array, rows: tuple[jax.Array, jax.Array], cols: tuple[jax.Array, jax.Array]
) -> jax.Array:
    """Means of the image over each (row bin, column bin) pair, from its integral image.

    Args:
      table: uint32 [h + 1, w + 1, c] from `integral_image`.
      rows: (lo, hi) [..., m] row bins (`area_bins`), within [0, h].
      cols: (lo, hi) [..., n] column bins, within [0, w]; the same leading dims as ``rows``.

    Returns:
      float32 [..., m, n, c]; empty bins give 0.

    Example:
      >>> table = integral_image(jnp.arange(16, dtype=jnp.uint8).reshape(4, 4, 1))
      >>> bins = area_bins(0, 4, 2, 2)
      >>> area_resize(table, bins, bins)[:, :, 0]
      Array([[ 2.5,  4.5],
             [10.5, 12.5]], dtype=float32)
    """
    (r0, r1), (c0, c1) = rows, cols

    def corner(r, c):  # table[r, c] for every (row, column) pair: [..., m, n, ch]
        return table[r[..., :, None], c[..., None, :]]

    total = corner(r1, c1) - corner(r0, c1) - corner(r1, c0) + corner(r0, c0)  # wraps mod 2**32
    area = (r1 - r0)[..., :, None] * (c1 - c0)[..., None, :]  # [..., m, n]
    return total.astype(jnp.float32) / jnp.maximum(area, 1)[..., None].astype(jnp.float32)


@functools.partial(jax.jit, static_argnames="size")
def crop_resize(table: jax.Array, bounds: jax.Array, size: int) -> jax.Array:
    """Crops ``[y0, y1) x [x0, x1)`` of the image, each area-resampled to ``size`` x ``size``.

    Args:
      table: uint32 [H + 1, W + 1, 3] integral image.
      bounds: int32 [n, 4] (y0, y1, x0, x1) within the image; an empty crop gives 0.
      size: static output side.

    Returns:
      float32 [n, size, size, 3] in [0, 255].

    Example:
      >>> table = integral_image(jnp.full((8, 8, 3), 7, jnp.uint8))
      >>> crop_resize(table, jnp.array([[1, 5, 2, 8]]), 2)[0, ..., 0]
      Array([[7., 7.],
             [7., 7.]], dtype=float32)
    """
    y0, y1, x0, x1 = (bounds[:, k] for k in range(4))  # [n] each
    bins = jax.vmap(functools.partial(area_bins, size=size, num=size))
    rows, cols = bins(y0, y1 - y0), bins(x0, x1 - x0)  # (lo, hi) [n, size] each
    return area_resize(table, rows, cols)  # [n, size, size, 3]


def _guillotine(sizes: list[tuple[int, int]], height: int, width: int) -> list | None:
    """Top-left corners of ``sizes`` packed in order into height x width, or None.

    Each rectangle takes the free rectangle it fits best (shortest leftover side), which is
    then cut in two along the longer leftover side.
    """
    free = [(0, 0, height, width)]  # (y, x, h, w)
    origins = []
    for h, w in sizes:
        fits = [f for f in free if f[2] >= h and f[3] >= w]
        if not fits:
            return None
        best = min(fits, key=lambda f: (min(f[2] - h, f[3] - w), f[0], f[1]))
        free.remove(best)
        y, x, fh, fw = best
        if fw - w >= fh - h:  # the right part keeps the full height
            parts = [(y, x + w, fh, fw - w), (y + h, x, fh - h, w)]
        else:  # the bottom part keeps the full width
            parts = [(y, x + w, h, fw - w), (y + h, x, fh - h, fw)]
        free += [part for part in parts if part[2] > 0 and part[3] > 0]
        origins.append((y, x))
    return origins


def pack_levels(
    shapes: list[tuple[int, int]],
) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    """Packs pyramid levels into one canvas as tall as the first, at even offsets.

    Args:
      shapes: (height, width) of each level, largest first.

    Returns:
      ((canvas height, canvas width), [(y, x) top-left corner of each level]): the canvas
      is the narrowest of widths ``w0 + w1 + ... + wk`` (sides rounded up to even) that
      holds every level.

    Example:
      >>> pack_levels([(308, 308), (218, 218), (155, 155), (110, 110), (78, 78)])
      ((308, 682), [(0, 0), (0, 308), (0, 526), (156, 526), (218, 308)])
    """
    if not shapes:
        raise ValueError("no pyramid levels to pack")
    even = [(h + h % 2, w + w % 2) for h, w in shapes]
    height, width = even[0]
    for k in range(len(even)):
        width = sum(w for _, w in even[: k + 1])
        origins = _guillotine(even, height, width)
        if origins is not None:
            return (height, width), origins
    raise AssertionError("a row of all levels always fits")  # unreachable


def mosaic_maps(
    shapes: list[tuple[int, int]],
) -> tuple[np.ndarray, np.ndarray]:
    """Per canvas pixel, its level and its position in that level (`pack_levels`' layout).

    Args:
      shapes: (height, width) of each level, largest first.

    Returns:
      (level int32 [H, W]: -1 outside every level; local int32 [H, W, 2]: (row, column)
      inside the level, 0 outside).

    Example:
      >>> level, local = mosaic_maps([(4, 4), (2, 2)])
      >>> level.tolist()
      [[0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 1, 1], [0, 0, 0, 0, -1, -1], [0, 0, 0, 0, -1, -1]]
    """
    (height, width), origins = pack_levels(shapes)
    level = np.full((height, width), -1, np.int32)
    local = np.zeros((height, width, 2), np.int32)
    for k, ((h, w), (y, x)) in enumerate(zip(shapes, origins, strict=True)):
        level[y : y + h, x : x + w] = k
        rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")  # [h, w] each
        local[y : y + h, x : x + w] = np.stack([rows, cols], axis=-1)
    return level, local


@jax.jit
def mosaic_image(table, image_hw, level_hw, level: jax.Array, local: jax.Array) -> jax.Array:
    """The pyramid levels of an image, area-resampled into the mosaic.

    Args:
      table: uint32 [H + 1, W + 1, 3] integral image of the (padded) image.
      image_hw: int32 [2] the image's own (height, width) inside the padding.
      level_hw: int32 [L, 2] each level's own size (`level_sizes`); 0 for no level.
      level, local: the mosaic's maps (`mosaic_maps`), [h, w] and [h, w, 2].

    Returns:
      float32 [h, w, 3] in [0, 255]; 0 outside each level's own size.

    Example:
      >>> table = integral_image(jnp.full((4, 6, 3), 9, jnp.uint8))
      >>> level, local = mosaic_maps([(3, 4)])
      >>> image = mosaic_image(table, jnp.array([4, 6]), jnp.array([[2, 3]]), level, local)
      >>> image[..., 0]
      Array([[9., 9., 9., 0.],
             [9., 9., 9., 0.],
             [0., 0., 0., 0.],
             [0., 0., 0., 0.]], dtype=float32)
    """
    size = level_hw[jnp.maximum(level, 0)]  # [h, w, 2] the level's own size at each pixel
    inside = (level >= 0) & jnp.all(local < size, axis=-1)  # [h, w]
    r0, r1 = _bins(local[..., 0], image_hw[0], size[..., 0])  # [h, w] each
    c0, c1 = _bins(local[..., 1], image_hw[1], size[..., 1])
    total = table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0]  # [h, w, 3]
    area = jnp.maximum((r1 - r0) * (c1 - c0), 1).astype(jnp.float32)  # [h, w]
    return jnp.where(inside[..., None], total.astype(jnp.float32) / area[..., None], 0.0)


@jax.jit
def conv1_mask(level: jax.Array, local: jax.Array, level_hw: jax.Array) -> jax.Array:
    """Which 3x3 windows of the mosaic lie inside one level's own size (P-Net's ``mask``).

    Args:
      level, local: the mosaic's maps, [h, w] and [h, w, 2].
      level_hw: int32 [L, 2] each level's own size.

    Returns:
      bool [h - 2, w - 2].

    Example:
      >>> level, local = mosaic_maps([(4, 4), (2, 2)])
      >>> conv1_mask(level, local, jnp.array([[4, 3], [2, 2]])).astype(int)
      Array([[1, 0, 0, 0],
             [1, 0, 0, 0]], dtype=int32)
    """
    first, last = level[:-2, :-2], level[2:, 2:]  # [h - 2, w - 2] each: window corners
    size = level_hw[jnp.maximum(first, 0)]  # [h - 2, w - 2, 2]
    fits = jnp.all(local[:-2, :-2] + 2 < size, axis=-1)  # [h - 2, w - 2]
    return (first >= 0) & (first == last) & fits
