"""Tests of the image-folder data source."""

import os
import pickle

import grain
import numpy as np
import pytest
from PIL import Image

from jaxvision.data.image_folder import ImageFolderSource, load_image_folder


def _save(path, array, **kwargs):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)


def _rgb(value, size=(6, 5)):
    return np.full((*size, 3), value, dtype=np.uint8)


@pytest.fixture
def root(tmp_path):
    """train: bird (2), cat (2, one nested), dog (3 mixed formats); test: same classes."""
    r = str(tmp_path / "data")
    _save(f"{r}/train/cat/b.png", _rgb(10))
    _save(f"{r}/train/cat/sub/a.jpg", _rgb(20), quality=95)
    _save(f"{r}/train/dog/1.PNG", _rgb(30))
    _save(f"{r}/train/dog/2.jpeg", np.full((4, 4), 40, dtype=np.uint8))  # Grayscale.
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 1] = 50
    rgba[..., 3] = 255
    _save(f"{r}/train/dog/3.webp", rgba, lossless=True)
    _save(f"{r}/train/bird/x.bmp", _rgb(60))
    _save(f"{r}/train/bird/y.gif", _rgb(70))
    # Ignored: non-images, hidden files and directories, files outside class dirs.
    for ignored in ("cat/notes.txt", "cat/.hidden.png", ".cache/z.png", "readme.png"):
        path = f"{r}/train/{ignored}"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("not an image")
    for name in ("bird", "cat", "dog"):
        _save(f"{r}/test/{name}/t.png", _rgb(90))
    return r


def test_labels_and_order(root):
    source = ImageFolderSource(root, "train")
    assert source.class_names == ("bird", "cat", "dog")
    assert len(source) == 7
    names = [os.path.relpath(p, f"{root}/train") for p in source.paths]
    assert names == [
        "bird/x.bmp",
        "bird/y.gif",
        "cat/b.png",
        "cat/sub/a.jpg",
        "dog/1.PNG",
        "dog/2.jpeg",
        "dog/3.webp",
    ]
    assert list(source.labels) == [0, 0, 1, 1, 2, 2, 2]
    for i in range(len(source)):
        ex = source[i]
        assert ex["image"].dtype == np.uint8 and ex["image"].ndim == 3
        assert ex["image"].shape[-1] == 3
        assert ex["label"] == source.labels[i]
    np.testing.assert_array_equal(source[2]["image"], _rgb(10))
    np.testing.assert_array_equal(source[5]["image"], np.full((4, 4, 3), 40, np.uint8))
    np.testing.assert_array_equal(source[6]["image"][0, 0], [0, 50, 0])
    np.testing.assert_array_equal(source[-1]["image"], source[6]["image"])
    with pytest.raises(IndexError):
        source[7]


def test_picklable_and_grain(root):
    source = ImageFolderSource(root, "train")
    clone = pickle.loads(pickle.dumps(source))
    assert clone.class_names == source.class_names and clone.paths == source.paths
    np.testing.assert_array_equal(clone[3]["image"], source[3]["image"])
    dataset = grain.MapDataset.source(source).map(lambda ex: ex["label"])
    assert list(dataset) == list(source.labels)


def test_given_class_order(root):
    source = ImageFolderSource(root, "train", class_names=("dog", "cat", "bird"))
    assert source.class_names == ("dog", "cat", "bird")
    assert list(source.labels) == [0, 0, 0, 1, 1, 2, 2]


def test_bad_image(root):
    bad = f"{root}/train/cat/broken.png"
    with open(bad, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n garbage")
    truncated = f"{root}/train/dog/4.jpg"
    _save(truncated, _rgb(5, size=(64, 64)))
    with open(truncated, "r+b") as f:
        f.truncate(200)
    source = ImageFolderSource(root, "train")
    index = source.paths.index(bad)
    with pytest.raises(ValueError, match="broken.png"):
        source[index]
    with pytest.raises(ValueError) as info:
        source.verify()
    message = str(info.value)
    assert "2 of 9" in message and bad in message and truncated in message
    ImageFolderSource(root, "test").verify()  # A clean split passes.


def test_missing_dirs(tmp_path, root):
    with pytest.raises(FileNotFoundError, match="<split>/<class_name>") as info:
        ImageFolderSource(str(tmp_path / "nowhere"), "train")
    assert "nowhere" in str(info.value)
    with pytest.raises(FileNotFoundError, match="validation") as info:
        ImageFolderSource(root, "validation")
    assert "<split>/<class_name>" in str(info.value) and "train" in str(info.value)


def test_empty_split_or_class(tmp_path):
    os.makedirs(tmp_path / "train")
    with pytest.raises(ValueError, match="no class"):
        ImageFolderSource(str(tmp_path), "train")
    os.makedirs(tmp_path / "train" / "cat")
    with pytest.raises(ValueError, match="cat"):
        ImageFolderSource(str(tmp_path), "train")


def test_class_mismatch(root):
    os.rename(f"{root}/test/bird", f"{root}/test/fish")
    with pytest.raises(ValueError, match="fish") as info:
        load_image_folder(root, "test")
    assert "bird" in str(info.value)
    with pytest.raises(ValueError, match="duplicates"):
        ImageFolderSource(root, "train", class_names=("bird", "bird", "cat", "dog"))


def test_load_image_folder_uses_train_order(root):
    train = load_image_folder(root, "train", class_names=("dog", "cat", "bird"))
    test = load_image_folder(root, "test", class_names=train.class_names)
    assert test.class_names == ("dog", "cat", "bird")
    assert load_image_folder(root, "test").class_names == ("bird", "cat", "dog")
    # Without a train split, a split's own classes are used.
    os.rename(f"{root}/train", f"{root}/old")
    assert load_image_folder(root, "test").class_names == ("bird", "cat", "dog")
