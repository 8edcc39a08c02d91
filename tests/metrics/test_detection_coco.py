"""Tests of the COCO side of detection evaluation: the in-memory COCO data and COCOeval's run."""

from __future__ import annotations

import numpy as np
import pytest

from jaxvision.metrics.detection_coco import (
    COCO_STAT_NAMES,
    coco_bbox_stats,
    coco_ground_truth,
    coco_results,
)
from jaxvision.metrics.detection_records import image_record

CLASSES = ("cat", "dog")


def _record(image_id, gt_boxes, gt_labels, gt_ignore, boxes, scores, labels):
    return image_record(
        image_id=image_id,
        height=50,
        width=80,
        gt_boxes=np.asarray(gt_boxes, np.float64).reshape(-1, 4),
        gt_labels=np.asarray(gt_labels, np.int64),
        gt_ignore=gt_ignore,
        boxes=np.asarray(boxes, np.float64).reshape(-1, 4),
        scores=np.asarray(scores, np.float64),
        labels=np.asarray(labels, np.int64),
        class_names=CLASSES,
    )


def _gt(image_id, category_id, bbox, annotation_id=1):
    return {
        "images": [{"id": image_id, "height": 20, "width": 20}],
        "categories": [{"id": 2, "name": "dog"}, {"id": 1, "name": "cat"}],
        "annotations": [
            {
                "id": annotation_id,
                "image_id": image_id,
                "category_id": category_id,
                "bbox": bbox,
                "area": bbox[2] * bbox[3],
                "iscrowd": 0,
            }
        ],
    }


def test_ground_truth_and_results_follow_the_coco_layout():
    records = [
        _record(
            5, [[1, 2, 11, 7], [0, 0, 4, 4]], [1, 0], [False, True], [[1, 2, 3, 4]], [0.5], [1]
        ),
        _record(9, np.zeros((0, 4)), [], None, np.zeros((0, 4)), [], []),
        _record(3, [[10, 10, 30, 40]], [0], None, [[0, 0, 1, 1], [2, 2, 6, 6]], [0.2, 0.9], [0, 1]),
    ]
    gt = coco_ground_truth(records, CLASSES)
    assert gt["images"] == [
        {"id": 5, "height": 50, "width": 80},
        {"id": 9, "height": 50, "width": 80},
        {"id": 3, "height": 50, "width": 80},
    ]
    assert gt["categories"] == [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]
    # Annotation ids count from 1 over all images; boxes are xywh, areas w * h.
    assert gt["annotations"] == [
        {"id": 1, "image_id": 5, "category_id": 2, "bbox": [1.0, 2.0, 10.0, 5.0], "area": 50.0,
         "iscrowd": 0},
        {"id": 2, "image_id": 5, "category_id": 1, "bbox": [0.0, 0.0, 4.0, 4.0], "area": 16.0,
         "iscrowd": 1},
        {"id": 3, "image_id": 3, "category_id": 1, "bbox": [10.0, 10.0, 20.0, 30.0],
         "area": 600.0, "iscrowd": 0},
    ]  # fmt: skip
    assert coco_results(records) == [
        {"image_id": 5, "category_id": 2, "bbox": [1.0, 2.0, 2.0, 2.0], "score": 0.5},
        {"image_id": 3, "category_id": 1, "bbox": [0.0, 0.0, 1.0, 1.0], "score": 0.2},
        {"image_id": 3, "category_id": 2, "bbox": [2.0, 2.0, 4.0, 4.0], "score": 0.9},
    ]


def test_stats_are_plain_floats_in_coco_order():
    gt = _gt(1, 1, [2, 2, 8, 8])
    results = [{"image_id": 1, "category_id": 1, "bbox": [2, 2, 8, 8], "score": 0.7}]
    stats, class_ap = coco_bbox_stats(gt, results)
    assert stats.shape == (len(COCO_STAT_NAMES),) and stats.dtype == np.float64
    named = dict(zip(COCO_STAT_NAMES, stats.tolist(), strict=True))
    assert named["AP"] == pytest.approx(1.0) and named["AR100"] == pytest.approx(1.0)
    assert named["APs"] == pytest.approx(1.0)  # 8 x 8 = 64 < 32^2: a small box.
    assert named["APm"] == named["APl"] == -1.0
    # Per-class AP follows the order of ground_truth["categories"] (dog, cat), not the ids.
    np.testing.assert_allclose(class_ap, [-1.0, 1.0])


def test_empty_results_score_zero_and_results_are_not_modified():
    gt = _gt(1, 2, [0, 0, 10, 10])
    stats, class_ap = coco_bbox_stats(gt, [])
    assert stats[0] == 0.0 and stats[8] == 0.0  # AP and AR100
    np.testing.assert_array_equal(class_ap, [0.0, -1.0])
    results = [{"image_id": 1, "category_id": 2, "bbox": [0, 0, 10, 10], "score": 0.5}]
    coco_bbox_stats(gt, results)  # loadRes adds fields to what it is given: a copy.
    assert results == [{"image_id": 1, "category_id": 2, "bbox": [0, 0, 10, 10], "score": 0.5}]
