"""A Grain random-access source over paired image folders (`root/<split>/{input,target}/`).

The layout of deblurring, deraining and super-resolution sets as their papers' code
prepares them (GoPro, HIDE, RealBlur, DIV2K):

  root/train/input/0001.png     root/train/target/0001.png
  root/train/input/0002.jpg     root/train/target/0002.png
  root/test/input/...           root/test/target/...

An input and its target are matched by name: the file's path under its side's folder
without the extension, so sub-folders are allowed (`input/GOPR0372/000047.png` pairs
with `target/GOPR0372/000047.png`) and the two sides may use different formats. Pairs
are sorted by name. Hidden files and directories and files that are not images (by
extension) are ignored. Images are decoded on access with Pillow and converted to RGB
(grey and RGBA files included); the source stores only paths, so it pickles cheaply
into Grain worker processes. The input and target sizes are not checked here: the
preprocessing ops check them against their scale (`paired_random_crop`, `pad_to_canvas`).

Example:

  train = PairedFolderSource("/data/gopro", "train")
  example = train[0]  # {"input": uint8 [H, W, 3], "target": uint8 [H, W, 3], "name": "0001"}
"""

from __future__ import annotations

import os

import numpy as np

from jaxvision.data.image_folder import IMAGE_EXTENSIONS, decode_image

INPUT_DIR = "input"
TARGET_DIR = "target"
MAX_LISTED_NAMES = 10  # Error messages name at most this many unmatched files.

_LAYOUT = "root/<split>/{input,target}/<name>.png|jpg"


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _side_dir(root: str, split: str, side: str) -> str:
    path = os.path.join(root, split, side)
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"paired folder directory {path!r} does not exist; expected the layout {_LAYOUT}."
        )
    return path


def list_side(folder: str) -> dict[str, str]:
    """The image files under ``folder`` (recursively), by name: relative path, no extension.

    Args:
      folder: one side of a split, e.g. ``root/train/input``.

    Returns:
      ``{name: path}``; names use ``/`` between sub-folders on every platform.

    Raises:
      ValueError: two files with the same name (``a.png`` and ``a.jpg``); the message
        names both paths.

    Example:
      >>> list_side("/nonexistent")
      {}
    """
    files: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not _is_hidden(d))
        for filename in sorted(filenames):
            if _is_hidden(filename) or not filename.lower().endswith(IMAGE_EXTENSIONS):
                continue
            path = os.path.join(dirpath, filename)
            name = os.path.splitext(os.path.relpath(path, folder))[0].replace(os.sep, "/")
            if name in files:
                raise ValueError(f"two images named {name!r}: {files[name]!r} and {path!r}")
            files[name] = path
    return files


def _unmatched_message(side_dir: str, other_dir: str, files: dict[str, str], names) -> str:
    listed = ", ".join(repr(files[n]) for n in names[:MAX_LISTED_NAMES])
    more = f" and {len(names) - MAX_LISTED_NAMES} more" if len(names) > MAX_LISTED_NAMES else ""
    return f"{len(names)} images in {side_dir!r} have no match in {other_dir!r}: {listed}{more}"


class PairedFolderSource:
    """Random-access source of ``{"input", "target", "name"}`` pairs from paired folders.

    Implements Grain's ``RandomAccessDataSource`` protocol (``__len__``, ``__getitem__``).

    Args:
      root: dataset root holding one directory per split.
      split: split directory name, e.g. ``"train"``.

    Attributes:
      root, split: as given.
      names: the pair names, sorted.
      input_paths, target_paths: the files of each pair, aligned with ``names``.

    Raises:
      FileNotFoundError: ``root/split/input`` or ``root/split/target`` is missing; the
        message names the path.
      ValueError: a name present on one side only (the message names the files), two
        files with the same name on one side, or a split with no pairs.

    Example:
      >>> PairedFolderSource("/nonexistent", "train")
      Traceback (most recent call last):
      ...
      FileNotFoundError: paired folder directory '/nonexistent/train/input' does not exist; ...
    """

    def __init__(self, root: str, split: str):
        self.root = os.fspath(root)
        self.split = split
        dirs = [_side_dir(self.root, split, side) for side in (INPUT_DIR, TARGET_DIR)]
        inputs, targets = (list_side(d) for d in dirs)
        for (files, side_dir), (other, other_dir) in (
            ((inputs, dirs[0]), (targets, dirs[1])),
            ((targets, dirs[1]), (inputs, dirs[0])),
        ):
            unmatched = sorted(set(files) - set(other))
            if unmatched:
                raise ValueError(_unmatched_message(side_dir, other_dir, files, unmatched))
        if not inputs:
            raise ValueError(
                f"{dirs[0]!r} and {dirs[1]!r} hold no image files (extensions "
                f"{', '.join(IMAGE_EXTENSIONS)}, case-insensitive); expected {_LAYOUT}."
            )
        self.names: tuple[str, ...] = tuple(sorted(inputs))
        self.input_paths: tuple[str, ...] = tuple(inputs[n] for n in self.names)
        self.target_paths: tuple[str, ...] = tuple(targets[n] for n in self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict[str, np.ndarray | str]:
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} pairs.")
        return {
            "input": decode_image(self.input_paths[index]),  # [h, w, 3]
            "target": decode_image(self.target_paths[index]),  # [H, W, 3]
            "name": self.names[index],
        }

    def __repr__(self) -> str:
        return (
            f"PairedFolderSource(root={self.root!r}, split={self.split!r}, num_pairs={len(self)})"
        )
