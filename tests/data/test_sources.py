"""Tests of `open_split`: TFDS datasets (mocked), the generated shapes dataset, image folders."""

import os
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from jaxvision.data import sources
from jaxvision.data.sources import DatasetMeta, DatasetNotFoundError, open_split

MOCK_EXAMPLES = 6


def _check_items(source, num):
    assert len(source) == num
    for i in (0, num - 1):
        item = source[i]
        image = item["image"]
        assert isinstance(image, np.ndarray) and image.dtype == np.uint8
        assert image.ndim == 3 and image.shape[-1] == 3 and min(image.shape[:2]) > 0
        label = item["label"]  # A Python int, a NumPy integer or a 0-d integer array.
        assert np.ndim(label) == 0 and np.issubdtype(np.asarray(label).dtype, np.integer)


@pytest.mark.parametrize(
    ("name", "split", "num_classes"),
    [
        ("cifar10", "train", 10),
        ("cifar10", "test", 10),
        ("cifar100", "train", 100),
        ("imagenet2012", "validation", 1000),
    ],
)
def test_tfds_datasets_with_mock_data(name, split, num_classes):
    with tfds.testing.mock_data(
        num_examples=MOCK_EXAMPLES, policy=tfds.testing.MockPolicy.USE_CODE
    ):
        source, meta = open_split(name, split)
        assert isinstance(meta, DatasetMeta)
        assert meta.name == name
        assert meta.num_classes == num_classes
        assert len(set(meta.class_names)) == num_classes
        assert meta.num_examples == MOCK_EXAMPLES
        _check_items(source, MOCK_EXAMPLES)
        labels = [int(source[i]["label"]) for i in range(MOCK_EXAMPLES)]
        assert all(0 <= label < num_classes for label in labels)
        if name.startswith("cifar"):
            assert source[0]["image"].shape == (32, 32, 3)
    assert "tensorflow" not in sys.modules  # Reading needs no TensorFlow.


def test_unprepared_dataset_raises_with_instructions(tmp_path):
    data_dir = str(tmp_path / "tfds")
    with pytest.raises(DatasetNotFoundError) as info:
        open_split("cifar10", "train", data_dir=data_dir)
    message = str(info.value)
    assert data_dir in message
    assert "tfds build" in message
    assert "cifar10" in message
    assert isinstance(info.value, FileNotFoundError)  # Callers may catch the builtin type.


def test_data_dir_expands_user(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as info:
        open_split("cifar10", "train", data_dir="~/nowhere")
    assert os.path.join(str(tmp_path), "nowhere") in str(info.value)


@pytest.fixture(scope="module")
def shapes_dir(tmp_path_factory):
    """The full classification config, generated once by the first `open_split`."""
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    train = open_split("jaxvision_shapes/classification", "train", data_dir=data_dir)
    return data_dir, train


def test_shapes_generated_on_first_use(shapes_dir):
    data_dir, (train, train_meta) = shapes_dir
    assert os.path.isdir(os.path.join(data_dir, "jaxvision_shapes", "classification"))
    test, test_meta = open_split("jaxvision_shapes/classification", "test", data_dir=data_dir)
    for meta, source, num in ((train_meta, train, 12_000), (test_meta, test, 2_000)):
        assert meta.num_classes == 8
        assert len(set(meta.class_names)) == 8
        assert meta.num_examples == len(source) == num
        _check_items(source, num)
        assert source[0]["image"].shape == (32, 32, 3)
    assert train_meta.class_names == test_meta.class_names
    labels = {int(train[i]["label"]) for i in range(200)}
    assert labels == set(range(8))  # All classes appear early on.
    assert not np.array_equal(train[0]["image"], test[0]["image"])
    assert "tensorflow" not in sys.modules


def test_shapes_default_config_is_classification(shapes_dir):
    data_dir, (train, _) = shapes_dir
    # The bare name resolves to the registered default config and reuses the prepared data.
    source, meta = open_split("jaxvision_shapes", "train[:10]", data_dir=data_dir)
    assert meta.num_classes == 8 and len(source) == 10
    np.testing.assert_array_equal(source[3]["image"], train[3]["image"])


def _write_folder(root):
    """train: cat (2), dog (3); test: dog (1), cat (1). Pixel value = 10 * label + i."""
    layout = {"train": {"dog": 3, "cat": 2}, "test": {"dog": 1, "cat": 1}}
    for split, classes in layout.items():
        for name, count in classes.items():
            os.makedirs(os.path.join(root, split, name))
            for i in range(count):
                value = 10 * ["cat", "dog"].index(name) + i
                image = np.full((5, 7, 3), value, np.uint8)
                Image.fromarray(image).save(os.path.join(root, split, name, f"{i}.png"))


def test_image_folder(tmp_path):
    root = str(tmp_path / "folder")
    _write_folder(root)
    train, train_meta = open_split("image_folder", "train", data_dir=root)
    assert train_meta.class_names == ("cat", "dog")  # Sorted, not creation order.
    assert train_meta.num_classes == 2 and train_meta.num_examples == len(train) == 5
    _check_items(train, 5)
    for i in range(5):
        item = train[i]
        assert item["image"].shape == (5, 7, 3)
        assert int(item["image"][0, 0, 0]) // 10 == item["label"]
    assert sorted(int(train[i]["label"]) for i in range(5)) == [0, 0, 1, 1, 1]

    test, test_meta = open_split("image_folder", "test", data_dir=root)
    assert test_meta.class_names == train_meta.class_names
    for i in range(len(test)):
        assert int(test[i]["image"][0, 0, 0]) // 10 == test[i]["label"]


def test_image_folder_given_class_order(tmp_path):
    root = str(tmp_path / "folder")
    _write_folder(root)
    test, meta = open_split("image_folder", "test", data_dir=root, class_names=("dog", "cat"))
    assert meta.class_names == ("dog", "cat")
    for i in range(len(test)):
        # Pixel values say cat = 0, dog = 1; the enforced order says the opposite.
        assert int(test[i]["image"][0, 0, 0]) // 10 == 1 - test[i]["label"]


def test_image_folder_needs_data_dir():
    for data_dir in (None, ""):
        with pytest.raises(ValueError, match="data_dir"):
            open_split("image_folder", "train", data_dir=data_dir)


def test_default_data_dir_used_without_data_dir():
    assert sources._data_dir(None) == sources.DEFAULT_DATA_DIR
    assert sources._data_dir("") == sources.DEFAULT_DATA_DIR


def test_concat_source_indexing():
    source = sources.ConcatSource([["a", "b"], [], ["c"]])
    assert len(source) == 3
    assert [source[i] for i in range(3)] == ["a", "b", "c"]
    assert source[-1] == "c"
    with pytest.raises(IndexError):
        source[3]


def test_class_names_from_top_level_or_objects_label():
    label = tfds.features.ClassLabel(names=["x", "y", "z"])
    classification = tfds.features.FeaturesDict({"image": tfds.features.Image(), "label": label})
    detection = tfds.features.FeaturesDict(
        {"objects": tfds.features.Sequence({"bbox": tfds.features.BBoxFeature(), "label": label})}
    )
    unlabelled = tfds.features.FeaturesDict({"image": tfds.features.Image()})
    assert sources.class_names_of(classification) == ("x", "y", "z")
    assert sources.class_names_of(detection) == ("x", "y", "z")
    assert sources.class_names_of(unlabelled) == ()


def test_image_folder_concatenation(tmp_path):
    root = str(tmp_path / "folder")
    _write_folder(root)
    # The same folder twice: the split is applied to each part.
    both, meta = open_split("image_folder+image_folder", "train", data_dir=root)
    single, _ = open_split("image_folder", "train", data_dir=root)
    assert len(both) == meta.num_examples == 2 * len(single)
    assert meta.class_names == ("cat", "dog")
    np.testing.assert_array_equal(both[len(single)]["image"], single[0]["image"])
    with pytest.raises(ValueError, match="empty dataset name"):
        open_split("image_folder+", "train", data_dir=root)


def test_div2k_pairs_with_mock_data():
    from jaxvision.data import preprocess

    with tfds.testing.mock_data(
        num_examples=MOCK_EXAMPLES, policy=tfds.testing.MockPolicy.USE_CODE
    ):
        source, meta = open_split("div2k/bicubic_x4", "validation")
        assert meta == DatasetMeta("div2k/bicubic_x4", (), MOCK_EXAMPLES)
        example = source[0]
    assert set(example) == {"lr", "hr"}
    for key in ("lr", "hr"):
        assert example[key].dtype == np.uint8 and example[key].ndim == 3
    # The mock's lr and hr sizes are unrelated: the pair ops see a consistent pair made
    # of the mock's hr and its exact 4x subsampling.
    hr = example["hr"][: example["hr"].shape[0] // 4 * 4, : example["hr"].shape[1] // 4 * 4]
    fn = preprocess.build("rename(lr='input', hr='target')|to_rgb|flip_lr|rot90")
    out = fn(dict(example), np.random.default_rng(0))
    assert set(out) == {"input", "target"} and out["target"].shape[-1] == 3
    pair = {"lr": hr[::4, ::4], "hr": hr}
    fn = preprocess.build("rename(lr='input', hr='target')|pad_to_canvas(512, 512, scale=4)")
    out = fn(pair, np.random.default_rng(0))
    assert out["input"].shape == (128, 128, 3) and out["target"].shape == (512, 512, 3)
    np.testing.assert_array_equal(
        out["input"][: hr.shape[0] // 4, : hr.shape[1] // 4], hr[::4, ::4]
    )
    assert out["image_size"].tolist() == list(hr.shape[:2])
    assert "tensorflow" not in sys.modules


def test_paired_folder_needs_data_dir():
    with pytest.raises(ValueError, match="data_dir"):
        open_split("paired_folder", "train")
