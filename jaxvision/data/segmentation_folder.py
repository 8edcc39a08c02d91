"""A Grain random-access source over a user's semantic-segmentation folders.

The layout (``--config.dataset.name=segmentation_folder --config.dataset.data_dir=PATH``)::

  PATH/train/images/<name>.png|jpg    PATH/train/masks/<name>.png
  PATH/test/images/<name>.png|jpg     PATH/test/masks/<name>.png
  PATH/classes.txt                    (optional: one class name a line, in id order)

A mask is a single-channel PNG (grey "L", or a palette "P" image as VOC ships, whose
indices are read) of the image's size, whose pixel value is the class id; 255 means ignore.
An image and its mask are matched by name (the path under ``images/`` or ``masks/``
without the extension, so sub-folders are allowed). The classes come from ``classes.txt``;
without it, from the train split's largest id (ids ``0..max``, named ``class_<id>``): the
source then reads every mask of the split once, when it opens. The model's output size
follows the class count, as the image-folder classification data does.

Bad input is an error that names the file: an image without a mask or a mask without an
image (at open), a mask whose size differs from its image's (at open: the files' headers
are read, not their pixels), a mask that is not a single-channel PNG, and a label above the
class count other than 255 (when its mask is read; ``verify()`` reads them all).

Example:

  train = SegmentationFolderSource("/data/roads", "train")
  test = SegmentationFolderSource("/data/roads", "test", class_names=train.class_names)
  example = train[0]  # {"image": uint8 [H, W, 3], "segmentation_mask": uint8 [H, W, 1],
                      #  "name": "0001"}
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

from jaxvision.data.image_folder import decode_image
from jaxvision.data.paired_folder import list_side

IMAGES_DIR = "images"
MASKS_DIR = "masks"
CLASSES_FILE = "classes.txt"
IGNORE_LABEL = 255
# Pillow modes of single-channel masks: grey, palette (indices), 1-bit, 16 / 32-bit ints.
MASK_MODES = ("L", "P", "1", "I", "I;16")
MASK_EXTENSION = ".png"
MAX_LISTED_FILES = 10  # Error messages name at most this many files.
_LAYOUT = "PATH/<split>/{images,masks}/<name> (masks: single-channel .png)"


def read_classes(root: str) -> tuple[str, ...] | None:
    """The class names of ``root/classes.txt`` (one a line, blank lines skipped), or None.

    Raises:
      ValueError: the file lists no class, or one twice.

    Example:
      >>> read_classes("/nonexistent") is None
      True
    """
    path = os.path.join(root, CLASSES_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        names = tuple(line.strip() for line in f if line.strip())
    if not names:
        raise ValueError(f"{path!r} lists no class (one class name a line, in id order)")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{path!r} lists classes twice: {duplicates}")
    if len(names) > IGNORE_LABEL:
        raise ValueError(f"{path!r} lists {len(names)} classes; ids stop at 254 (255 is ignore)")
    return names


def read_mask(path: str) -> np.ndarray:
    """A mask file's class ids, uint8 [H, W].

    Raises:
      ValueError: the file is not a PNG, not single-channel, unreadable, or holds a value
        above 255; the message names it.
    """
    if not path.lower().endswith(MASK_EXTENSION):
        raise ValueError(f"mask {path!r} must be a PNG (lossless), not {os.path.splitext(path)[1]}")
    try:
        with Image.open(path) as image:
            if image.mode not in MASK_MODES:
                raise ValueError(
                    f"mask {path!r} has {image.mode} pixels; a mask is single-channel (one "
                    f"class id a pixel: modes {', '.join(MASK_MODES)})"
                )
            ids = np.asarray(image)  # [H, W]
    except (OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"cannot read mask file {path!r}: {e}") from e
    if ids.size and (ids.min() < 0 or ids.max() > IGNORE_LABEL):
        raise ValueError(f"mask {path!r} holds the value {int(ids.max())}; class ids are 0..255")
    return ids.astype(np.uint8)


def _image_size(path: str) -> tuple[int, int]:
    """(height, width) from the file's header."""
    try:
        with Image.open(path) as image:
            return image.height, image.width
    except (OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"cannot read image file {path!r}: {e}") from e


def _listed(paths: Sequence[str]) -> str:
    more = len(paths) - MAX_LISTED_FILES
    return ", ".join(repr(p) for p in paths[:MAX_LISTED_FILES]) + (
        f" and {more} more" if more > 0 else ""
    )


def _check_bad_label(ids: np.ndarray, num_classes: int, path: str) -> None:
    bad = ids[(ids >= num_classes) & (ids != IGNORE_LABEL)]
    if bad.size:
        raise ValueError(
            f"mask {path!r} holds label {int(bad.max())}, above the {num_classes} classes "
            f"(ids 0..{num_classes - 1}; 255 is ignore)"
        )


class SegmentationFolderSource:
    """Random-access source of ``{"image", "segmentation_mask", "name"}`` from mask folders.

    Implements Grain's ``RandomAccessDataSource`` protocol (``__len__``, ``__getitem__``).

    Args:
      root: the dataset root (``PATH``).
      split: the split directory, e.g. ``"train"``.
      class_names: the classes to enforce (the train split's, for the eval split); None:
        ``classes.txt``, else the largest id of this split's masks.

    Attributes:
      root, split: as given.
      class_names: the class names, by id.
      names, image_paths, mask_paths: the examples, sorted by name.

    Raises:
      FileNotFoundError: ``images/`` or ``masks/`` of the split is missing.
      ValueError: the bad input of the module docstring, or a split with no images.

    Example:
      >>> SegmentationFolderSource("/nonexistent", "train")
      Traceback (most recent call last):
      ...
      FileNotFoundError: segmentation folder directory '/nonexistent/train/images' does not ...
    """

    def __init__(self, root: str, split: str, class_names: Sequence[str] | None = None):
        self.root, self.split = os.fspath(root), split
        images, masks = self._side(IMAGES_DIR), self._side(MASKS_DIR)
        self._check_matched(images, masks, IMAGES_DIR, MASKS_DIR)
        self._check_matched(masks, images, MASKS_DIR, IMAGES_DIR)
        not_png = sorted(p for p in masks.values() if not p.lower().endswith(MASK_EXTENSION))
        if not_png:
            raise ValueError(f"masks must be PNG files (lossless): {_listed(not_png)}")
        if not images:
            raise ValueError(f"{self._dir(IMAGES_DIR)!r} holds no image; expected {_LAYOUT}")
        self.names = tuple(sorted(images))
        self.image_paths = tuple(images[n] for n in self.names)
        self.mask_paths = tuple(masks[n] for n in self.names)
        for image_path, mask_path in zip(self.image_paths, self.mask_paths, strict=True):
            if _image_size(image_path) != _image_size(mask_path):
                raise ValueError(
                    f"mask {mask_path!r} is {_image_size(mask_path)} (h, w) but its image "
                    f"{image_path!r} is {_image_size(image_path)}"
                )
        if class_names is None:
            class_names = read_classes(self.root) or self._classes_from_masks()
        self.class_names: tuple[str, ...] = tuple(class_names)

    def _check_matched(self, files: dict, other: dict, side: str, other_side: str) -> None:
        unmatched = sorted(set(files) - set(other))
        if unmatched:
            raise ValueError(
                f"{len(unmatched)} files in {self._dir(side)!r} have no match in "
                f"{self._dir(other_side)!r}: {_listed([files[n] for n in unmatched])}"
            )

    def _dir(self, side: str) -> str:
        return os.path.join(self.root, self.split, side)

    def _side(self, side: str) -> dict[str, str]:
        path = self._dir(side)
        if not os.path.isdir(path):
            raise FileNotFoundError(
                f"segmentation folder directory {path!r} does not exist; expected {_LAYOUT}."
            )
        return list_side(path)

    def _classes_from_masks(self) -> tuple[str, ...]:
        """``class_<id>`` for ids 0 .. the largest id (255 aside) of every mask."""
        largest = -1
        for path in self.mask_paths:
            ids = read_mask(path)
            kept = ids[ids != IGNORE_LABEL]
            if kept.size:
                largest = max(largest, int(kept.max()))
        if largest < 0:
            raise ValueError(
                f"the masks of {self._dir(MASKS_DIR)!r} label no pixel (all 255) and there is "
                f"no {CLASSES_FILE} to name the classes"
            )
        return tuple(f"class_{i}" for i in range(largest + 1))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict[str, np.ndarray | str]:
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} examples.")
        image = decode_image(self.image_paths[index])  # [H, W, 3]
        ids = read_mask(self.mask_paths[index])  # [H, W]
        if ids.shape != image.shape[:2]:
            raise ValueError(
                f"mask {self.mask_paths[index]!r} is {ids.shape} but its image "
                f"{self.image_paths[index]!r} is {image.shape[:2]}"
            )
        _check_bad_label(ids, self.num_classes, self.mask_paths[index])
        return {"image": image, "segmentation_mask": ids[..., None], "name": self.names[index]}

    def verify(self) -> None:
        """Reads every mask once and checks its labels (the first bad one raises)."""
        for path in self.mask_paths:
            _check_bad_label(read_mask(path), self.num_classes, path)

    def __repr__(self) -> str:
        return (
            f"SegmentationFolderSource(root={self.root!r}, split={self.split!r}, "
            f"num_examples={len(self)}, num_classes={self.num_classes})"
        )
