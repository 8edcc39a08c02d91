"""Landmark NME of matched faces against a plain-loop NumPy reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jaxvision.metrics import landmarks


def _iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _reference_nme(images):
    """The NME of every matched face with known landmarks, by plain loops."""
    errors = []
    for det_boxes, scores, det_points, gt_boxes, gt_points, known in images:
        taken = [False] * len(gt_boxes)
        match = [None] * len(gt_boxes)
        for d in sorted(range(len(scores)), key=lambda i: -scores[i]):
            best, best_iou = None, 0.5
            for g in range(len(gt_boxes)):
                iou = _iou(det_boxes[d], gt_boxes[g])
                if not taken[g] and iou >= best_iou:
                    best, best_iou = g, iou
            if best is not None:
                taken[best], match[best] = True, d
        for g, d in enumerate(match):
            if d is None or not known[g]:
                continue
            x1, y1, x2, y2 = gt_boxes[g]
            diag = math.sqrt((x2 - x1) ** 2 + (y2 - y1) ** 2)
            dist = [math.dist(det_points[d][k], gt_points[g][k]) for k in range(5)]
            errors.append(sum(dist) / 5 / diag)
    return sum(errors) / len(errors), len(errors)


def _random_image(rng):
    """Ground truth faces, and noisy detections of most of them plus some false ones."""
    m = int(rng.integers(0, 5))
    lo = rng.uniform(0, 200, (m, 2))
    gt_boxes = np.concatenate([lo, lo + rng.uniform(15, 60, (m, 2))], axis=-1)
    gt_points = lo[:, None] + rng.uniform(0, 15, (m, 5, 2))
    known = rng.random(m) < 0.8
    found = rng.random(m) < 0.8
    det_boxes = gt_boxes[found] + rng.normal(0, 4, (int(found.sum()), 4))
    det_points = gt_points[found] + rng.normal(0, 2, (int(found.sum()), 5, 2))
    extra = int(rng.integers(0, 3))
    lo = rng.uniform(0, 200, (extra, 2))
    det_boxes = np.concatenate([det_boxes, np.concatenate([lo, lo + 30], axis=-1)])
    det_points = np.concatenate([det_points, rng.uniform(0, 200, (extra, 5, 2))])
    scores = rng.random(len(det_boxes))
    return det_boxes, scores, det_points, gt_boxes, gt_points, known


def test_matches_the_numpy_reference():
    rng = np.random.default_rng(0)
    images = [_random_image(rng) for _ in range(30)]
    errors = [landmarks.image_landmark_errors(*image) for image in images]
    got = landmarks.mean_nme(errors)
    expected, count = _reference_nme(images)
    assert got["landmark_faces"] == count > 20
    assert got["landmark_nme"] == pytest.approx(expected, rel=1e-12)


def test_the_best_scoring_detection_takes_the_face():
    gt = np.array([[0.0, 0.0, 30.0, 40.0]])
    points = np.zeros((1, 5, 2))
    boxes = np.array([[0.0, 0.0, 30.0, 40.0], [1.0, 1.0, 31.0, 41.0]])
    det_points = np.stack([points[0] + [3.0, 4.0], points[0]])  # 5 px off, exact
    low_exact = landmarks.image_landmark_errors(
        boxes, np.array([0.9, 0.1]), det_points, gt, points, np.array([True])
    )
    high_exact = landmarks.image_landmark_errors(
        boxes, np.array([0.1, 0.9]), det_points, gt, points, np.array([True])
    )
    assert low_exact.tolist() == [pytest.approx(0.1)] and high_exact.tolist() == [0.0]


def test_no_match_or_no_landmarks_gives_no_error():
    gt = np.array([[0.0, 0.0, 10.0, 10.0]])
    far = landmarks.image_landmark_errors(
        np.array([[20.0, 20, 30, 30]]),
        np.ones(1),
        np.zeros((1, 5, 2)),
        gt,
        np.zeros((1, 5, 2)),
        np.array([True]),
    )
    unknown = landmarks.image_landmark_errors(
        gt, np.ones(1), np.zeros((1, 5, 2)), gt, np.zeros((1, 5, 2)), np.array([False])
    )
    assert far.size == 0 and unknown.size == 0
    result = landmarks.mean_nme([far, unknown])
    assert math.isnan(result["landmark_nme"]) and result["landmark_faces"] == 0


def test_bad_input():
    with pytest.raises(ValueError, match="both be"):
        landmarks.point_nme(np.zeros((1, 5, 2)), np.zeros((1, 4, 2)), np.ones((1, 4)))
    with pytest.raises(ValueError, match="zero diagonal"):
        landmarks.point_nme(np.zeros((1, 5, 2)), np.zeros((1, 5, 2)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="scores"):
        landmarks.match_detections(np.zeros((2, 4)), np.zeros(1), np.zeros((1, 4)))
