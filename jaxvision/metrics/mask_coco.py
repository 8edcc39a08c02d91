"""COCO mask AP (instance segmentation) through pycocotools, on in-memory RLE masks.

Masks are binary [h, w] arrays of the image they belong to, encoded once with pycocotools'
run-length encoding (``encode_masks``) and evaluated with ``COCOeval`` ("segm"): IoU of
masks instead of boxes. Conventions are those of ``jaxvision.metrics.detection_coco``:
category ids are ``label + 1``, annotation ids start at 1, ignored ground truth is
``iscrowd``, a metric with nothing to measure is -1. The metric names are the COCO ones
with a ``mask_`` prefix (``mask_AP``, ``mask_AP50`` ...).

Example:
  >>> gt = np.zeros((1, 8, 8), bool); gt[0, 2:6, 1:5] = True
  >>> ev = MaskEvaluator(["cat"])
  >>> ev.add(image_id=1, gt_masks=gt, gt_labels=[0], gt_ignore=None, masks=gt,
  ...        scores=[0.9], labels=[0])
  >>> round(ev.compute()["mask_AP"], 6)
  1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pycocotools import mask as mask_utils

from jaxvision.metrics.detection_coco import (
    CATEGORY_ID_OFFSET,
    COCO_STAT_NAMES,
    run_coco_eval,
)
from jaxvision.metrics.detection_records import UNDEFINED

MASK_PREFIX = "mask_"
MASK_STAT_NAMES = tuple(MASK_PREFIX + name for name in COCO_STAT_NAMES)


def encode_masks(masks: np.ndarray) -> list[dict]:
    """pycocotools RLEs of binary masks, with ``counts`` as str (JSON-ready).

    Args:
      masks: [n, h, w] masks (nonzero inside).

    Returns:
      n dicts ``{"size": [h, w], "counts": str}``.

    Example:
      >>> encode_masks(np.ones((1, 2, 3), bool))[0]["size"]
      [2, 3]
    """
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f"masks must be [n, h, w], got {masks.shape}")
    if len(masks) == 0:
        return []
    rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0) != 0, np.uint8))
    for rle in rles:
        rle["counts"] = rle["counts"].decode("ascii")
    return rles


@dataclass(frozen=True)
class MaskRecord:
    """One image's ground-truth and predicted masks (RLEs), labels and scores."""

    image_id: int
    height: int
    width: int
    gt_masks: list  # [m] RLE dicts
    gt_labels: np.ndarray  # [m]
    gt_ignore: np.ndarray  # [m] bool
    masks: list  # [k] RLE dicts
    scores: np.ndarray  # [k]
    labels: np.ndarray  # [k]


def _as_rles(masks, name: str) -> tuple[list, tuple[int, int] | None]:
    """RLEs and their (h, w) of [n, h, w] binary masks or of a list of RLEs."""
    if isinstance(masks, list | tuple) and (not masks or isinstance(masks[0], dict)):
        rles = list(masks)
        sizes = set()
    else:
        masks = np.asarray(masks)
        rles = encode_masks(masks)
        sizes = {tuple(masks.shape[1:])}
    sizes |= {tuple(r["size"]) for r in rles}
    if len(sizes) > 1:
        raise ValueError(f"{name} of one image must share their size, got {sorted(sizes)}")
    return rles, (sizes.pop() if sizes else None)


def _labels(values, n: int, name: str, num_classes: int) -> np.ndarray:
    values = np.asarray(values, np.int64).reshape(-1)
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries for {n} masks")
    if np.any((values < 0) | (values >= num_classes)):
        raise ValueError(f"{name} must lie in [0, {num_classes}), got {values.tolist()}")
    return values


class MaskEvaluator:
    """Accumulates per-image instance masks and computes COCO mask AP (pycocotools).

    Args:
      class_names: the names of the classes; label ``i`` is ``class_names[i]``.
    """

    def __init__(self, class_names: Sequence[str]):
        if len(class_names) == 0:
            raise ValueError("class_names must not be empty")
        self.class_names = tuple(class_names)
        self._records: list[MaskRecord] = []
        self._image_ids: set[int] = set()

    def add(
        self,
        *,
        image_id: int,
        gt_masks,
        gt_labels,
        gt_ignore,
        masks,
        scores,
        labels,
        height: int | None = None,
        width: int | None = None,
    ) -> None:
        """Adds one image's ground truth and predictions.

        Args:
          image_id: unique id of the image within this evaluation.
          gt_masks: [m, h, w] binary ground-truth masks, or m RLE dicts.
          gt_labels: [m] labels in [0, num_classes).
          gt_ignore: [m] bool crowd flags; None: all False.
          masks: [k, h, w] binary predicted masks, or k RLE dicts.
          scores: [k] confidences.
          labels: [k] predicted labels.
          height: image height (default: the masks').
          width: image width (default: the masks').
        """
        image_id = int(image_id)
        if image_id in self._image_ids:
            raise ValueError(f"image_id {image_id} was already added")
        gt_rles, gt_size = _as_rles(gt_masks, "gt_masks")
        rles, size = _as_rles(masks, "masks")
        known = {s for s in (gt_size, size) if s is not None}
        if height is not None and width is not None:
            known.add((int(height), int(width)))
        if len(known) != 1:
            raise ValueError(
                f"image {image_id}: masks and image sizes disagree or are unknown: {sorted(known)}"
            )
        h, w = known.pop()
        k = len(self.class_names)
        gt_labels = _labels(gt_labels, len(gt_rles), "gt_labels", k)
        ignore = np.zeros(len(gt_rles), bool) if gt_ignore is None else np.asarray(gt_ignore, bool)
        scores = np.asarray(scores, np.float64).reshape(-1)
        if len(scores) != len(rles) or len(ignore) != len(gt_rles):
            raise ValueError(
                f"image {image_id}: {len(scores)} scores for {len(rles)} masks, "
                f"{len(ignore)} gt_ignore for {len(gt_rles)} gt masks"
            )
        labels = _labels(labels, len(rles), "labels", k)
        self._records.append(
            MaskRecord(image_id, h, w, gt_rles, gt_labels, ignore, rles, scores, labels)
        )
        self._image_ids.add(image_id)

    def coco_data(self) -> tuple[dict, list[dict]]:
        """(ground-truth dataset dict, results list) in COCO's "segm" layout."""
        images = [{"id": r.image_id, "height": r.height, "width": r.width} for r in self._records]
        categories = [
            {"id": i + CATEGORY_ID_OFFSET, "name": n} for i, n in enumerate(self.class_names)
        ]
        annotations, results = [], []
        for r in self._records:
            for rle, label, ignore in zip(
                r.gt_masks, r.gt_labels.tolist(), r.gt_ignore.tolist(), strict=True
            ):
                annotations.append(
                    {
                        "id": len(annotations) + 1,  # pycocotools reads id 0 as "no match"
                        "image_id": r.image_id,
                        "category_id": label + CATEGORY_ID_OFFSET,
                        "segmentation": rle,
                        "area": float(mask_utils.area(rle)),
                        "bbox": mask_utils.toBbox(rle).tolist(),
                        "iscrowd": int(ignore),
                    }
                )
            for rle, score, label in zip(
                r.masks, r.scores.tolist(), r.labels.tolist(), strict=True
            ):
                results.append(
                    {
                        "image_id": r.image_id,
                        "category_id": label + CATEGORY_ID_OFFSET,
                        "segmentation": rle,
                        "score": score,
                    }
                )
        return {"images": images, "categories": categories, "annotations": annotations}, results

    def compute(self, per_class: bool = False) -> dict[str, float]:
        """``mask_AP``, ``mask_AP50`` ... (``MASK_STAT_NAMES``) and ``mask_num_images``.

        Args:
          per_class: also return ``mask_AP/<name>``.
        """
        if not self._records:
            return {**{name: UNDEFINED for name in MASK_STAT_NAMES}, "mask_num_images": 0}
        stats, class_ap = run_coco_eval(*self.coco_data(), "segm")
        metrics = dict(zip(MASK_STAT_NAMES, stats.tolist(), strict=True))
        metrics["mask_num_images"] = len(self._records)
        if per_class:
            for name, ap in zip(self.class_names, class_ap.tolist(), strict=True):
                metrics[f"{MASK_PREFIX}AP/{name}"] = ap
        return metrics
