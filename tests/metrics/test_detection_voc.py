"""Tests of PASCAL VOC AP: hand-computed rankings, difficult boxes, the envelope and the IoU."""

from __future__ import annotations

import numpy as np
import pytest

from jaxvision.metrics.detection_records import image_record, mean_defined
from jaxvision.metrics.detection_voc import average_precision, box_iou, voc_ap_per_class

CLASSES = ("cat", "dog", "bird")


def _record(gt_boxes, gt_labels, boxes, scores, labels, gt_ignore=None, image_id=1):
    return image_record(
        image_id=image_id,
        height=480,
        width=640,
        gt_boxes=np.asarray(gt_boxes, np.float64),
        gt_labels=np.asarray(gt_labels),
        gt_ignore=None if gt_ignore is None else np.asarray(gt_ignore),
        boxes=np.asarray(boxes, np.float64).reshape(-1, 4),
        scores=np.asarray(scores, np.float64),
        labels=np.asarray(labels),
        class_names=CLASSES,
    )


def test_voc_ap50_hand_computed():
    # Two objects A and B of one class; three detections, highest score first:
    #   0.9 on A -> TP   precision 1/1, recall 1/2
    #   0.8 far  -> FP   precision 1/2, recall 1/2
    #   0.7 on B -> TP   precision 2/3, recall 2/2
    # Envelope: 1 on (0, 1/2], 2/3 on (1/2, 1] -> AP = 1/2 * 1 + 1/2 * 2/3 = 5/6.
    a, b, far = [0, 0, 100, 100], [200, 200, 300, 300], [400, 0, 480, 60]
    # Given out of score order, to check the ranking.
    record = _record([a, b], [0, 0], [b, a, far], [0.7, 0.9, 0.8], [0, 0, 0])
    ap = voc_ap_per_class([record], len(CLASSES))
    assert ap[0] == pytest.approx(5 / 6, abs=1e-12)
    assert ap[1] == ap[2] == -1.0  # No ground truth.


def test_voc_ap50_ranks_over_all_images():
    # The same detections as above, one image each: the ranking is over the whole split.
    a, b, far = [0, 0, 100, 100], [200, 200, 300, 300], [400, 0, 480, 60]
    records = [
        _record([a], [0], [a], [0.9], [0], image_id=1),
        _record([b], [0], [far, b], [0.8, 0.7], [0, 0], image_id=2),
    ]
    assert voc_ap_per_class(records, len(CLASSES))[0] == pytest.approx(5 / 6, abs=1e-12)


def test_voc_ap50_difficult_boxes_are_neither_tp_nor_fp():
    # A is normal, D difficult. Detections: 0.9 on D, 0.85 again on D, 0.8 far, 0.7 on A.
    # D's detections leave the ranking: FP (P 0, R 0) then TP (P 1/2, R 1) -> AP = 1/2.
    # (Were D a normal box: TP, FP, FP, TP -> 1/2 * 1 + 1/2 * 1/2 = 3/4; were its
    # detections false positives: FP, FP, FP, TP -> 1/4.)
    a, d, far = [0, 0, 100, 100], [200, 200, 300, 300], [400, 0, 480, 60]
    boxes, scores, labels = [d, d, far, a], [0.9, 0.85, 0.8, 0.7], [0, 0, 0, 0]
    difficult = _record([a, d], [0, 0], boxes, scores, labels, gt_ignore=[False, True])
    assert voc_ap_per_class([difficult], len(CLASSES))[0] == pytest.approx(0.5, abs=1e-12)
    normal = _record([a, d], [0, 0], boxes, scores, labels)
    assert voc_ap_per_class([normal], len(CLASSES))[0] == pytest.approx(0.75, abs=1e-12)


def test_voc_ap50_duplicates_threshold_and_classes():
    a = [0.0, 0.0, 100.0, 100.0]
    half = [0.0, 0.0, 100.0, 50.0]  # IoU with A = 0.5 exactly: a match (>= 0.5).
    under = [0.0, 0.0, 100.0, 49.0]  # IoU 0.49: a false positive.
    # Class 0: TP (A), FP (duplicate on A) -> AP 1. Class 1: FP (0.49) then TP (0.5) -> 1/2.
    # Class 2 has detections but no ground truth: left out of the mean.
    gt = [a, a]
    boxes = [a, a, under, half, a]
    record = _record(gt, [0, 1], boxes, [0.9, 0.8, 0.9, 0.8, 0.99], [0, 0, 1, 1, 2])
    ap = voc_ap_per_class([record], len(CLASSES))
    np.testing.assert_allclose(ap, [1.0, 0.5, -1.0])
    assert mean_defined(ap) == pytest.approx(0.75)
    # A stricter threshold turns class 1's match into a miss.
    strict = voc_ap_per_class([record], len(CLASSES), iou_threshold=0.75)
    np.testing.assert_allclose(strict, [1.0, 0.0, -1.0])


def test_voc_ap50_ground_truth_without_detections_scores_zero():
    record = _record([[0, 0, 10, 10]], [1], np.zeros((0, 4)), [], [])
    np.testing.assert_array_equal(voc_ap_per_class([record], len(CLASSES)), [-1.0, 0.0, -1.0])


def test_average_precision_all_point_interpolation():
    # Precision rises after a dip: the envelope takes the later, higher value.
    recall = np.array([0.25, 0.25, 0.5, 0.75])
    precision = np.array([1.0, 0.5, 2 / 3, 0.75])
    # 0.25 * 1 + 0.25 * 0.75 + 0.25 * 0.75 + 0.25 * 0 (recall never reaches 1).
    assert average_precision(recall, precision) == pytest.approx(0.625)
    assert average_precision(np.zeros(0), np.zeros(0)) == 0.0


def test_box_iou():
    boxes1 = np.array([[0.0, 0, 10, 10], [0, 0, 0, 0]])
    boxes2 = np.array([[5.0, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]])
    expected = [[50 / 150, 0.0, 1.0], [0.0, 0.0, 0.0]]
    np.testing.assert_allclose(box_iou(boxes1, boxes2), expected)
