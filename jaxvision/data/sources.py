"""Opens a dataset split by name as a random-access source, with its label metadata.

Supported names:
  * any TFDS dataset prepared in the ArrayRecord format (``cifar10``, ``cifar100``,
    ``imagenet2012`` ...), read through ``tfds.data_source`` with no TensorFlow;
  * ``jaxvision_shapes/<config>``: the project's own procedural dataset, generated
    on first use (no download);
  * ``image_folder``: ``data_dir/<split>/<class_name>/<image files>``.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import tensorflow_datasets as tfds

from jaxvision.data import image_folder

IMAGE_FOLDER = "image_folder"
SHAPES_PREFIX = "jaxvision_shapes"
DEFAULT_DATA_DIR = os.environ.get("TFDS_DATA_DIR", os.path.expanduser("~/tensorflow_datasets"))


class DatasetNotFoundError(FileNotFoundError):
    """A dataset that is not prepared where the config says it is."""


@dataclasses.dataclass(frozen=True)
class DatasetMeta:
    """What a task needs to know about a dataset.

    Attributes:
      name: the dataset name as configured.
      class_names: label names, index = class id.
      num_examples: examples in the opened split.
    """

    name: str
    class_names: tuple[str, ...]
    num_examples: int

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _data_dir(configured: str | None) -> str:
    return os.path.expanduser(configured) if configured else DEFAULT_DATA_DIR


def _open_tfds(name: str, split: str, data_dir: str) -> tuple[Any, DatasetMeta]:
    if name.startswith(SHAPES_PREFIX):
        from jaxvision.data.builders import shapes  # registers the builder with TFDS

        config = name.partition("/")[2] or "classification"
        shapes.prepare_shapes(data_dir, config)
    try:
        source = tfds.data_source(name, split=split, data_dir=data_dir, download=False)
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # TFDS raises a different type for each way it is missing
        raise DatasetNotFoundError(
            f"dataset {name!r} (split {split!r}) is not prepared in data_dir={data_dir!r}. "
            "Prepare it in the ArrayRecord format on a machine with network access and "
            "TensorFlow: "
            f"`tfds build {name} --data_dir={data_dir} --file_format=array_record` "
            f"(imagenet2012 also needs the manual download in {data_dir}/downloads/manual), "
            "then copy the folder here or point --config.dataset.data_dir at it."
        ) from e
    label = builder.info.features["label"]
    meta = DatasetMeta(name=name, class_names=tuple(label.names), num_examples=len(source))
    return source, meta


def open_split(
    name: str, split: str, data_dir: str | None = None, class_names: tuple[str, ...] | None = None
) -> tuple[Any, DatasetMeta]:
    """Opens one split of a dataset.

    Args:
      name: a TFDS name (``"cifar10"``, ``"jaxvision_shapes/classification"``) or
        ``"image_folder"``.
      split: split name, TFDS slicing allowed (``"train[:90%]"``).
      data_dir: the TFDS data_dir, or the image folder root; None for the TFDS default.
      class_names: for ``image_folder``, the class order to enforce (the train split's).

    Returns:
      ``(source, meta)``: a random-access source whose items are feature dicts with
      ``"image"`` (uint8 [H, W, 3]) and ``"label"``, and its ``DatasetMeta``.

    Raises:
      DatasetNotFoundError: the dataset is not prepared; the message names the
        data_dir and the command that prepares it.

    Example:
      >>> source, meta = open_split("jaxvision_shapes/classification", "test")
      >>> meta.num_classes
      8
    """
    if name == IMAGE_FOLDER:
        if not data_dir:
            raise ValueError("dataset image_folder needs --config.dataset.data_dir=PATH")
        source = image_folder.load_image_folder(data_dir, split, class_names=class_names)
        meta = DatasetMeta(name, tuple(source.class_names), len(source))
        return source, meta
    return _open_tfds(name, split, _data_dir(data_dir))
