"""A Grain random-access source over a user's own detection / instance data in COCO format.

Two layouts are recognised under a root directory, tried in this order:

  1. the official COCO one::

       root/annotations/instances_<split>.json
       root/<split>/<file_name of each image>

  2. a simple one::

       root/<split>.json
       root/images/<file_name of each image>

``file_name`` may hold sub-directories. The JSON is the COCO detection format:
``images`` (``id``, ``file_name``), ``annotations`` (``image_id``, ``category_id``,
``bbox`` = [x, y, width, height] in pixels, optional ``iscrowd``, ``area``) and
``categories`` (``id``, ``name``). Annotations may carry COCO ``keypoints``
([x1, y1, v1, x2, y2, v2, ...] in pixels, ``v`` 0 for an unlabelled point), the same number
a file (e.g. five a face, for ``decode_faces``); annotations without them get unlabelled
points.

Rules:
  * Labels are contiguous: category ``i`` in the order of the sorted category ids gets
    label ``i``; its name is the category's ``name``. When ``class_names`` is given
    (the eval split takes the train split's), categories are matched by name and a
    category whose name is not among them is an error.
  * Every image listed must exist (checked when the source is opened, all missing
    files reported together); an annotation naming an unknown ``image_id`` or
    ``category_id`` is an error naming it.
  * Images without annotations are kept, with zero objects.
  * Examples are ordered by image id and decoded on access with Pillow, converted to
    RGB (grayscale, palette and RGBA alike). Boxes are normalised by the decoded
    image's own size.

Each example follows the TFDS ``coco/2017`` schema (what ``decode_detection`` reads)::

  {"image": uint8 [H, W, 3], "image/id": int64, "image/filename": str,
   "objects": {"bbox": float32 [n, 4] normalised (ymin, xmin, ymax, xmax),
               "label": int64 [n], "is_crowd": bool [n], "area": float32 [n],
               "id": int64 [n]}}

plus, when the file has keypoints, ``objects/keypoints`` float32 [n, k, 2] normalised (x, y)
and ``objects/keypoints_labeled`` bool [n, k] (``v > 0``); and, when any annotation of the
file has a ``segmentation``, ``objects/mask`` bool [n, H, W]: each object's own pixels
(overlapping objects each keep all of theirs), which ``decode_detection`` turns into
``instance_masks``. A file without segmentations (none, or only empty lists ``[]`` /
``[[]]``, as detection-only exports hold) gives no ``objects/mask``.

Instance masks (``jaxvision.data.coco_masks``):
  * ``segmentation`` is polygons (``[[x1, y1, x2, y2, ...], ...]`` in pixels, several parts
    an object allowed, their union the mask), an uncompressed RLE (``{"counts": [ints],
    "size": [h, w]}``, as ``iscrowd`` annotations have) or a compressed one (string
    ``counts``), decoded with pycocotools at the decoded image's size.
  * A polygon part with fewer than 3 points is dropped. An annotation with no part left
    (or, in a file with segmentations, with none at all) is dropped with its box: an empty
    mask would teach the mask head that the object has no pixels. Both are counted
    (``dropped_polygons``, ``dropped_objects``) and logged in one warning naming the file.
  * An RLE whose ``size`` differs from its image's (the JSON's ``height`` / ``width`` when
    opened, the decoded image's when read), a polygon part of an odd number of values, or a
    malformed RLE is an error naming the file and the annotation id.

Example:

  train = CocoJsonSource("/data/my_coco", "train2017")
  val = CocoJsonSource("/data/my_coco", "val2017", class_names=train.class_names)
  train[0]["objects"]["bbox"]  # float32 [n, 4]
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from absl import logging

from jaxvision.data import coco_masks
from jaxvision.data.image_folder import decode_image
from jaxvision.data.preprocess.detection_ops import OBJECT_MASKS_KEY

ANNOTATIONS_DIR = "annotations"
OFFICIAL_JSON = "instances_{split}.json"
SIMPLE_IMAGES_DIR = "images"
MAX_LISTED_MISSING = 10  # Missing image files named in the error message.


def find_layout(root: str, split: str) -> tuple[str, str]:
    """The annotation file and image directory of ``split`` under ``root``.

    Returns:
      ``(json_path, image_dir)`` of the first layout (official, then simple) whose
      JSON file exists.

    Raises:
      FileNotFoundError: neither layout's JSON file exists; the message names both.

    Example:
      >>> find_layout("/data/coco", "val2017")  # doctest: +SKIP
      ('/data/coco/annotations/instances_val2017.json', '/data/coco/val2017')
    """
    candidates = [
        (
            os.path.join(root, ANNOTATIONS_DIR, OFFICIAL_JSON.format(split=split)),
            os.path.join(root, split),
        ),
        (os.path.join(root, f"{split}.json"), os.path.join(root, SIMPLE_IMAGES_DIR)),
    ]
    for json_path, image_dir in candidates:
        if os.path.isfile(json_path):
            return json_path, image_dir
    tried = " or ".join(repr(j) for j, _ in candidates)
    raise FileNotFoundError(
        f"no COCO annotations for split {split!r} under {root!r}: expected {tried} "
        f"(images under {candidates[0][1]!r} or {candidates[1][1]!r} respectively)"
    )


def _label_of_category(
    categories: list[dict], class_names: Sequence[str] | None, json_path: str
) -> tuple[dict[int, int], tuple[str, ...]]:
    """Category id -> contiguous label, and the class names in label order."""
    ordered = sorted(categories, key=lambda c: int(c["id"]))
    ids = [int(c["id"]) for c in ordered]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{json_path}: duplicate category ids in {ids}")
    names = tuple(str(c["name"]) for c in ordered)
    if class_names is None:
        return {cid: label for label, cid in enumerate(ids)}, names
    class_names = tuple(class_names)
    index = {name: label for label, name in enumerate(class_names)}
    unknown = [n for n in names if n not in index]
    if unknown:
        raise ValueError(
            f"{json_path}: categories {unknown} are not among the expected class names "
            f"{class_names} (those of the reference split)"
        )
    return {cid: index[name] for cid, name in zip(ids, names, strict=True)}, class_names


class CocoJsonSource:
    """Random-access source of detection examples from a COCO-format JSON and its images.

    Implements Grain's ``RandomAccessDataSource`` protocol (``__len__``, ``__getitem__``);
    holds only paths and small per-image arrays, so it pickles into Grain workers.

    Args:
      root: dataset root (see the module docstring for the layouts).
      split: split name (``"train2017"``, ``"train"`` ...).
      class_names: the class order to enforce (the train split's); None: the file's
        categories sorted by id.

    Attributes:
      json_path, image_dir: the files found.
      class_names: label names; label = index.
      image_ids, paths: per example, sorted by image id.
      dropped_polygons: polygon parts dropped for having fewer than 3 points.
      dropped_objects: annotations dropped for having no segmentation left (in a file with
        segmentations).

    Raises:
      FileNotFoundError: no annotation file, or image files missing (named).
      ValueError: an annotation with an unknown image or category id, a malformed
        annotation or segmentation, an RLE of another size than its image, or categories
        outside ``class_names``.

    Example:
      >>> src = CocoJsonSource("/data/my_coco", "train")  # doctest: +SKIP
      >>> src[0]["objects"]["label"]  # doctest: +SKIP
      array([0, 2])
    """

    def __init__(self, root: str, split: str, class_names: Sequence[str] | None = None):
        root = os.fspath(root)
        self.split = split
        self.json_path, self.image_dir = find_layout(root, split)
        with open(self.json_path) as f:
            data = json.load(f)
        for key in ("images", "annotations", "categories"):
            if key not in data:
                raise ValueError(f"{self.json_path}: missing the COCO key {key!r}")
        label_of, self.class_names = _label_of_category(
            data["categories"], class_names, self.json_path
        )
        images = sorted(data["images"], key=lambda im: int(im["id"]))
        self.image_ids = tuple(int(im["id"]) for im in images)
        self.paths = tuple(os.path.join(self.image_dir, im["file_name"]) for im in images)
        self._check_files()
        sizes = [_json_size(im) for im in images]
        self._read_annotations(data["annotations"], label_of, sizes)

    def _read_annotations(
        self,
        annotations: list[dict],
        label_of: dict[int, int],
        sizes: list[tuple[int, int] | None],
    ) -> None:
        """Each image's object table, keypoints and (in a file with any) segmentations."""
        position = {image_id: i for i, image_id in enumerate(self.image_ids)}
        with_masks = any(coco_masks.has_segmentation(ann) for ann in annotations)
        per_image: list[list[tuple]] = [[] for _ in self.image_ids]
        keypoints: list[list[np.ndarray | None]] = [[] for _ in self.image_ids]
        segmentations: list[list[coco_masks.Segmentation]] = [[] for _ in self.image_ids]
        self.dropped_polygons = self.dropped_objects = 0
        for ann in annotations:
            i, row = _annotation_row(ann, position, label_of, self.json_path)
            if with_masks:
                seg, dropped = coco_masks.clean_segmentation(ann, self.json_path, sizes[i])
                self.dropped_polygons += dropped
                if seg is None:  # Nothing left to make a mask of: the object goes.
                    self.dropped_objects += 1
                    continue
                segmentations[i].append(seg)
            per_image[i].append(row)
            keypoints[i].append(_keypoints_of(ann, self.json_path))
        self._objects = tuple(_pack(rows) for rows in per_image)
        self._keypoints = _pack_keypoints(keypoints, self.json_path)
        self._segmentations = tuple(map(tuple, segmentations)) if with_masks else None
        if self.dropped_polygons or self.dropped_objects:
            logging.warning(
                "%s: dropped %d COCO polygon parts with fewer than %d points, and %d "
                "annotations left without any segmentation",
                self.json_path,
                self.dropped_polygons,
                coco_masks.MIN_POLYGON_POINTS,
                self.dropped_objects,
            )

    def _check_files(self) -> None:
        missing = [p for p in self.paths if not os.path.isfile(p)]
        if missing:
            listed = "\n  ".join(missing[:MAX_LISTED_MISSING])
            more = len(missing) - MAX_LISTED_MISSING
            suffix = f"\n  ... and {more} more" if more > 0 else ""
            raise FileNotFoundError(
                f"{len(missing)} image files listed in {self.json_path} are missing:\n"
                f"  {listed}{suffix}"
            )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        image = decode_image(self.paths[index])  # [h, w, 3]
        height, width = image.shape[:2]
        xywh, labels, crowd, area, ids = self._objects[index]
        x, y, w, h = xywh.T  # [n] each
        bbox = np.stack([y / height, x / width, (y + h) / height, (x + w) / width], axis=-1)
        objects = {
            "bbox": bbox.astype(np.float32).reshape(-1, 4),  # [n, 4]
            "label": labels,  # [n]
            "is_crowd": crowd,  # [n]
            "area": area,  # [n]
            "id": ids,  # [n]
        }
        if self._keypoints is not None:
            points = self._keypoints[index]  # [n, k, 3] (x, y, v) pixels
            objects["keypoints"] = (points[..., :2] / [width, height]).astype(np.float32)
            objects["keypoints_labeled"] = points[..., 2] > 0  # [n, k]
        if self._segmentations is not None:
            objects[OBJECT_MASKS_KEY] = coco_masks.decode_masks(
                self._segmentations[index], height, width, self.json_path, ids.tolist()
            )  # [n, h, w]
        return {
            "image": image,
            "image/id": np.int64(self.image_ids[index]),
            "image/filename": os.path.relpath(self.paths[index], self.image_dir),
            "objects": objects,
        }

    def __repr__(self) -> str:
        return (
            f"CocoJsonSource(json={self.json_path!r}, images={len(self)}, "
            f"classes={self.num_classes})"
        )


def _json_size(image: dict) -> tuple[int, int] | None:
    """An ``images`` entry's (height, width) when the JSON gives both, else None."""
    if "height" in image and "width" in image:
        return int(image["height"]), int(image["width"])
    return None


def _annotation_row(
    ann: dict, position: dict[int, int], label_of: dict[int, int], json_path: str
) -> tuple[int, tuple]:
    """The example index of an annotation's image and its row (x, y, w, h, label, is_crowd,
    area, id), checked."""
    image_id, category_id = int(ann["image_id"]), int(ann["category_id"])
    if image_id not in position:
        raise ValueError(
            f"{json_path}: annotation {ann.get('id')} refers to image id "
            f"{image_id}, which is not in 'images'"
        )
    if category_id not in label_of:
        raise ValueError(
            f"{json_path}: annotation {ann.get('id')} has category_id "
            f"{category_id}, which is not in 'categories' (ids {sorted(label_of)})"
        )
    bbox = ann.get("bbox")
    if bbox is None or len(bbox) != 4:
        raise ValueError(
            f"{json_path}: annotation {ann.get('id')} needs bbox = [x, y, w, h], got {bbox}"
        )
    x, y, w, h = (float(v) for v in bbox)
    area = float(ann.get("area", w * h))
    label, crowd = label_of[category_id], bool(ann.get("iscrowd", 0))
    return position[image_id], (x, y, w, h, label, crowd, area, int(ann.get("id", -1)))


def _pack(rows: list[tuple]) -> tuple[np.ndarray, ...]:
    """Per-image annotation rows -> (xywh [n, 4], label [n], is_crowd [n], area [n], id [n])."""
    table = np.array([r[:4] for r in rows], np.float32).reshape(-1, 4)  # [n, 4]
    labels = np.array([r[4] for r in rows], np.int64)  # [n]
    crowd = np.array([r[5] for r in rows], bool)  # [n]
    area = np.array([r[6] for r in rows], np.float32)  # [n]
    ids = np.array([r[7] for r in rows], np.int64)  # [n]
    return table, labels, crowd, area, ids


def _keypoints_of(ann: dict, json_path: str) -> np.ndarray | None:
    """An annotation's COCO ``keypoints`` as float32 [k, 3] (x, y, v), or None without."""
    flat = ann.get("keypoints")
    if flat is None:
        return None
    if len(flat) % 3:
        raise ValueError(
            f"{json_path}: annotation {ann.get('id')} has {len(flat)} keypoint values; COCO "
            "keypoints are [x1, y1, v1, x2, y2, v2, ...]"
        )
    return np.asarray(flat, np.float32).reshape(-1, 3)  # [k, 3]


def _pack_keypoints(
    per_image: list[list[np.ndarray | None]], json_path: str
) -> tuple[np.ndarray, ...] | None:
    """Each image's keypoints as [n, k, 3]; unlabelled (all 0) where an annotation has none.

    None when no annotation of the file has keypoints.
    """
    counts = {len(p) for rows in per_image for p in rows if p is not None}
    if not counts:
        return None
    if len(counts) > 1:
        raise ValueError(f"{json_path}: annotations have different keypoint counts {counts}")
    (k,) = counts
    unlabelled = np.zeros((k, 3), np.float32)
    return tuple(
        np.asarray([unlabelled if p is None else p for p in rows], np.float32).reshape(-1, k, 3)
        for rows in per_image
    )
