"""The segmentation_folder reader on small generated folders, including each bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from jaxvision.data import pipeline
from jaxvision.data.segmentation_folder import SegmentationFolderSource
from jaxvision.data.sources import open_split


def _save(path, array, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image = Image.fromarray(np.asarray(array, np.uint8))
    if mode == "P":
        image = image.convert("P")
    image.save(path)


def _pair(root, split, name, h=12, w=10, top_label=2, ext=".png", seed=0):
    rng = np.random.default_rng(seed)
    _save(os.path.join(root, split, "images", name + ext), rng.integers(0, 255, (h, w, 3)))
    mask = rng.integers(0, top_label + 1, (h, w))
    mask[0, 0] = top_label
    mask[-1, -1] = 255
    _save(os.path.join(root, split, "masks", name + ".png"), mask)
    return mask


@pytest.fixture()
def folder(tmp_path):
    root = str(tmp_path / "data")
    masks = {
        "a": _pair(root, "train", "a", top_label=1),
        "b": _pair(root, "train", "b", ext=".jpg", seed=1),
        "sub/c": _pair(root, "train", "sub/c", h=7, w=9, top_label=3, seed=2),
    }
    _pair(root, "test", "z", top_label=1, seed=3)
    return root, masks


def test_reads_pairs_and_takes_the_classes_from_the_largest_id(folder):
    root, masks = folder
    source = SegmentationFolderSource(root, "train")
    assert source.names == ("a", "b", "sub/c") and len(source) == 3
    assert source.class_names == ("class_0", "class_1", "class_2", "class_3")
    example = source[2]
    assert example["name"] == "sub/c" and example["image"].shape == (7, 9, 3)
    assert example["segmentation_mask"].shape == (7, 9, 1)
    assert example["segmentation_mask"].dtype == np.uint8
    np.testing.assert_array_equal(example["segmentation_mask"][..., 0], masks["sub/c"])
    # The eval split gets the train split's classes through open_split.
    test, meta = open_split("segmentation_folder", "test", root, class_names=source.class_names)
    assert meta.class_names == source.class_names and meta.num_examples == len(test) == 1


def test_classes_txt_names_the_classes_and_palette_masks_read_their_indices(folder):
    root, _ = folder
    with open(os.path.join(root, "classes.txt"), "w") as f:
        f.write("road\nsky\n\ncar\nperson\ntree\n")
    _, meta = open_split("segmentation_folder", "train", root)
    assert meta.class_names == ("road", "sky", "car", "person", "tree")
    ids = np.array([[0, 1], [4, 255]])
    _pair(root, "train", "p", h=2, w=2)
    _save(os.path.join(root, "train", "masks", "p.png"), ids, mode="P")
    source = SegmentationFolderSource(root, "train")
    assert Image.open(source.mask_paths[source.names.index("p")]).mode == "P"
    np.testing.assert_array_equal(source[source.names.index("p")]["segmentation_mask"][..., 0], ids)


def test_an_image_without_a_mask_and_a_mask_without_an_image_name_the_file(folder):
    root, _ = folder
    lonely_image = os.path.join(root, "train", "images", "d.png")
    _save(lonely_image, np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="no match") as info:
        SegmentationFolderSource(root, "train")
    assert lonely_image in str(info.value)
    os.remove(lonely_image)
    lonely_mask = os.path.join(root, "train", "masks", "e.png")
    _save(lonely_mask, np.zeros((4, 4)))
    with pytest.raises(ValueError, match="no match") as info:
        SegmentationFolderSource(root, "train")
    assert lonely_mask in str(info.value)


def test_a_mask_of_another_size_names_both_files(folder):
    root, _ = folder
    mask = os.path.join(root, "train", "masks", "a.png")
    _save(mask, np.zeros((12, 11)))
    with pytest.raises(ValueError, match="is \\(12, 11\\)") as info:
        SegmentationFolderSource(root, "train")
    assert mask in str(info.value) and os.path.join(root, "train", "images", "a.png") in str(
        info.value
    )


def test_a_label_above_the_class_count_names_the_mask(folder):
    root, _ = folder
    with open(os.path.join(root, "classes.txt"), "w") as f:
        f.write("a\nb\nc\n")  # 3 classes; sub/c holds label 3
    source = SegmentationFolderSource(root, "train")
    source[0]  # labels 0..1 and 255 are fine
    bad = os.path.join(root, "train", "masks", "sub", "c.png")
    for read in (lambda: source[2], source.verify):
        with pytest.raises(ValueError, match="label 3, above the 3 classes") as info:
            read()
        assert bad in str(info.value)


@pytest.mark.parametrize("kind", ["rgb", "jpeg"])
def test_a_mask_that_is_not_a_single_channel_png_is_refused(folder, kind):
    root, _ = folder
    path = os.path.join(root, "train", "masks", "a.png")
    if kind == "rgb":
        _save(path, np.zeros((12, 10, 3)))
        source = SegmentationFolderSource(root, "train", class_names=("x", "y"))
        with pytest.raises(ValueError, match="single-channel") as info:
            source[0]
    else:
        os.remove(path)
        path = path[: -len(".png")] + ".jpg"
        _save(path, np.zeros((12, 10)))
        with pytest.raises(ValueError, match="PNG") as info:
            SegmentationFolderSource(root, "train")
    assert path in str(info.value)


def test_missing_directories_and_unlabelled_masks(tmp_path):
    with pytest.raises(FileNotFoundError, match="images"):
        SegmentationFolderSource(str(tmp_path), "train")
    with pytest.raises(ValueError, match="data_dir"):
        open_split("segmentation_folder", "train")
    root = str(tmp_path / "ignored")
    _save(os.path.join(root, "train", "images", "a.png"), np.zeros((3, 3, 3)))
    _save(os.path.join(root, "train", "masks", "a.png"), np.full((3, 3), 255))
    with pytest.raises(ValueError, match="label no pixel"):
        SegmentationFolderSource(root, "train")


def test_batches_of_any_size_images_through_the_pipeline(folder):
    root, _ = folder
    source, meta = open_split("segmentation_folder", "train", root)
    spec = "decode_segmentation('segmentation_folder', num_classes=4)|random_crop_pad(8)|flip_lr"
    ds = pipeline.train_dataset(
        source, spec, ("image", "segmentation_mask"), global_batch_size=3, seed=0
    )
    batch = next(iter(ds))
    assert batch["image"].shape == (3, 8, 8, 3) and batch["segmentation_mask"].shape == (3, 8, 8, 1)
    values = set(np.unique(batch["segmentation_mask"]).tolist())
    assert values <= {0, 1, 2, 3, 255} and meta.num_classes == 4
