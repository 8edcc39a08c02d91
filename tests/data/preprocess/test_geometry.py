"""Tests of the geometric helpers that move boxes, bbox, window and mask with the pixels."""

import numpy as np
import pytest

from jaxvision.data import preprocess
from jaxvision.data.preprocess import geometry
from tests.data.preprocess.images import apply_op, coords


def test_flip_lr_moves_detection_features():
    example = {
        "image": coords(4, 10),
        "boxes": np.array([[0.0, 0.1, 0.5, 0.3], [0.25, 0.6, 1.0, 1.0]], np.float32),
        "bbox": np.array([0.0, 0.0, 1.0, 0.2], np.float32),
        "image_window": np.array([0.1, 0.2, 0.9, 0.6], np.float32),
        "segmentation_mask": coords(4, 10)[..., 1:2],
    }
    out = apply_op(preprocess.build("flip_lr(1.0)"), **example)
    np.testing.assert_allclose(out["boxes"], [[0.0, 0.7, 0.5, 0.9], [0.25, 0.0, 1.0, 0.4]])
    np.testing.assert_allclose(out["bbox"], [0.0, 0.8, 1.0, 1.0])
    np.testing.assert_allclose(out["image_window"], [0.1, 0.4, 0.9, 0.8])
    assert out["segmentation_mask"][0, :, 0].tolist() == list(range(9, -1, -1))
    kept = apply_op(preprocess.build("flip_lr(0.0)"), **example)
    np.testing.assert_array_equal(kept["boxes"], example["boxes"])


def test_crop_features_pads_outside_the_image():
    image = np.full((4, 4, 3), 9, np.uint8)
    out = preprocess.crop_features({"image": image}, -2, -1, 6, 6, fill=3)
    assert out["image"].shape == (6, 6, 3)
    assert (out["image"][2:6, 1:5] == 9).all()
    assert (out["image"][:2] == 3).all() and (out["image"][:, 5] == 3).all()


def test_random_resized_crop_drops_mostly_hidden_boxes():
    # A window that shows only the left 10% of a box: dropped with min_visible 0.25.
    example = {
        "image": np.zeros((100, 100, 3), np.uint8),
        "boxes": np.array([[0.1, 0.4, 0.5, 0.8], [0.0, 0.0, 0.2, 0.2]], np.float32),
        "labels": np.array([1, 2], np.int32),
        "box_ignore": np.array([False, True]),
    }
    out = preprocess.crop_features(example, 0, 0, 100, 44, min_visible=0.25)
    assert out["labels"].tolist() == [2] and out["box_ignore"].tolist() == [True]
    assert int(out["num_dropped_boxes"]) == 1
    kept = preprocess.crop_features(example, 0, 0, 100, 44, min_visible=0.05)
    assert kept["labels"].tolist() == [1, 2]
    np.testing.assert_allclose(kept["boxes"][0], [0.1, 40 / 44, 0.5, 1.0], rtol=1e-6)


def test_flip_features_twice_is_identity():
    example = {
        "image": coords(3, 5),
        "boxes": np.array([[0.1, 0.2, 0.6, 0.7]], np.float32),
        "image_window": np.array([0.0, -0.2, 1.0, 0.9], np.float32),
    }
    twice = geometry.flip_features(geometry.flip_features(example))
    np.testing.assert_array_equal(twice["image"], example["image"])
    np.testing.assert_allclose(twice["boxes"], example["boxes"], atol=1e-6)
    np.testing.assert_allclose(twice["image_window"], example["image_window"], atol=1e-6)


def test_resize_features_resizes_the_mask_nearest():
    mask = np.zeros((4, 4, 1), np.uint8)
    mask[:2, :2] = 5
    out = geometry.resize_features({"image": coords(4, 4), "segmentation_mask": mask}, 8, 2)
    assert out["image"].shape == (8, 2, 3) and out["segmentation_mask"].shape == (8, 2, 1)
    # Nearest neighbour: only the values of the source mask, none blended.
    assert set(np.unique(out["segmentation_mask"]).tolist()) == {0, 5}
    assert out["segmentation_mask"][:4, 0, 0].tolist() == [5, 5, 5, 5]


@pytest.mark.parametrize(
    "move", [geometry.flip_features, lambda ex: geometry.crop_features(ex, 0, 0, 2, 2)]
)
def test_helpers_refuse_padded_boxes(move):
    example = {
        "image": coords(4, 4),
        "boxes": np.zeros((3, 4), np.float32),
        geometry.PADDED_MARKER_KEY: np.zeros(3, bool),
    }
    with pytest.raises(ValueError, match="before pad_boxes"):
        move(example)


def test_empty_crop_window_raises():
    with pytest.raises(ValueError, match="non-empty"):
        geometry.crop_features({"image": coords(4, 4)}, 0, 0, 0, 3)
