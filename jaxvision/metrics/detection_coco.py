"""COCO box AP through pycocotools, on in-memory data.

``coco_ground_truth`` and ``coco_results`` turn image records (see ``detection_records``) into
the COCO dataset dict and results list that ``instances_*.json`` and detection json files
hold; ``coco_bbox_stats`` runs pycocotools' ``COCOeval`` ("bbox") on them.

Conventions: COCO boxes are ``[x, y, w, h]``; category ids are ``label + 1``; annotation ids
start at 1 (pycocotools reads id 0 as "unmatched"); a ground-truth box's ``area`` is
``w * h`` (no masks), which decides its small/medium/large range; ignored boxes are
``iscrowd`` ones.

Example:
  >>> from jaxvision.metrics.detection_records import image_record
  >>> box = np.array([[10.0, 10.0, 50.0, 60.0]])
  >>> record = image_record(image_id=1, height=100, width=100, gt_boxes=box,
  ...     gt_labels=[0], gt_ignore=None, boxes=box, scores=[0.9], labels=[0],
  ...     class_names=("cat",))
  >>> stats, class_ap = coco_bbox_stats(coco_ground_truth([record], ("cat",)),
  ...                                   coco_results([record]))
  >>> round(float(stats[0]), 6), round(float(class_ap[0]), 6)
  (1.0, 1.0)
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

import numpy as np

from jaxvision.metrics.detection_records import ImageRecord, mean_defined

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
# COCO category ids start at 1: category_id = label + CATEGORY_ID_OFFSET.
CATEGORY_ID_OFFSET = 1
# Index of "all" in COCOeval's areaRng and of 100 in its maxDets (precision[t, r, k, a, m]).
_AREA_ALL = 0
_MAX_DETS_100 = -1


def coco_ground_truth(records: Sequence[ImageRecord], class_names: Sequence[str]) -> dict:
    """The COCO ground-truth dataset dict (as in an instances_*.json file).

    Args:
      records: the images.
      class_names: the names of the classes; label ``i`` is category ``i + 1``.

    Returns:
      A dict with ``images``, ``categories`` and ``annotations`` (ids from 1, ``bbox`` xywh,
      ``area`` w * h, ``iscrowd`` from ``gt_ignore``).

    Example:
      >>> from jaxvision.metrics.detection_records import image_record
      >>> record = image_record(image_id=3, height=9, width=9, gt_boxes=[[1, 2, 4, 8]],
      ...     gt_labels=[0], gt_ignore=[True], boxes=np.zeros((0, 4)), scores=[],
      ...     labels=[], class_names=("a",))
      >>> (annotation,) = coco_ground_truth([record], ("a",))["annotations"]
      >>> annotation["id"], annotation["category_id"], annotation["bbox"], annotation["area"]
      (1, 1, [1.0, 2.0, 3.0, 6.0], 18.0)
    """
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


def coco_results(records: Sequence[ImageRecord]) -> list[dict]:
    """The COCO results list (as in a detections json file).

    Args:
      records: the images.

    Returns:
      One dict per detection: ``image_id``, ``category_id`` (label + 1), ``bbox`` xywh and
      ``score``.

    Example:
      >>> from jaxvision.metrics.detection_records import image_record
      >>> record = image_record(image_id=3, height=9, width=9, gt_boxes=np.zeros((0, 4)),
      ...     gt_labels=[], gt_ignore=None, boxes=[[1, 2, 4, 8]], scores=[0.5],
      ...     labels=[0], class_names=("a",))
      >>> coco_results([record])
      [{'image_id': 3, 'category_id': 1, 'bbox': [1.0, 2.0, 3.0, 6.0], 'score': 0.5}]
    """
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
    return run_coco_eval(ground_truth, results, "bbox")


def run_coco_eval(
    ground_truth: dict, results: list[dict], iou_type: str
) -> tuple[np.ndarray, np.ndarray]:
    """Runs pycocotools' ``COCOeval`` of ``iou_type`` ("bbox" or "segm") on in-memory data.

    Args:
      ground_truth: a COCO dataset dict with ``images``, ``categories`` and ``annotations``
        (with ``segmentation`` for "segm").
      results: COCO results (``bbox`` for "bbox", ``segmentation`` RLE for "segm"); may be
        empty, which scores 0 wherever there is ground truth.
      iou_type: what the IoU compares, "bbox" or "segm".

    Returns:
      ``COCOeval.stats`` [12] and the AP@[.5:.95] of each category [c], as
      ``coco_bbox_stats``.
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
        coco_eval = COCOeval(coco_gt, coco_dt, iouType=iou_type)
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    stats = np.asarray(coco_eval.stats, np.float64)  # [12]
    # precision: [iou thresholds, recall thresholds, categories, area ranges, max dets]
    precision = coco_eval.eval["precision"][:, :, :, _AREA_ALL, _MAX_DETS_100]  # [t, r, c]
    category_ids = [c["id"] for c in ground_truth["categories"]]
    order = [coco_eval.params.catIds.index(i) for i in category_ids]
    class_ap = np.array([mean_defined(precision[:, :, k]) for k in order])  # [c]
    return stats, class_ap


def _xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """[n, 4] xyxy boxes -> [n, 4] COCO xywh boxes."""
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=-1)  # [n, 4]
