"""Detection evaluation: COCO box AP through pycocotools, and PASCAL VOC AP50.

Detections are gathered on the host, one image at a time, as NumPy arrays in absolute pixel
``xyxy`` coordinates of the original image; ``DetectionEvaluator.compute`` then runs
pycocotools' ``COCOeval`` ("bbox") on an in-memory COCO dataset, and the VOC2010+ all-point
interpolated AP at IoU 0.5 (no maintained library does VOC here, so it is written below).

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

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# pycocotools' ``COCOeval.stats``, in its order.
COCO_STAT_NAMES = (
    "AP",
    "AP50",
    "AP75",
    "APs",
    "APm",
    "APl",
    "AR1",
    "AR10",
    "AR100",
    "ARs",
    "ARm",
    "ARl",
)
VOC_IOU_THRESHOLD = 0.5
# pycocotools' value for a metric with no ground truth to measure it on.
UNDEFINED = -1.0
# COCO category ids start at 1: category_id = label + CATEGORY_ID_OFFSET.
CATEGORY_ID_OFFSET = 1
# Index of "all" in COCOeval's areaRng and of 100 in its maxDets (precision[t, r, k, a, m]).
_AREA_ALL = 0
_MAX_DETS_100 = -1


@dataclass(frozen=True)
class _ImageRecord:
    """One image's ground truth and predictions (float64 xyxy boxes, int64 labels)."""

    image_id: int
    height: int
    width: int
    gt_boxes: np.ndarray  # [m, 4]
    gt_labels: np.ndarray  # [m]
    gt_ignore: np.ndarray  # [m] bool
    boxes: np.ndarray  # [k, 4]
    scores: np.ndarray  # [k]
    labels: np.ndarray  # [k]


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
        self._records: list[_ImageRecord] = []
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
        if int(height) <= 0 or int(width) <= 0:
            raise ValueError(f"image {image_id}: height and width must be > 0: {height}x{width}")
        gt_boxes = _as_boxes(gt_boxes, f"image {image_id}: gt_boxes")  # [m, 4]
        m = gt_boxes.shape[0]
        gt_labels = self._as_labels(gt_labels, m, f"image {image_id}: gt_labels")  # [m]
        if gt_ignore is None:
            gt_ignore = np.zeros(m, bool)
        gt_ignore = _as_vector(gt_ignore, m, f"image {image_id}: gt_ignore").astype(bool)  # [m]
        boxes = _as_boxes(boxes, f"image {image_id}: boxes")  # [k, 4]
        k = boxes.shape[0]
        scores = _as_vector(scores, k, f"image {image_id}: scores").astype(np.float64)  # [k]
        if not np.all(np.isfinite(scores)):
            raise ValueError(f"image {image_id}: scores must be finite")
        labels = self._as_labels(labels, k, f"image {image_id}: labels")  # [k]
        self._image_ids.add(image_id)
        self._records.append(
            _ImageRecord(
                image_id=image_id,
                height=int(height),
                width=int(width),
                gt_boxes=gt_boxes,
                gt_labels=gt_labels,
                gt_ignore=gt_ignore,
                boxes=boxes,
                scores=scores,
                labels=labels,
            )
        )

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
            _coco_ground_truth(self._records, self.class_names), _coco_results(self._records)
        )
        voc_class_ap = voc_ap_per_class(self._records, self.num_classes)  # [c]
        metrics = dict(zip(COCO_STAT_NAMES, stats.tolist(), strict=True))
        metrics["VOC_AP50"] = _mean_defined(voc_class_ap)
        metrics["num_images"] = len(self._records)
        if per_class:
            for name, coco_ap, voc_ap in zip(
                self.class_names, coco_class_ap.tolist(), voc_class_ap.tolist(), strict=True
            ):
                metrics[f"AP/{name}"] = coco_ap
                metrics[f"VOC_AP50/{name}"] = voc_ap
        return metrics

    def _as_labels(self, labels: np.ndarray, n: int, what: str) -> np.ndarray:
        labels = _as_vector(labels, n, what)  # [n]
        integer = np.issubdtype(labels.dtype, np.integer)
        if n and not integer and not np.all(labels == np.round(labels)):
            raise ValueError(f"{what} must be integers, got {labels}")
        labels = labels.astype(np.int64)
        bad = labels[(labels < 0) | (labels >= self.num_classes)]
        if bad.size:
            raise ValueError(
                f"{what}: label {int(bad[0])} is outside [0, {self.num_classes}) "
                f"(classes {self.class_names})"
            )
        return labels


# ---------------------------------------------------------------------------------------------
# COCO (pycocotools)


def _coco_ground_truth(records: Sequence[_ImageRecord], class_names: Sequence[str]) -> dict:
    """The COCO ground-truth dataset dict (as in an instances_*.json file)."""
    images = [{"id": r.image_id, "height": r.height, "width": r.width} for r in records]
    categories = [
        {"id": i + CATEGORY_ID_OFFSET, "name": name} for i, name in enumerate(class_names)
    ]
    annotations = []
    for r in records:
        xywh = _xyxy_to_xywh(r.gt_boxes)  # [m, 4]
        for box, label, ignore in zip(
            xywh.tolist(), r.gt_labels.tolist(), r.gt_ignore.tolist(), strict=True
        ):
            annotations.append(
                {
                    "id": len(annotations) + 1,  # pycocotools reads id 0 as "no match".
                    "image_id": r.image_id,
                    "category_id": label + CATEGORY_ID_OFFSET,
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": int(ignore),
                }
            )
    return {"images": images, "categories": categories, "annotations": annotations}


def _coco_results(records: Sequence[_ImageRecord]) -> list[dict]:
    """The COCO results list (as in a detections json file)."""
    results = []
    for r in records:
        xywh = _xyxy_to_xywh(r.boxes)  # [k, 4]
        for box, score, label in zip(
            xywh.tolist(), r.scores.tolist(), r.labels.tolist(), strict=True
        ):
            results.append(
                {
                    "image_id": r.image_id,
                    "category_id": label + CATEGORY_ID_OFFSET,
                    "bbox": box,
                    "score": score,
                }
            )
    return results


def coco_bbox_stats(ground_truth: dict, results: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Runs pycocotools' ``COCOeval`` ("bbox") on in-memory data, silencing its prints.

    Args:
      ground_truth: a COCO dataset dict with ``images``, ``categories`` and ``annotations``.
      results: COCO detection results (``image_id``, ``category_id``, ``bbox`` xywh,
        ``score``); may be empty, which scores 0 wherever there is ground truth.

    Returns:
      ``COCOeval.stats`` [12] (see ``COCO_STAT_NAMES``), and the AP@[.5:.95] of each category
      in ``ground_truth["categories"]`` order [c] (-1 for a category without ground truth).

    Example:
      >>> gt = {"images": [{"id": 1, "height": 9, "width": 9}],
      ...       "categories": [{"id": 1, "name": "a"}],
      ...       "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
      ...                        "bbox": [1, 1, 4, 4], "area": 16, "iscrowd": 0}]}
      >>> res = [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4], "score": 0.5}]
      >>> round(float(coco_bbox_stats(gt, res)[0][0]), 6)
      1.0
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = ground_truth
        coco_gt.createIndex()
        if results:
            # loadRes adds fields to the result dicts: give it copies.
            coco_dt = coco_gt.loadRes([dict(d) for d in results])
        else:
            # loadRes rejects an empty list; an empty result set is a valid (all-miss) one.
            coco_dt = COCO()
            coco_dt.dataset = {
                "images": list(ground_truth["images"]),
                "categories": list(ground_truth["categories"]),
                "annotations": [],
            }
            coco_dt.createIndex()
        coco_eval = COCOeval(coco_gt, coco_dt, iouType="bbox")
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    stats = np.asarray(coco_eval.stats, np.float64)  # [12]
    # precision: [iou thresholds, recall thresholds, categories, area ranges, max dets]
    precision = coco_eval.eval["precision"][:, :, :, _AREA_ALL, _MAX_DETS_100]  # [t, r, c]
    category_ids = [c["id"] for c in ground_truth["categories"]]
    order = [coco_eval.params.catIds.index(i) for i in category_ids]
    class_ap = np.array([_mean_defined(precision[:, :, k]) for k in order])  # [c]
    return stats, class_ap


# ---------------------------------------------------------------------------------------------
# PASCAL VOC


def voc_ap_per_class(
    records: Sequence[_ImageRecord], num_classes: int, iou_threshold: float = VOC_IOU_THRESHOLD
) -> np.ndarray:
    """PASCAL VOC AP of each class (all-point interpolation, VOC2010 and later).

    Detections of a class are ranked by score over all images; each is matched to the
    ground-truth box of its image and class with the highest IoU: a true positive when that
    IoU is >= ``iou_threshold`` and the box is not yet taken, a false positive when taken or
    when the IoU is lower, neither when the box is ignored (difficult). As in the official
    devkit, a detection does not fall back to its second-best box. IoU is computed on
    continuous coordinates (no VOC "+1" pixel).

    Args:
      records: the images (see ``DetectionEvaluator.add``).
      num_classes: number of classes.
      iou_threshold: the IoU needed for a match.

    Returns:
      [num_classes] AP, -1 for a class without a non-ignored ground-truth box.
    """
    scores = [[] for _ in range(num_classes)]  # Per class, one [k] array per image.
    outcomes = [[] for _ in range(num_classes)]
    num_positives = np.zeros(num_classes, np.int64)  # [c]
    for r in records:
        np.add.at(num_positives, r.gt_labels[~r.gt_ignore], 1)
        for c in np.unique(r.labels).tolist():
            det = r.labels == c  # [k]
            gt = r.gt_labels == c  # [m]
            order = np.argsort(-r.scores[det], kind="stable")  # [k_c]
            scores[c].append(r.scores[det][order])
            outcomes[c].append(
                _match_voc(r.boxes[det][order], r.gt_boxes[gt], r.gt_ignore[gt], iou_threshold)
            )
    ap = np.full(num_classes, UNDEFINED)  # [c]
    for c in range(num_classes):
        if num_positives[c] == 0:
            continue
        if not scores[c]:
            ap[c] = 0.0
            continue
        class_scores = np.concatenate(scores[c])  # [n]
        outcome = np.concatenate(outcomes[c])[np.argsort(-class_scores, kind="stable")]  # [n]
        outcome = outcome[outcome != _IGNORED]  # Ignored detections leave the ranking.
        tp = np.cumsum(outcome == _TRUE_POSITIVE)  # [n']
        fp = np.cumsum(outcome == _FALSE_POSITIVE)  # [n']
        recall = tp / num_positives[c]
        precision = tp / np.maximum(tp + fp, 1)
        ap[c] = average_precision(recall, precision)
    return ap


_FALSE_POSITIVE, _TRUE_POSITIVE, _IGNORED = 0, 1, 2


def _match_voc(
    boxes: np.ndarray, gt_boxes: np.ndarray, gt_ignore: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """VOC outcome of each detection of one image and class, given highest score first.

    Args:
      boxes: [k, 4] xyxy, sorted by decreasing score.
      gt_boxes: [m, 4] xyxy.
      gt_ignore: [m] bool.
      iou_threshold: the IoU needed for a match.

    Returns:
      [k] int8: _TRUE_POSITIVE, _FALSE_POSITIVE or _IGNORED.
    """
    k, m = boxes.shape[0], gt_boxes.shape[0]
    outcome = np.full(k, _FALSE_POSITIVE, np.int8)  # [k]
    if k == 0 or m == 0:
        return outcome
    iou = box_iou(boxes, gt_boxes)  # [k, m]
    best = iou.argmax(axis=1).tolist()  # [k]
    matched = (iou.max(axis=1) >= iou_threshold).tolist()  # [k]
    ignore = gt_ignore.tolist()  # [m]
    taken = [False] * m
    for i, (j, hit) in enumerate(zip(best, matched, strict=True)):
        if not hit:
            continue
        if ignore[j]:
            outcome[i] = _IGNORED
        elif not taken[j]:
            taken[j] = True
            outcome[i] = _TRUE_POSITIVE
    return outcome


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision envelope (VOC2010+ all-point interpolation).

    Args:
      recall: [n] non-decreasing recall after each ranked detection.
      precision: [n] precision after each ranked detection.

    Returns:
      The AP, sum over recall steps of (recall step) * (max precision at recall >= it).

    Example:
      >>> average_precision(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3]))
      0.8333333333333333
    """
    recall = np.concatenate([[0.0], recall, [1.0]])  # [n + 2]
    precision = np.concatenate([[0.0], precision, [0.0]])  # [n + 2]
    envelope = np.maximum.accumulate(precision[::-1])[::-1]  # [n + 2]
    steps = np.flatnonzero(recall[1:] != recall[:-1])  # Where recall grows.
    return float(np.sum((recall[steps + 1] - recall[steps]) * envelope[steps + 1]))


def box_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes (NumPy, float64, continuous coordinates).

    Args:
      boxes1: [n, 4] xyxy.
      boxes2: [m, 4] xyxy.

    Returns:
      [n, m] IoU; 0 where the union is empty.
    """
    lt = np.maximum(boxes1[:, None, :2], boxes2[None, :, :2])  # [n, m, 2]
    rb = np.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])  # [n, m, 2]
    inter = np.prod(np.clip(rb - lt, 0.0, None), axis=-1)  # [n, m]
    area1 = np.prod(boxes1[:, 2:] - boxes1[:, :2], axis=-1)  # [n]
    area2 = np.prod(boxes2[:, 2:] - boxes2[:, :2], axis=-1)  # [m]
    union = area1[:, None] + area2[None, :] - inter  # [n, m]
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


# ---------------------------------------------------------------------------------------------
# Helpers


def _mean_defined(values: np.ndarray) -> float:
    """Mean of the entries > -1 (pycocotools' rule), or -1 when there is none."""
    defined = values[values > UNDEFINED]
    return float(np.mean(defined)) if defined.size else UNDEFINED


def _xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=-1)  # [n, 4]


def _as_vector(values: np.ndarray, n: int, what: str) -> np.ndarray:
    values = np.asarray(values)
    if values.size == 0 and n == 0:
        return values.reshape(0)
    if values.shape != (n,):
        raise ValueError(f"{what} must have shape ({n},), got {values.shape}")
    return values


def _as_boxes(boxes: np.ndarray, what: str) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64)
    if boxes.size == 0:
        return boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{what} must have shape [n, 4], got {boxes.shape}")
    if not np.all(np.isfinite(boxes)):
        raise ValueError(f"{what} must be finite")
    if np.any(boxes[:, 2:] < boxes[:, :2]):
        raise ValueError(f"{what} must be xyxy with x2 >= x1 and y2 >= y1")
    return boxes
