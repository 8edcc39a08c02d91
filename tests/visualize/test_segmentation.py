"""Pictures of semantic segmentation: blend, legend, and the label PNG at the source's size."""

from __future__ import annotations

import numpy as np
import pytest

from jaxvision.visualize import segmentation as seg_vis
from jaxvision.visualize.draw import class_colors

NAMES = ("background", "cat", "dog")


def test_blend_leaves_background_untinted_and_tints_the_rest():
    image = np.full((6, 8, 3), 100, np.uint8)
    classes = np.zeros((6, 8), np.int64)
    classes[2:4, 3:6] = 2
    picture = np.asarray(seg_vis.blend_with_legend(image, classes, NAMES))
    assert picture.shape[0] >= 6 and picture.shape[1] > 8
    blend = picture[:6, :8].astype(np.int64)
    np.testing.assert_array_equal(blend[classes == 0], 100)
    expected = np.rint(0.5 * 100 + 0.5 * np.array(class_colors(3)[2]))
    np.testing.assert_allclose(blend[classes == 2], np.broadcast_to(expected, (6, 3)), atol=1)
    with pytest.raises(ValueError, match="differ in size"):
        seg_vis.blend_with_legend(image, classes[:5], NAMES)


def test_the_legend_lists_the_classes_present():
    image = np.zeros((4, 4, 3), np.uint8)
    one = seg_vis.blend_with_legend(image, np.zeros((4, 4), int), NAMES)
    three = seg_vis.blend_with_legend(image, np.array([[0, 1, 2, 2]] * 4), NAMES)
    assert three.size[1] > one.size[1]  # three legend lines need more height than one


def test_class_map_returns_to_the_source_through_the_letterbox_window():
    classes = np.zeros((8, 8), np.int64)  # a letterboxed 4 x 8 source: rows 2..5
    classes[2:6, :4], classes[2:6, 4:] = 1, 2
    window = {"image_window": np.array([0.25, 0.0, 0.75, 1.0], np.float32)}
    source = seg_vis.to_source_classes(classes, window, (40, 160))
    assert source.shape == (40, 160)
    assert (source[:, :80] == 1).all() and (source[:, 80:] == 2).all()


def test_pictures_and_records_of_one_prediction():
    vis = seg_vis.SegmentationVisualizer(NAMES)
    image = np.zeros((30, 50, 3), np.uint8)
    outputs = {"classes": np.array([[[0, 1], [2, 2]]]), "scores": np.ones((1, 2, 2))}
    features = {"image": np.zeros((2, 2, 3), np.uint8)}
    (record,) = vis.describe([image], [features], outputs)
    assert [c["class_name"] for c in record["classes"]] == ["dog", "background", "cat"]
    assert [c["fraction"] for c in record["classes"]] == pytest.approx([0.5, 0.25, 0.25])
    pictures = vis.pictures(image, features, outputs, record)
    mask = pictures["_mask"]
    assert mask.size == (50, 30) and mask.mode == "L"
    assert np.asarray(mask)[20:, :].tolist() == [[2] * 50] * 10
    assert pictures[""].size[0] > 50
    batch = {
        "image": np.zeros((2, 2, 2, 3), np.uint8),
        "segmentation_mask": np.array([[[[0], [255]], [[2], [2]]]] * 2, np.uint8),
    }
    assert vis.render_batch(batch, {"classes": np.repeat(outputs["classes"], 2, 0)}).size[0] > 0
