"""Opens a dataset split by name as a random-access source, with its label metadata.

Supported names:
  * any TFDS dataset prepared in the ArrayRecord format (``cifar10``, ``cifar100``,
    ``imagenet2012``, ``coco/2017``, ``voc/2007`` ...), read with no TensorFlow: the
    builder is restored from the prepared files (``dataset_info.json``), not from the
    dataset's generation code, which for some datasets (coco) imports TensorFlow;
  * ``jaxvision_shapes/<config>``: the project's own procedural dataset, generated
    on first use (no download);
  * ``jaxvision_photos``: patches of the photographs that ship with scikit-image
    (restoration), generated on first use (no download);
  * ``jaxvision_faces_scene`` and ``jaxvision_faces_identity[/<config>]``: procedural faces
    (face detection with landmarks in the ``wider_face`` schema; identities, attributes
    and landmarks in the ``celeb_a`` / ``lfw`` schema), generated on first use;
  * ``image_folder``: ``data_dir/<split>/<class_name>/<image files>``;
  * ``identity_folder``: the same layout, one folder a person, each split with its own
    people (face verification on held-out identities): a split's labels index its own
    sorted folders;
  * ``paired_folder``: ``data_dir/<split>/{input,target}/<image files>`` (restoration
    pairs, see ``paired_folder``);
  * ``coco_json``: a user's detection data in COCO format (see ``coco_json``);
  * ``segmentation_folder``: ``data_dir/<split>/{images,masks}/<name>`` semantic
    segmentation pairs and an optional ``data_dir/classes.txt`` (see
    ``segmentation_folder``);
  * ``a+b``: the concatenation of datasets with the same classes, each opened with
    the same split (``voc/2007+voc/2012``, split ``"train+validation"``).

Class names come from the label feature wherever it lives: the top-level ``label``
(classification) or ``objects/label`` (detection); datasets without labels have none.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from jaxvision.data import coco_json, image_folder, paired_folder, segmentation_folder

IMAGE_FOLDER = "image_folder"
IDENTITY_FOLDER = "identity_folder"
PAIRED_FOLDER = "paired_folder"
COCO_JSON = "coco_json"
SEGMENTATION_FOLDER = "segmentation_folder"
SHAPES_PREFIX = "jaxvision_shapes"
PHOTOS_PREFIX = "jaxvision_photos"
FACES_SCENE_PREFIX = "jaxvision_faces_scene"
FACES_IDENTITY_PREFIX = "jaxvision_faces_identity"
CONCAT_SEPARATOR = "+"
# Where the class label feature may live in a TFDS FeaturesDict, tried in order.
LABEL_FEATURE_PATHS = (("label",), ("objects", "label"))
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


class ConcatSource:
    """Random-access concatenation of sources (Grain's ``RandomAccessDataSource`` protocol).

    Args:
      sources: the sources, read one after the other.

    Example:
      >>> len(ConcatSource([[1, 2], [3]])), ConcatSource([[1, 2], [3]])[2]
      (3, 3)
    """

    def __init__(self, sources: list[Any]):
        self.sources = list(sources)
        self.offsets = np.cumsum([0] + [len(s) for s in self.sources])  # [k + 1]

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, index: int) -> Any:
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} examples")
        part = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return self.sources[part][index - int(self.offsets[part])]

    def __repr__(self) -> str:
        return f"ConcatSource({self.sources!r})"


def _data_dir(configured: str | None) -> str:
    return os.path.expanduser(configured) if configured else DEFAULT_DATA_DIR


def class_names_of(features: Any) -> tuple[str, ...]:
    """Label names of a TFDS FeaturesDict: ``label`` or ``objects/label``; () if neither.

    Example:
      >>> import tensorflow_datasets as tfds
      >>> label = tfds.features.ClassLabel(names=["cat", "dog"])
      >>> class_names_of(tfds.features.FeaturesDict(
      ...     {"objects": tfds.features.Sequence({"label": label})}))
      ('cat', 'dog')
    """
    for path in LABEL_FEATURE_PATHS:
        feature = features
        for key in path:
            if not hasattr(feature, "keys") or key not in feature:
                feature = None
                break
            feature = feature[key]
        if feature is not None and hasattr(feature, "feature"):  # A Sequence of labels.
            feature = feature.feature
        if feature is not None and hasattr(feature, "names"):
            return tuple(feature.names)
    return ()


def _tfds_builder(name: str, data_dir: str) -> Any:
    """The builder of a prepared dataset: restored from its files, else from TFDS code."""
    # Imported here, not at the top: the engine imports this module for `DatasetMeta`, and
    # TFDS (with its protobuf and pyarrow stack, about a second) is only needed to open data.
    import tensorflow_datasets as tfds

    try:
        return tfds.core.read_only_builder.builder_from_files(
            name, data_dir=data_dir, file_format="array_record"
        )
    except Exception:  # Not prepared there, or no metadata files: try the generation code.
        return tfds.builder(name, data_dir=data_dir, file_format="array_record")


def _open_tfds(name: str, split: str, data_dir: str) -> tuple[Any, DatasetMeta]:
    if name.startswith(SHAPES_PREFIX):
        from jaxvision.data.builders import shapes  # registers the builder with TFDS

        config = name.partition("/")[2] or "classification"
        if config in {c.name for c in shapes.BUILDER_CONFIGS}:  # Variants are prepared by hand.
            shapes.prepare_shapes(data_dir, config)
    elif name.startswith(PHOTOS_PREFIX):
        from jaxvision.data.builders import photos  # registers the builder with TFDS

        config = name.partition("/")[2] or photos.DEFAULT_CONFIG
        if config in {c.name for c in photos.BUILDER_CONFIGS}:
            photos.prepare_photos(data_dir, config)
    elif name.startswith(FACES_SCENE_PREFIX):
        from jaxvision.data.builders import faces_scene  # registers the builder with TFDS

        config = name.partition("/")[2] or faces_scene.DEFAULT_CONFIG
        if config in {c.name for c in faces_scene.BUILDER_CONFIGS}:
            faces_scene.prepare_faces_scene(data_dir, config)
    elif name.startswith(FACES_IDENTITY_PREFIX):
        from jaxvision.data.builders import faces_identity  # registers the builder with TFDS

        config = name.partition("/")[2] or faces_identity.DEFAULT_CONFIG
        if config in {c.name for c in faces_identity.BUILDER_CONFIGS}:
            faces_identity.prepare_faces_identity(data_dir, config)
    try:
        builder = _tfds_builder(name, data_dir)
        source = builder.as_data_source(split)
    except Exception as e:  # TFDS raises a different type for each way it is missing
        raise DatasetNotFoundError(
            f"dataset {name!r} (split {split!r}) is not prepared in data_dir={data_dir!r}. "
            "Prepare it in the ArrayRecord format on a machine with network access and "
            "TensorFlow: "
            f"`tfds build {name} --data_dir={data_dir} --file_format=array_record` "
            f"(imagenet2012 also needs the manual download in {data_dir}/downloads/manual), "
            "then copy the folder here or point --config.dataset.data_dir at it."
        ) from e
    class_names = class_names_of(builder.info.features)
    meta = DatasetMeta(name=name, class_names=class_names, num_examples=len(source))
    return source, meta


def _open_concat(
    name: str, split: str, data_dir: str | None, class_names: tuple[str, ...] | None
) -> tuple[Any, DatasetMeta]:
    parts = [p.strip() for p in name.split(CONCAT_SEPARATOR)]
    if not all(parts):
        raise ValueError(f"empty dataset name in {name!r}")
    opened = [open_split(p, split, data_dir, class_names) for p in parts]
    for part, (_, meta) in zip(parts[1:], opened[1:], strict=True):
        if meta.class_names != opened[0][1].class_names:
            raise ValueError(
                f"cannot concatenate {name!r}: {part!r} has classes {meta.class_names}, "
                f"{parts[0]!r} has {opened[0][1].class_names}"
            )
    source = ConcatSource([s for s, _ in opened])
    return source, DatasetMeta(name, opened[0][1].class_names, len(source))


def open_split(
    name: str, split: str, data_dir: str | None = None, class_names: tuple[str, ...] | None = None
) -> tuple[Any, DatasetMeta]:
    """Opens one split of a dataset.

    Args:
      name: a TFDS name (``"cifar10"``, ``"coco/2017"``, ``"div2k/bicubic_x4"``,
        ``"jaxvision_shapes/classification"``, ``"jaxvision_photos"``),
        ``"image_folder"``, ``"paired_folder"``, ``"coco_json"``, or several names of
        datasets with the same classes joined by ``+`` (``"voc/2007+voc/2012"``),
        concatenated in that order.
      split: split name, TFDS slicing allowed (``"train[:90%]"``); applied to each
        name of a ``+`` concatenation.
      data_dir: the TFDS data_dir, or the image folder / paired folder / COCO root;
        None for the TFDS default.
      class_names: for ``image_folder``, ``coco_json`` and ``segmentation_folder``, the
        class order to enforce (the train split's).

    Returns:
      ``(source, meta)``: a random-access source whose items are feature dicts with
      ``"image"`` (uint8 [H, W, 3]) and the dataset's own features (``"label"`` for
      classification, ``"objects"`` with ``bbox``/``label`` for detection; a
      ``paired_folder`` has ``"input"``, ``"target"`` and ``"name"`` instead of
      ``"image"``, TFDS ``div2k`` ``"lr"`` and ``"hr"``), and its ``DatasetMeta``.

    Raises:
      DatasetNotFoundError: the dataset is not prepared; the message names the
        data_dir and the command that prepares it.
      ValueError: the datasets of a ``+`` concatenation have different classes.

    Example:
      >>> source, meta = open_split("jaxvision_shapes/classification", "test")
      >>> meta.num_classes
      8
    """
    if CONCAT_SEPARATOR in name:
        return _open_concat(name, split, data_dir, class_names)
    if name == COCO_JSON:
        if not data_dir:
            raise ValueError("dataset coco_json needs --config.dataset.data_dir=PATH")
        source = coco_json.CocoJsonSource(data_dir, split, class_names=class_names)
        return source, DatasetMeta(name, source.class_names, len(source))
    if name == IMAGE_FOLDER:
        if not data_dir:
            raise ValueError("dataset image_folder needs --config.dataset.data_dir=PATH")
        source = image_folder.load_image_folder(data_dir, split, class_names=class_names)
        meta = DatasetMeta(name, tuple(source.class_names), len(source))
        return source, meta
    if name == IDENTITY_FOLDER:
        if not data_dir:
            raise ValueError("dataset identity_folder needs --config.dataset.data_dir=PATH")
        source = image_folder.ImageFolderSource(os.path.expanduser(data_dir), split)
        return source, DatasetMeta(name, tuple(source.class_names), len(source))
    if name == SEGMENTATION_FOLDER:
        if not data_dir:
            raise ValueError("dataset segmentation_folder needs --config.dataset.data_dir=PATH")
        source = segmentation_folder.SegmentationFolderSource(
            os.path.expanduser(data_dir), split, class_names=class_names
        )
        return source, DatasetMeta(name, source.class_names, len(source))
    if name == PAIRED_FOLDER:
        if not data_dir:
            raise ValueError("dataset paired_folder needs --config.dataset.data_dir=PATH")
        source = paired_folder.PairedFolderSource(os.path.expanduser(data_dir), split)
        return source, DatasetMeta(name, (), len(source))
    return _open_tfds(name, split, _data_dir(data_dir))
