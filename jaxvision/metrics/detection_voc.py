"""PASCAL VOC box AP: all-point interpolated AP (VOC2010 and later) at an IoU threshold.

No maintained library computes VOC AP on in-memory arrays, so it is written here, following
the official devkit: detections of a class are ranked by score over all images and matched
greedily to the ground truth of their image; ``difficult`` boxes (``gt_ignore``) are never a
miss, and a detection matched to one is neither a true nor a false positive. VOC keeps every
detection (no per-image cap), and measures overlap with the IoU on continuous coordinates.

Example:
  >>> from jaxvision.metrics.detection_records import image_record
  >>> box = np.array([[10.0, 10.0, 50.0, 60.0]])
  >>> record = image_record(image_id=1, height=100, width=100, gt_boxes=box,
  ...     gt_labels=[0], gt_ignore=None, boxes=box, scores=[0.9], labels=[0],
  ...     class_names=("cat", "dog"))
  >>> voc_ap_per_class([record], num_classes=2)
  array([ 1., -1.])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxvision.metrics.detection_records import UNDEFINED, ImageRecord

VOC_IOU_THRESHOLD = 0.5
# Outcome of one ranked detection.
_FALSE_POSITIVE, _TRUE_POSITIVE, _IGNORED = 0, 1, 2


def voc_ap_per_class(
    records: Sequence[ImageRecord], num_classes: int, iou_threshold: float = VOC_IOU_THRESHOLD
) -> np.ndarray:
    """PASCAL VOC AP of each class (all-point interpolation, VOC2010 and later).

    Detections of a class are ranked by score over all images; each is matched to the
    ground-truth box of its image and class with the highest IoU: a true positive when that
    IoU is >= ``iou_threshold`` and the box is not yet taken, a false positive when taken or
    when the IoU is lower, neither when the box is ignored (difficult). As in the official
    devkit, a detection does not fall back to its second-best box. IoU is computed on
    continuous coordinates (no VOC "+1" pixel).

    Args:
      records: the images (see ``detection_records.image_record``).
      num_classes: number of classes.
      iou_threshold: the IoU needed for a match.

    Returns:
      [num_classes] AP, -1 for a class without a non-ignored ground-truth box.

    Example:
      >>> from jaxvision.metrics.detection_records import image_record
      >>> gt = np.array([[0.0, 0.0, 10.0, 10.0]])
      >>> record = image_record(image_id=1, height=20, width=20, gt_boxes=gt,
      ...     gt_labels=[0], gt_ignore=None, boxes=[[0, 0, 10, 4], [0, 0, 10, 9]],
      ...     scores=[0.9, 0.8], labels=[0, 0], class_names=("a",))
      >>> voc_ap_per_class([record], 1)  # The first is a miss (IoU 0.4): precision 1/2.
      array([0.5])
    """
    scores = [[] for _ in range(num_classes)]  # Per class, one [k] array per image.
    outcomes = [[] for _ in range(num_classes)]
    num_positives = np.zeros(num_classes, np.int64)  # [c]
    for r in records:
        np.add.at(num_positives, r.gt_labels[~r.gt_ignore], 1)
        for c in np.unique(r.labels).tolist():
            det = r.labels == c  # [k]
            gt = r.gt_labels == c  # [m]
            order = np.argsort(-r.scores[det], kind="stable")  # [k_c]
            scores[c].append(r.scores[det][order])
            outcomes[c].append(
                _match_voc(r.boxes[det][order], r.gt_boxes[gt], r.gt_ignore[gt], iou_threshold)
            )
    ap = np.full(num_classes, UNDEFINED)  # [c]
    for c in range(num_classes):
        if num_positives[c] == 0:
            continue
        if not scores[c]:
            ap[c] = 0.0
            continue
        class_scores = np.concatenate(scores[c])  # [n]
        outcome = np.concatenate(outcomes[c])[np.argsort(-class_scores, kind="stable")]  # [n]
        outcome = outcome[outcome != _IGNORED]  # Ignored detections leave the ranking.
        tp = np.cumsum(outcome == _TRUE_POSITIVE)  # [n']
        fp = np.cumsum(outcome == _FALSE_POSITIVE)  # [n']
        recall = tp / num_positives[c]
        precision = tp / np.maximum(tp + fp, 1)
        ap[c] = average_precision(recall, precision)
    return ap


def _match_voc(
    boxes: np.ndarray, gt_boxes: np.ndarray, gt_ignore: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """VOC outcome of each detection of one image and class, given highest score first.

    Args:
      boxes: [k, 4] xyxy, sorted by decreasing score.
      gt_boxes: [m, 4] xyxy.
      gt_ignore: [m] bool.
      iou_threshold: the IoU needed for a match.

    Returns:
      [k] int8: _TRUE_POSITIVE, _FALSE_POSITIVE or _IGNORED.
    """
    k, m = boxes.shape[0], gt_boxes.shape[0]
    outcome = np.full(k, _FALSE_POSITIVE, np.int8)  # [k]
    if k == 0 or m == 0:
        return outcome
    iou = box_iou(boxes, gt_boxes)  # [k, m]
    best = iou.argmax(axis=1).tolist()  # [k]
    matched = (iou.max(axis=1) >= iou_threshold).tolist()  # [k]
    ignore = gt_ignore.tolist()  # [m]
    taken = [False] * m
    for i, (j, hit) in enumerate(zip(best, matched, strict=True)):
        if not hit:
            continue
        if ignore[j]:
            outcome[i] = _IGNORED
        elif not taken[j]:
            taken[j] = True
            outcome[i] = _TRUE_POSITIVE
    return outcome


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision envelope (VOC2010+ all-point interpolation).

    Args:
      recall: [n] non-decreasing recall after each ranked detection.
      precision: [n] precision after each ranked detection.

    Returns:
      The AP, sum over recall steps of (recall step) * (max precision at recall >= it).

    Example:
      >>> average_precision(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3]))
      0.8333333333333333
    """
    recall = np.concatenate([[0.0], recall, [1.0]])  # [n + 2]
    precision = np.concatenate([[0.0], precision, [0.0]])  # [n + 2]
    envelope = np.maximum.accumulate(precision[::-1])[::-1]  # [n + 2]
    steps = np.flatnonzero(recall[1:] != recall[:-1])  # Where recall grows.
    return float(np.sum((recall[steps + 1] - recall[steps]) * envelope[steps + 1]))


def box_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes (NumPy, float64, continuous coordinates).

    Args:
      boxes1: [n, 4] xyxy.
      boxes2: [m, 4] xyxy.

    Returns:
      [n, m] IoU; 0 where the union is empty.

    Example:
      >>> box_iou(np.array([[0.0, 0.0, 2.0, 2.0]]), np.array([[1.0, 0.0, 3.0, 2.0]]))
      array([[0.33333333]])
    """
    lt = np.maximum(boxes1[:, None, :2], boxes2[None, :, :2])  # [n, m, 2]
    rb = np.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])  # [n, m, 2]
    inter = np.prod(np.clip(rb - lt, 0.0, None), axis=-1)  # [n, m]
    area1 = np.prod(boxes1[:, 2:] - boxes1[:, :2], axis=-1)  # [n]
    area2 = np.prod(boxes2[:, 2:] - boxes2[:, :2], axis=-1)  # [m]
    union = area1[:, None] + area2[None, :] - inter  # [n, m]
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
