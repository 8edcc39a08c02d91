"""Training targets of a two-stage detector: RPN anchors, sampled RoIs and mask targets.

Everything has static shapes: a fixed number of samples an image with a validity mask, and
positives first. Matching reuses ``jaxvision.ops.matching.match_anchors`` (Detectron2's
``Matcher``); sampling is Detectron2's ``subsample_labels`` (at most
``positive_fraction * num_samples`` random positives, random negatives for the rest).
Ground truth is padded to ``m`` boxes with a validity mask; an image without any valid box
samples negatives only. One image a call; ``jax.vmap`` over a batch (one key an image). The
functions are jitted with their sizes and thresholds static.

Example:
  >>> foreground = jnp.array([True, False, True, False, False])
  >>> index, valid, positive = balanced_sample(foreground, ~foreground, jax.random.key(0),
  ...                                          num_samples=4, positive_fraction=0.25)
  >>> int(positive.sum()), bool(foreground[index[0]]), valid.tolist()
  (1, True, [True, True, True, True])
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from jaxvision.ops import boxes as box_ops
from jaxvision.ops import matching, roi_align_matmul
from jaxvision.ops.proposals import RPN_DELTA_WEIGHTS
from jaxvision.ops.roi_align import (
    _axis_samples,
    _box_extent,
    _check_sampling_ratio,
    _pair,
    roi_align_flat,
)

# Box-delta weights of the RoI box head (Detectron2's ROI_BOX_HEAD.BBOX_REG_WEIGHTS).
ROI_DELTA_WEIGHTS = (10.0, 10.0, 5.0, 5.0)
# Priorities of the sampler: chosen positives, then negatives, each in random order within.
_POSITIVE_PRIORITY = 2.0
_NEGATIVE_PRIORITY = 1.0
# Mask-target pixels at or above this after RoIAlign are foreground (Detectron2's bitmasks).
MASK_TARGET_THRESHOLD = 0.5


@functools.partial(jax.jit, static_argnames=("num_samples", "positive_fraction"))
def balanced_sample(
    foreground: jax.Array,
    background: jax.Array,
    rng: jax.Array,
    num_samples: int,
    positive_fraction: float,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """A fixed number of random candidates: positives first, then negatives.

    Args:
      foreground: [n] bool, candidates that may be positives.
      background: [n] bool, candidates that may be negatives (disjoint from foreground).
      rng: a key.
      num_samples: static number of samples.
      positive_fraction: at most ``int(num_samples * positive_fraction)`` positives; the
        rest are negatives, as many as there are.

    Returns:
      (indices [num_samples] int32 into the candidates, 0 on padding; valid [num_samples]
      bool; positive [num_samples] bool). Positives come first.
    """
    n = foreground.shape[0]
    if not 0.0 <= positive_fraction <= 1.0:
        raise ValueError(f"positive_fraction must be in [0, 1], got {positive_fraction}")
    max_positives = min(int(num_samples * positive_fraction), n)
    noise = jax.random.uniform(rng, (n,))  # [n] in [0, 1)
    chosen = jnp.zeros((n,), bool)
    if max_positives > 0:
        top, index = lax.top_k(jnp.where(foreground, noise, -1.0), max_positives)
        chosen = chosen.at[index].set(top >= 0.0)  # [n] the random positives kept
    priority = jnp.where(
        chosen,
        _POSITIVE_PRIORITY + noise,
        jnp.where(background & ~foreground, _NEGATIVE_PRIORITY + noise, -math.inf),
    )  # [n]
    if n < num_samples:  # pad with never-chosen candidates so that top_k has enough
        priority = jnp.concatenate([priority, jnp.full((num_samples - n,), -math.inf)])
    top, index = lax.top_k(priority, num_samples)  # [num_samples] each
    valid = top > -math.inf
    index = jnp.where(valid, index, 0).astype(jnp.int32)
    return index, valid, top >= _POSITIVE_PRIORITY


@functools.partial(
    jax.jit,
    static_argnames=(
        "num_samples",
        "positive_fraction",
        "foreground_iou",
        "background_iou",
        "delta_weights",
    ),
)
def rpn_targets(
    anchors: jax.Array,
    gt_boxes: jax.Array,
    gt_valid: jax.Array,
    rng: jax.Array,
    *,
    num_samples: int = 256,
    positive_fraction: float = 0.5,
    foreground_iou: float = 0.7,
    background_iou: float = 0.3,
    delta_weights: tuple[float, float, float, float] = RPN_DELTA_WEIGHTS,
) -> dict[str, jax.Array]:
    """The anchors an RPN trains on, and their targets (Detectron2's RPN defaults).

    IoU >= ``foreground_iou`` is positive (and each gt's best anchors), < ``background_iou``
    negative, in between ignored.

    Args:
      anchors: [n, 4] xyxy anchors in image pixels.
      gt_boxes: [m, 4] xyxy gt boxes.
      gt_valid: [m] bool, the gts to match.
      rng: a key.
      num_samples: anchors sampled an image.
      positive_fraction: at most this fraction of them positive.
      foreground_iou: lowest IoU of a positive.
      background_iou: IoU below which an anchor is negative.
      delta_weights: the box coder's weights.

    Returns:
      ``indices`` [S] int32 anchors, ``valid`` [S], ``positive`` [S] bool,
      ``box_targets`` [S, 4] encoded deltas of the matched gt (meaningful on positives).
    """
    iou = box_ops.pairwise_iou(anchors, gt_boxes)  # [n, m]
    matched, label = matching.match_anchors(
        iou, gt_valid, foreground_iou, background_iou, allow_low_quality=True
    )  # [n] each
    index, valid, positive = balanced_sample(
        label == matching.FOREGROUND,
        label == matching.BACKGROUND,
        rng,
        num_samples,
        positive_fraction,
    )  # [S] each
    targets = box_ops.encode(gt_boxes[matched[index]], anchors[index], delta_weights)  # [S, 4]
    return {"indices": index, "valid": valid, "positive": positive, "box_targets": targets}


@functools.partial(
    jax.jit,
    static_argnames=(
        "num_classes",
        "num_samples",
        "positive_fraction",
        "foreground_iou",
        "background_iou",
        "append_gt",
        "delta_weights",
    ),
)
def sample_rois(
    proposals: jax.Array,
    proposal_valid: jax.Array,
    gt_boxes: jax.Array,
    gt_labels: jax.Array,
    gt_valid: jax.Array,
    rng: jax.Array,
    *,
    num_classes: int,
    num_samples: int = 512,
    positive_fraction: float = 0.25,
    foreground_iou: float = 0.5,
    background_iou: float = 0.5,
    append_gt: bool = True,
    delta_weights: tuple[float, float, float, float] = ROI_DELTA_WEIGHTS,
) -> dict[str, jax.Array]:
    """The RoIs a box head trains on, with their class and box targets (Detectron2's
    ``label_and_sample_proposals``).

    The gt boxes join the proposals (``append_gt``); a RoI with IoU >= ``foreground_iou``
    with a valid gt is positive with that gt's class, one below ``background_iou`` negative
    (class ``num_classes``, the background). Proposals carry no gradient.

    Args:
      proposals: [p, 4] xyxy proposals.
      proposal_valid: [p] bool.
      gt_boxes: [m, 4] xyxy gt boxes.
      gt_labels: [m] int class ids in [0, num_classes).
      gt_valid: [m] bool, the gts to match.
      rng: a key.
      num_classes: object classes (the background is class ``num_classes``).
      num_samples: RoIs sampled an image.
      positive_fraction: at most this fraction of them positive.
      foreground_iou: lowest IoU of a positive.
      background_iou: IoU below which a RoI is negative.
      append_gt: add the gt boxes to the candidates.
      delta_weights: the box coder's weights.

    Returns:
      ``rois`` [S, 4], ``valid`` [S], ``positive`` [S] bool (the first ones), ``labels``
      [S] int32 (``num_classes`` on negatives and padding), ``matched_gt`` [S] int32,
      ``box_targets`` [S, 4] encoded deltas of the matched gt.
    """
    candidates = lax.stop_gradient(proposals.astype(jnp.float32))  # [p, 4]
    candidate_valid = proposal_valid  # [p]
    if append_gt:
        candidates = jnp.concatenate([candidates, gt_boxes.astype(jnp.float32)])  # [p + m, 4]
        candidate_valid = jnp.concatenate([proposal_valid, gt_valid])  # [p + m]
    iou = box_ops.pairwise_iou(candidates, gt_boxes)  # [p + m, m]
    matched, label = matching.match_anchors(
        iou, gt_valid, foreground_iou, background_iou, allow_low_quality=False
    )  # [p + m] each
    index, valid, positive = balanced_sample(
        (label == matching.FOREGROUND) & candidate_valid,
        (label == matching.BACKGROUND) & candidate_valid,
        rng,
        num_samples,
        positive_fraction,
    )  # [S] each
    rois = jnp.where(valid[:, None], candidates[index], 0.0)  # [S, 4]
    matched = matched[index]  # [S]
    labels = jnp.where(positive, gt_labels[matched], num_classes).astype(jnp.int32)  # [S]
    targets = box_ops.encode(gt_boxes[matched], rois, delta_weights)  # [S, 4]
    return {
        "rois": rois,
        "valid": valid,
        "positive": positive,
        "labels": labels,
        "matched_gt": matched,
        "box_targets": targets,
    }


@functools.partial(jax.jit, static_argnames=("mask_size", "sampling_ratio", "impl"))
def mask_targets(
    gt_masks: jax.Array,
    matched_gt: jax.Array,
    rois: jax.Array,
    mask_size: int | Sequence[int] = 28,
    sampling_ratio: int = 2,
    impl: str = "gather",
) -> jax.Array:
    """Each RoI's matched gt mask cropped and resized to ``mask_size`` (RoIAlign, >= 0.5).

    Only the RoI's own instance is read (no [S, H, W] copy of the masks). "gather": the
    masks are one flat array and each RoI gathers its samples from its gt's pixels
    (``roi_align_flat``). "matmul": each RoI gathers the whole mask rows its samples read,
    weights them, and a matmul does the columns (``_crops_by_rows``); the same RoIAlign
    values up to float rounding, so a pixel within rounding of 0.5 may differ.

    Args:
      gt_masks: [m, h, w] instance masks of the image (nonzero inside), any dtype.
      matched_gt: [S] int gt index of each RoI.
      rois: [S, 4] xyxy RoIs in the masks' pixels.
      mask_size: output size, an int or a (height, width) tuple (static).
      sampling_ratio: RoIAlign samples a bin along each axis.
      impl: "gather", "matmul" or "auto" (``roi_align_matmul.choose_rows_impl``), static.

    Returns:
      [S, mask_h, mask_w] float32 targets in {0, 1}.

    Example:
      >>> masks = jnp.zeros((2, 8, 8), jnp.uint8).at[1, :, :4].set(1)  # gt 1: left half
      >>> t = mask_targets(masks, jnp.array([1]), jnp.array([[0.0, 0.0, 8.0, 8.0]]), 2)
      >>> t[0].tolist()
      [[1.0, 0.0], [1.0, 0.0]]
    """
    if gt_masks.ndim != 3:
        raise ValueError(f"gt_masks must be [m, h, w], got {gt_masks.shape}")
    m, h, w = gt_masks.shape
    s = rois.shape[0]
    size = _pair(mask_size)
    if m == 0:
        return jnp.zeros((s, *size), jnp.float32)
    if roi_align_matmul.check_impl(impl) == "auto":
        impl = roi_align_matmul.choose_rows_impl(w, size, _check_sampling_ratio(sampling_ratio))
    if impl == "matmul":
        sampling_ratio = _check_sampling_ratio(sampling_ratio)
        binary = (gt_masks != 0).astype(jnp.uint8)  # [m, h, w]
        crops = _crops_by_rows(binary, matched_gt, lax.stop_gradient(rois), size, sampling_ratio)
        return (crops >= MASK_TARGET_THRESHOLD).astype(jnp.float32)
    binary = (gt_masks != 0).astype(jnp.uint8).reshape(m * h * w, 1)  # [m * h * w, 1]
    full = lambda v: jnp.full((s,), v, jnp.int32)  # noqa: E731
    crops = roi_align_flat(
        binary,
        lax.stop_gradient(rois),
        full(h),
        full(w),
        jnp.asarray(matched_gt, jnp.int32) * (h * w),
        jnp.ones((s,), jnp.float32),
        mask_size,
        sampling_ratio,
        aligned=True,
    )  # [S, mh, mw, 1]
    return (crops[..., 0] >= MASK_TARGET_THRESHOLD).astype(jnp.float32)


def _crops_by_rows(
    masks: jax.Array,
    owner: jax.Array,
    boxes: jax.Array,
    size: tuple[int, int],
    sampling_ratio: int,
) -> jax.Array:
    """Aligned RoIAlign of boxes [n, 4] on their own masks [m, h, w]: [n, out_h, out_w] f32.

    Each box gathers the 2 * ``sampling_ratio`` mask rows of every output row and sums
    them with their bilinear weights; the columns are then one matmul with the dense
    column weights (``roi_align_matmul.axis_matrix``).
    """
    _, h, w = masks.shape
    n = boxes.shape[0]
    start, length = _box_extent(boxes.astype(jnp.float32), 1.0, aligned=True)  # [n, 2] each
    rows, wy = _axis_samples(start[:, 1], length[:, 1], jnp.full((n,), h), size[0], sampling_ratio)
    cols, wx = _axis_samples(start[:, 0], length[:, 0], jnp.full((n,), w), size[1], sampling_ratio)
    owner = jnp.asarray(owner, jnp.int32)[:, None, None]  # [n, 1, 1]
    picked = masks[owner, rows].astype(jnp.float32)  # [n, out_h, 2r, w]
    pooled_rows = jnp.einsum("nyrw,nyr->nyw", picked, wy)  # [n, out_h, w]
    a_x = roi_align_matmul.axis_matrix(cols, wx, w)  # [n, out_w, w]
    return jnp.einsum("nyw,nxw->nyx", pooled_rows, a_x)  # [n, out_h, out_w]
