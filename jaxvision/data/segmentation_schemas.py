"""Where each semantic-segmentation dataset keeps its image and label map, and what its ids mean.

A schema maps a dataset's raw example to the working schema of the segmentation ops:
``image`` uint8 [H, W, 3] and ``segmentation_mask`` uint8 [H, W, 1] of training ids
``0 .. k - 1``, ``IGNORE_LABEL`` (255) on pixels that count nowhere. The preprocessing op
``decode_segmentation(schema)`` (``jaxvision.data.preprocess.segmentation_ops``) applies it;
the segmentation task picks the schema from ``config.dataset.name``.

  ===================  ==================  ==========================================  ====
  schema               keys                ids                                          k
  ===================  ==================  ==========================================  ====
  jaxvision_shapes     image,              0 background, label + 1 on shapes             9
                       segmentation_mask
  segmentation_folder  image,              the PNG's values (classes.txt's order)        any
                       segmentation_mask
  oxford_iiit_pet      image,              trimap 1 pet -> 1, 2 background -> 0,         2
                       segmentation_mask   3 border -> ignore
  cityscapes           image_left,         labelIds -> the 19 trainIds of the            19
                       segmentation_label  benchmark; the others -> ignore
  scene_parse150       image, annotation   0 "other" -> ignore, 1..150 -> 0..149         150
                                           (ADE20K; mmsegmentation's reduce_zero_label)
  ===================  ==================  ==========================================  ====

Example:
  >>> schema = schema_for("cityscapes/semantic_segmentation")
  >>> len(schema.class_names), schema.class_names[0]
  (19, 'road')
  >>> schema.lookup_table()[[7, 26, 0]].tolist()  # road, car, unlabelled
  [0, 13, 255]
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxvision.data.builders.shapes_scene import SHAPE_NAMES

IGNORE_LABEL = 255
# Raw ids a uint8 label map can hold.
NUM_RAW_IDS = 256
BACKGROUND = "background"


@dataclasses.dataclass(frozen=True)
class SegmentationSchema:
    """A dataset's segmentation features.

    Attributes:
      name: the schema's name (a dataset name, or its prefix before ``/`` or ``:``).
      image_key: feature holding the image.
      mask_key: feature holding the label map, [H, W] or [H, W, c] (channel 0 is read).
      class_names: the training classes, by id; () where they come from the dataset's
        own metadata (``segmentation_folder``: ``classes.txt`` or the largest id).
      id_map: raw id -> training id; raw ids left out become ``IGNORE_LABEL``. None: the
        raw ids are the training ids (checked: below the class count, or 255).
    """

    name: str
    image_key: str
    mask_key: str
    class_names: tuple[str, ...] = ()
    id_map: tuple[tuple[int, int], ...] | None = None

    def lookup_table(self) -> np.ndarray:
        """uint8 [256]: the training id of every raw id (``id_map``; identity without one)."""
        if self.id_map is None:
            return np.arange(NUM_RAW_IDS, dtype=np.uint8)
        table = np.full(NUM_RAW_IDS, IGNORE_LABEL, np.uint8)  # [256]
        for raw, train_id in self.id_map:
            table[raw] = train_id
        return table


# Cityscapes: (labelId, trainId) of the 19 evaluated classes (cityscapesScripts' labels.py);
# every other labelId is ignored.
CITYSCAPES_TRAIN_IDS = (
    (7, 0), (8, 1), (11, 2), (12, 3), (13, 4), (17, 5), (19, 6), (20, 7), (21, 8), (22, 9),
    (23, 10), (24, 11), (25, 12), (26, 13), (27, 14), (28, 15), (31, 16), (32, 17), (33, 18),
)  # fmt: skip
CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)  # fmt: skip
# ADE20K's 150 SceneParsing classes, ids 1..150 of the annotations (0 is "other").
ADE20K_CLASSES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane",
    "grass", "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant",
    "curtain", "chair", "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror",
    "rug", "field", "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub",
    "railing", "cushion", "base", "box", "column", "signboard", "chest of drawers", "counter",
    "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path", "stairs",
    "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench",
    "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair", "boat", "bar",
    "arcade machine", "hovel", "bus", "towel", "light", "truck", "tower", "chandelier",
    "awning", "streetlight", "booth", "television receiver", "airplane", "dirt track",
    "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet",
    "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer",
    "plaything", "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag",
    "minibike", "cradle", "oven", "ball", "food", "step", "tank", "trade name", "microwave",
    "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture", "hood",
    "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate",
    "monitor", "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)  # fmt: skip

SCHEMAS: dict[str, SegmentationSchema] = {
    s.name: s
    for s in (
        SegmentationSchema(
            "jaxvision_shapes", "image", "segmentation_mask", (BACKGROUND, *SHAPE_NAMES)
        ),
        SegmentationSchema("segmentation_folder", "image", "segmentation_mask"),
        SegmentationSchema(
            "oxford_iiit_pet",
            "image",
            "segmentation_mask",
            (BACKGROUND, "pet"),
            id_map=((1, 1), (2, 0)),  # trimap 3 (the border) is ignored
        ),
        SegmentationSchema(
            "cityscapes",
            "image_left",
            "segmentation_label",
            CITYSCAPES_CLASSES,
            id_map=CITYSCAPES_TRAIN_IDS,
        ),
        SegmentationSchema(
            "scene_parse150",
            "image",
            "annotation",
            ADE20K_CLASSES,
            id_map=tuple((i + 1, i) for i in range(len(ADE20K_CLASSES))),
        ),
    )
}


def schema_name(dataset_name: str) -> str:
    """The schema key of a dataset name: its first part before ``+``, ``/`` or ``:``.

    Example:
      >>> schema_name("jaxvision_shapes/segmentation_custom_1a2b"), schema_name("voc/2007+x")
      ('jaxvision_shapes', 'voc')
    """
    return dataset_name.split("+")[0].split("/")[0].split(":")[0].strip()


def schema_for(dataset_name: str) -> SegmentationSchema:
    """The schema of a dataset (see ``schema_name``).

    Raises:
      ValueError: no schema for it; the message lists the known ones.
    """
    key = schema_name(dataset_name)
    if key not in SCHEMAS:
        raise ValueError(
            f"no segmentation schema for dataset {dataset_name!r}; known: {sorted(SCHEMAS)} "
            "(set segmentation.schema to one of them for a dataset laid out alike)"
        )
    return SCHEMAS[key]
