"""RoIAlign (He et al., 2017) as a pure JAX function, and its FPN multi-level form.

The public functions are jitted, their sizes and options static (hashable: ints, tuples).

Each region of interest (an xyxy box) is divided into ``output_size`` bins; each bin
averages ``sampling_ratio x sampling_ratio`` bilinear samples at regularly spaced points.
The sampling follows torchvision's / Detectron2's ``ROIAlign`` exactly:

  * ``aligned=True`` (Detectron2's default, the correct one): a box in image pixels starts at
    ``x1 * spatial_scale - 0.5`` in the feature map's pixel-centre coordinates, so a box that
    covers pixels 0..k samples their centres. ``aligned=False`` is the original Mask R-CNN
    (no half-pixel shift, and boxes at least 1 feature pixel wide).
  * a sample more than one pixel outside the map (``y < -1`` or ``y > height``, same for x)
    is 0; otherwise coordinates below 0 are clamped to 0 and samples beyond the last row or
    column take its value.
  * ``sampling_ratio`` is static (torchvision's 0, "adaptive, ceil(box / bin) samples a
    bin", depends on the box and has no static shape).

Bilinear weights are separable, and so is the "outside the map" test, so each box needs
the 2 * ``sampling_ratio`` rows and columns around its samples of every bin: one gather of
``[n, out_h, 2s, out_w, 2s, c]`` values and a weighted sum, all static shapes, differentiable
in the features (the gather's transpose is a scatter-add). Several feature maps (FPN
levels, or the instance masks of ``jaxvision.ops.roi_sampling.mask_targets``) are gathered
from one flattened ``[rows, c]`` array with a per-box row offset (``roi_align_flat``).

``roi_align`` and ``multilevel_roi_align`` also take ``impl="matmul"``: the same sampling as
two dense matmuls a box (``jaxvision.ops.roi_align_matmul``), whose backward is a matmul
too; faster on small maps on a CPU. ``impl="auto"`` picks the faster form
(``roi_align_matmul.choose_impl``).

Example:
  >>> features = jnp.arange(16.0).reshape(4, 4, 1)  # value = 4 y + x at pixel (y, x)
  >>> roi_align(features, jnp.array([[1.0, 1.0, 3.0, 3.0]]), output_size=1)[0, 0, 0, 0]
  Array(7.5, dtype=float32)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxvision.ops import roi_align_matmul

# Half-pixel shift of ``aligned=True``: pixel i covers [i, i + 1) and has its centre at i + 0.5.
ALIGNED_OFFSET = 0.5
# The FPN paper's level assignment (eq. 1): a 224 px box maps to level 4 (Detectron2 and
# torchvision use these two numbers).
CANONICAL_BOX_SIZE = 224.0
CANONICAL_LEVEL = 4
# Keeps log2 finite for empty boxes (torchvision's LevelMapper eps).
_LEVEL_EPS = 1e-6


def _pair(output_size: int | Sequence[int]) -> tuple[int, int]:
    size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    if len(size) != 2 or any(int(s) <= 0 for s in size):
        raise ValueError(f"output_size must be a positive int or (height, width), got {size}")
    return int(size[0]), int(size[1])


def _check_sampling_ratio(sampling_ratio: int) -> int:
    if int(sampling_ratio) != sampling_ratio or sampling_ratio < 1:
        raise ValueError(
            f"sampling_ratio must be a static int >= 1 (adaptive sampling, torchvision's 0, "
            f"has no static shape), got {sampling_ratio}"
        )
    return int(sampling_ratio)


def _axis_samples(
    start: jax.Array, length: jax.Array, size: jax.Array, bins: int, ratio: int
) -> tuple[jax.Array, jax.Array]:
    """Rows (or columns) and bilinear weights of every sample along one axis.

    Args:
      start: [n] first coordinate of each box, in the map's pixel-centre coordinates.
      length: [n] extent of each box along the axis, in map pixels.
      size: [n] size of each box's map along the axis.
      bins: output bins along the axis.
      ratio: samples a bin along the axis.

    Returns:
      (indices [n, bins, 2 * ratio] int32, weights [n, bins, 2 * ratio] float32): for each
      sample its lower and upper neighbour, weighted ``1 / ratio`` times the bilinear
      weight, 0 for samples more than one pixel outside the map.
    """
    n = start.shape[0]
    steps = jnp.arange(bins, dtype=jnp.float32)[:, None]  # [bins, 1]
    steps = steps + (jnp.arange(ratio, dtype=jnp.float32)[None, :] + 0.5) / ratio  # [bins, r]
    coords = start[:, None, None] + steps[None] * (length / bins)[:, None, None]  # [n, bins, r]
    size = size.astype(jnp.float32)[:, None, None]  # [n, 1, 1]
    inside = (coords >= -1.0) & (coords <= size)  # [n, bins, r]
    coords = jnp.maximum(coords, 0.0)
    low = jnp.floor(coords)  # [n, bins, r]
    at_edge = low >= size - 1
    low = jnp.where(at_edge, size - 1, low)
    high = jnp.where(at_edge, size - 1, low + 1)
    frac = jnp.where(at_edge, 0.0, coords - low)  # [n, bins, r]
    scale = inside.astype(jnp.float32) / ratio
    indices = jnp.stack([low, high], axis=-1).astype(jnp.int32)  # [n, bins, r, 2]
    weights = jnp.stack([(1.0 - frac) * scale, frac * scale], axis=-1)  # [n, bins, r, 2]
    return indices.reshape(n, bins, 2 * ratio), weights.reshape(n, bins, 2 * ratio)


def _box_extent(
    boxes: jax.Array, scale: jax.Array | float, aligned: bool
) -> tuple[jax.Array, jax.Array]:
    """(start [n, 2], length [n, 2]) of boxes [n, 4] in map pixel-centre coordinates (x, y);
    ``scale`` [n] or a float."""
    scale = jnp.broadcast_to(jnp.asarray(scale, jnp.float32), boxes.shape[:1])[:, None]
    shift = ALIGNED_OFFSET if aligned else 0.0
    start = boxes[:, :2] * scale - shift  # [n, 2] (x, y)
    length = (boxes[:, 2:] - boxes[:, :2]) * scale  # [n, 2]
    if not aligned:
        length = jnp.maximum(length, 1.0)
    return start, length


def _axis_matrices(
    boxes: jax.Array,
    scale: float,
    height: int,
    width: int,
    output_size: tuple[int, int],
    ratio: int,
    aligned: bool,
    width_extent: int | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Dense sampling matrices of boxes [n, 4] on one map: A_y [n, out_h, height] and
    A_x [n, out_w, width_extent or width] (``roi_align_matmul.axis_matrix``)."""
    n = boxes.shape[0]
    start, length = _box_extent(boxes, scale, aligned)
    rows, wy = _axis_samples(
        start[:, 1], length[:, 1], jnp.full((n,), height), output_size[0], ratio
    )
    cols, wx = _axis_samples(
        start[:, 0], length[:, 0], jnp.full((n,), width), output_size[1], ratio
    )
    return (
        roi_align_matmul.axis_matrix(rows, wy, height),
        roi_align_matmul.axis_matrix(cols, wx, width_extent or width),
    )


def _float_output(pooled: jax.Array, dtype) -> jax.Array:
    """float32 pooled values in the features' dtype (float32 for integer features)."""
    return pooled.astype(dtype) if jnp.issubdtype(dtype, jnp.floating) else pooled


@functools.partial(jax.jit, static_argnames=("output_size", "sampling_ratio", "aligned"))
def roi_align_flat(
    flat_features: jax.Array,
    boxes: jax.Array,
    heights: jax.Array,
    widths: jax.Array,
    offsets: jax.Array,
    spatial_scales: jax.Array,
    output_size: int | Sequence[int],
    sampling_ratio: int = 2,
    aligned: bool = True,
) -> jax.Array:
    """RoIAlign of each box on its own map, the maps stacked as rows of one array.

    Box i reads the ``heights[i] x widths[i]`` map whose row-major pixels are rows
    ``offsets[i] ...`` of ``flat_features``: the form of the FPN levels concatenated, or of a
    box's own channel (``[m * h * w, 1]`` masks with ``offsets = gt_index * h * w``).

    Args:
      flat_features: [rows, c] feature pixels.
      boxes: [n, 4] xyxy boxes in image pixels.
      heights: [n] int height of each box's map.
      widths: [n] int width of each box's map.
      offsets: [n] int first row of each box's map.
      spatial_scales: [n] map pixels per image pixel (1 / stride).
      output_size: bins, an int or a (height, width) tuple (static).
      sampling_ratio: samples a bin along each axis (static, >= 1).
      aligned: the half-pixel convention (see the module docstring).

    Returns:
      [n, out_h, out_w, c] in ``flat_features``' dtype (accumulated in float32); float32 for
      integer features (e.g. uint8 masks, gathered as they are).

    Example:
      >>> flat = jnp.arange(8.0)[:, None]  # two 2x2 maps: 0..3 and 4..7
      >>> out = roi_align_flat(flat, jnp.array([[0.0, 0.0, 2.0, 2.0]] * 2), jnp.array([2, 2]),
      ...     jnp.array([2, 2]), jnp.array([0, 4]), jnp.ones(2), output_size=1)
      >>> out[:, 0, 0, 0]
      Array([1.5, 5.5], dtype=float32)
    """
    out_h, out_w = _pair(output_size)
    ratio = _check_sampling_ratio(sampling_ratio)
    if flat_features.ndim != 2:
        raise ValueError(f"flat_features must be [rows, c], got {flat_features.shape}")
    boxes = jnp.asarray(boxes, jnp.float32)
    if boxes.ndim != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must be [n, 4], got {boxes.shape}")
    start, length = _box_extent(boxes, spatial_scales, aligned)  # [n, 2] each
    rows, wy = _axis_samples(start[:, 1], length[:, 1], jnp.asarray(heights), out_h, ratio)
    cols, wx = _axis_samples(start[:, 0], length[:, 0], jnp.asarray(widths), out_w, ratio)
    widths = jnp.asarray(widths, jnp.int32)[:, None, None, None, None]  # [n, 1, 1, 1, 1]
    offsets = jnp.asarray(offsets, jnp.int32)[:, None, None, None, None]
    index = offsets + rows[:, :, :, None, None] * widths + cols[:, None, None, :, :]
    patch = flat_features[index]  # [n, out_h, 2r, out_w, 2r, c]
    weights = (
        wy[:, :, :, None, None, None] * wx[:, None, None, :, :, None]
    )  # [n, oh, 2r, ow, 2r, 1]
    pooled = jnp.sum(patch.astype(jnp.float32) * weights, axis=(2, 4))  # [n, out_h, out_w, c]
    return _float_output(pooled, flat_features.dtype)


@functools.partial(
    jax.jit,
    static_argnames=("output_size", "spatial_scale", "sampling_ratio", "aligned", "impl"),
)
def roi_align(
    features: jax.Array,
    boxes: jax.Array,
    output_size: int | Sequence[int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = 2,
    aligned: bool = True,
    impl: str = "gather",
) -> jax.Array:
    """RoIAlign of boxes on one feature map (or a batch of maps, each with its boxes).

    Args:
      features: [h, w, c] (boxes [n, 4]) or [b, h, w, c] (boxes [b, n, 4]).
      boxes: xyxy boxes in image pixels (``spatial_scale`` maps them onto ``features``).
      output_size: bins, an int or a (height, width) tuple (static), e.g. 7 (box head) or
        14 (mask head).
      spatial_scale: feature pixels per image pixel, 1 / stride.
      sampling_ratio: samples a bin along each axis (static, >= 1; Detectron2's 0 is not).
      aligned: the half-pixel convention (see the module docstring).
      impl: "gather", "matmul" (``jaxvision.ops.roi_align_matmul``; same values) or "auto"
        (``roi_align_matmul.choose_impl``), static.

    Returns:
      [n, out_h, out_w, c] (or [b, n, out_h, out_w, c]) in the features' dtype.

    Example:
      >>> features = jnp.ones((2, 8, 8, 3))
      >>> roi_align(features, jnp.ones((2, 5, 4)), output_size=(7, 7)).shape
      (2, 5, 7, 7, 3)
    """
    features = jnp.asarray(features)
    boxes = jnp.asarray(boxes)
    if features.ndim == 4:
        if boxes.ndim != 3 or boxes.shape[0] != features.shape[0]:
            raise ValueError(
                f"batched features {features.shape} need boxes [b, n, 4], got {boxes.shape}"
            )
        return jax.vmap(
            lambda f, b: roi_align(f, b, output_size, spatial_scale, sampling_ratio, aligned, impl)
        )(features, boxes)
    if features.ndim != 3:
        raise ValueError(f"features must be [h, w, c] or [b, h, w, c], got {features.shape}")
    h, w, c = features.shape
    n = boxes.shape[0]
    size, ratio = _pair(output_size), _check_sampling_ratio(sampling_ratio)
    if roi_align_matmul.check_impl(impl) == "auto":
        impl = roi_align_matmul.choose_impl([(h, w)], size, ratio)
    if impl == "matmul":
        if boxes.ndim != 2 or boxes.shape[-1] != 4:
            raise ValueError(f"boxes must be [n, 4], got {boxes.shape}")
        boxes = boxes.astype(jnp.float32)
        a_y, a_x = _axis_matrices(boxes, spatial_scale, h, w, size, ratio, aligned)
        stacked = roi_align_matmul.stack_maps([features[None]])  # [1, h, c, w]
        pooled = roi_align_matmul.separable_pool(stacked, a_y[None], a_x[None])[0]
        return _float_output(pooled, features.dtype)  # [n, out_h, out_w, c]
    full = lambda v: jnp.full((n,), v)  # noqa: E731
    return roi_align_flat(
        features.reshape(h * w, c),
        boxes,
        full(h),
        full(w),
        full(0),
        full(spatial_scale),
        output_size,
        sampling_ratio,
        aligned,
    )


@functools.partial(
    jax.jit, static_argnames=("min_level", "max_level", "canonical_size", "canonical_level")
)
def fpn_levels(
    boxes: jax.Array,
    min_level: int,
    max_level: int,
    canonical_size: float = CANONICAL_BOX_SIZE,
    canonical_level: int = CANONICAL_LEVEL,
) -> jax.Array:
    """The pyramid level of each box (FPN eq. 1, as Detectron2's ``assign_boxes_to_levels``).

    ``floor(canonical_level + log2(sqrt(area) / canonical_size))``, clipped to
    ``[min_level, max_level]``.

    Args:
      boxes: [..., 4] xyxy boxes in image pixels.
      min_level: lowest level.
      max_level: highest level.
      canonical_size: box size of ``canonical_level``.
      canonical_level: level of a ``canonical_size`` box.

    Returns:
      [...] int32 levels.

    Example:
      >>> fpn_levels(jnp.array([[0, 0, 32, 32], [0, 0, 224, 224], [0, 0, 900, 900.0]]), 2, 5)
      Array([2, 4, 5], dtype=int32)
    """
    if min_level > max_level:
        raise ValueError(f"min_level {min_level} > max_level {max_level}")
    boxes = jnp.asarray(boxes, jnp.float32)
    wh = jnp.maximum(boxes[..., 2:] - boxes[..., :2], 0.0)  # [..., 2]
    size = jnp.sqrt(wh[..., 0] * wh[..., 1])  # [...]
    level = jnp.floor(canonical_level + jnp.log2(size / canonical_size + _LEVEL_EPS))
    return jnp.clip(level, min_level, max_level).astype(jnp.int32)


def _level_tables(
    pyramid: Mapping[int, jax.Array],
) -> tuple[jax.Array, np.ndarray, np.ndarray, np.ndarray]:
    """The flattened maps [b, rows, c] and each level's (height, width, row offset)."""
    levels = sorted(pyramid)
    flat, heights, widths, offsets = [], [], [], []
    row = 0
    for level in levels:
        b, h, w, c = pyramid[level].shape
        flat.append(pyramid[level].reshape(b, h * w, c))  # [b, h * w, c]
        heights.append(h)
        widths.append(w)
        offsets.append(row)
        row += h * w
    return jnp.concatenate(flat, axis=1), np.array(heights), np.array(widths), np.array(offsets)


@functools.partial(
    jax.jit,
    static_argnames=(
        "output_size",
        "sampling_ratio",
        "aligned",
        "canonical_size",
        "canonical_level",
        "impl",
    ),
)
def multilevel_roi_align(
    pyramid: Mapping[int, jax.Array],
    boxes: jax.Array,
    output_size: int | Sequence[int],
    sampling_ratio: int = 2,
    aligned: bool = True,
    canonical_size: float = CANONICAL_BOX_SIZE,
    canonical_level: int = CANONICAL_LEVEL,
    impl: str = "gather",
) -> jax.Array:
    """RoIAlign of each box on its FPN level (``fpn_levels``), as Detectron2's ROIPooler.

    "gather": every level is gathered from one flattened array, so the cost does not grow
    with the number of levels. "matmul": the levels stacked along the rows, two dense
    matmuls a box (``jaxvision.ops.roi_align_matmul``), the same values.

    Args:
      pyramid: level -> [b, h_l, w_l, c] feature map at stride ``2**level`` (consecutive
        levels, e.g. {2: P2, 3: P3, 4: P4, 5: P5}).
      boxes: [b, n, 4] xyxy boxes in image pixels.
      output_size: bins, an int or a (height, width) tuple (static).
      sampling_ratio: samples a bin along each axis (static, >= 1).
      aligned: the half-pixel convention.
      canonical_size: box size of ``canonical_level`` (see ``fpn_levels``).
      canonical_level: level of a ``canonical_size`` box.
      impl: "gather", "matmul" or "auto" (``roi_align_matmul.choose_impl`` on the levels'
        sizes), static.

    Returns:
      [b, n, out_h, out_w, c] in the pyramid's dtype.

    Example:
      >>> pyramid = {2: jnp.ones((1, 16, 16, 4)), 3: jnp.ones((1, 8, 8, 4))}
      >>> multilevel_roi_align(pyramid, jnp.array([[[0.0, 0.0, 9.0, 9.0]]]), 7).shape
      (1, 1, 7, 7, 4)
    """
    if not pyramid:
        raise ValueError("pyramid must hold at least one level")
    levels = sorted(pyramid)
    if levels != list(range(levels[0], levels[-1] + 1)):
        raise ValueError(f"pyramid levels must be consecutive, got {levels}")
    boxes = jnp.asarray(boxes, jnp.float32)
    b = next(iter(pyramid.values())).shape[0]
    if boxes.ndim != 3 or boxes.shape[0] != b or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must be [b={b}, n, 4], got {boxes.shape}")
    level = fpn_levels(boxes, levels[0], levels[-1], canonical_size, canonical_level)  # [b, n]
    size, ratio = _pair(output_size), _check_sampling_ratio(sampling_ratio)
    if roi_align_matmul.check_impl(impl) == "auto":
        shapes = [pyramid[lvl].shape[1:3] for lvl in levels]
        impl = roi_align_matmul.choose_impl(shapes, size, ratio)
    if impl == "matmul":
        return _multilevel_matmul(pyramid, boxes, level, size, ratio, aligned)
    flat, heights, widths, offsets = _level_tables(pyramid)  # [b, rows, c], [L] each
    index = level - levels[0]  # [b, n]
    scales = np.array([math.ldexp(1.0, -lvl) for lvl in levels], np.float32)  # [L]

    def one_image(features, image_boxes, image_index):  # [rows, c], [n, 4], [n]
        return roi_align_flat(
            features,
            image_boxes,
            jnp.asarray(heights)[image_index],
            jnp.asarray(widths)[image_index],
            jnp.asarray(offsets)[image_index],
            jnp.asarray(scales)[image_index],
            output_size,
            sampling_ratio,
            aligned,
        )

    return jax.vmap(one_image)(flat, boxes, index)


def _multilevel_matmul(
    pyramid: Mapping[int, jax.Array],
    boxes: jax.Array,
    level: jax.Array,
    output_size: tuple[int, int],
    ratio: int,
    aligned: bool,
) -> jax.Array:
    """``multilevel_roi_align``'s matmul form: boxes [b, n, 4] on their levels [b, n].

    A box's A_y is zero outside its level's rows of the stacked maps, and its A_x is its
    level's alone (the other levels' are zeroed before the sum).
    """
    levels = sorted(pyramid)
    b, n = boxes.shape[:2]
    stacked = roi_align_matmul.stack_maps([pyramid[lvl] for lvl in levels])
    widest = stacked.shape[-1]
    flat_boxes = boxes.reshape(b * n, 4)
    a_y, a_x = [], 0.0
    for lvl in levels:
        h, w = pyramid[lvl].shape[1:3]
        on = (level.reshape(b * n) == lvl).astype(jnp.float32)[:, None, None]  # [b * n, 1, 1]
        scale = math.ldexp(1.0, -lvl)
        y, x = _axis_matrices(flat_boxes, scale, h, w, output_size, ratio, aligned, widest)
        a_y.append(y * on)  # [b * n, out_h, h]
        a_x = a_x + x * on  # [b * n, out_w, widest]
    a_y = jnp.concatenate(a_y, axis=-1).reshape(b, n, output_size[0], -1)  # [b, n, oh, rows]
    a_x = a_x.reshape(b, n, output_size[1], widest)
    pooled = roi_align_matmul.separable_pool(stacked, a_y, a_x)  # [b, n, oh, ow, c]
    return _float_output(pooled, next(iter(pyramid.values())).dtype)
