"""Tests of jaxvision.ops.proposals (RPN proposals) and jaxvision.ops.roi_sampling (targets)
against NumPy references."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.ops import anchors as anchor_ops
from jaxvision.ops import boxes as box_ops
from jaxvision.ops import proposals, roi_sampling
from tests.ops.test_nms import ref_greedy_nms, ref_iou


def ref_decode(delta, anchor):
    """torchvision's BoxCoder.decode_single for one box (weights 1)."""
    w, h = anchor[2] - anchor[0], anchor[3] - anchor[1]
    cx, cy = anchor[0] + 0.5 * w, anchor[1] + 0.5 * h
    dw, dh = min(delta[2], np.log(1000 / 16)), min(delta[3], np.log(1000 / 16))
    pcx, pcy, pw, ph = cx + delta[0] * w, cy + delta[1] * h, np.exp(dw) * w, np.exp(dh) * h
    return np.array([pcx - pw / 2, pcy - ph / 2, pcx + pw / 2, pcy + ph / 2])


def ref_proposals(logits, deltas, anchors, counts, hw, pre, post, iou):
    """Detectron2's find_top_rpn_proposals, one image, in NumPy."""
    cands = []  # (score, box, level)
    start = 0
    for level, count in enumerate(counts):
        scores = logits[start : start + count]
        order = sorted(range(count), key=lambda i: (-scores[i], i))[:pre]
        for i in order:
            box = ref_decode(deltas[start + i], anchors[start + i])
            box = np.clip(box, 0, [hw[1], hw[0], hw[1], hw[0]])
            if box[2] > box[0] and box[3] > box[1]:
                cands.append((scores[i], box, level))
        start += count
    kept = ref_greedy_nms(
        [c[1] for c in cands], [c[0] for c in cands], iou, classes=[c[2] for c in cands]
    )[:post]
    return np.array([cands[k][1] for k in kept]).reshape(-1, 4), [cands[k][0] for k in kept]


def test_proposals_match_reference():
    hw, strides = (32, 48), (4, 8, 16)
    anchors = anchor_ops.anchor_grid(hw, strides, (8, 16, 32), (1.0,), (0.5, 1.0, 2.0))
    counts = proposals.level_counts(hw, strides, 3)
    assert sum(counts) == len(anchors)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=len(anchors)).astype(np.float32)
    deltas = rng.normal(scale=0.5, size=(len(anchors), 4)).astype(np.float32)
    deltas[5, 2] = -30.0  # a degenerate box: dropped
    run = jax.jit(
        functools.partial(
            proposals.generate_proposals,
            level_counts=counts,
            image_hw=hw,
            pre_nms_top_k=40,
            post_nms_top_k=90,
            nms_iou=0.6,
        )
    )
    out = run(logits, deltas, anchors)
    ref_boxes, ref_scores = ref_proposals(logits, deltas, anchors, counts, hw, 40, 90, 0.6)
    k = len(ref_scores)
    assert 0 < k < 90 and int(out["valid"].sum()) == k  # 40 + 40 + 18 candidates, NMS'd
    np.testing.assert_allclose(np.asarray(out["boxes"][:k]), ref_boxes, atol=1e-4)
    np.testing.assert_allclose(np.asarray(out["scores"][:k]), ref_scores, atol=1e-6)
    assert np.all(np.asarray(out["boxes"][k:]) == 0)


def test_top_k_per_level_bad_counts():
    with pytest.raises(ValueError, match="sum"):
        proposals.top_k_per_level(jnp.zeros(5), (2, 2), 1)


def test_balanced_sample_counts_and_order():
    rng = np.random.default_rng(1)
    for n_fg, n_bg in [(3, 50), (40, 50), (0, 10), (2, 1), (0, 0)]:
        fg = np.zeros(60, bool)
        bg = np.zeros(60, bool)
        perm = rng.permutation(60)
        fg[perm[:n_fg]] = True
        bg[perm[n_fg : n_fg + n_bg]] = True
        index, valid, positive = roi_sampling.balanced_sample(
            jnp.asarray(fg), jnp.asarray(bg), jax.random.key(n_fg), 16, 0.25
        )
        index, valid, positive = map(np.asarray, (index, valid, positive))
        num_pos = min(n_fg, 4)
        assert positive.sum() == num_pos and np.all(positive[:num_pos])
        assert valid.sum() == num_pos + min(n_bg, 16 - num_pos)
        assert np.all(fg[index[positive]]) and np.all(bg[index[valid & ~positive]])
        assert len(set(index[valid].tolist())) == valid.sum()  # no candidate twice


def test_balanced_sample_is_random():
    fg = jnp.arange(100) < 50
    picks = [
        set(np.asarray(roi_sampling.balanced_sample(fg, ~fg, jax.random.key(s), 8, 0.5)[0]))
        for s in range(2)
    ]
    assert picks[0] != picks[1]


def test_rpn_targets():
    anchors = jnp.asarray(anchor_ops.anchor_grid((32, 32), (8,), (16,), (1.0,), (1.0,)))
    gt = jnp.array([[-4.0, -4.0, 12.0, 12.0], [14.0, 10.0, 26.0, 30.0], [0, 0, 0, 0]])
    valid = jnp.array([True, True, False])
    out = roi_sampling.rpn_targets(
        anchors, gt, valid, jax.random.key(0), num_samples=8, positive_fraction=0.5
    )
    iou = np.asarray(box_ops.pairwise_iou(anchors, gt))[:, :2]
    pos = np.asarray(out["indices"])[np.asarray(out["positive"])]
    # anchor 0 is gt 0; gt 1's best anchor (IoU 0.63 < 0.7) is a low-quality match
    assert iou[0, 0] == 1 and 0.5 < iou[:, 1].max() < 0.7
    assert set(pos.tolist()) == {0, int(np.argmax(iou[:, 1]))}
    neg = np.asarray(out["indices"])[np.asarray(out["valid"] & ~out["positive"])]
    assert np.all(iou[neg].max(1) < 0.3) and len(neg) == 6
    decoded = box_ops.decode(out["box_targets"], anchors[out["indices"]])[: len(pos)]
    np.testing.assert_allclose(np.sort(np.asarray(decoded), 0), np.sort(gt[:2], 0), atol=1e-4)


def test_sample_rois_targets():
    gt = jnp.array([[2.0, 2.0, 12.0, 12.0], [20.0, 4.0, 30.0, 30.0], [0, 0, 0, 0]])
    labels = jnp.array([4, 1, -1])
    gt_valid = jnp.array([True, True, False])
    props = jnp.array([[3.0, 2.0, 12.0, 12.0], [20, 5, 30, 30], [40, 40, 50, 50], [0, 0, 1, 1]])
    props_valid = jnp.array([True, True, True, False])
    out = roi_sampling.sample_rois(
        props,
        props_valid,
        gt,
        labels,
        gt_valid,
        jax.random.key(0),
        num_classes=5,
        num_samples=6,
        positive_fraction=0.5,
    )
    valid, positive = np.asarray(out["valid"]), np.asarray(out["positive"])
    # candidates: 2 positive proposals + 2 gts (4 positives, 3 kept) and 1 negative
    assert positive.tolist() == [True, True, True, False, False, False]
    assert valid.tolist() == [True, True, True, True, False, False]
    rois = np.asarray(out["rois"])
    for j in range(3):
        k = int(out["matched_gt"][j])
        assert ref_iou(rois[j], np.asarray(gt[k])) >= 0.5
        assert int(out["labels"][j]) == int(labels[k])
        decoded = box_ops.decode(out["box_targets"][j], rois[j], roi_sampling.ROI_DELTA_WEIGHTS)
        np.testing.assert_allclose(np.asarray(decoded), np.asarray(gt[k]), atol=1e-4)
    np.testing.assert_array_equal(rois[3], [40, 40, 50, 50])
    assert out["labels"][3:].tolist() == [5, 5, 5]


def test_sample_rois_without_gt_samples_negatives():
    props = jnp.array([[3.0, 2.0, 12.0, 12.0], [20, 5, 30, 30]])
    out = roi_sampling.sample_rois(
        props,
        jnp.array([True, True]),
        jnp.zeros((2, 4)),
        jnp.full((2,), -1),
        jnp.zeros((2,), bool),
        jax.random.key(0),
        num_classes=3,
        num_samples=4,
    )
    assert out["valid"].tolist() == [True, True, False, False]
    assert not out["positive"].any() and out["labels"].tolist() == [3, 3, 3, 3]


def test_mask_targets_crop_the_matched_instance():
    masks = np.zeros((2, 20, 20), np.uint8)
    masks[0, 4:12, 6:10] = 1  # a 4 x 8 bar
    masks[1] = 1
    rois = jnp.array([[6.0, 4.0, 10.0, 12.0], [6.0, 4.0, 14.0, 12.0], [0.0, 0.0, 20.0, 20.0]])
    t = np.asarray(roi_sampling.mask_targets(masks, jnp.array([0, 0, 1]), rois, 8))
    assert np.all(t[0] == 1)  # the RoI is the bar
    np.testing.assert_array_equal(t[1], np.repeat([[1] * 4 + [0] * 4], 8, 0))  # left half
    assert np.all(t[2] == 1)
