"""`jaxvision_shapes`: the project's offline TFDS dataset, rendered by `shapes_scene`.

A real `tfds.core.GeneratorBasedBuilder` with nothing to download and no TensorFlow needed:
it is written in the ArrayRecord format and read back with `tfds.data_source`. Each config
serves one task family from the same renderer:

  ==============  =====  =========  ===============  ======================================
  config          size   objects    train / test     features
  ==============  =====  =========  ===============  ======================================
  classification  32     1          12,000 / 2,000   image, label
  localization    64     1          12,000 / 2,000   image, label, bbox
  detection       128    0..6       8,000 / 1,000    image, objects{bbox, label, area}
  segmentation    128    0..6       8,000 / 1,000    detection + segmentation_mask,
                                                     instance_map
  ==============  =====  =========  ===============  ======================================

Detection and segmentation images hold 1..6 objects, except `empty_fraction` (5%) of them
that hold none. Boxes are (ymin, xmin, ymax, xmax) in [0, 1], tight around each object's
visible pixels; `area` is the visible pixel count; `segmentation_mask` is 0 for background
and `label + 1` on object pixels (semantic segmentation: 9 classes, background first);
`instance_map` is 0 for background and `i + 1` on the visible pixels of `objects[i]`
(instance segmentation: visible masks never overlap, so one map holds them all exactly;
`decode_detection` turns it into one mask a box).

Example `i` of a split is rendered from its own seed, derived from (split, i), so the
dataset is reproducible bit for bit, train and test never share a seed, and a variant with
fewer examples is a prefix of the full one.

Example:

  builder = prepare_shapes("/tmp/tfds", "detection")
  train = tfds.data_source("jaxvision_shapes/detection", split="train", data_dir="/tmp/tfds")
  train[0]["objects"]["bbox"]  # float32 [n, 4]
"""

from __future__ import annotations

import dataclasses
import io
import pathlib

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from jaxvision.data.builders import prepare, shapes_scene

NAME = "jaxvision_shapes"
TASKS = ("classification", "localization", "detection", "segmentation")
SPLIT_SEED_IDS = {"train": 0, "test": 1}  # Distinct ids give disjoint seed streams.
DATASET_SEED = 20_240_601  # Root entropy of every example seed.
MAX_RENDER_TRIES = 8  # Re-renders allowed when a one-object scene comes back empty.


@dataclasses.dataclass(eq=False, kw_only=True)
class ShapesConfig(tfds.core.BuilderConfig):
    """BuilderConfig for `jaxvision_shapes`.

    Attributes:
      task: which features to store: one of `TASKS`.
      image_size: side of the square images, in pixels.
      num_train: examples in the train split.
      num_test: examples in the test split.
      min_objects: fewest objects in a non-empty image.
      max_objects: most objects in an image.
      empty_fraction: probability that an image holds no object at all.
      min_size: smallest object diameter, as a fraction of the image side.
      max_size: largest object diameter, as a fraction of the image side.
      max_overlap: largest fraction of an object that later objects may hide.
    """

    task: str = "classification"
    image_size: int = 32
    num_train: int = 12_000
    num_test: int = 2_000
    min_objects: int = 1
    max_objects: int = 1
    empty_fraction: float = 0.0
    min_size: float = 0.5
    max_size: float = 0.95
    max_overlap: float = shapes_scene.DEFAULT_MAX_OVERLAP

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}.")
        if self.num_train < 0 or self.num_test < 0:
            raise ValueError(
                f"split sizes must be >= 0, got num_train={self.num_train}, "
                f"num_test={self.num_test}."
            )
        if self.task in ("classification", "localization") and (
            self.min_objects != 1 or self.max_objects != 1 or self.empty_fraction != 0.0
        ):
            raise ValueError(
                f"task {self.task!r} needs exactly one object per image, got "
                f"min_objects={self.min_objects}, max_objects={self.max_objects}, "
                f"empty_fraction={self.empty_fraction}."
            )
        if not 0 <= self.min_objects <= self.max_objects:
            raise ValueError(
                f"need 0 <= min_objects <= max_objects, got {self.min_objects}, {self.max_objects}."
            )
        if not 0.0 <= self.empty_fraction <= 1.0:
            raise ValueError(f"empty_fraction must be in [0, 1], got {self.empty_fraction}.")
        shapes_scene.check_scene_args(
            self.image_size,
            (self.min_objects, self.max_objects),
            min_size=self.min_size,
            max_size=self.max_size,
            max_overlap=self.max_overlap,
        )


_DETECTION_DEFAULTS = dict(
    image_size=128,
    num_train=8_000,
    num_test=1_000,
    min_objects=1,
    max_objects=6,
    empty_fraction=0.05,
    min_size=0.12,
    max_size=0.4,
)

BUILDER_CONFIGS = (
    ShapesConfig(
        name="classification",
        description="One shape per 32x32 image; label only.",
        task="classification",
    ),
    ShapesConfig(
        name="localization",
        description="One shape per 64x64 image; label and tight bounding box.",
        task="localization",
        image_size=64,
        min_size=0.25,
        max_size=0.8,
    ),
    ShapesConfig(
        name="detection",
        description="0..6 shapes per 128x128 image; boxes, labels and visible areas.",
        task="detection",
        **_DETECTION_DEFAULTS,
    ),
    ShapesConfig(
        name="segmentation",
        description="0..6 shapes per 128x128 image; detection targets plus a class map.",
        task="segmentation",
        **_DETECTION_DEFAULTS,
    ),
)


def _png(array: np.ndarray) -> bytes:
    """PNG bytes of a uint8 [H, W] or [H, W, 3] array (encoded by Pillow, not TensorFlow)."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def example_rng(split: str, index: int) -> np.random.Generator:
    """The generator that renders example `index` of `split`."""
    if split not in SPLIT_SEED_IDS:
        raise ValueError(f"split must be one of {tuple(SPLIT_SEED_IDS)}, got {split!r}.")
    return np.random.default_rng([DATASET_SEED, SPLIT_SEED_IDS[split], index])


def instance_map(masks: np.ndarray) -> np.ndarray:
    """uint8 [H, W]: 0 on background, `i + 1` on the pixels of the disjoint masks[i] [n, H, W].

    Example:
      >>> instance_map(np.array([[[1, 0]], [[0, 1]]], bool)).tolist()
      [[1, 2]]
    """
    masks = np.asarray(masks, bool)
    if len(masks) > np.iinfo(np.uint8).max:
        raise ValueError(f"an instance map holds at most 255 objects, got {len(masks)}.")
    ids = np.arange(1, len(masks) + 1, dtype=np.uint8)[:, None, None]  # [n, 1, 1]
    return np.max(np.where(masks, ids, 0), axis=0, initial=0).astype(np.uint8)  # [H, W]


def render_example(config: ShapesConfig, split: str, index: int) -> dict[str, np.ndarray]:
    """Renders the scene of example `index` of `split` (the raw `render_scene` dict)."""
    rng = example_rng(split, index)
    for _ in range(MAX_RENDER_TRIES):
        if config.empty_fraction > 0.0 and rng.random() < config.empty_fraction:
            num_objects: int | tuple[int, int] = 0
        else:
            num_objects = (config.min_objects, config.max_objects)
        scene = shapes_scene.render_scene(
            rng,
            config.image_size,
            num_objects,
            min_size=config.min_size,
            max_size=config.max_size,
            max_overlap=config.max_overlap,
        )
        if config.max_objects != 1 or len(scene["labels"]) == 1:
            return scene
    raise RuntimeError(
        f"could not render a one-object scene for {split}[{index}] in {MAX_RENDER_TRIES} "
        f"tries; min_size={config.min_size} is probably too small for "
        f"image_size={config.image_size}."
    )


class JaxvisionShapes(tfds.core.GeneratorBasedBuilder):
    """Procedural shapes for classification, localization, detection and segmentation."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = list(BUILDER_CONFIGS)
    DEFAULT_CONFIG_NAME = "classification"
    # TFDS derives `code_path` through `importlib_resources`, a backport it only declares
    # for Python < 3.9, so the lookup fails for builders defined inside a package. The
    # path is only used to find checksum and metadata files, which this builder has none of.
    code_path = pathlib.Path(__file__)

    def _info(self) -> tfds.core.DatasetInfo:
        config: ShapesConfig = self.builder_config
        size = config.image_size
        image = tfds.features.Image(shape=(size, size, 3), encoding_format="png")
        label = tfds.features.ClassLabel(names=shapes_scene.SHAPE_NAMES)
        features: dict[str, tfds.features.FeatureConnector] = {"image": image}
        if config.task in ("classification", "localization"):
            features["label"] = label
        if config.task == "localization":
            features["bbox"] = tfds.features.BBoxFeature()
        if config.task in ("detection", "segmentation"):
            features["objects"] = tfds.features.Sequence(
                {
                    "bbox": tfds.features.BBoxFeature(),
                    "label": label,
                    "area": tfds.features.Scalar(dtype=np.int64),
                }
            )
        if config.task == "segmentation":
            for key in ("segmentation_mask", "instance_map"):
                features[key] = tfds.features.Image(shape=(size, size, 1), encoding_format="png")
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "Procedurally rendered coloured shapes ("
                + ", ".join(shapes_scene.SHAPE_NAMES)
                + ") on smooth colour gradients, generated offline by "
                "jaxvision.data.builders.shapes_scene. Boxes are tight around each "
                "object's visible pixels; segmentation_mask is 0 for background and "
                "label + 1 on object pixels; instance_map is 0 for background and i + 1 on "
                "the visible pixels of objects[i]. " + (config.description or "")
            ),
            features=tfds.features.FeaturesDict(features),
            supervised_keys=("image", "label") if config.task == "classification" else None,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing to download.
        config: ShapesConfig = self.builder_config
        return {
            "train": self._generate_examples("train", config.num_train),
            "test": self._generate_examples("test", config.num_test),
        }

    def _generate_examples(self, split: str, num_examples: int):
        config: ShapesConfig = self.builder_config
        for index in range(num_examples):
            scene = render_example(config, split, index)
            example = {"image": _png(scene["image"])}
            if config.task in ("classification", "localization"):
                example["label"] = int(scene["labels"][0])
            if config.task == "localization":
                example["bbox"] = scene["boxes"][0]  # [4]
            if config.task in ("detection", "segmentation"):
                example["objects"] = {
                    "bbox": scene["boxes"],  # [n, 4]
                    "label": scene["labels"],  # [n]
                    "area": scene["masks"].sum(axis=(1, 2), dtype=np.int64),  # [n]
                }
            if config.task == "segmentation":
                example["segmentation_mask"] = _png(scene["segmentation"])
                example["instance_map"] = _png(instance_map(scene["masks"]))
            yield index, example


def prepare_shapes(
    data_dir: str, config: str = "classification", **overrides
) -> tfds.core.DatasetBuilder:
    """Generates `jaxvision_shapes/<config>` in `data_dir` (ArrayRecord) unless already there.

    Args:
      data_dir: the TFDS data directory.
      config: one of the registered configs: "classification", "localization",
        "detection", "segmentation".
      **overrides: `ShapesConfig` fields to change (e.g. `num_train=64` for tests). The
        variant gets its own config name, `<config>_custom_<hash of the overrides>`, so it
        never collides with the registered config in `data_dir`.

    Returns:
      The prepared builder; read it with `builder.as_data_source(split)` or
      `tfds.data_source(f"jaxvision_shapes/{builder.builder_config.name}", data_dir=...)`.

    Raises:
      ValueError: unknown config or override field, or an invalid override value.

    Example:

      builder = prepare_shapes("/tmp/tfds", "classification", num_train=256, num_test=64)
      train = builder.as_data_source("train")
    """
    return prepare.prepare(JaxvisionShapes, data_dir, config, overrides)
