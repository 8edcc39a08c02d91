"""One image's detection ground truth and predictions, validated: the input of every AP here.

``image_record`` checks and converts the arrays a caller gives for one image (absolute pixel
``xyxy`` boxes of the original image) into an ``ImageRecord`` (float64 boxes and scores,
int64 labels, bool ignore flags). ``detection_coco`` and ``detection_voc`` compute their APs
from lists of records, and both follow pycocotools' convention for a metric with nothing to
measure: ``UNDEFINED`` (-1), left out of means by ``mean_defined``.

Example:
  >>> record = image_record(image_id=7, height=100, width=100,
  ...     gt_boxes=[[10, 10, 50, 60]], gt_labels=[1], gt_ignore=None,
  ...     boxes=np.zeros((0, 4)), scores=[], labels=[], class_names=("cat", "dog"))
  >>> record.gt_labels, record.gt_ignore, record.boxes.shape
  (array([1]), array([False]), (0, 4))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# pycocotools' value for a metric with no ground truth to measure it on.
UNDEFINED = -1.0


@dataclass(frozen=True)
class ImageRecord:
    """One image's ground truth and predictions (float64 xyxy boxes, int64 labels)."""

    image_id: int
    height: int
    width: int
    gt_boxes: np.ndarray  # [m, 4]
    gt_labels: np.ndarray  # [m]
    gt_ignore: np.ndarray  # [m] bool
    boxes: np.ndarray  # [k, 4]
    scores: np.ndarray  # [k]
    labels: np.ndarray  # [k]


def image_record(
    *,
    image_id: int,
    height: int,
    width: int,
    gt_boxes: np.ndarray,
    gt_labels: np.ndarray,
    gt_ignore: np.ndarray | None,
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
) -> ImageRecord:
    """Checks one image's ground truth and predictions and converts them to a record.

    Args:
      image_id: id of the image.
      height: image height in pixels (of the original image the boxes refer to).
      width: image width in pixels.
      gt_boxes: [m, 4] ground-truth boxes, absolute xyxy (m may be 0).
      gt_labels: [m] integer labels in [0, len(class_names)).
      gt_ignore: [m] bool, True for COCO crowd / VOC difficult boxes; None: all False.
      boxes: [k, 4] predicted boxes, absolute xyxy (k may be 0).
      scores: [k] confidences (higher first).
      labels: [k] predicted integer labels in [0, len(class_names)).
      class_names: the names of the classes (named in label errors).

    Returns:
      The ``ImageRecord``.

    Raises:
      ValueError: a size is not positive, an array has the wrong shape, a box is not a
        finite xyxy box, a score is not finite or a label is not a class index.

    Example:
      >>> image_record(image_id=1, height=9, width=9, gt_boxes=np.zeros((0, 4)),
      ...     gt_labels=[], gt_ignore=None, boxes=[[0, 0, 4, 4]], scores=[0.5],
      ...     labels=[2], class_names=("a", "b"))
      Traceback (most recent call last):
      ...
      ValueError: image 1: labels: label 2 is outside [0, 2) (classes ('a', 'b'))
    """
    image_id = int(image_id)
    if int(height) <= 0 or int(width) <= 0:
        raise ValueError(f"image {image_id}: height and width must be > 0: {height}x{width}")
    gt_boxes = _as_boxes(gt_boxes, f"image {image_id}: gt_boxes")  # [m, 4]
    m = gt_boxes.shape[0]
    gt_labels = _as_labels(gt_labels, m, f"image {image_id}: gt_labels", class_names)  # [m]
    if gt_ignore is None:
        gt_ignore = np.zeros(m, bool)
    gt_ignore = _as_vector(gt_ignore, m, f"image {image_id}: gt_ignore").astype(bool)  # [m]
    boxes = _as_boxes(boxes, f"image {image_id}: boxes")  # [k, 4]
    k = boxes.shape[0]
    scores = _as_vector(scores, k, f"image {image_id}: scores").astype(np.float64)  # [k]
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"image {image_id}: scores must be finite")
    labels = _as_labels(labels, k, f"image {image_id}: labels", class_names)  # [k]
    return ImageRecord(
        image_id=image_id,
        height=int(height),
        width=int(width),
        gt_boxes=gt_boxes,
        gt_labels=gt_labels,
        gt_ignore=gt_ignore,
        boxes=boxes,
        scores=scores,
        labels=labels,
    )


def mean_defined(values: np.ndarray) -> float:
    """Mean of the entries > -1 (pycocotools' rule), or -1 when there is none.

    Args:
      values: [n] metric values, ``UNDEFINED`` where there was nothing to measure.

    Returns:
      The mean of the defined values, or ``UNDEFINED``.

    Example:
      >>> mean_defined(np.array([0.5, -1.0, 1.0])), mean_defined(np.array([-1.0]))
      (0.75, -1.0)
    """
    defined = values[values > UNDEFINED]
    return float(np.mean(defined)) if defined.size else UNDEFINED


def _as_vector(values: np.ndarray, n: int, what: str) -> np.ndarray:
    """``values`` as an array of shape [n] (any empty array when n is 0); raises otherwise."""
    values = np.asarray(values)
    if values.size == 0 and n == 0:
        return values.reshape(0)
    if values.shape != (n,):
        raise ValueError(f"{what} must have shape ({n},), got {values.shape}")
    return values


def _as_boxes(boxes: np.ndarray, what: str) -> np.ndarray:
    """``boxes`` as float64 [n, 4] finite xyxy boxes (x2 >= x1, y2 >= y1); raises otherwise."""
    boxes = np.asarray(boxes, np.float64)
    if boxes.size == 0:
        return boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{what} must have shape [n, 4], got {boxes.shape}")
    if not np.all(np.isfinite(boxes)):
        raise ValueError(f"{what} must be finite")
    if np.any(boxes[:, 2:] < boxes[:, :2]):
        raise ValueError(f"{what} must be xyxy with x2 >= x1 and y2 >= y1")
    return boxes


def _as_labels(labels: np.ndarray, n: int, what: str, class_names: Sequence[str]) -> np.ndarray:
    """``labels`` as int64 [n] class indices of ``class_names``; raises otherwise."""
    labels = _as_vector(labels, n, what)  # [n]
    integer = np.issubdtype(labels.dtype, np.integer)
    if n and not integer and not np.all(labels == np.round(labels)):
        raise ValueError(f"{what} must be integers, got {labels}")
    labels = labels.astype(np.int64)
    num_classes = len(class_names)
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if bad.size:
        raise ValueError(
            f"{what}: label {int(bad[0])} is outside [0, {num_classes}) (classes {class_names})"
        )
    return labels
