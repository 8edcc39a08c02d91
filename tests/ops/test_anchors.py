"""Tests of jaxvision.ops.anchors: counts, centres, shapes and order of anchor/point grids."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxvision.ops import anchors


def test_feature_sizes_match_a_chain_of_stride_2_same_convs():
    image_size = (100, 75)
    strides = (2, 4, 8, 16, 32, 64, 128)
    sizes = anchors.feature_sizes(image_size, strides)
    assert sizes == [(math.ceil(100 / s), math.ceil(75 / s)) for s in strides]
    # What a backbone of stride-2 SAME convs actually gives (shapes only, no compute).
    x = jax.ShapeDtypeStruct((1, *image_size, 1), jnp.float32)
    kernel = jnp.ones((3, 3, 1, 1))
    shapes = []
    for _ in strides:
        x = jax.eval_shape(
            lambda v: lax.conv_general_dilated(
                v, kernel, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
            ),
            x,
        )
        shapes.append(tuple(x.shape[1:3]))
    assert sizes == shapes


def test_feature_sizes_bad_inputs():
    with pytest.raises(ValueError, match="image_size"):
        anchors.feature_sizes((0, 10), (8,))
    with pytest.raises(ValueError, match="strides"):
        anchors.feature_sizes((10, 10), ())


def _reference_anchor_grid(image_size, strides, sizes, scales, ratios):
    """Python loops in the documented order: level, y, x, aspect ratio, scale."""
    out = []
    for stride, size in zip(strides, sizes, strict=True):
        h, w = math.ceil(image_size[0] / stride), math.ceil(image_size[1] / stride)
        for y in range(h):
            for x in range(w):
                cx, cy = (x + 0.5) * stride, (y + 0.5) * stride
                for ratio in ratios:
                    for s in scales:
                        area = (size * s) ** 2
                        bw = math.sqrt(area / ratio)  # ratio = height / width
                        bh = bw * ratio
                        out.append([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
    return np.array(out)


def test_anchor_grid_known_small_grid():
    image_size, strides, sizes = (40, 48), (16, 32), (16, 40)
    scales, ratios = (1.0, 2.0), (0.5, 1.0, 2.0)
    grid = anchors.anchor_grid(image_size, strides, sizes, scales, ratios)
    assert grid.dtype == np.float32
    # 16: 3 x 3 cells, 32: 2 x 2 cells; 6 anchors a cell.
    assert grid.shape == ((9 + 4) * 6, 4)
    assert anchors.num_anchors_per_cell(scales, ratios) == 6
    np.testing.assert_allclose(
        grid, _reference_anchor_grid(image_size, strides, sizes, scales, ratios), rtol=1e-6
    )
    # Centres, areas and aspect ratios, checked directly on the first level.
    level = grid[: 9 * 6].reshape(3, 3, 3, 2, 4)  # [y, x, ratio, scale, 4]
    centres = (level[..., :2] + level[..., 2:]) / 2
    widths, heights = level[..., 2] - level[..., 0], level[..., 3] - level[..., 1]
    for y in range(3):
        for x in range(3):
            np.testing.assert_allclose(
                centres[y, x], np.broadcast_to([8 + 16 * x, 8 + 16 * y], (3, 2, 2))
            )
    np.testing.assert_allclose(
        widths * heights, np.broadcast_to([[256.0, 1024.0]], (3, 3, 3, 2)), rtol=1e-5
    )
    np.testing.assert_allclose(
        heights / widths, np.broadcast_to([[0.5], [1.0], [2.0]], (3, 3, 3, 2)), rtol=1e-5
    )


def test_anchor_order_matches_a_head_reshape():
    """A head writing, for anchor a of cell (y, x), (cx, cy, w, h) into channels a*4 .. a*4+3
    of its [b, h, w, A * 4] output, reshaped to [b, h*w*A, 4] and concatenated over levels,
    must line up with anchor_grid."""
    image_size, strides, sizes = (64, 96), (16, 32, 64), (24, 48, 96)
    scales, ratios = (1.0, 1.5), (0.5, 1.0, 2.0)
    num_anchors = len(scales) * len(ratios)
    outputs = []
    for (h, w), stride, size in zip(
        anchors.feature_sizes(image_size, strides), strides, sizes, strict=True
    ):
        wh = anchors.cell_anchor_sizes(size, scales, ratios)  # [A, 2]
        head = np.zeros((2, h, w, num_anchors * 4))  # batch of 2
        for a in range(num_anchors):
            head[..., a * 4 + 0] = (np.arange(w)[None, :] + 0.5) * stride
            head[..., a * 4 + 1] = (np.arange(h)[:, None] + 0.5) * stride
            head[..., a * 4 + 2] = wh[a, 0]
            head[..., a * 4 + 3] = wh[a, 1]
        outputs.append(head.reshape(2, h * w * num_anchors, 4))
    predicted = np.concatenate(outputs, axis=1)  # [2, n, 4] cxcywh
    grid = anchors.anchor_grid(image_size, strides, sizes, scales, ratios)
    grid_cxcywh = np.concatenate([(grid[:, :2] + grid[:, 2:]) / 2, grid[:, 2:] - grid[:, :2]], 1)
    for b in range(2):
        np.testing.assert_allclose(predicted[b], grid_cxcywh, rtol=1e-5, atol=1e-4)


def test_anchor_grid_defaults_and_bad_inputs():
    grid = anchors.anchor_grid((512, 512))
    cells = sum(h * w for h, w in anchors.feature_sizes((512, 512), anchors.DEFAULT_STRIDES))
    assert grid.shape == (cells * 9, 4)
    # The first anchor: cell (0, 0) of P3, ratio 0.5, scale 1: 32 / sqrt(0.5) wide.
    w, h = 32 / math.sqrt(0.5), 32 * math.sqrt(0.5)
    np.testing.assert_allclose(grid[0], [4 - w / 2, 4 - h / 2, 4 + w / 2, 4 + h / 2], rtol=1e-6)
    with pytest.raises(ValueError, match="sizes"):
        anchors.anchor_grid((64, 64), strides=(8, 16), sizes=(32,))
    with pytest.raises(ValueError, match="> 0"):
        anchors.anchor_grid((64, 64), strides=(8,), sizes=(32,), aspect_ratios=(0.0,))


def test_point_grid():
    image_size, strides = (40, 24), (8, 16)
    points, point_strides = anchors.point_grid(image_size, strides)
    assert points.dtype == np.float32 and point_strides.dtype == np.float32
    expected_points, expected_strides = [], []
    for stride in strides:
        for y in range(math.ceil(40 / stride)):
            for x in range(math.ceil(24 / stride)):
                expected_points.append([(x + 0.5) * stride, (y + 0.5) * stride])
                expected_strides.append(stride)
    assert points.shape == (5 * 3 + 3 * 2, 2)
    np.testing.assert_array_equal(points, expected_points)
    np.testing.assert_array_equal(point_strides, expected_strides)
    # Points are the centres of anchor_grid's anchors (one square anchor a cell).
    grid = anchors.anchor_grid(image_size, strides, (8, 16), (1.0,), (1.0,))
    np.testing.assert_allclose((grid[:, :2] + grid[:, 2:]) / 2, points)
