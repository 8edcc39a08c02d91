"""Tests of the `jaxvision_shapes` TFDS builder: tiny variants built in a temp dir."""

import hashlib
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxvision.data.builders import shapes
from jaxvision.data.builders.shapes_scene import SHAPE_NAMES

TINY = dict(num_train=24, num_test=8)
# Enough empty images that a tiny detection split surely holds some.
TINY_DETECTION = dict(num_train=32, num_test=8, empty_fraction=0.3)
OVERRIDES = {
    "classification": TINY,
    "localization": TINY,
    "detection": TINY_DETECTION,
    "segmentation": TINY_DETECTION,
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


@pytest.fixture(scope="module")
def built(data_dir):
    """Each config built once; returns {config: (builder, {split: data source})}."""
    out = {}
    for config, overrides in OVERRIDES.items():
        builder = shapes.prepare_shapes(data_dir, config, **overrides)
        name = f"{shapes.NAME}/{builder.builder_config.name}"
        sources = {
            split: tfds.data_source(name, split=split, data_dir=data_dir, download=False)
            for split in ("train", "test")
        }
        out[config] = (builder, sources)
    return out


def _objects(example):
    """The objects of an example as arrays (TFDS may return lists, or [] when empty)."""
    objects = example["objects"]
    boxes = np.asarray(objects["bbox"], dtype=np.float32).reshape(-1, 4)  # [n, 4]
    labels = np.asarray(objects["label"], dtype=np.int64).reshape(-1)  # [n]
    areas = np.asarray(objects["area"], dtype=np.int64).reshape(-1)  # [n]
    return boxes, labels, areas


def test_registered_configs():
    configs = {c.name: c for c in shapes.JaxvisionShapes.BUILDER_CONFIGS}
    assert list(configs) == ["classification", "localization", "detection", "segmentation"]
    assert shapes.JaxvisionShapes.name == "jaxvision_shapes"
    assert str(shapes.JaxvisionShapes.VERSION) == "1.0.0"
    sizes = {n: (c.image_size, c.num_train, c.num_test) for n, c in configs.items()}
    assert sizes == {
        "classification": (32, 12_000, 2_000),
        "localization": (64, 12_000, 2_000),
        "detection": (128, 8_000, 1_000),
        "segmentation": (128, 8_000, 1_000),
    }
    assert (configs["detection"].min_objects, configs["detection"].max_objects) == (1, 6)
    assert 0 < configs["detection"].empty_fraction < 0.2


def test_split_sizes_and_labels(built):
    for config, (builder, sources) in built.items():
        overrides = OVERRIDES[config]
        assert len(sources["train"]) == overrides["num_train"]
        assert len(sources["test"]) == overrides["num_test"]
        assert builder.info.splits["train"].num_examples == overrides["num_train"]
        features = builder.info.features
        label = features["label"] if "label" in features else features["objects"]["label"]
        assert tuple(label.names) == SHAPE_NAMES


def test_classification(built):
    builder, sources = built["classification"]
    assert builder.info.supervised_keys == ("image", "label")
    for i in range(len(sources["train"])):
        ex = sources["train"][i]
        assert set(ex) == {"image", "label"}
        assert ex["image"].shape == (32, 32, 3) and ex["image"].dtype == np.uint8
        assert 0 <= int(ex["label"]) < len(SHAPE_NAMES)


def test_localization(built):
    _, sources = built["localization"]
    for i in range(len(sources["train"])):
        ex = sources["train"][i]
        assert set(ex) == {"image", "label", "bbox"}
        assert ex["image"].shape == (64, 64, 3) and ex["image"].dtype == np.uint8
        bbox = np.asarray(ex["bbox"])
        assert bbox.shape == (4,) and bbox.dtype == np.float32
        assert 0 <= bbox[0] < bbox[2] <= 1 and 0 <= bbox[1] < bbox[3] <= 1


@pytest.mark.parametrize("config", ["detection", "segmentation"])
def test_detection_and_segmentation(built, config):
    _, sources = built[config]
    counts = []
    for i in range(len(sources["train"])):
        ex = sources["train"][i]
        extra = {"segmentation_mask", "instance_map"} if config == "segmentation" else set()
        assert set(ex) == {"image", "objects"} | extra
        assert ex["image"].shape == (128, 128, 3) and ex["image"].dtype == np.uint8
        boxes, labels, areas = _objects(ex)
        counts.append(len(labels))
        assert len(boxes) == len(labels) == len(areas) <= 6
        assert ((labels >= 0) & (labels < len(SHAPE_NAMES))).all()
        assert (areas > 0).all()
        assert (boxes[:, :2] < boxes[:, 2:]).all()
        assert ((boxes >= 0) & (boxes <= 1)).all()
        # A box holds its object's visible pixels.
        box_pixels = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) * 128**2
        assert (areas <= np.rint(box_pixels)).all()
        if config == "segmentation":
            seg = ex["segmentation_mask"]
            assert seg.shape == (128, 128, 1) and seg.dtype == np.uint8
            assert np.count_nonzero(seg) == areas.sum()
            assert set(np.unique(seg[seg > 0]) - 1) == set(labels.tolist())
            # The instance map holds each object's visible pixels, of its class in the map.
            ids = ex["instance_map"][..., 0]
            assert ids.shape == (128, 128) and ids.max() <= len(labels)
            for i, (label, area) in enumerate(zip(labels, areas, strict=True)):
                assert np.count_nonzero(ids == i + 1) == area
                assert (seg[..., 0][ids == i + 1] == label + 1).all()
            assert ((ids > 0) == (seg[..., 0] > 0)).all()
    assert 0 in counts  # Zero-object images are present ...
    assert max(counts) > 1  # ... beside multi-object ones.


def test_reproducible_and_splits_disjoint(built, tmp_path):
    builder = shapes.prepare_shapes(str(tmp_path), "classification", **TINY)
    again = builder.as_data_source("train")
    _, sources = built["classification"]
    for i in range(len(again)):
        np.testing.assert_array_equal(again[i]["image"], sources["train"][i]["image"])
        assert again[i]["label"] == sources["train"][i]["label"]

    def digests(source):
        return {hashlib.sha1(source[i]["image"].tobytes()).hexdigest() for i in range(len(source))}

    assert not digests(sources["train"]) & digests(sources["test"])


def test_examples_match_renderer(built):
    builder, sources = built["localization"]
    config = builder.builder_config
    expected = {}
    for i in range(config.num_test):
        scene = shapes.render_example(config, "test", i)
        expected[scene["image"].tobytes()] = scene
    for i in range(len(sources["test"])):
        ex = sources["test"][i]
        scene = expected[ex["image"].tobytes()]  # PNG is lossless.
        np.testing.assert_array_equal(ex["bbox"], scene["boxes"][0])
        assert ex["label"] == scene["labels"][0]


def test_prepare_reuses_existing(built, data_dir):
    builder, _ = built["classification"]
    again = shapes.prepare_shapes(data_dir, "classification", **TINY)
    assert again.builder_config.name == builder.builder_config.name
    assert str(again.data_path) == str(builder.data_path)


def test_prepare_errors(tmp_path):
    with pytest.raises(ValueError, match="detection"):
        shapes.prepare_shapes(str(tmp_path), "nope")
    with pytest.raises(ValueError, match="num_train"):
        shapes.prepare_shapes(str(tmp_path), "classification", num_trian=3)
    with pytest.raises(ValueError, match="one object"):
        shapes.prepare_shapes(str(tmp_path), "classification", max_objects=3)
    with pytest.raises(ValueError, match="split"):
        shapes.example_rng("validation", 0)


def test_no_tensorflow(built):
    # Building and reading (done by the `built` fixture) must not import TensorFlow.
    assert "tensorflow" not in sys.modules
