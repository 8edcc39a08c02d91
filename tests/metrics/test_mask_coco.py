"""Tests of jaxvision.metrics.mask_coco: COCO mask AP through pycocotools on known masks."""

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from jaxvision.metrics.mask_coco import MaskEvaluator, encode_masks

CLASSES = ("square", "ring", "bar")


def _masks(h, w, *rects):
    out = np.zeros((len(rects), h, w), bool)
    for i, (y0, x0, y1, x1) in enumerate(rects):
        out[i, y0:y1, x0:x1] = True
    return out


def _ring(h, w, y0, x0, y1, x1, t=2):
    ring = _masks(h, w, (y0, x0, y1, x1))[0]
    ring[y0 + t : y1 - t, x0 + t : x1 - t] = False
    return ring


def test_rle_round_trip():
    masks = np.random.default_rng(0).uniform(size=(3, 7, 5)) > 0.5
    rles = encode_masks(masks)
    assert all(isinstance(r["counts"], str) for r in rles)
    np.testing.assert_array_equal(mask_utils.decode(rles).transpose(2, 0, 1), masks)
    assert encode_masks(np.zeros((0, 4, 4))) == []


def test_perfect_masks_give_one():
    ev = MaskEvaluator(CLASSES)
    a = _masks(40, 50, (2, 3, 20, 30), (25, 10, 38, 45))
    b = np.stack([_ring(40, 50, 5, 5, 35, 35), _masks(40, 50, (0, 40, 40, 48))[0]])
    ev.add(
        image_id=1,
        gt_masks=a,
        gt_labels=[0, 2],
        gt_ignore=None,
        masks=a[::-1],
        scores=[0.6, 0.9],
        labels=[2, 0],
    )
    ev.add(
        image_id=2,
        gt_masks=b,
        gt_labels=[1, 2],
        gt_ignore=None,
        masks=b,
        scores=[0.7, 0.8],
        labels=[1, 2],
    )
    ev.add(
        image_id=3,
        gt_masks=np.zeros((0, 40, 50)),
        gt_labels=[],
        gt_ignore=None,
        masks=[],
        scores=[],
        labels=[],
    )  # an image without instances
    metrics = ev.compute(per_class=True)
    assert metrics["mask_AP"] == pytest.approx(1.0)
    assert metrics["mask_AP50"] == pytest.approx(1.0)
    assert metrics["mask_AP75"] == pytest.approx(1.0)
    assert metrics["mask_num_images"] == 3
    assert [metrics[f"mask_AP/{c}"] for c in CLASSES] == pytest.approx([1.0, 1.0, 1.0])


def test_mask_iou_not_box_iou_decides():
    """A filled box over a ring gt has box IoU 1 but mask IoU area(ring) / area(box)."""
    ring = _ring(40, 40, 5, 5, 35, 35, t=6)  # 30 x 30 box, ring 576 / 900 = 0.64
    filled = _masks(40, 40, (5, 5, 35, 35))
    ev = MaskEvaluator(CLASSES)
    ev.add(
        image_id=0,
        gt_masks=ring[None],
        gt_labels=[1],
        gt_ignore=None,
        masks=filled,
        scores=[0.9],
        labels=[1],
    )
    metrics = ev.compute()
    # IoU 0.64 passes the thresholds 0.50 ... 0.60: 3 of 10.
    assert metrics["mask_AP50"] == pytest.approx(1.0)
    assert metrics["mask_AP75"] == pytest.approx(0.0)
    assert metrics["mask_AP"] == pytest.approx(0.3)


def test_shifted_mask_and_misses():
    gt = _masks(30, 30, (5, 5, 15, 15))  # 10 x 10
    shifted = _masks(30, 30, (5, 7, 15, 17))  # IoU 80 / 120 = 0.667: 4 thresholds of 10
    ev = MaskEvaluator(CLASSES)
    ev.add(
        image_id=0,
        gt_masks=gt,
        gt_labels=[0],
        gt_ignore=None,
        masks=shifted,
        scores=[0.9],
        labels=[0],
    )
    assert ev.compute()["mask_AP"] == pytest.approx(0.4)
    ev.add(
        image_id=1, gt_masks=gt, gt_labels=[0], gt_ignore=None, masks=gt, scores=[0.5], labels=[1]
    )  # wrong class: a miss and a false positive
    metrics = ev.compute()
    assert metrics["mask_AP50"] == pytest.approx(51 / 101)  # recall 0.5: 51 of 101 points


def test_crowd_ground_truth_is_ignored():
    gt = _masks(30, 30, (5, 5, 15, 15), (18, 18, 28, 28))
    ev = MaskEvaluator(CLASSES)
    ev.add(
        image_id=0,
        gt_masks=gt,
        gt_labels=[0, 0],
        gt_ignore=[False, True],
        masks=gt[:1],
        scores=[0.9],
        labels=[0],
    )
    assert ev.compute()["mask_AP"] == pytest.approx(1.0)


def test_no_images_and_bad_input():
    assert MaskEvaluator(CLASSES).compute()["mask_AP"] == -1.0
    ev = MaskEvaluator(CLASSES)
    with pytest.raises(ValueError, match="disagree"):
        ev.add(
            image_id=0,
            gt_masks=np.zeros((1, 4, 4)),
            gt_labels=[0],
            gt_ignore=None,
            masks=np.zeros((1, 4, 5)),
            scores=[1.0],
            labels=[0],
        )
    with pytest.raises(ValueError, match="labels"):
        ev.add(
            image_id=0,
            gt_masks=np.zeros((1, 4, 4)),
            gt_labels=[3],
            gt_ignore=None,
            masks=[],
            scores=[],
            labels=[],
        )
    with pytest.raises(ValueError, match="scores"):
        ev.add(
            image_id=0,
            gt_masks=np.zeros((1, 4, 4)),
            gt_labels=[0],
            gt_ignore=None,
            masks=np.zeros((1, 4, 4)),
            scores=[],
            labels=[0],
        )
    ev.add(
        image_id=0,
        gt_masks=np.zeros((0, 4, 4)),
        gt_labels=[],
        gt_ignore=None,
        masks=[],
        scores=[],
        labels=[],
    )
    with pytest.raises(ValueError, match="already"):
        ev.add(
            image_id=0,
            gt_masks=np.zeros((0, 4, 4)),
            gt_labels=[],
            gt_ignore=None,
            masks=[],
            scores=[],
            labels=[],
        )
