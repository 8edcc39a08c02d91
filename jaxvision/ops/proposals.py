"""Region proposals of an RPN (Ren et al., 2015) in fixed-size buffers, as Detectron2's
``find_top_rpn_proposals``.

Per image: the ``pre_nms_top_k`` best anchors of each pyramid level by objectness, their
decoded boxes clipped to the image, small or non-finite ones dropped, NMS within each level
(``jaxvision.ops.nms.batched_nms`` with the level as the class), and the
``post_nms_top_k`` best survivors over all levels. Every buffer has a static size and a
validity mask; ``jax.vmap`` the functions over a batch.

Anchors are in the order of ``jaxvision.ops.anchors.anchor_grid`` (level-major), so a level
is a contiguous slice whose length ``level_counts`` gives. The functions are jitted with
their sizes and thresholds static (``level_counts`` and ``image_hw`` as tuples).

Example:
  >>> anchors = jnp.array([[0.0, 0.0, 8.0, 8.0], [4.0, 4.0, 12.0, 12.0], [0.0, 0.0, 16.0, 16.0]])
  >>> out = generate_proposals(jnp.array([2.0, 1.0, 3.0]), jnp.zeros((3, 4)), anchors,
  ...     level_counts=(2, 1), image_hw=(16, 16), pre_nms_top_k=2, post_nms_top_k=4)
  >>> out["boxes"].tolist()[:3]
  [[0.0, 0.0, 16.0, 16.0], [0.0, 0.0, 8.0, 8.0], [4.0, 4.0, 12.0, 12.0]]
  >>> out["valid"].tolist()
  [True, True, True, False]
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from jaxvision.ops import anchors as anchor_ops
from jaxvision.ops import boxes as box_ops
from jaxvision.ops import nms

# RPN box-delta weights (Detectron2's RPN.BBOX_REG_WEIGHTS, torchvision's RPN BoxCoder).
RPN_DELTA_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
# Score of a dropped candidate: NMS drops every score <= -inf.
_DROPPED = -math.inf


def level_counts(
    image_size: tuple[int, int], strides: Sequence[int], anchors_per_cell: int
) -> tuple[int, ...]:
    """Anchors of each level of ``anchor_grid`` (``h_l * w_l * anchors_per_cell``), static.

    Example:
      >>> level_counts((64, 64), (4, 8), 3)
      (768, 192)
    """
    sizes = anchor_ops.feature_sizes(image_size, strides)
    return tuple(h * w * anchors_per_cell for h, w in sizes)


@functools.partial(jax.jit, static_argnames=("counts", "k"))
def top_k_per_level(
    scores: jax.Array, counts: Sequence[int], k: int
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The ``min(k, n_l)`` best entries of each contiguous level of ``scores``.

    Args:
      scores: [n] scores, levels one after the other.
      counts: entries of each level (they sum to n).
      k: entries kept a level.

    Returns:
      (scores [K], indices [K] int32 into ``scores``, levels [K] int32 level position), with
      ``K = sum_l min(k, n_l)``, each level's entries score-descending.

    Example:
      >>> top_k_per_level(jnp.array([0.1, 0.9, 0.5, 0.7, 0.2]), (3, 2), 2)[1]
      Array([1, 2, 3, 4], dtype=int32)
    """
    counts = tuple(int(c) for c in counts)
    if sum(counts) != scores.shape[0]:
        raise ValueError(f"level counts {counts} do not sum to the {scores.shape[0]} scores")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    top, indices, levels = [], [], []
    start = 0
    for position, count in enumerate(counts):
        kept = min(k, count)
        values, index = lax.top_k(scores[start : start + count], kept)  # [kept] each
        top.append(values)
        indices.append(index + start)
        levels.append(jnp.full((kept,), position, jnp.int32))
        start += count
    return (
        jnp.concatenate(top),  # [K]
        jnp.concatenate(indices).astype(jnp.int32),  # [K]
        jnp.concatenate(levels),  # [K]
    )


@functools.partial(
    jax.jit,
    static_argnames=(
        "level_counts",
        "image_hw",
        "pre_nms_top_k",
        "post_nms_top_k",
        "nms_iou",
        "min_size",
        "delta_weights",
        "nms_method",
    ),
)
def generate_proposals(
    objectness: jax.Array,
    deltas: jax.Array,
    anchors: jax.Array,
    level_counts: Sequence[int],
    image_hw: tuple[int, int],
    *,
    pre_nms_top_k: int,
    post_nms_top_k: int,
    nms_iou: float = 0.7,
    min_size: float = 0.0,
    delta_weights: tuple[float, float, float, float] = RPN_DELTA_WEIGHTS,
    nms_method: str | None = None,
) -> dict[str, jax.Array]:
    """One image's proposals: per-level top-k, decode, clip, per-level NMS, top-k.

    Args:
      objectness: [n] objectness logits of the anchors.
      deltas: [n, 4] box deltas against the anchors.
      anchors: [n, 4] xyxy anchors in image pixels, levels contiguous.
      level_counts: anchors of each level (``level_counts(...)``), static.
      image_hw: (height, width) the boxes are clipped to.
      pre_nms_top_k: candidates kept a level before NMS (Detectron2: 2000 train, 1000 test).
      post_nms_top_k: proposals returned (Detectron2: 1000 an image).
      nms_iou: IoU above which a candidate of the same level is suppressed.
      min_size: boxes whose width or height is not above it are dropped.
      delta_weights: the box coder's weights.
      nms_method: ``jaxvision.ops.nms``'s "loop" or "matrix" (None: by backend).

    Returns:
      ``boxes`` [post_nms_top_k, 4] xyxy, ``scores`` [post_nms_top_k] objectness logits,
      score-descending, ``valid`` [post_nms_top_k] bool; padding is 0 with valid False.
    """
    n = anchors.shape[0]
    if objectness.shape != (n,) or deltas.shape != (n, 4):
        raise ValueError(
            f"objectness {objectness.shape} and deltas {deltas.shape} must be [{n}] and "
            f"[{n}, 4] for {n} anchors"
        )
    scores, index, levels = top_k_per_level(
        objectness.astype(jnp.float32), level_counts, pre_nms_top_k
    )  # [K] each
    boxes = box_ops.decode(deltas[index], anchors[index], delta_weights)  # [K, 4]
    boxes = box_ops.clip(boxes, *image_hw)  # [K, 4]
    keep = box_ops.is_valid(boxes, min_size) & jnp.all(jnp.isfinite(boxes), axis=-1)
    keep &= jnp.isfinite(scores)  # [K]
    scores = jnp.where(keep, scores, _DROPPED)  # [K]
    boxes = jnp.where(keep[:, None], boxes, 0.0)  # [K, 4]
    chosen, valid = nms.batched_nms(
        boxes,
        scores,
        levels,
        iou_threshold=nms_iou,
        max_outputs=post_nms_top_k,
        method=nms_method,
    )  # [post] each
    return {
        "boxes": jnp.where(valid[:, None], boxes[chosen], 0.0),  # [post, 4]
        "scores": jnp.where(valid, scores[chosen], 0.0),  # [post]
        "valid": valid,  # [post]
    }
