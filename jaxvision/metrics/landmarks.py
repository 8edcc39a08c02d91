"""Landmark error of detected faces: the normalised mean error (NME) of matched faces.

A detector's landmarks are scored on the faces it finds: in each image, detections are taken
best score first, and each is matched to the unmatched ground-truth face it overlaps most,
when that IoU is at least ``iou_threshold`` (0.5; the rule of PASCAL VOC's AP50). A matched
face with known landmarks contributes its NME, the mean over its points of the distance
between the predicted and true point, divided by the diagonal of its ground-truth box (a
normaliser defined for every face, frontal or not; 300W and WFLW use the inter-ocular
distance of frontal faces instead). The result is the mean over all such faces.

Example:
  >>> box = np.array([[0.0, 0.0, 30.0, 40.0]])  # diagonal 50
  >>> gt = np.zeros((1, 5, 2))
  >>> pred = gt + np.array([3.0, 4.0])  # every point 5 px off
  >>> image_landmark_errors(box, np.array([0.9]), pred, box, gt, np.array([True])).tolist()
  [0.1]
"""

from __future__ import annotations

import numpy as np

from jaxvision.metrics.detection_voc import box_iou

# Lowest IoU of a detection with the face whose landmarks it is scored on.
MATCH_IOU = 0.5


def point_nme(pred: np.ndarray, gt: np.ndarray, gt_boxes: np.ndarray) -> np.ndarray:
    """NME of each face: mean point distance over the diagonal of its ground-truth box.

    Args:
      pred: [m, k, 2] predicted (x, y) points.
      gt: [m, k, 2] true points.
      gt_boxes: [m, 4] xyxy ground-truth boxes, in the points' units.

    Returns:
      [m] float64 errors.

    Example:
      >>> point_nme(np.ones((1, 5, 2)), np.zeros((1, 5, 2)), np.array([[0, 0, 1, 1.0]]))
      array([1.])
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)  # [m, 4]
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 2:
        raise ValueError(f"pred and gt must both be [m, k, 2], got {pred.shape}, {gt.shape}")
    if len(gt_boxes) != len(gt):
        raise ValueError(f"{len(gt)} faces of landmarks but {len(gt_boxes)} boxes")
    diagonal = np.hypot(gt_boxes[:, 2] - gt_boxes[:, 0], gt_boxes[:, 3] - gt_boxes[:, 1])  # [m]
    if np.any(diagonal <= 0):
        raise ValueError("a ground-truth box with a zero diagonal cannot normalise its NME")
    distance = np.linalg.norm(pred - gt, axis=-1)  # [m, k]
    return distance.mean(axis=1) / diagonal  # [m]


def match_detections(
    boxes: np.ndarray, scores: np.ndarray, gt_boxes: np.ndarray, iou_threshold: float = MATCH_IOU
) -> np.ndarray:
    """Greedy one-to-one matching of detections to ground truth, best score first.

    Args:
      boxes: [d, 4] xyxy detections.
      scores: [d] their scores.
      gt_boxes: [m, 4] xyxy ground-truth boxes.
      iou_threshold: lowest IoU of a match.

    Returns:
      [m] int: the detection matched to each ground-truth box, -1 where none.

    Example:
      >>> match_detections(np.array([[0, 0, 2, 2], [0, 0, 2, 2.0]]), np.array([0.5, 0.9]),
      ...                  np.array([[0, 0, 2, 2.0], [5, 5, 6, 6.0]])).tolist()
      [1, -1]
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)  # [d, 4]
    gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)  # [m, 4]
    scores = np.asarray(scores, np.float64).reshape(-1)  # [d]
    if len(scores) != len(boxes):
        raise ValueError(f"{len(boxes)} detections but {len(scores)} scores")
    matched = np.full(len(gt_boxes), -1, np.int64)  # [m]
    if not len(boxes) or not len(gt_boxes):
        return matched
    iou = box_iou(boxes, gt_boxes)  # [d, m]
    for d in np.argsort(-scores, kind="stable"):
        free = np.where(matched < 0, iou[d], -1.0)  # [m]
        best = int(np.argmax(free))
        if free[best] >= iou_threshold:
            matched[best] = d
    return matched


def image_landmark_errors(
    boxes: np.ndarray,
    scores: np.ndarray,
    landmarks: np.ndarray,
    gt_boxes: np.ndarray,
    gt_landmarks: np.ndarray,
    gt_landmark_mask: np.ndarray,
    iou_threshold: float = MATCH_IOU,
) -> np.ndarray:
    """The NME of every matched face with known landmarks, in one image.

    Args:
      boxes: [d, 4] xyxy detections.
      scores: [d] their scores.
      landmarks: [d, k, 2] their (x, y) points.
      gt_boxes: [m, 4] xyxy ground-truth faces.
      gt_landmarks: [m, k, 2] their points.
      gt_landmark_mask: [m] bool, whether each face's points are known.
      iou_threshold: lowest IoU of a match.

    Returns:
      [j] NME of the j matched faces with known landmarks.
    """
    matched = match_detections(boxes, scores, gt_boxes, iou_threshold)  # [m]
    use = (matched >= 0) & np.asarray(gt_landmark_mask, bool).reshape(-1)  # [m]
    if not use.any():
        return np.zeros((0,), np.float64)
    pred = np.asarray(landmarks, np.float64)[matched[use]]  # [j, k, 2]
    return point_nme(pred, np.asarray(gt_landmarks)[use], np.asarray(gt_boxes)[use])  # [j]


def mean_nme(errors: list[np.ndarray]) -> dict[str, float]:
    """``landmark_nme`` (mean over every face; NaN without any) and ``landmark_faces``
    (how many faces it averages) of per-image ``image_landmark_errors``.

    Example:
      >>> mean_nme([np.array([0.1, 0.3]), np.zeros(0)])
      {'landmark_nme': 0.2, 'landmark_faces': 2.0}
    """
    flat = np.concatenate([np.asarray(e, np.float64).reshape(-1) for e in errors] or [[]])
    nme = float(flat.mean()) if flat.size else float("nan")
    return {"landmark_nme": nme, "landmark_faces": float(flat.size)}
