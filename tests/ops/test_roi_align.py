"""Tests of jaxvision.ops.roi_align against a NumPy port of torchvision's CPU RoIAlign kernel."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.ops import roi_align as ra


def ref_bilinear(feature, y, x):
    """torchvision's ``bilinear_interpolate`` at one point of an [h, w, c] map."""
    h, w = feature.shape[:2]
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return np.zeros(feature.shape[-1])
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= h - 1:
        y_high = y_low = h - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= w - 1:
        x_high = x_low = w - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return (
        hy * hx * feature[y_low, x_low]
        + hy * lx * feature[y_low, x_high]
        + ly * hx * feature[y_high, x_low]
        + ly * lx * feature[y_high, x_high]
    )


def ref_roi_align(feature, boxes, out_h, out_w, scale, ratio, aligned):
    """torchvision's ``roi_align_forward_kernel_impl`` (fixed sampling ratio), in float64."""
    feature = np.asarray(feature, np.float64)
    offset = 0.5 if aligned else 0.0
    out = np.zeros((len(boxes), out_h, out_w, feature.shape[-1]))
    for n, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, np.float64)):
        start_x, start_y = x1 * scale - offset, y1 * scale - offset
        roi_w, roi_h = (x2 - x1) * scale, (y2 - y1) * scale
        if not aligned:
            roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
        bin_h, bin_w = roi_h / out_h, roi_w / out_w
        for ph in range(out_h):
            for pw in range(out_w):
                acc = np.zeros(feature.shape[-1])
                for iy in range(ratio):
                    y = start_y + ph * bin_h + (iy + 0.5) * bin_h / ratio
                    for ix in range(ratio):
                        x = start_x + pw * bin_w + (ix + 0.5) * bin_w / ratio
                        acc += ref_bilinear(feature, y, x)
                out[n, ph, pw] = acc / (ratio * ratio)
    return out


# Boxes in image pixels of a 10 x 12 map (scale 1): inside, on the borders, across the
# borders, wholly outside, sub-pixel, degenerate and inverted.
BOXES = np.array(
    [
        [1.0, 2.0, 7.0, 6.0],  # inside
        [0.0, 0.0, 12.0, 10.0],  # the whole map, on its borders
        [-3.0, -2.5, 4.0, 3.0],  # across the top-left border
        [9.3, 7.1, 14.8, 12.6],  # across the bottom-right border
        [-6.0, -6.0, -1.2, -1.6],  # outside (samples past -1: zeros)
        [3.2, 4.7, 3.6, 5.05],  # sub-pixel
        [5.5, 5.5, 5.5, 5.5],  # empty
        [11.6, 9.6, 11.9, 9.9],  # sub-pixel at the last pixel
        [6.0, 4.0, 2.0, 1.0],  # inverted
    ],
    np.float32,
)


@pytest.mark.parametrize("impl", ["gather", "matmul"])
@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("ratio,output_size", [(2, (3, 4)), (1, (2, 2)), (3, (1, 1))])
def test_matches_reference_on_and_across_borders(aligned, ratio, output_size, impl):
    feature = np.random.default_rng(0).normal(size=(10, 12, 3)).astype(np.float32)
    out = ra.roi_align(
        feature, BOXES, output_size, sampling_ratio=ratio, aligned=aligned, impl=impl
    )
    expected = ref_roi_align(feature, BOXES, *output_size, 1.0, ratio, aligned)
    np.testing.assert_allclose(np.asarray(out), expected, atol=2e-5)
    assert np.all(np.asarray(out)[4] == 0)  # the box outside the map


@pytest.mark.parametrize("impl", ["gather", "matmul"])
def test_spatial_scale_and_batch(impl):
    rng = np.random.default_rng(1)
    features = rng.normal(size=(2, 6, 5, 4)).astype(np.float32)
    boxes = rng.uniform(-8, 48, size=(2, 7, 4)).astype(np.float32)  # image pixels, stride 8
    boxes[..., 2:] = boxes[..., :2] + rng.uniform(0.1, 30, size=(2, 7, 2))
    out = jax.jit(lambda f, b: ra.roi_align(f, b, 7, spatial_scale=1 / 8, impl=impl))(
        features, boxes
    )
    for i in range(2):
        expected = ref_roi_align(features[i], boxes[i], 7, 7, 1 / 8, 2, True)
        np.testing.assert_allclose(np.asarray(out[i]), expected, atol=2e-5)


@pytest.mark.parametrize("impl", ["gather", "matmul"])
def test_bfloat16_features_keep_their_dtype(impl):
    feature = jnp.asarray(np.random.default_rng(2).normal(size=(8, 8, 2)), jnp.bfloat16)
    out = ra.roi_align(feature, BOXES[:4], 2, impl=impl)
    assert out.dtype == jnp.bfloat16
    expected = ref_roi_align(np.asarray(feature, np.float32), BOXES[:4], 2, 2, 1.0, 2, True)
    np.testing.assert_allclose(np.asarray(out, np.float32), expected, atol=3e-2)


def test_gradient_is_the_transposed_sampling():
    """RoIAlign is linear in the features: its gradient for an upstream one-hot is the
    reference's response to each input pixel."""
    feature = np.random.default_rng(3).normal(size=(5, 6, 1)).astype(np.float32)
    boxes = BOXES[[0, 2, 5]] * 0.5
    grad = jax.grad(lambda f: ra.roi_align(f, boxes, 2)[1, 0, 1, 0])(jnp.asarray(feature))
    expected = np.zeros_like(feature)
    for y in range(5):
        for x in range(6):
            basis = np.zeros_like(feature)
            basis[y, x, 0] = 1.0
            expected[y, x, 0] = ref_roi_align(basis, boxes, 2, 2, 1.0, 2, True)[1, 0, 1, 0]
    np.testing.assert_allclose(np.asarray(grad), expected, atol=1e-6)


def test_fpn_levels_follow_the_paper():
    sizes = np.array([8.0, 111.0, 112.0, 223.0, 224.0, 448.0, 2000.0])
    boxes = np.stack([np.zeros_like(sizes), np.zeros_like(sizes), sizes, sizes], -1)
    expected = np.clip(np.floor(4 + np.log2(sizes / 224 + 1e-6)), 2, 5)
    np.testing.assert_array_equal(np.asarray(ra.fpn_levels(boxes, 2, 5)), expected)
    assert ra.fpn_levels(np.zeros((1, 4)), 2, 5).tolist() == [2]  # empty box: lowest level


def test_multilevel_reads_each_box_on_its_level():
    rng = np.random.default_rng(4)
    pyramid = {
        lvl: rng.normal(size=(2, 64 >> lvl, 48 >> lvl, 3)).astype(np.float32) for lvl in (2, 3, 4)
    }
    sizes = rng.uniform(4, 60, size=(2, 9, 2))
    corners = rng.uniform(-5, 40, size=(2, 9, 2))
    boxes = np.concatenate([corners, corners + sizes], -1).astype(np.float32)  # [2, 9, 4]
    out = jax.jit(
        lambda p, b: ra.multilevel_roi_align(p, b, (3, 2), canonical_size=16, canonical_level=3)
    )(pyramid, boxes)
    levels = np.asarray(ra.fpn_levels(boxes, 2, 4, 16, 3))
    assert set(levels.ravel()) == {2, 3, 4}
    for i in range(2):
        for j in range(9):
            lvl = int(levels[i, j])
            expected = ref_roi_align(pyramid[lvl][i], boxes[i, j : j + 1], 3, 2, 2.0**-lvl, 2, True)
            np.testing.assert_allclose(np.asarray(out[i, j : j + 1]), expected, atol=2e-5)


def test_flat_form_reads_per_box_offsets():
    masks = np.random.default_rng(5).uniform(size=(3, 6, 7)).astype(np.float32)
    boxes = BOXES[[0, 3, 5, 2]]
    owner = np.array([2, 0, 1, 2])
    out = ra.roi_align_flat(
        masks.reshape(-1, 1), boxes, np.full(4, 6), np.full(4, 7), owner * 42, np.ones(4), 4
    )
    for j in range(4):
        expected = ref_roi_align(masks[owner[j], :, :, None], boxes[j : j + 1], 4, 4, 1.0, 2, True)
        np.testing.assert_allclose(np.asarray(out[j : j + 1]), expected, atol=2e-5)


def test_bad_input():
    feature = np.zeros((4, 4, 1), np.float32)
    with pytest.raises(ValueError, match="sampling_ratio"):
        ra.roi_align(feature, BOXES, 2, sampling_ratio=0)
    with pytest.raises(ValueError, match="output_size"):
        ra.roi_align(feature, BOXES, (2, 0))
    with pytest.raises(ValueError, match="boxes"):
        ra.roi_align(feature, BOXES[:, :3], 2)
    with pytest.raises(ValueError, match="batched features"):
        ra.roi_align(feature[None], BOXES, 2)
    with pytest.raises(ValueError, match="consecutive"):
        ra.multilevel_roi_align({2: feature[None], 4: feature[None]}, BOXES[None], 2)
