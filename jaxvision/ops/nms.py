"""Greedy non-maximum suppression inside jit: static output size, no host round trip.

Greedy NMS visits boxes by score (ties: the lowest index), keeps a box unless a kept box
(in class-aware NMS, of its class) overlaps it by IoU > ``iou_threshold``, and stops at
``max_outputs``; the result equals torchvision's ``nms`` / ``batched_nms`` truncated to
``max_outputs``. Two methods compute it (``nms_method``):

- "loop" (the CPU, and accelerators above ``MAX_MATRIX_NMS_BOXES`` candidates): a
  ``lax.while_loop`` of at most ``max_outputs`` steps; each takes the highest remaining
  score, records it and removes what it suppresses. O(n) a step, no n x n matrix, so 10,000
  candidates are cheap.
- "matrix" (GPUs and TPUs): the [n, n] suppression matrix of the sorted candidates and a
  fixed-point iteration over it (``_greedy_nms_matrix``), a few fused passes instead of one
  launch-bound step per kept box (``python -m benchmarks.detection_postprocess``; figures in
  benchmarks/RESULTS.md, "Detection post-processing").

Dense detectors first keep the ``pre_nms_top_k`` best (box, class) pairs: ``top_k_pairs``
finds them among the best rows, as one top-k over all pairs would (exactly, for NaN-free
scores).

Outputs have the static size ``max_outputs``: kept indices in selection order (score
descending), then padding (index 0, ``valid`` False). All functions handle one image; batch
them with ``jax.vmap`` (the loop then runs until every image is done).

Example:
  >>> boxes = jnp.array([[0.0, 0.0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]])
  >>> nms(boxes, jnp.array([0.9, 0.8, 0.7]), iou_threshold=0.5, max_outputs=4)
  (Array([0, 2, 0, 0], dtype=int32), Array([ True,  True, False, False], dtype=bool))
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

from jaxvision.ops import boxes as box_ops

# Score of a removed (suppressed, selected or below-threshold) candidate.
_REMOVED = -math.inf
# `top_k_pairs` ranks rows first from this many pairs, else one top-k over all pairs
# [python -m benchmarks.detection_postprocess].
MIN_PAIRS_TO_RANK_ROWS = 2**18
# Accelerators take the [n, n] matrix NMS up to this many candidates, 16 MiB of booleans an image.
MAX_MATRIX_NMS_BOXES = 4096
NMS_METHODS = ("loop", "matrix")


def _check_inputs(boxes: jax.Array, scores: jax.Array, max_outputs: int) -> None:
    if boxes.ndim != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must be [n, 4], got {boxes.shape}")
    if scores.shape != boxes.shape[:1]:
        raise ValueError(f"scores must be [n] for boxes {boxes.shape}, got {scores.shape}")
    if max_outputs < 0:
        raise ValueError(f"max_outputs must be >= 0, got {max_outputs}")


def nms_method(num_boxes: int, backend: str | None = None) -> str:
    """How the greedy NMS is computed for ``num_boxes`` candidates: "loop" or "matrix".

    Both give the same result, up to IoU rounding at the threshold. "loop" takes one box a
    step (argmax, then IoU with all boxes): O(n) memory, but on a GPU each of its up to
    ``max_outputs`` steps costs a few kernel launches and a predicate read by the host.
    "matrix" sorts once, builds the [n, n] suppression matrix, and resolves the greedy order
    by a fixed-point iteration of one matrix-vector pass each (see `_greedy_nms_matrix`), a
    handful of passes for real detections (more for long chains of overlapping boxes). It is
    used on accelerators for up to ``MAX_MATRIX_NMS_BOXES`` candidates; the CPU keeps the
    loop, whose arithmetic is n times smaller.
    """
    backend = backend or jax.default_backend()
    if backend != "cpu" and num_boxes <= MAX_MATRIX_NMS_BOXES:
        return "matrix"
    return "loop"


def _greedy_nms(
    boxes: jax.Array,
    scores: jax.Array,
    classes: jax.Array | None,
    iou_threshold: float,
    max_outputs: int,
    score_threshold: float,
    method: str | None,
) -> tuple[jax.Array, jax.Array]:
    """The shared greedy NMS; ``classes`` None for class-agnostic NMS."""
    if method not in NMS_METHODS + (None,):
        raise ValueError(f"method must be one of {NMS_METHODS} or None, got {method!r}")
    boxes = jnp.asarray(boxes)
    scores = jnp.asarray(scores)
    _check_inputs(boxes, scores, max_outputs)
    n = boxes.shape[0]
    if n == 0 or max_outputs == 0:
        return jnp.zeros((max_outputs,), jnp.int32), jnp.zeros((max_outputs,), bool)
    compute_dtype = jnp.promote_types(scores.dtype, jnp.float32)
    # NaN scores fail the comparison and are removed.
    remaining = jnp.where(scores > score_threshold, scores, _REMOVED).astype(compute_dtype)  # [n]
    if (method or nms_method(n)) == "matrix":
        return _greedy_nms_matrix(boxes, remaining, classes, iou_threshold, max_outputs)

    def cond(state):
        step, remaining, _, _ = state
        return (step < max_outputs) & (jnp.max(remaining) > _REMOVED)

    def body(state):
        step, remaining, indices, valid = state
        best = jnp.argmax(remaining).astype(jnp.int32)  # [] first of ties: lowest index
        overlap = box_ops.iou(boxes, boxes[best])  # [n]
        suppress = overlap > iou_threshold  # [n]
        if classes is not None:
            suppress = suppress & (classes == classes[best])
        remaining = jnp.where(suppress, _REMOVED, remaining).at[best].set(_REMOVED)  # [n]
        return step + 1, remaining, indices.at[step].set(best), valid.at[step].set(True)

    state = (
        jnp.int32(0),
        remaining,
        jnp.zeros((max_outputs,), jnp.int32),
        jnp.zeros((max_outputs,), bool),
    )
    _, _, indices, valid = lax.while_loop(cond, body, state)
    return indices, valid


def _greedy_nms_matrix(
    boxes: jax.Array,
    remaining: jax.Array,
    classes: jax.Array | None,
    iou_threshold: float,
    max_outputs: int,
) -> tuple[jax.Array, jax.Array]:
    """The greedy NMS from the [n, n] suppression matrix (the loop's result, up to IoU
    rounding: IoU within an ulp of the threshold can round the other way here).

    Candidates sorted by (score descending, index ascending), the loop's visiting order; then
    ``keep[i] = alive[i] and no kept j < i suppresses i``. That recursion is solved by
    iterating ``keep <- alive & ~any_j(keep[j] & suppresses[j, i])`` from ``keep = alive``:
    after t passes the first t entries are final (each depends only on earlier ones), and the
    greedy result is the only fixed point, so the first pass that changes nothing ends it,
    as does the first pass after which the final entries hold ``max_outputs`` kept boxes.
    Passes: the length of the longest chain of suppressions, a handful for real detections;
    at worst (boxes in a row, each overlapping the next) about the position of the
    ``max_outputs``-th kept box, each a pass over the [n, n] matrix.

    Args:
      boxes: [n, 4] xyxy.
      remaining: [n] scores, ``_REMOVED`` for dropped candidates.
      classes: [n] or None.
      iou_threshold, max_outputs: as for ``nms``.

    Returns:
      (indices [max_outputs] int32, valid [max_outputs] bool), as the loop's.
    """
    n = boxes.shape[0]
    order = jnp.argsort(-remaining, stable=True)  # [n] score descending, ties: lower index
    alive = remaining[order] > _REMOVED  # [n]
    sorted_boxes = boxes[order]  # [n, 4]
    suppresses = box_ops.pairwise_iou(sorted_boxes, sorted_boxes) > iou_threshold  # [n, n]
    if classes is not None:
        sorted_classes = classes[order]  # [n]
        suppresses &= sorted_classes[:, None] == sorted_classes[None, :]
    earlier = jnp.arange(n)[:, None] < jnp.arange(n)[None, :]  # [n, n]: row j before column i
    suppresses &= earlier & alive[:, None]

    def step(keep):  # [n] -> [n]
        return alive & ~jnp.any(suppresses & keep[:, None], axis=0)

    def cond(state):
        keep, previous, passes = state
        # After `passes` passes the first `passes` entries are final; once they hold
        # max_outputs kept boxes, the output is known.
        settled = jnp.sum(keep & (jnp.arange(n) < passes)) >= max_outputs
        return jnp.any(keep != previous) & ~settled

    def body(state):
        keep, _, passes = state
        return step(keep), keep, passes + 1

    keep, _, _ = lax.while_loop(cond, body, (step(alive), alive, jnp.int32(1)))
    (position,) = jnp.nonzero(keep, size=max_outputs, fill_value=0)  # [max_outputs]
    valid = jnp.arange(max_outputs) < jnp.sum(keep)  # [max_outputs]
    indices = jnp.where(valid, order[position], 0).astype(jnp.int32)  # [max_outputs]
    return indices, valid


def nms(
    boxes: jax.Array,
    scores: jax.Array,
    *,
    iou_threshold: float,
    max_outputs: int,
    score_threshold: float = -math.inf,
    method: str | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Class-agnostic greedy NMS with a static output size.

    Args:
      boxes: [n, 4] xyxy boxes.
      scores: [n] scores; candidates need ``score > score_threshold`` (so with the default
        threshold, -inf and NaN scores are dropped).
      iou_threshold: a kept box removes the remaining boxes whose IoU with it is > this.
      max_outputs: static number of outputs.
      score_threshold: candidates at or below it are dropped before NMS.
      method: "loop" or "matrix" (the same result up to IoU rounding; see ``nms_method``),
        None to choose by backend and size.

    Returns:
      (indices [max_outputs] int32 into ``boxes``, score descending, 0 where padded;
      valid [max_outputs] bool).

    Example:
      >>> boxes = jnp.array([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
      >>> nms(boxes, jnp.array([0.5, 0.5]), iou_threshold=0.5, max_outputs=2)
      (Array([0, 0], dtype=int32), Array([ True, False], dtype=bool))
    """
    return _greedy_nms(boxes, scores, None, iou_threshold, max_outputs, score_threshold, method)


def batched_nms(
    boxes: jax.Array,
    scores: jax.Array,
    classes: jax.Array,
    *,
    iou_threshold: float,
    max_outputs: int,
    score_threshold: float = -math.inf,
    method: str | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Class-aware greedy NMS: boxes of different classes never suppress each other.

    Equivalent to NMS per class followed by a merge by score (torchvision's ``batched_nms``),
    computed in one loop that compares classes instead of offsetting coordinates.

    Args:
      boxes: [n, 4] xyxy boxes.
      scores: [n] scores.
      classes: [n] integer class ids.
      iou_threshold: IoU above which a box of the same class is suppressed.
      max_outputs: static number of outputs.
      score_threshold: candidates at or below it are dropped before NMS.
      method: "loop" or "matrix" (the same result up to IoU rounding; see ``nms_method``),
        None to choose by backend and size.

    Returns:
      (indices [max_outputs] int32, score descending, 0 where padded; valid [max_outputs] bool).

    Example:
      >>> boxes = jnp.array([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
      >>> batched_nms(boxes, jnp.array([0.9, 0.8]), jnp.array([0, 1]),
      ...             iou_threshold=0.5, max_outputs=2)
      (Array([0, 1], dtype=int32), Array([ True,  True], dtype=bool))
    """
    classes = jnp.asarray(classes)
    if classes.shape != jnp.shape(scores):
        raise ValueError(f"classes must be [n] like scores, got {classes.shape}")
    return _greedy_nms(boxes, scores, classes, iou_threshold, max_outputs, score_threshold, method)


def top_k_pairs(scores: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
    """The ``k`` best entries of a score matrix: ``lax.top_k(scores.reshape(-1), k)``, faster.

    A dense detector scores every (anchor, class) pair: RetinaNet at 640 px has 76,725 x 80 =
    6.1 million pairs an image, and a top-k over all of them sorts them. The ``k`` best pairs
    lie in at most ``k`` rows, and those rows are among the ``k`` rows with the highest row
    maximum (ties: lower row). So this takes the row maxima ([n]), the ``k`` best rows, and a
    top-k over their ``k x c`` pairs: two top-ks over n and k * c entries instead of one over
    n * c. Matrices under ``MIN_PAIRS_TO_RANK_ROWS`` pairs take the single top-k, which is
    faster there. For scores without NaN and without -0 (sigmoid outputs, say) the result
    is exactly ``lax.top_k``'s, ties included (lower flat index first). Rows are ranked by
    XLA's float maximum, which need not order NaN and signed zeros as ``lax.top_k`` does
    (XLA:CPU's may skip NaN in large arrays, or give -0 for a row holding +0); there the
    chosen pairs can differ. ``multiclass_nms`` drops NaN scores anyway.

    Why exact: take a pair p = (i, j) of the global top k, and suppose row i is not among the
    k best rows. Each of those k rows has a maximum pair that scores above p, or equal to it
    from a lower row, so a lower flat index: k pairs rank before p, a contradiction.

    Args:
      scores: [n, c] scores (any real dtype).
      k: number of entries, 0 <= k <= n * c.

    Returns:
      (top scores [k], score descending; flat indices [k] int32 into ``scores.reshape(-1)``,
      row ``index // c``, column ``index % c``).

    Example:
      >>> top_k_pairs(jnp.array([[0.1, 0.9], [0.8, 0.2], [0.7, 0.9]]), 2)
      (Array([0.9, 0.9], dtype=float32), Array([1, 5], dtype=int32))
    """
    if scores.ndim != 2:
        raise ValueError(f"scores must be [n, c], got {scores.shape}")
    n, c = scores.shape
    if not 0 <= k <= n * c:
        raise ValueError(f"k must be in [0, {n * c}] for scores {scores.shape}, got {k}")
    if k >= n or n * c < MIN_PAIRS_TO_RANK_ROWS:  # no row can be left out, or too few pairs
        top_scores, flat_index = lax.top_k(scores.reshape(n * c), k)  # [k] each
        return top_scores, flat_index
    # A plain max: an elementwise pass before it (e.g. to order NaN and -0 as lax.top_k
    # does) takes XLA:CPU off its fast reduction.
    row_max = jnp.max(scores, axis=1)  # [n]
    _, rows = lax.top_k(row_max, k)  # [k]
    rows = jnp.sort(rows)  # [k] ascending: the candidates keep the flat order for ties
    top_scores, position = lax.top_k(scores[rows].reshape(k * c), k)  # [k] each
    return top_scores, (rows[position // c] * c + position % c).astype(jnp.int32)


def multiclass_nms(
    boxes: jax.Array,
    scores: jax.Array,
    *,
    iou_threshold: float,
    max_outputs: int,
    score_threshold: float = 0.05,
    pre_nms_top_k: int | None = 1000,
    method: str | None = None,
) -> dict[str, jax.Array]:
    """Post-processing of dense multi-label detectors (RetinaNet, FCOS): per-class NMS.

    Every (box, class) pair is a candidate with score ``scores[i, c]``. The ``pre_nms_top_k``
    best pairs (over all classes; ties: lower flat index ``i * c + class``) with score >
    ``score_threshold`` go through class-aware NMS, and the ``max_outputs`` best survivors are
    returned, sorted by score descending. One image; for a batch use
    ``jax.vmap(functools.partial(multiclass_nms, iou_threshold=..., max_outputs=...))``.

    Args:
      boxes: [n, 4] xyxy boxes shared by all classes, or [n, c, 4] class-specific boxes.
      scores: [n, c] per-class scores (e.g. sigmoid probabilities).
      iou_threshold: IoU above which a box of the same class is suppressed.
      max_outputs: static number of detections.
      score_threshold: pairs at or below it are dropped.
      pre_nms_top_k: number of best pairs kept before NMS (None: all n * c).
      method: "loop" or "matrix" (the same result up to IoU rounding; see ``nms_method``),
        None to choose by backend and size.

    Returns:
      dict with boxes [max_outputs, 4], scores [max_outputs], classes [max_outputs] int32,
      valid [max_outputs] bool, num_valid [] int32; padded entries are all 0 (boxes, scores,
      classes) with valid False.

    Example:
      >>> boxes = jnp.array([[0.0, 0.0, 1.0, 1.0]])
      >>> out = multiclass_nms(boxes, jnp.array([[0.9, 0.3]]), iou_threshold=0.5,
      ...                      max_outputs=3)
      >>> out["classes"], out["valid"]
      (Array([0, 1, 0], dtype=int32), Array([ True,  True, False], dtype=bool))
    """
    boxes = jnp.asarray(boxes)
    scores = jnp.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be [n, c], got {scores.shape}")
    n, c = scores.shape
    if boxes.shape not in ((n, 4), (n, c, 4)):
        raise ValueError(
            f"boxes must be [n, 4] or [n, c, 4] for scores {scores.shape}: {boxes.shape}"
        )
    if pre_nms_top_k is not None and pre_nms_top_k <= 0:
        raise ValueError(f"pre_nms_top_k must be > 0 or None, got {pre_nms_top_k}")
    num_pairs = n * c
    top_k = num_pairs if pre_nms_top_k is None else min(pre_nms_top_k, num_pairs)
    if top_k < num_pairs:
        top_scores, top_pairs = top_k_pairs(scores, top_k)  # [k] each, ties: lower index
    else:
        top_scores, top_pairs = scores.reshape(num_pairs), jnp.arange(num_pairs)  # [k] each
    box_index = top_pairs // c  # [k]
    top_classes = (top_pairs % c).astype(jnp.int32)  # [k]
    if boxes.ndim == 3:
        top_boxes = boxes[box_index, top_classes]  # [k, 4]
    else:
        top_boxes = boxes[box_index]  # [k, 4]

    keep, valid = batched_nms(
        top_boxes,
        top_scores,
        top_classes,
        iou_threshold=iou_threshold,
        max_outputs=max_outputs,
        score_threshold=score_threshold,
        method=method,
    )  # [max_outputs] each
    if top_k == 0:
        out_boxes = jnp.zeros((max_outputs, 4), boxes.dtype)
        out_scores = jnp.zeros((max_outputs,), scores.dtype)
        out_classes = jnp.zeros((max_outputs,), jnp.int32)
    else:
        out_boxes = jnp.where(valid[:, None], top_boxes[keep], 0)  # [max_outputs, 4]
        out_scores = jnp.where(valid, top_scores[keep], 0)  # [max_outputs]
        out_classes = jnp.where(valid, top_classes[keep], 0)  # [max_outputs]
    return {
        "boxes": out_boxes,
        "scores": out_scores,
        "classes": out_classes,
        "valid": valid,
        "num_valid": jnp.sum(valid, dtype=jnp.int32),
    }
