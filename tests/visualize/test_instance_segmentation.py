"""Pictures and JSON of Mask R-CNN predictions: each instance tinted in its own colour, masks
mapped back to the source image through a letterbox, and the files ``train.predict`` writes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from jaxvision.data.sources import DatasetMeta
from jaxvision.visualize import for_task
from jaxvision.visualize import instance_segmentation as inst
from jaxvision.visualize.draw import class_colors

NAMES = ("cat", "dog")
GREY = 100


def _tint(color, under=GREY):
    """The blend of ``color`` over a pixel of value ``under`` (alpha 0.5)."""
    return tuple(int(v) for v in np.rint(0.5 * np.asarray(under) + 0.5 * np.asarray(color)))


def test_each_instance_gets_its_own_colour_over_its_pixels():
    image = np.full((64, 96, 3), GREY, np.uint8)
    masks = np.zeros((2, 64, 96), bool)
    masks[0, 20:40, 10:40] = True
    masks[1, 30:50, 30:70] = True  # overlaps instance 0 on rows 30..40, columns 30..40
    boxes = np.array([[10, 20, 40, 40], [30, 30, 70, 50]], np.float32)  # xyxy
    picture = inst.draw_instances(image, masks, boxes, [1, 1], [0.9, 0.8], NAMES)
    assert picture.size == (96, 64)
    first, second = class_colors(2)
    assert first != second  # the same class, two colours
    assert picture.getpixel((20, 30)) == _tint(first)  # only instance 0
    assert picture.getpixel((55, 45)) == _tint(second)  # only instance 1
    # The overlap: instance 1's tint first, the best instance's over it.
    expected = np.rint(0.5 * (0.5 * GREY + 0.5 * np.asarray(second)) + 0.5 * np.asarray(first))
    assert picture.getpixel((35, 35)) == tuple(int(v) for v in expected)
    assert picture.getpixel((85, 60)) == (GREY,) * 3  # outside every instance and box
    assert picture.getpixel((70, 45)) == second  # instance 1's box outline, its colour
    with pytest.raises(ValueError, match="label 2"):
        inst.draw_instances(image, masks, boxes, [0, 2], [0.9, 0.8], NAMES)


def test_predict_outputs_become_records_pictures_and_files(tmp_path):
    from jaxvision.engine import build
    from jaxvision.engine import mesh as mesh_lib
    from tests.engine import runs
    from train import predict

    config = runs.named_config("maskrcnn_small", {"model.backbone_kwargs.num_filters": 8})
    task = build.build(config, DatasetMeta("test", NAMES, 8), mesh_lib.make_mesh()).task
    visualizer = for_task(task)
    assert isinstance(visualizer, inst.InstanceSegmentationVisualizer)
    # A 32 x 64 source letterboxed into 64 x 64 (rows 16..48): one instance filling its box
    # (input pixels x 8..40, y 20..44), one below the picture threshold, one padding row.
    boxes = np.array([[[8, 20, 40, 44], [40, 20, 56, 40], [0, 0, 0, 0]]], np.float32)
    outputs = task.detect({"masks": np.ones((1, 3, 28, 28)), "boxes": boxes}, (64, 64))
    outputs = {
        **{k: np.asarray(v) for k, v in outputs.items()},
        "scores": np.array([[0.9, 0.1, 0.0]], np.float32),
        "classes": np.array([[1, 0, 0]], np.int32),
        "valid": np.array([[True, True, False]]),
    }
    features = {
        "image": np.zeros((64, 64, 3), np.uint8),
        "orig_size": np.array([32, 64]),
        "image_window": np.array([0.25, 0.0, 0.75, 1.0], np.float32),
    }
    image = np.full((32, 64, 3), GREY, np.uint8)
    (record,) = visualizer.describe([image], [features], outputs)
    first, second = record["detections"]
    assert first["box"] == [8.0, 4.0, 40.0, 28.0] and first["class_name"] == "dog"
    mask = mask_utils.decode(first["mask"])  # [32, 64], the source image's
    expected = np.zeros((32, 64), bool)
    expected[4:28, 8:40] = True
    np.testing.assert_array_equal(mask != 0, expected)
    assert second["mask"]["size"] == [32, 64]

    pictures = visualizer.pictures(image, features, outputs, record)
    assert set(pictures) == {""} and pictures[""].size == (64, 32)
    assert pictures[""].getpixel((24, 24)) == _tint(class_colors(1)[0])
    assert pictures[""].getpixel((48, 22)) == (GREY,) * 3  # the low-scoring one is not drawn
    predict._write(str(tmp_path), "/photos/street.jpg", record, pictures)
    written = np.asarray(Image.open(tmp_path / "street.png"))
    np.testing.assert_array_equal(written, np.asarray(pictures[""]))
    with open(tmp_path / "street.json") as f:
        assert json.load(f)["detections"][0]["mask"] == first["mask"]

    batch = {"image": features["image"][None], "box_mask": np.array([[True, False, False]])}
    assert visualizer.render_batch(batch, outputs).size[0] >= 64
