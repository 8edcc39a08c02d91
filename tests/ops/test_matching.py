"""Tests of jaxvision.ops.matching against Python-loop references."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.ops import matching


def ref_match_anchors(iou, gt_mask, fg, bg, low_quality):
    """torchvision's Matcher, written as loops (thresholds compared in float32 like JAX)."""
    iou = np.asarray(iou, np.float32)
    fg, bg = np.float32(fg), np.float32(bg)
    n, m = iou.shape
    valid = [j for j in range(m) if gt_mask[j]]
    matched = np.zeros(n, np.int32)
    labels = np.zeros(n, np.int32)
    if not valid:
        return matched, labels
    for i in range(n):
        best_j = valid[0]
        for j in valid:
            if iou[i, j] > iou[i, best_j]:  # strict: the first of ties wins
                best_j = j
        matched[i] = best_j
        best = iou[i, best_j]
        labels[i] = 1 if best >= fg else (0 if best < bg else -1)
    if low_quality:
        for j in valid:
            highest = max(iou[i, j] for i in range(n))
            if highest > 0:
                for i in range(n):
                    if iou[i, j] == highest:
                        labels[i] = 1
    return matched, labels


def random_iou(rng, n, m):
    """IoUs on a 0.1 grid (many ties, values exactly at the thresholds)."""
    return (rng.integers(0, 11, (n, m)) / 10).astype(np.float32)


@pytest.mark.parametrize("low_quality", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_match_anchors_matches_reference(seed, low_quality):
    rng = np.random.default_rng(seed)
    n, m, batch = 40, 6, 5
    ious = np.stack([random_iou(rng, n, m) for _ in range(batch)])  # [b, n, m]
    ious[1] *= 0.5  # low IoUs: background and low-quality matches
    masks = rng.random((batch, m)) < 0.6
    masks[2] = False  # all padded
    masks[3] = True
    ious[4, :, 2] = 0.0  # a valid gt without any overlap gets no low-quality match
    masks[4, 2] = True
    fn = functools.partial(
        matching.match_anchors,
        foreground_iou=0.5,
        background_iou=0.4,
        allow_low_quality=low_quality,
    )
    matched, labels = jax.jit(jax.vmap(fn))(jnp.asarray(ious), jnp.asarray(masks))
    assert matched.dtype == jnp.int32 and labels.dtype == jnp.int32
    for b in range(batch):
        ref_matched, ref_labels = ref_match_anchors(ious[b], masks[b], 0.5, 0.4, low_quality)
        np.testing.assert_array_equal(np.asarray(labels[b]), ref_labels, err_msg=f"image {b}")
        np.testing.assert_array_equal(np.asarray(matched[b]), ref_matched, err_msg=f"image {b}")
        # Padded gts never match.
        if masks[b].any():
            assert masks[b][np.asarray(matched[b])].all()
    np.testing.assert_array_equal(np.asarray(labels[2]), 0)  # all padded: all background


def test_match_anchors_hand_example_and_edge_cases():
    iou = jnp.array([[0.7, 0.1], [0.45, 0.2], [0.1, 0.3], [0.0, 0.0]])
    matched, labels = matching.match_anchors(iou, jnp.array([True, True]))
    np.testing.assert_array_equal(np.asarray(matched), [0, 0, 1, 0])
    np.testing.assert_array_equal(np.asarray(labels), [1, -1, 1, 0])
    # The padded gt 0 is ignored even with the highest IoU.
    matched, labels = matching.match_anchors(iou, jnp.array([False, True]))
    np.testing.assert_array_equal(np.asarray(matched), [1, 1, 1, 1])
    np.testing.assert_array_equal(np.asarray(labels), [0, 0, 1, 0])
    # No gts at all.
    matched, labels = matching.match_anchors(jnp.zeros((3, 0)), jnp.zeros((0,), bool))
    assert matched.shape == labels.shape == (3,)
    np.testing.assert_array_equal(np.asarray(labels), 0)
    with pytest.raises(ValueError, match="background_iou"):
        matching.match_anchors(iou, jnp.array([True, True]), 0.4, 0.5)
    with pytest.raises(ValueError, match="gt_mask"):
        matching.match_anchors(iou, jnp.array([True]))


# ------------------------------------------------------------------ FCOS


def ref_fcos(points, point_strides, gt_boxes, gt_mask, size_ranges, strides, radius):
    n, m = len(points), len(gt_boxes)
    matched = np.zeros(n, np.int32)
    positive = np.zeros(n, bool)
    for i, ((x, y), stride) in enumerate(zip(points, point_strides, strict=True)):
        lo, hi = size_ranges[list(strides).index(int(stride))]
        best_area = math.inf
        for j in range(m):
            if not gt_mask[j]:
                continue
            x1, y1, x2, y2 = gt_boxes[j]
            ltrb = [x - x1, y - y1, x2 - x, y2 - y]
            if min(ltrb) <= 0:
                continue
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            r = radius * stride
            rx1, ry1 = max(cx - r, x1), max(cy - r, y1)
            rx2, ry2 = min(cx + r, x2), min(cy + r, y2)
            if not (rx1 < x < rx2 and ry1 < y < ry2):
                continue
            if not lo <= max(ltrb) <= hi:
                continue
            gt_area = (x2 - x1) * (y2 - y1)
            if gt_area < best_area:  # strict: the lowest index wins ties
                best_area, matched[i], positive[i] = gt_area, j, True
    return matched, positive


def _points(image_size, strides):
    from jaxvision.ops import anchors

    return anchors.point_grid(image_size, strides)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fcos_targets_match_reference(seed):
    rng = np.random.default_rng(seed)
    strides = (8, 16, 32)
    size_ranges = ((0, 16), (16, 32), (32, math.inf))
    points, point_strides = _points((64, 64), strides)
    batch, m = 3, 8
    xy = rng.uniform(0, 50, (batch, m, 2))
    wh = rng.choice([8.0, 16.0, 24.0, 40.0, 60.0], (batch, m, 2))  # repeated areas: ties
    gt = np.concatenate([xy, xy + wh], -1).astype(np.float32)  # [b, m, 4]
    gt[:, 0] = gt[:, 1]  # a duplicate gt: the first index must win
    gt[:, 2, 2:] = gt[:, 2, :2]  # a degenerate (empty) gt
    mask = rng.random((batch, m)) < 0.8
    mask[:, 0] = mask[:, 1] = True
    mask[2] = False  # all padded
    fn = functools.partial(
        matching.fcos_targets, size_ranges=size_ranges, strides=strides, center_radius=1.5
    )
    matched, positive = jax.jit(jax.vmap(fn, in_axes=(None, None, 0, 0)))(
        points, point_strides, gt, mask
    )
    for b in range(batch):
        ref_matched, ref_positive = ref_fcos(
            points, point_strides, gt[b], mask[b], size_ranges, strides, 1.5
        )
        np.testing.assert_array_equal(np.asarray(positive[b]), ref_positive)
        np.testing.assert_array_equal(np.asarray(matched[b]), ref_matched)
    assert np.asarray(positive[:2]).any()  # the test exercises positives
    assert not np.asarray(positive[2]).any()


def test_fcos_targets_hand_example():
    points, point_strides = _points((64, 64), (8,))
    big = [0.0, 0.0, 64.0, 64.0]
    small = [24.0, 24.0, 40.0, 40.0]
    gt = jnp.array([big, small, [0.0, 0.0, 0.0, 0.0]])
    mask = jnp.array([True, True, False])
    matched, positive = matching.fcos_targets(
        points, point_strides, gt, mask, ((0, math.inf),), (8,), center_radius=1.5
    )
    positive = np.asarray(positive).reshape(8, 8)
    # Centre 32, radius 12: cell centres 28 and 36 only, on both axes.
    expected = np.zeros((8, 8), bool)
    expected[3:5, 3:5] = True
    np.testing.assert_array_equal(positive, expected)
    # Those points are inside both boxes: the smaller one wins.
    np.testing.assert_array_equal(np.asarray(matched).reshape(8, 8)[3:5, 3:5], 1)
    # Without centre sampling the big box covers every point; a size range cuts it.
    matched, positive = matching.fcos_targets(
        points, point_strides, gt, mask, ((0, 40),), (8,), center_radius=math.inf
    )
    max_dist = np.maximum(
        np.maximum(points[:, 0], 64 - points[:, 0]), np.maximum(points[:, 1], 64 - points[:, 1])
    )
    np.testing.assert_array_equal(np.asarray(positive), max_dist <= 40)
    # No gts.
    matched, positive = matching.fcos_targets(
        points, point_strides, jnp.zeros((0, 4)), jnp.zeros((0,), bool), ((0, 64),), (8,)
    )
    assert matched.shape == positive.shape == (64,) and not np.asarray(positive).any()
    with pytest.raises(ValueError, match="size_ranges"):
        matching.fcos_targets(points, point_strides, gt, mask, ((0, 1), (1, 2)), (8,))
