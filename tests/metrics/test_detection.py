"""Tests of the detection evaluator: against pycocotools run the standard way (from JSON files),
and its contract: ignored boxes, empty images, undefined metrics, per-class values, batches.

The COCO data, VOC AP and record checks it builds on are tested in test_detection_coco.py,
test_detection_voc.py and test_detection_records.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from jaxvision.metrics.detection import COCO_STAT_NAMES, DetectionEvaluator

CLASSES = ("cat", "dog", "bird")
HEIGHT, WIDTH = 480, 640


def _random_boxes(rng, n, min_size=8.0, max_size=300.0):
    """[n, 4] float64 xyxy boxes inside the image, sizes spanning COCO's small..large."""
    wh = rng.uniform(min_size, max_size, size=(n, 2))  # [n, 2]
    xy = rng.uniform(0, 1, size=(n, 2)) * (np.array([WIDTH, HEIGHT]) - wh)  # [n, 2]
    return np.concatenate([xy, xy + wh], axis=1)  # [n, 4]


def _random_images(seed, num_images=20, max_boxes=6, crowd_rate=0.0):
    """Ground truth of random images: dicts with gt_boxes, gt_labels, gt_ignore."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(num_images):
        m = int(rng.integers(1, max_boxes + 1))
        images.append(
            {
                "image_id": 100 + i,
                "height": HEIGHT,
                "width": WIDTH,
                "gt_boxes": _random_boxes(rng, m),
                "gt_labels": rng.integers(0, len(CLASSES), size=m),
                "gt_ignore": rng.uniform(size=m) < crowd_rate,
            }
        )
    return images


def _noisy_predictions(image, rng, shift=12.0, false_positives=2):
    """GT boxes moved by up to ``shift`` px, a few random boxes, random scores and labels."""
    gt = image["gt_boxes"]
    moved = gt + rng.uniform(-shift, shift, size=gt.shape)  # [m, 4]
    moved[:, 2:] = np.maximum(moved[:, 2:], moved[:, :2] + 1.0)
    extra = _random_boxes(rng, false_positives)  # [f, 4]
    boxes = np.concatenate([moved, extra])  # [m + f, 4]
    labels = np.concatenate([image["gt_labels"], rng.integers(0, len(CLASSES), false_positives)])
    scores = rng.uniform(0.05, 1.0, size=len(boxes))
    return {"boxes": boxes, "scores": scores, "labels": labels}


def _evaluate(images, predictions, per_class=False):
    evaluator = DetectionEvaluator(CLASSES)
    for image, pred in zip(images, predictions, strict=True):
        evaluator.add(**image, **pred)
    return evaluator.compute(per_class=per_class)


def _xywh(box):
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1, y1, x2 - x1, y2 - y1]


def _pycocotools_from_files(images, predictions):
    """COCOeval stats the standard way: GT and result JSON files, COCO(file), loadRes(file)."""
    gt = {
        "images": [{"id": im["image_id"], "height": HEIGHT, "width": WIDTH} for im in images],
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(CLASSES)],
        "annotations": [],
    }
    results = []
    for im, pred in zip(images, predictions, strict=True):
        for box, label, crowd in zip(im["gt_boxes"], im["gt_labels"], im["gt_ignore"], strict=True):
            xywh = _xywh(box)
            gt["annotations"].append(
                {
                    "id": len(gt["annotations"]) + 1,
                    "image_id": im["image_id"],
                    "category_id": int(label) + 1,
                    "bbox": xywh,
                    "area": xywh[2] * xywh[3],
                    "iscrowd": int(crowd),
                }
            )
        for box, score, label in zip(pred["boxes"], pred["scores"], pred["labels"], strict=True):
            results.append(
                {
                    "image_id": im["image_id"],
                    "category_id": int(label) + 1,
                    "bbox": _xywh(box),
                    "score": float(score),
                }
            )
    with tempfile.TemporaryDirectory() as tmp:
        gt_file, res_file = os.path.join(tmp, "gt.json"), os.path.join(tmp, "res.json")
        with open(gt_file, "w") as f:
            json.dump(gt, f)
        with open(res_file, "w") as f:
            json.dump(results, f)
        with contextlib.redirect_stdout(io.StringIO()):
            coco_gt = COCO(gt_file)
            coco_eval = COCOeval(coco_gt, coco_gt.loadRes(res_file), iouType="bbox")
            coco_eval.evaluate()
            coco_eval.accumulate()
            coco_eval.summarize()
    return dict(zip(COCO_STAT_NAMES, coco_eval.stats.tolist(), strict=True))


def _empty_predictions():
    return {"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0, np.int64)}


def _one_image(gt_boxes, gt_labels, boxes, scores, labels, gt_ignore=None, image_id=1):
    return dict(
        image_id=image_id,
        height=HEIGHT,
        width=WIDTH,
        gt_boxes=np.asarray(gt_boxes, np.float64),
        gt_labels=np.asarray(gt_labels),
        gt_ignore=None if gt_ignore is None else np.asarray(gt_ignore),
        boxes=np.asarray(boxes, np.float64).reshape(-1, 4),
        scores=np.asarray(scores, np.float64),
        labels=np.asarray(labels),
    )


def test_perfect_predictions_score_one():
    images = _random_images(seed=0)
    assert len({int(label) for im in images for label in im["gt_labels"]}) == len(CLASSES)
    predictions = [
        {"boxes": im["gt_boxes"], "scores": np.ones(len(im["gt_boxes"])), "labels": im["gt_labels"]}
        for im in images
    ]
    metrics = _evaluate(images, predictions)
    for name in ("AP", "AP50", "AP75", "AR100"):
        assert metrics[name] == pytest.approx(1.0, abs=1e-9), name
    assert metrics["VOC_AP50"] == 1.0
    assert metrics["num_images"] == len(images)


@pytest.mark.parametrize("crowd_rate", [0.0, 0.2])
def test_shifted_predictions_match_pycocotools_run_from_files(crowd_rate):
    images = _random_images(seed=1, num_images=30, crowd_rate=crowd_rate)
    rng = np.random.default_rng(2)
    predictions = [_noisy_predictions(im, rng) for im in images]
    metrics = _evaluate(images, predictions)
    expected = _pycocotools_from_files(images, predictions)
    for name in COCO_STAT_NAMES:
        assert metrics[name] == pytest.approx(expected[name], abs=1e-9), name
    # Informative: the shift makes matches depend on the IoU threshold.
    assert 0.1 < metrics["AP"] < metrics["AP50"] <= 1.0
    assert 0.0 < metrics["VOC_AP50"] < 1.0


def test_missing_predictions_for_some_images_match_pycocotools():
    images = _random_images(seed=3, num_images=12)
    rng = np.random.default_rng(4)
    predictions = [
        _noisy_predictions(im, rng, shift=3.0) if i % 3 else _empty_predictions()
        for i, im in enumerate(images)
    ]
    metrics = _evaluate(images, predictions)
    expected = _pycocotools_from_files(images, predictions)
    for name in COCO_STAT_NAMES:
        assert metrics[name] == pytest.approx(expected[name], abs=1e-9), name
    # A third of the objects are never detected: recall cannot pass about 2/3.
    assert metrics["AR100"] < 0.8


def test_crowd_boxes_are_neither_missed_nor_false_positives():
    # Box 0 is a normal object, box 1 a crowd region far from it.
    gt = [[10, 10, 110, 110], [300, 200, 500, 400]]
    normal_only = _one_image(gt, [0, 0], [[10, 10, 110, 110]], [0.9], [0], gt_ignore=[False, True])
    evaluator = DetectionEvaluator(CLASSES)
    evaluator.add(**normal_only)
    metrics = evaluator.compute()
    assert metrics["AP"] == pytest.approx(1.0, abs=1e-9)  # The crowd box is not a miss.
    assert metrics["VOC_AP50"] == 1.0
    # A detection on the crowd box, even scored highest, costs nothing.
    both = _one_image(gt, [0, 0], gt, [0.8, 0.95], [0, 0], gt_ignore=[False, True])
    evaluator = DetectionEvaluator(CLASSES)
    evaluator.add(**both)
    metrics = evaluator.compute()
    assert metrics["AP"] == pytest.approx(1.0, abs=1e-9)
    assert metrics["VOC_AP50"] == 1.0
    # Counted as a normal box, the same crowd box is a miss.
    evaluator = DetectionEvaluator(CLASSES)
    evaluator.add(**{**normal_only, "gt_ignore": None})
    assert evaluator.compute()["AP"] < 0.6


def test_empty_images_change_nothing_but_the_count():
    images = _random_images(seed=5, num_images=8)
    rng = np.random.default_rng(6)
    predictions = [_noisy_predictions(im, rng) for im in images]
    evaluator = DetectionEvaluator(CLASSES)
    for image, pred in zip(images, predictions, strict=True):
        evaluator.add(**image, **pred)
    base = evaluator.compute()
    for image_id in (1, 2, 3):
        evaluator.add(**_one_image(np.zeros((0, 4)), [], [], [], [], image_id=image_id))
    with_empty = evaluator.compute()
    assert with_empty.pop("num_images") == base.pop("num_images") + 3
    assert with_empty == base


def test_false_positives_on_an_image_without_objects_lower_ap():
    gt_box = [[50, 50, 250, 250]]
    evaluator = DetectionEvaluator(CLASSES)
    evaluator.add(**_one_image(gt_box, [1], gt_box, [0.5], [1]))
    assert evaluator.compute()["AP50"] == pytest.approx(1.0, abs=1e-9)
    # Higher-scored detection on an image with no ground truth: precision 1/2 at full recall.
    evaluator.add(**_one_image(np.zeros((0, 4)), [], gt_box, [0.9], [1], image_id=2))
    metrics = evaluator.compute()
    assert metrics["AP50"] == pytest.approx(0.5, abs=0.01)  # 101-point sampling of 1/2.
    assert metrics["VOC_AP50"] == pytest.approx(0.5)


def test_no_predictions_at_all_give_zero():
    images = _random_images(seed=7, num_images=5)
    metrics = _evaluate(images, [_empty_predictions() for _ in images])
    for name in ("AP", "AP50", "AP75", "AR1", "AR100", "VOC_AP50"):
        assert metrics[name] == 0.0, name
    assert metrics["num_images"] == 5


def test_undefined_metrics_are_minus_one():
    # Only large objects (area > 96^2): the small and medium metrics have nothing to measure.
    big = [[0, 0, 200, 200]]
    evaluator = DetectionEvaluator(CLASSES)
    evaluator.add(**_one_image(big, [0], big, [1.0], [0]))
    metrics = evaluator.compute()
    assert metrics["APs"] == metrics["APm"] == metrics["ARs"] == -1.0
    assert metrics["APl"] == pytest.approx(1.0, abs=1e-9)
    empty = DetectionEvaluator(CLASSES).compute()
    assert empty["num_images"] == 0
    assert all(empty[name] == -1.0 for name in (*COCO_STAT_NAMES, "VOC_AP50"))


def test_per_class_metrics():
    gt = [[10, 10, 110, 110], [200, 200, 300, 300]]
    # Class 0 found exactly, class 1 missed, class 2 absent from the ground truth.
    image = _one_image(gt, [0, 1], [[10, 10, 110, 110], [400, 50, 450, 90]], [0.9, 0.8], [0, 2])
    evaluator = DetectionEvaluator(CLASSES)
    evaluator.add(**image)
    metrics = evaluator.compute(per_class=True)
    assert metrics["AP/cat"] == pytest.approx(1.0, abs=1e-9)
    assert metrics["AP/dog"] == 0.0
    assert metrics["AP/bird"] == -1.0
    assert (metrics["VOC_AP50/cat"], metrics["VOC_AP50/dog"], metrics["VOC_AP50/bird"]) == (
        1.0,
        0.0,
        -1.0,
    )
    assert metrics["VOC_AP50"] == pytest.approx(0.5)  # Mean over cat and dog only.
    assert metrics["AP"] == pytest.approx(0.5, abs=1e-9)
    assert "AP/cat" not in evaluator.compute()


def test_add_batch_equals_add():
    images = _random_images(seed=8, num_images=4, max_boxes=5)
    rng = np.random.default_rng(9)
    predictions = [_noisy_predictions(im, rng) for im in images]
    expected = _evaluate(images, predictions)

    b, big_k, big_m = 5, 10, 7  # One padding example; K and M larger than any image needs.
    batch = {
        "image_ids": np.full(b, -1),
        "sizes": np.full((b, 2), 1),
        "boxes": np.tile([0.0, 0.0, 1.0, 1.0], (b, big_k, 1)),
        "scores": np.zeros((b, big_k)),
        "labels": np.full((b, big_k), 99),  # Out of range: must never be read.
        "valid": np.zeros((b, big_k), bool),
        "gt_boxes": np.tile([0.0, 0.0, 1.0, 1.0], (b, big_m, 1)),
        "gt_labels": np.full((b, big_m), 99),
        "gt_mask": np.zeros((b, big_m), bool),
        "gt_ignore": np.zeros((b, big_m), bool),
        "image_mask": np.array([True] * 4 + [False]),
    }
    for i, (im, pred) in enumerate(zip(images, predictions, strict=True)):
        m, k = len(im["gt_boxes"]), len(pred["boxes"])
        batch["image_ids"][i] = im["image_id"]
        batch["sizes"][i] = (HEIGHT, WIDTH)
        batch["gt_boxes"][i, :m], batch["gt_labels"][i, :m] = im["gt_boxes"], im["gt_labels"]
        batch["gt_mask"][i, :m] = True
        batch["boxes"][i, :k], batch["scores"][i, :k] = pred["boxes"], pred["scores"]
        batch["labels"][i, :k], batch["valid"][i, :k] = pred["labels"], True
    evaluator = DetectionEvaluator(CLASSES)
    evaluator.add_batch(**batch)
    assert evaluator.compute() == expected


@pytest.mark.parametrize(("field", "bad"), [("labels", 3), ("labels", -1), ("gt_labels", 7)])
def test_label_out_of_range_is_named(field, bad):
    image = _one_image([[0, 0, 10, 10]], [0], [[0, 0, 10, 10]], [0.5], [0])
    image[field] = np.array([bad])
    with pytest.raises(ValueError, match=f"label {bad} is outside"):
        DetectionEvaluator(CLASSES).add(**image)


def test_bad_inputs_raise():
    evaluator = DetectionEvaluator(CLASSES)
    good = _one_image([[0, 0, 10, 10]], [0], [[0, 0, 10, 10]], [0.5], [0])
    with pytest.raises(ValueError, match="x2 >= x1"):
        evaluator.add(**{**good, "boxes": np.array([[10.0, 0, 5, 10]])})
    with pytest.raises(ValueError, match="shape"):
        evaluator.add(**{**good, "scores": np.array([0.5, 0.4])})
    with pytest.raises(ValueError, match="shape"):
        evaluator.add(**{**good, "gt_boxes": np.zeros((1, 5))})
    evaluator.add(**good)
    with pytest.raises(ValueError, match="already added"):
        evaluator.add(**good)
    with pytest.raises(ValueError, match="class_names"):
        DetectionEvaluator([])
