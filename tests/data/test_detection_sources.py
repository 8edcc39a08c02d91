"""coco/2017, voc/2007(+2012) and jaxvision_shapes/detection through the detection pipelines.

The TFDS datasets are small fake versions prepared offline by ``tests/data/mock_detection``
under the real names and feature schemas, read by ``open_split`` like the real ones.
"""

import sys

import numpy as np
import pytest

from jaxvision.data import pipeline
from jaxvision.data.builders import shapes
from jaxvision.data.sources import open_split
from tests.data import mock_detection

NUM_EXAMPLES = 6
SIZE, MAX_BOXES, BATCH = 64, 5, 4
# The targets are padded to MAX_BOXES by the pipelines' max_boxes, as the tasks do.
TRAIN_SPEC = f"decode_detection|scale_jitter({SIZE})|flip_lr"
EVAL_SPEC = f"decode_detection|letterbox({SIZE})"
KEYS = (
    "image",
    "boxes",
    "labels",
    "box_mask",
    "box_ignore",
    "orig_size",
    "image_window",
    "num_dropped_boxes",
)


@pytest.fixture(scope="module")
def mock_dir(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("tfds_detection"))
    mock_detection.prepare_mock_detection(data_dir, num_examples=NUM_EXAMPLES)
    return data_dir


def _check_batch(batch, num_classes, batch_size=BATCH):
    expected = {
        "image": ((batch_size, SIZE, SIZE, 3), np.uint8),
        "boxes": ((batch_size, MAX_BOXES, 4), np.float32),
        "labels": ((batch_size, MAX_BOXES), np.int32),
        "box_mask": ((batch_size, MAX_BOXES), np.bool_),
        "box_ignore": ((batch_size, MAX_BOXES), np.bool_),
        "orig_size": ((batch_size, 2), np.int32),
        "image_window": ((batch_size, 4), np.float32),
        "num_dropped_boxes": ((batch_size,), np.int32),
    }
    for key, (shape, dtype) in expected.items():
        assert batch[key].shape == shape and batch[key].dtype == dtype, key
    mask = batch["box_mask"]
    boxes, labels = batch["boxes"], batch["labels"]
    assert np.isfinite(boxes).all() and (boxes >= 0).all() and (boxes <= 1).all()
    assert (boxes[mask][:, 2:] > boxes[mask][:, :2]).all()
    assert ((labels[mask] >= 0) & (labels[mask] < num_classes)).all()
    assert (labels[~mask] == -1).all() and not boxes[~mask].any()
    assert not batch["box_ignore"][~mask].any()
    sizes = batch["orig_size"]
    assert ((sizes >= mock_detection.MIN_SIDE) & (sizes <= mock_detection.MAX_SIDE)).all()


@pytest.mark.parametrize(("name", "num_classes"), [("coco/2017", 80), ("voc/2007", 20)])
def test_train_and_eval_pipelines(mock_dir, name, num_classes):
    train, meta = open_split(name, "train", data_dir=mock_dir)
    assert meta.num_classes == num_classes and meta.num_examples == NUM_EXAMPLES
    assert meta.class_names[0] == ("person" if name.startswith("coco") else "aeroplane")
    ds = pipeline.train_dataset(
        train, TRAIN_SPEC, KEYS, global_batch_size=BATCH, seed=1, max_boxes=MAX_BOXES
    )
    it = iter(ds)
    batches = [next(it) for _ in range(3)]
    for batch in batches:
        _check_batch(batch, num_classes)
    # Real boxes come through, and so does an image without any.
    masks = np.concatenate([b["box_mask"] for b in batches])
    assert masks.any() and (~masks.any(axis=1)).any()

    val, _ = open_split(name, "validation", data_dir=mock_dir)
    eval_ds, num_batches = pipeline.eval_dataset(
        val, EVAL_SPEC, KEYS, global_batch_size=BATCH, max_boxes=MAX_BOXES
    )
    eval_batches = list(eval_ds)
    assert num_batches == len(eval_batches) == 2
    for batch in eval_batches:
        _check_batch(batch, num_classes)
    assert np.concatenate([b["mask"] for b in eval_batches]).sum() == NUM_EXAMPLES
    # Letterbox boxes map back to the raw boxes in source pixels through image_window.
    first = eval_batches[0]
    raw = val[0]
    h, w = raw["image"].shape[:2]
    assert first["orig_size"][0].tolist() == [h, w]
    raw_boxes = np.asarray(raw["objects"]["bbox"], np.float32).reshape(-1, 4)
    window = first["image_window"][0]
    size = np.tile(window[2:] - window[:2], 2)
    back = (first["boxes"][0] - np.tile(window[:2], 2)) / size  # [MAX_BOXES, 4] normalised
    k = min(len(raw_boxes), MAX_BOXES)
    np.testing.assert_allclose(back[:k], raw_boxes[:k], atol=1e-5)
    ignore = np.asarray(raw["objects"]["is_crowd" if "coco" in name else "is_difficult"])
    assert first["box_ignore"][0][:k].tolist() == ignore[:k].astype(bool).tolist()
    assert "tensorflow" not in sys.modules


def test_voc_concatenation(mock_dir):
    both, meta = open_split("voc/2007+voc/2012", "train", data_dir=mock_dir)
    v07, meta07 = open_split("voc/2007", "train", data_dir=mock_dir)
    v12, _ = open_split("voc/2012", "train", data_dir=mock_dir)
    assert meta.class_names == meta07.class_names and meta.num_classes == 20
    assert len(both) == meta.num_examples == len(v07) + len(v12)
    np.testing.assert_array_equal(both[0]["image"], v07[0]["image"])
    np.testing.assert_array_equal(both[len(v07)]["image"], v12[0]["image"])
    np.testing.assert_array_equal(both[-1]["image"], v12[len(v12) - 1]["image"])
    ds = pipeline.train_dataset(
        both, TRAIN_SPEC, KEYS, global_batch_size=BATCH, seed=0, max_boxes=MAX_BOXES
    )
    _check_batch(next(iter(ds)), 20)


def test_concatenation_needs_same_classes(mock_dir):
    with pytest.raises(ValueError, match="cannot concatenate"):
        open_split("voc/2007+coco/2017", "train", data_dir=mock_dir)


def test_mock_context_manager_sets_default_data_dir(mock_dir):
    with mock_detection.mock_detection_data(mock_dir, names=("coco/2017",)) as data_dir:
        assert data_dir == mock_dir
        source, meta = open_split("coco/2017", "validation")
        assert meta.num_examples == NUM_EXAMPLES and meta.num_classes == 80
        assert source[0]["image"].dtype == np.uint8


def test_shapes_detection_class_names_from_objects(tmp_path):
    builder = shapes.prepare_shapes(str(tmp_path), "detection", num_train=4, num_test=2)
    name = f"jaxvision_shapes/{builder.builder_config.name}"
    source, meta = open_split(name, "train", data_dir=str(tmp_path))
    assert meta.class_names == tuple(shapes.shapes_scene.SHAPE_NAMES)
    ds, _ = pipeline.eval_dataset(
        source, EVAL_SPEC, KEYS, global_batch_size=BATCH, max_boxes=MAX_BOXES
    )
    batch = next(iter(ds))
    assert batch["orig_size"].tolist() == [[128, 128]] * BATCH
    np.testing.assert_allclose(batch["image_window"], [[0, 0, 1, 1]] * BATCH)
