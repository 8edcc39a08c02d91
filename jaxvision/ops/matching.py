"""Assignment of ground-truth boxes to anchors (RetinaNet) and to points (FCOS).

Ground truth is padded to a fixed ``max_boxes`` with a validity mask ``gt_mask``; padded boxes
never match, and an image without any valid box gives all-background targets. Every function
works on one image with static shapes; ``jax.vmap`` it over a batch.

Example:
  >>> iou = jnp.array([[0.7, 0.1], [0.45, 0.2], [0.1, 0.3]])  # [3 anchors, 2 gts]
  >>> match_anchors(iou, jnp.array([True, True]))
  (Array([0, 0, 1], dtype=int32), Array([ 1, -1,  1], dtype=int32))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxvision.ops import boxes as box_ops

FOREGROUND = 1
BACKGROUND = 0
IGNORE = -1
# IoU given to padded gts: below any real IoU, so they never win an argmax.
_PADDED_IOU = -1.0


def match_anchors(
    iou: jax.Array,
    gt_mask: jax.Array,
    foreground_iou: float = 0.5,
    background_iou: float = 0.4,
    allow_low_quality: bool = True,
) -> tuple[jax.Array, jax.Array]:
    """Matches anchors to ground truth by IoU (torchvision / Detectron2 ``Matcher``).

    An anchor's gt is its highest-IoU valid gt (ties: the lowest index). Its label is
    foreground when that IoU >= ``foreground_iou``, background when < ``background_iou``,
    ignored in between. With ``allow_low_quality``, each valid gt's highest-IoU anchors (ties
    included) become foreground too, when that IoU is > 0; as in torchvision they keep their own
    highest-IoU gt as ``matched_gt``.

    Args:
      iou: [n_anchors, m] IoU of every anchor with every (padded) gt.
      gt_mask: [m] bool, True for real gts.
      foreground_iou: lowest IoU of a foreground match.
      background_iou: IoU below which an anchor is background (<= ``foreground_iou``).
      allow_low_quality: whether to add each gt's best anchors as foreground.

    Returns:
      (matched_gt [n_anchors] int32, the gt index of each anchor, 0 where there is no valid gt;
      match_labels [n_anchors] int32: 1 foreground, 0 background, -1 ignored).

    Example:
      >>> match_anchors(jnp.zeros((4, 0)), jnp.zeros((0,), bool))[1]
      Array([0, 0, 0, 0], dtype=int32)
    """
    if background_iou > foreground_iou:
        raise ValueError(
            f"background_iou ({background_iou}) must be <= foreground_iou ({foreground_iou})"
        )
    iou = jnp.asarray(iou)
    gt_mask = jnp.asarray(gt_mask, bool)
    if iou.ndim != 2 or gt_mask.shape != iou.shape[1:]:
        raise ValueError(f"iou must be [n, m] and gt_mask [m], got {iou.shape}, {gt_mask.shape}")
    n, m = iou.shape
    if m == 0:
        return jnp.zeros((n,), jnp.int32), jnp.full((n,), BACKGROUND, jnp.int32)
    masked = jnp.where(gt_mask[None, :], iou, _PADDED_IOU)  # [n, m]
    matched_gt = jnp.argmax(masked, axis=1).astype(jnp.int32)  # [n]
    best_iou = jnp.max(masked, axis=1)  # [n]
    labels = jnp.where(
        best_iou >= foreground_iou,
        FOREGROUND,
        jnp.where(best_iou < background_iou, BACKGROUND, IGNORE),
    ).astype(jnp.int32)  # [n]
    if allow_low_quality:
        best_per_gt = jnp.max(masked, axis=0)  # [m]
        is_best = (masked == best_per_gt[None, :]) & (best_per_gt > 0)[None, :]  # [n, m]
        is_best = is_best & gt_mask[None, :]
        labels = jnp.where(jnp.any(is_best, axis=1), FOREGROUND, labels)  # [n]
    has_gt = jnp.any(gt_mask)
    matched_gt = jnp.where(has_gt, matched_gt, 0)  # [n]
    return matched_gt, labels


def _level_ranges(
    point_strides: jax.Array,
    strides: Sequence[int],
    size_ranges: Sequence[tuple[float, float]],
) -> tuple[jax.Array, jax.Array]:
    """[n] lower and upper size bounds of each point's level (empty range if no level)."""
    if len(size_ranges) != len(strides):
        raise ValueError(
            f"size_ranges ({len(size_ranges)}) must have one (lo, hi) a stride ({len(strides)})"
        )
    lo = jnp.full(point_strides.shape, math.inf, jnp.float32)  # [n]
    hi = jnp.full(point_strides.shape, -math.inf, jnp.float32)  # [n]
    for stride, (range_lo, range_hi) in zip(strides, size_ranges, strict=True):
        at_level = point_strides == stride  # [n]
        lo = jnp.where(at_level, range_lo, lo)
        hi = jnp.where(at_level, range_hi, hi)
    return lo, hi


def fcos_targets(
    points: jax.Array,
    point_strides: jax.Array,
    gt_boxes: jax.Array,
    gt_mask: jax.Array,
    size_ranges: Sequence[tuple[float, float]],
    strides: Sequence[int],
    center_radius: float = 1.5,
) -> tuple[jax.Array, jax.Array]:
    """FCOS point assignment with centre sampling (Tian et al. 2019; AdelaiDet's rules).

    A point is a candidate for a valid gt when it lies strictly inside the gt box, strictly
    inside the square of half-side ``center_radius * stride`` around the gt centre (clipped to
    the box), and ``max(l, t, r, b)`` lies in ``[lo, hi]`` of its level's size range. Among
    candidates the gt of smallest area wins (ties: the lowest index).

    Args:
      points: [n, 2] (x, y) points, e.g. from ``anchors.point_grid``.
      point_strides: [n] stride of each point's level.
      gt_boxes: [m, 4] xyxy gt boxes in the points' (pixel) coordinates.
      gt_mask: [m] bool, True for real gts.
      size_ranges: one (lo, hi) a level, e.g. ((0, 64), (64, 128), (128, math.inf)).
      strides: the stride of each level, in the order of ``size_ranges``.
      center_radius: half-side of the sampling square in strides; ``math.inf`` disables
        centre sampling (the whole box).

    Returns:
      (matched_gt [n] int32, 0 for negatives; positive [n] bool).

    Example:
      >>> points, point_strides = jnp.array([[4.0, 4.0], [12.0, 4.0]]), jnp.array([8.0, 8.0])
      >>> fcos_targets(points, point_strides, jnp.array([[0.0, 0.0, 8.0, 8.0]]),
      ...              jnp.array([True]), ((0, math.inf),), (8,))
      (Array([0, 0], dtype=int32), Array([ True, False], dtype=bool))
    """
    points = jnp.asarray(points, jnp.float32)
    point_strides = jnp.asarray(point_strides, jnp.float32)
    gt_boxes = jnp.asarray(gt_boxes, jnp.float32)
    gt_mask = jnp.asarray(gt_mask, bool)
    n, m = points.shape[0], gt_boxes.shape[0]
    if points.shape != (n, 2) or point_strides.shape != (n,):
        raise ValueError(
            f"points must be [n, 2], point_strides [n]: {points.shape}, {point_strides.shape}"
        )
    if gt_boxes.shape != (m, 4) or gt_mask.shape != (m,):
        raise ValueError(f"gt_boxes must be [m, 4], gt_mask [m]: {gt_boxes.shape}, {gt_mask.shape}")
    if m == 0:
        return jnp.zeros((n,), jnp.int32), jnp.zeros((n,), bool)
    lo, hi = _level_ranges(point_strides, strides, size_ranges)  # [n] each

    distances = box_ops.boxes_to_distances(points[:, None, :], gt_boxes[None, :, :])  # [n, m, 4]
    inside_box = jnp.min(distances, axis=-1) > 0  # [n, m]
    max_distance = jnp.max(distances, axis=-1)  # [n, m]
    in_range = (max_distance >= lo[:, None]) & (max_distance <= hi[:, None])  # [n, m]

    center = 0.5 * (gt_boxes[:, :2] + gt_boxes[:, 2:])  # [m, 2]
    radius = (center_radius * point_strides)[:, None, None]  # [n, 1, 1]
    region_lo = jnp.maximum(center[None] - radius, gt_boxes[None, :, :2])  # [n, m, 2]
    region_hi = jnp.minimum(center[None] + radius, gt_boxes[None, :, 2:])  # [n, m, 2]
    region = jnp.concatenate([region_lo, region_hi], axis=-1)  # [n, m, 4]
    inside_center = (
        jnp.min(box_ops.boxes_to_distances(points[:, None, :], region), axis=-1) > 0
    )  # [n, m]

    candidate = inside_box & inside_center & in_range & gt_mask[None, :]  # [n, m]
    areas = jnp.where(candidate, box_ops.area(gt_boxes)[None, :], math.inf)  # [n, m]
    matched_gt = jnp.argmin(areas, axis=1).astype(jnp.int32)  # [n]
    positive = jnp.any(candidate, axis=1)  # [n]
    return jnp.where(positive, matched_gt, 0), positive
