"""Tests of the paired-folder source (`root/<split>/{input,target}/<name>.<ext>`)."""

import os
import pickle
import re

import numpy as np
import pytest
from PIL import Image

from jaxvision.data import pipeline
from jaxvision.data.paired_folder import PairedFolderSource, list_side
from jaxvision.data.sources import DatasetMeta, open_split


def _save(path, array, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image = Image.fromarray(array) if mode is None else Image.fromarray(array, mode)
    image.save(path)


def _value(name):
    """The grey level of the pair ``name``: the pairs are told apart by their pixels."""
    return {"a": 10, "b": 20, "sub/c": 30}[name]


def _write(root, split="train"):
    """Three pairs: an RGB png pair, a grey jpg input with an RGBA png target, a sub-folder."""
    base = os.path.join(root, split)
    _save(f"{base}/input/a.png", np.full((4, 6, 3), 10, np.uint8))
    _save(f"{base}/target/a.png", np.full((8, 12, 3), 110, np.uint8))
    _save(f"{base}/input/b.jpg", np.full((4, 6), 20, np.uint8))  # Grey ("L").
    rgba = np.zeros((8, 12, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = 120, 255
    _save(f"{base}/target/b.png", rgba)
    _save(f"{base}/input/sub/c.png", np.full((4, 6, 3), 30, np.uint8))
    _save(f"{base}/target/sub/c.png", np.full((8, 12, 3), 130, np.uint8))
    _save(f"{base}/input/.hidden.png", np.zeros((2, 2, 3), np.uint8))  # Ignored.
    with open(f"{base}/target/notes.txt", "w") as f:  # Not an image: ignored.
        f.write("not an image")


def test_pairs_matched_by_name(tmp_path):
    _write(tmp_path)
    source = PairedFolderSource(str(tmp_path), "train")
    assert len(source) == 3
    assert source.names == ("a", "b", "sub/c")
    for i, name in enumerate(source.names):
        example = source[i]
        assert set(example) == {"input", "target", "name"} and example["name"] == name
        assert example["input"].shape == (4, 6, 3) and example["input"].dtype == np.uint8
        assert example["target"].shape == (8, 12, 3) and example["target"].dtype == np.uint8
        # Grey and RGBA files come out RGB; the jpeg is lossy by a level or two.
        assert np.abs(example["input"].astype(int) - _value(name)).max() <= 2
        assert (example["target"] == _value(name) + 100).all()
    assert source[-1]["name"] == "sub/c"
    with pytest.raises(IndexError):
        source[3]
    clone = pickle.loads(pickle.dumps(source))  # Grain workers receive it pickled.
    assert clone.input_paths == source.input_paths


def test_open_split_and_pipeline(tmp_path):
    _write(tmp_path)
    source, meta = open_split("paired_folder", "train", data_dir=str(tmp_path))
    assert meta == DatasetMeta("paired_folder", (), 3)
    ds, num_batches = pipeline.eval_dataset(
        source,
        "to_rgb|pad_to_canvas(8, 16, scale=2)",
        ("input", "target", "image_size", "index"),
        global_batch_size=2,
    )
    batches = list(ds)
    assert num_batches == 2
    assert batches[0]["input"].shape == (2, 4, 8, 3) and batches[0]["target"].shape == (2, 8, 16, 3)
    assert batches[1]["index"].tolist() == [2, 0] and batches[1]["mask"].tolist() == [1.0, 0.0]
    assert batches[0]["image_size"].tolist() == [[8, 12], [8, 12]]
    with pytest.raises(ValueError, match="data_dir"):
        open_split("paired_folder", "train")


def test_missing_folders_are_named(tmp_path):
    _write(tmp_path)
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "test" / "input"))):
        PairedFolderSource(str(tmp_path), "test")
    os.makedirs(tmp_path / "val" / "input")
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "val" / "target"))):
        PairedFolderSource(str(tmp_path), "val")


def test_unmatched_names_are_named(tmp_path):
    _write(tmp_path)
    os.remove(tmp_path / "train" / "target" / "b.png")
    with pytest.raises(ValueError, match=r"1 images .*input.*b\.jpg"):
        PairedFolderSource(str(tmp_path), "train")
    _save(str(tmp_path / "train" / "target" / "b.png"), np.zeros((8, 12, 3), np.uint8))
    _save(str(tmp_path / "train" / "target" / "extra.png"), np.zeros((8, 12, 3), np.uint8))
    with pytest.raises(ValueError, match=r"target.*extra\.png"):
        PairedFolderSource(str(tmp_path), "train")


def test_duplicate_names_and_empty_split(tmp_path):
    _write(tmp_path)
    _save(str(tmp_path / "train" / "input" / "a.jpg"), np.zeros((4, 6, 3), np.uint8))
    with pytest.raises(ValueError, match=r"a\.jpg.*a\.png|a\.png.*a\.jpg"):
        list_side(str(tmp_path / "train" / "input"))
    os.makedirs(tmp_path / "empty" / "input")
    os.makedirs(tmp_path / "empty" / "target")
    with pytest.raises(ValueError, match="no image files"):
        PairedFolderSource(str(tmp_path), "empty")


def test_unreadable_file_is_named(tmp_path):
    _write(tmp_path)
    bad = tmp_path / "train" / "target" / "a.png"
    bad.write_bytes(b"this is not a png")
    source = PairedFolderSource(str(tmp_path), "train")
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        source[0]
