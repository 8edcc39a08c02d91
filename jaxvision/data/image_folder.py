"""A Grain random-access source over an image-folder dataset (`root/<split>/<class>/<file>`).

The layout torchvision's `ImageFolder` reads, one directory per split:

  root/train/cat/0001.jpg
  root/train/dog/abc.png
  root/test/cat/...

Class names are the sorted sub-directory names of the split (or a given order), label =
index in `class_names`; files are found recursively under each class directory, sorted,
so the order is deterministic. Hidden files and directories and files that are not
images (by extension) are ignored. The source stores only paths and labels, so it pickles
cheaply into Grain worker processes; images are decoded on access with Pillow.

Example:

  train = load_image_folder("/data/flowers", "train")
  test = load_image_folder("/data/flowers", "test", class_names=train.class_names)
  example = train[0]  # {"image": uint8 [H, W, 3], "label": int}
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
DEFAULT_REFERENCE_SPLIT = "train"
MAX_LISTED_BAD_FILES = 20  # verify() names at most this many files in its message.

_LAYOUT = "root/<split>/<class_name>/<image files>"


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _is_image(name: str) -> bool:
    return not _is_hidden(name) and name.lower().endswith(IMAGE_EXTENSIONS)


def _split_dir(root: str, split: str) -> str:
    if not os.path.isdir(root):
        raise FileNotFoundError(
            f"image folder root {root!r} does not exist or is not a directory; "
            f"expected the layout {_LAYOUT}."
        )
    split_dir = os.path.join(root, split)
    if not os.path.isdir(split_dir):
        found = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        raise FileNotFoundError(
            f"split directory {split_dir!r} does not exist; expected the layout {_LAYOUT} "
            f"(splits found in {root!r}: {found})."
        )
    return split_dir


def find_classes(root: str, split: str) -> tuple[str, ...]:
    """Sorted class names (non-hidden sub-directories) of `root/split`.

    Raises:
      FileNotFoundError: `root` or `root/split` is missing.
    """
    split_dir = _split_dir(root, split)
    return tuple(
        sorted(
            d
            for d in os.listdir(split_dir)
            if not _is_hidden(d) and os.path.isdir(os.path.join(split_dir, d))
        )
    )


def _list_images(class_dir: str) -> list[str]:
    """All image files under `class_dir`, recursively, in sorted order."""
    paths = []
    for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not _is_hidden(d))
        paths.extend(os.path.join(dirpath, f) for f in sorted(filenames) if _is_image(f))
    return paths


def decode_image(path: str) -> np.ndarray:
    """Decodes an image file to uint8 RGB [H, W, 3] (first frame of animations).

    Raises:
      ValueError: the file cannot be read or decoded; the message names the path.
    """
    try:
        with Image.open(path) as image:
            if image.mode == "P" and "transparency" in image.info:
                image = image.convert("RGBA")  # Avoids Pillow's palette-transparency warning.
            return np.asarray(image.convert("RGB"), dtype=np.uint8)  # [H, W, 3]
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"cannot decode image file {path!r}: {e}") from e


class ImageFolderSource:
    """Random-access source of `{"image": uint8 [H, W, 3], "label": int}` from an image folder.

    Implements Grain's `RandomAccessDataSource` protocol (`__len__`, `__getitem__`).

    Args:
      root: dataset root holding one directory per split.
      split: split directory name, e.g. "train".
      class_names: the classes, in label order. None: the sorted sub-directories of the
        split. When given, the split's sub-directories must be exactly these classes.

    Attributes:
      root, split: as given.
      class_names: tuple of class names; label = index.
      paths: tuple of image paths, sorted by class then file path.
      labels: tuple of int labels, aligned with `paths`.

    Raises:
      FileNotFoundError: `root` or `root/split` is missing.
      ValueError: the split has no classes, a class has no images, or its classes differ
        from `class_names`.

    Example:

      source = ImageFolderSource("/data/flowers", "train")
      source.class_names  # ("daisy", "rose", ...)
      source[0]["image"].shape  # (H, W, 3)
    """

    def __init__(self, root: str, split: str, class_names: Sequence[str] | None = None):
        self.root = os.fspath(root)
        self.split = split
        split_dir = _split_dir(self.root, split)
        found = find_classes(self.root, split)
        if not found:
            raise ValueError(
                f"split directory {split_dir!r} has no class sub-directories; expected the "
                f"layout {_LAYOUT}."
            )
        if class_names is None:
            class_names = found
        else:
            class_names = tuple(class_names)
            _check_same_classes(class_names, found, split_dir)
        self.class_names: tuple[str, ...] = tuple(class_names)

        paths: list[str] = []
        labels: list[int] = []
        empty = []
        for label, name in enumerate(self.class_names):
            files = _list_images(os.path.join(split_dir, name))
            if not files:
                empty.append(name)
            paths.extend(files)
            labels.extend([label] * len(files))
        if empty:
            raise ValueError(
                f"class directories {empty} in {split_dir!r} hold no image files "
                f"(extensions {', '.join(IMAGE_EXTENSIONS)}, case-insensitive)."
            )
        self.paths: tuple[str, ...] = tuple(paths)
        self.labels: tuple[int, ...] = tuple(labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, np.ndarray | int]:
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images.")
        return {"image": decode_image(self.paths[index]), "label": self.labels[index]}

    def verify(self) -> None:
        """Decodes every image once and reports all the unreadable ones together.

        Raises:
          ValueError: some files cannot be decoded; the message lists them (up to
            `MAX_LISTED_BAD_FILES`) with the reason, and gives the total count.
        """
        bad = []
        for path in self.paths:
            try:
                with Image.open(path) as image:
                    image.load()
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
                bad.append(f"{path}: {e}")
        if bad:
            listed = "\n  ".join(bad[:MAX_LISTED_BAD_FILES])
            more = len(bad) - MAX_LISTED_BAD_FILES
            suffix = f"\n  ... and {more} more" if more > 0 else ""
            raise ValueError(
                f"{len(bad)} of {len(self)} image files in {self.root!r} split "
                f"{self.split!r} cannot be decoded:\n  {listed}{suffix}"
            )

    def __repr__(self) -> str:
        return (
            f"ImageFolderSource(root={self.root!r}, split={self.split!r}, "
            f"num_images={len(self)}, num_classes={self.num_classes})"
        )


def _check_same_classes(expected: tuple[str, ...], found: tuple[str, ...], split_dir: str):
    duplicates = sorted({n for n in expected if expected.count(n) > 1})
    if duplicates:
        raise ValueError(f"class_names has duplicates: {duplicates}.")
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing or extra:
        raise ValueError(
            f"classes of {split_dir!r} differ from the expected class_names: "
            f"missing directories {missing}, unexpected directories {extra}."
        )


def load_image_folder(
    root: str,
    split: str,
    class_names: Sequence[str] | None = None,
    reference_split: str = DEFAULT_REFERENCE_SPLIT,
) -> ImageFolderSource:
    """Opens `root/split`, with the same classes, in the same order, as the reference split.

    Args:
      root: dataset root.
      split: split to open.
      class_names: the class order to enforce. None: the classes of `reference_split`
        when `split` is another split and `root/reference_split` exists, else the sorted
        classes of `split` itself.
      reference_split: the split whose classes define the label order.

    Returns:
      The `ImageFolderSource`.

    Raises:
      FileNotFoundError: `root` or `root/split` is missing.
      ValueError: the split's classes differ from the expected ones (the message names
        the missing and unexpected classes), or a class or split holds no images.

    Example:

      test = load_image_folder("/data/flowers", "test")  # labels agree with "train"
    """
    reference_dir = os.path.join(os.fspath(root), reference_split)
    if class_names is None and split != reference_split and os.path.isdir(reference_dir):
        class_names = find_classes(root, reference_split)
    return ImageFolderSource(root, split, class_names=class_names)
