"""Detection evaluation: COCO box AP through pycocotools, and PASCAL VOC AP50.

Detections are gathered on the host, one image at a time, as NumPy arrays in absolute pixel
``xyxy`` coordinates of the original image; ``DetectionEvaluator.compute`` then runs
pycocotools' ``COCOeval`` ("bbox") on an in-memory COCO dataset (``detection_coco``), and the
VOC2010+ all-point interpolated AP at IoU 0.5 (``detection_voc``: no maintained library does
VOC here). ``detection_records`` validates each image's arrays. The names callers use from
those modules are re-exported here.

Conventions:
  - COCO boxes are ``[x, y, w, h]``; category ids are ``label + 1``; annotation ids start at
    1 (pycocotools reads id 0 as "unmatched"); a ground-truth box's ``area`` is ``w * h``
    (no masks), which decides its small/medium/large range.
  - ``gt_ignore`` marks COCO ``iscrowd`` boxes, or VOC ``difficult`` ones: never a miss, and a
    detection matched to one is neither a true nor a false positive. (COCO measures the
    overlap with a crowd box as intersection over the detection's area; VOC uses the IoU.)
  - COCO keeps each image's 100 best detections of a class (``maxDets``); VOC keeps all.
  - A metric with nothing to measure is ``-1`` (pycocotools' convention): e.g. ``APs`` when
    no ground-truth box is small, everything when no ground truth was added at all.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxvision.metrics.detection_coco import (
    CATEGORY_ID_OFFSET,
    COCO_STAT_NAMES,
    coco_bbox_stats,
    coco_ground_truth,
    coco_results,
)
from jaxvision.metrics.detection_records import (
    UNDEFINED,
    ImageRecord,
    image_record,
    mean_defined,
)
from jaxvision.metrics.detection_voc import (
    VOC_IOU_THRESHOLD,
    average_precision,
    box_iou,
    voc_ap_per_class,
)

__all__ = [
    "CATEGORY_ID_OFFSET",
    "COCO_STAT_NAMES",
    "UNDEFINED",
    "VOC_IOU_THRESHOLD",
    "DetectionEvaluator",
    "average_precision",
    "box_iou",
    "coco_bbox_stats",
    "voc_ap_per_class",
]


class DetectionEvaluator:
    """Accumulates per-image detections and computes COCO and VOC box metrics.

    Args:
      class_names: the names of the classes; label ``i`` is ``class_names[i]``.

    Example:
      >>> ev = DetectionEvaluator(["cat", "dog"])
      >>> box = np.array([[10.0, 10.0, 50.0, 60.0]])
      >>> ev.add(image_id=1, height=100, width=100, gt_boxes=box, gt_labels=np.array([0]),
      ...        gt_ignore=None, boxes=box, scores=np.array([0.9]), labels=np.array([0]))
      >>> metrics = ev.compute()
      >>> round(metrics["AP"], 6), metrics["VOC_AP50"], metrics["num_images"]
      (1.0, 1.0, 1)
    """

    def __init__(self, class_names: Sequence[str]):
        if len(class_names) == 0:
            raise ValueError("class_names must not be empty")
        self.class_names = tuple(class_names)
        self._records: list[ImageRecord] = []
        self._image_ids: set[int] = set()

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def reset(self) -> None:
        """Forgets every image added so far."""
        self._records.clear()
        self._image_ids.clear()

    def add(
        self,
        *,
        image_id: int,
        height: int,
        width: int,
        gt_boxes: np.ndarray,
        gt_labels: np.ndarray,
        gt_ignore: np.ndarray | None,
        boxes: np.ndarray,
        scores: np.ndarray,
        labels: np.ndarray,
    ) -> None:
        """Adds one image's ground truth and predictions.

        Args:
          image_id: unique id of the image within this evaluation.
          height: image height in pixels (of the original image the boxes refer to).
          width: image width in pixels.
          gt_boxes: [m, 4] ground-truth boxes, absolute xyxy (m may be 0).
          gt_labels: [m] integer labels in [0, num_classes).
          gt_ignore: [m] bool, True for COCO crowd / VOC difficult boxes; None: all False.
          boxes: [k, 4] predicted boxes, absolute xyxy (k may be 0).
          scores: [k] confidences (higher first).
          labels: [k] predicted integer labels in [0, num_classes).
        """
        image_id = int(image_id)
        if image_id in self._image_ids:
            raise ValueError(f"image_id {image_id} was already added")
        record = image_record(
            image_id=image_id,
            height=height,
            width=width,
            gt_boxes=gt_boxes,
            gt_labels=gt_labels,
            gt_ignore=gt_ignore,
            boxes=boxes,
            scores=scores,
            labels=labels,
            class_names=self.class_names,
        )
        self._image_ids.add(image_id)
        self._records.append(record)

    def add_batch(
        self,
        *,
        image_ids: np.ndarray,
        sizes: np.ndarray,
        boxes: np.ndarray,
        scores: np.ndarray,
        labels: np.ndarray,
        valid: np.ndarray,
        gt_boxes: np.ndarray,
        gt_labels: np.ndarray,
        gt_mask: np.ndarray,
        gt_ignore: np.ndarray | None = None,
        image_mask: np.ndarray | None = None,
    ) -> None:
        """Adds a padded batch: ``add`` for each image, keeping the entries whose mask is set.

        Args:
          image_ids: [b] integer ids.
          sizes: [b, 2] (height, width) of the original images.
          boxes: [b, K, 4] predicted boxes, absolute xyxy.
          scores: [b, K] confidences.
          labels: [b, K] predicted labels.
          valid: [b, K] bool, True for real predictions.
          gt_boxes: [b, M, 4] ground-truth boxes, absolute xyxy.
          gt_labels: [b, M] ground-truth labels.
          gt_mask: [b, M] bool, True for real ground-truth boxes.
          gt_ignore: [b, M] bool crowd / difficult flags; None: all False.
          image_mask: [b] bool, False for the padding examples of a last batch; None: all True.
        """
        image_ids = np.asarray(image_ids)  # [b]
        b = image_ids.shape[0]
        valid = np.asarray(valid, bool)  # [b, K]
        gt_mask = np.asarray(gt_mask, bool)  # [b, M]
        sizes = np.asarray(sizes)  # [b, 2]
        if sizes.shape != (b, 2):
            raise ValueError(f"sizes must be [{b}, 2], got {sizes.shape}")
        if valid.ndim != 2 or gt_mask.ndim != 2 or valid.shape[0] != b or gt_mask.shape[0] != b:
            raise ValueError(f"valid {valid.shape} and gt_mask {gt_mask.shape} must be [{b}, n]")
        if gt_ignore is None:
            gt_ignore = np.zeros_like(gt_mask)
        image_mask = np.ones(b, bool) if image_mask is None else np.asarray(image_mask, bool)
        boxes, scores, labels = np.asarray(boxes), np.asarray(scores), np.asarray(labels)
        gt_boxes, gt_labels = np.asarray(gt_boxes), np.asarray(gt_labels)
        gt_ignore = np.asarray(gt_ignore, bool)
        for i in np.flatnonzero(image_mask):
            keep, gt_keep = valid[i], gt_mask[i]  # [K], [M]
            self.add(
                image_id=int(image_ids[i]),
                height=int(sizes[i, 0]),
                width=int(sizes[i, 1]),
                gt_boxes=gt_boxes[i][gt_keep],
                gt_labels=gt_labels[i][gt_keep],
                gt_ignore=gt_ignore[i][gt_keep],
                boxes=boxes[i][keep],
                scores=scores[i][keep],
                labels=labels[i][keep],
            )

    def compute(self, per_class: bool = False) -> dict[str, float]:
        """COCO box metrics (pycocotools), VOC AP50 and the number of images.

        Args:
          per_class: also return ``AP/<name>`` (COCO AP@[.5:.95]) and ``VOC_AP50/<name>``.

        Returns:
          ``AP``, ``AP50``, ``AP75``, ``APs``, ``APm``, ``APl``, ``AR1``, ``AR10``, ``AR100``,
          ``ARs``, ``ARm``, ``ARl`` (``COCOeval.stats``), ``VOC_AP50`` (mean over the classes
          with at least one non-ignored ground-truth box), and ``num_images``. Values are in
          [0, 1], or -1 where there is no ground truth to measure them on.
        """
        if not self._records:
            metrics = {name: UNDEFINED for name in (*COCO_STAT_NAMES, "VOC_AP50")}
            return {**metrics, "num_images": 0}
        stats, coco_class_ap = coco_bbox_stats(
            coco_ground_truth(self._records, self.class_names), coco_results(self._records)
        )
        voc_class_ap = voc_ap_per_class(self._records, self.num_classes)  # [c]
        metrics = dict(zip(COCO_STAT_NAMES, stats.tolist(), strict=True))
        metrics["VOC_AP50"] = mean_defined(voc_class_ap)
        metrics["num_images"] = len(self._records)
        if per_class:
            for name, coco_ap, voc_ap in zip(
                self.class_names, coco_class_ap.tolist(), voc_class_ap.tolist(), strict=True
            ):
                metrics[f"AP/{name}"] = coco_ap
                metrics[f"VOC_AP50/{name}"] = voc_ap
        return metrics
