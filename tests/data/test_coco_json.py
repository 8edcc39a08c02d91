"""Tests of the COCO-format JSON source, on small generated folders."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from jaxvision.data import coco_json, preprocess
from jaxvision.data.sources import open_split

# Categories deliberately out of id order, with a gap: labels follow the sorted ids.
CATEGORIES = [{"id": 7, "name": "dog"}, {"id": 2, "name": "cat"}, {"id": 11, "name": "bird"}]


def _write(root, split, images, annotations, layout="official", categories=CATEGORIES):
    """Writes the images (name -> array) and a COCO JSON in the given layout."""
    if layout == "official":
        json_path = os.path.join(root, "annotations", f"instances_{split}.json")
        image_dir = os.path.join(root, split)
    else:
        json_path, image_dir = os.path.join(root, f"{split}.json"), os.path.join(root, "images")
    os.makedirs(os.path.dirname(json_path), exist_ok=True)
    entries = []
    for image_id, (name, array) in enumerate(images.items(), start=1):
        path = os.path.join(image_dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if array is not None:
            Image.fromarray(array).save(path)
        height, width = array.shape[:2] if array is not None else (1, 1)
        entries.append({"id": image_id * 10, "file_name": name, "height": height, "width": width})
    with open(json_path, "w") as f:
        json.dump(
            {"images": entries[::-1], "annotations": annotations, "categories": categories}, f
        )


def _ann(ann_id, image_id, category_id, bbox, iscrowd=0):
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category_id,
        "bbox": bbox,
        "iscrowd": iscrowd,
        "area": bbox[2] * bbox[3],
    }


def _images():
    rgb = np.zeros((20, 40, 3), np.uint8)
    gray = np.full((30, 10), 77, np.uint8)  # Grayscale PNG.
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 3] = 255
    return {"a.png": rgb, "sub/b.png": gray, "c.png": rgba}


def test_round_trip_official_layout(tmp_path):
    root = str(tmp_path)
    anns = [
        _ann(1, 10, 7, [4, 2, 10, 8]),  # On a.png (20 x 40): xywh -> yxyx / (h, w).
        _ann(2, 10, 2, [0, 0, 40, 20], iscrowd=1),
        _ann(3, 20, 11, [1, 3, 5, 12]),  # On sub/b.png (30 x 10).
    ]  # c.png (id 30) has no annotation.
    _write(root, "train2017", _images(), anns)
    source, meta = open_split("coco_json", "train2017", data_dir=root)
    assert meta.class_names == ("cat", "dog", "bird")  # Sorted ids 2, 7, 11.
    assert len(source) == meta.num_examples == 3
    first, second, third = source[0], source[1], source[2]  # Ordered by image id.
    assert [int(e["image/id"]) for e in (first, second, third)] == [10, 20, 30]
    assert first["image"].shape == (20, 40, 3) and first["image"].dtype == np.uint8
    np.testing.assert_allclose(
        first["objects"]["bbox"], [[2 / 20, 4 / 40, 10 / 20, 14 / 40], [0, 0, 1, 1]], rtol=1e-6
    )
    assert first["objects"]["label"].tolist() == [1, 0]
    assert first["objects"]["is_crowd"].tolist() == [False, True]
    assert second["image"].shape == (30, 10, 3)  # Grayscale converted to RGB.
    assert (second["image"] == 77).all()
    np.testing.assert_allclose(second["objects"]["bbox"], [[3 / 30, 0.1, 15 / 30, 0.6]], rtol=1e-6)
    assert second["objects"]["label"].tolist() == [2]
    assert second["image/filename"] == os.path.join("sub", "b.png")
    assert third["image"].shape == (16, 16, 3)  # RGBA converted to RGB.
    assert third["objects"]["bbox"].shape == (0, 4) and len(third["objects"]["label"]) == 0


def test_simple_layout_and_eval_uses_train_class_names(tmp_path):
    root = str(tmp_path)
    images = {"x.png": np.zeros((8, 8, 3), np.uint8)}
    _write(root, "train", images, [_ann(1, 10, 7, [0, 0, 4, 4])], layout="simple")
    # The val file lists only two categories, with other ids: matched by name.
    val_categories = [{"id": 1, "name": "bird"}, {"id": 5, "name": "dog"}]
    _write(root, "val", images, [_ann(1, 10, 5, [0, 0, 4, 4])], "simple", val_categories)
    train, train_meta = open_split("coco_json", "train", data_dir=root)
    val, val_meta = open_split(
        "coco_json", "val", data_dir=root, class_names=train_meta.class_names
    )
    assert val_meta.class_names == train_meta.class_names == ("cat", "dog", "bird")
    assert val[0]["objects"]["label"].tolist() == [1] == train[0]["objects"]["label"].tolist()
    with pytest.raises(ValueError, match="not among the expected class names"):
        open_split("coco_json", "val", data_dir=root, class_names=("cat", "dog"))


def test_through_detection_spec(tmp_path):
    root = str(tmp_path)
    _write(root, "train", _images(), [_ann(1, 10, 7, [4, 2, 10, 8])])
    source, _ = open_split("coco_json", "train", data_dir=root)
    fn = preprocess.build("decode_detection|letterbox(32)", max_boxes=2)
    for i in range(len(source)):
        out = fn(source[i], np.random.default_rng(0))
        assert out["boxes"].shape == (2, 4) and out["image"].shape == (32, 32, 3)
    assert int(out["box_mask"].sum()) == 0  # The last image has no objects.


def test_missing_image_file_named_at_open(tmp_path):
    root = str(tmp_path)
    images = {"here.png": np.zeros((4, 4, 3), np.uint8), "gone.png": None}
    _write(root, "train", images, [])
    with pytest.raises(FileNotFoundError, match="gone.png"):
        coco_json.CocoJsonSource(root, "train")


def test_unknown_category_id_named(tmp_path):
    root = str(tmp_path)
    _write(root, "train", {"a.png": np.zeros((4, 4, 3), np.uint8)}, [_ann(1, 10, 99, [0, 0, 1, 1])])
    with pytest.raises(ValueError, match="category_id 99"):
        coco_json.CocoJsonSource(root, "train")


def test_unknown_image_id_named(tmp_path):
    root = str(tmp_path)
    _write(
        root, "train", {"a.png": np.zeros((4, 4, 3), np.uint8)}, [_ann(1, 12345, 7, [0, 0, 1, 1])]
    )
    with pytest.raises(ValueError, match="image id 12345"):
        coco_json.CocoJsonSource(root, "train")


def test_missing_annotation_file_lists_layouts(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        open_split("coco_json", "train", data_dir=str(tmp_path))
    message = str(info.value)
    assert "instances_train.json" in message and "train.json" in message


def test_needs_data_dir():
    with pytest.raises(ValueError, match="data_dir"):
        open_split("coco_json", "train")


def test_source_pickles(tmp_path):
    import pickle

    root = str(tmp_path)
    _write(root, "train", _images(), [_ann(1, 10, 7, [4, 2, 10, 8])])
    source = coco_json.CocoJsonSource(root, "train")
    clone = pickle.loads(pickle.dumps(source))
    np.testing.assert_array_equal(clone[0]["objects"]["bbox"], source[0]["objects"]["bbox"])
    with pytest.raises(IndexError):
        source[3]
