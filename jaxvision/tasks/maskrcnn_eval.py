"""Mask R-CNN evaluation on the host: masks in source pixels, RLE, COCO box and mask AP.

The device returns, per image, the detections' ``M x M`` mask probabilities (small) and
the ground-truth masks in network-input pixels. ``InstanceRowsEvaluator.merge`` turns each
batch into RLEs at the source image's size as it arrives, so the gathered rows of a whole
split stay small: a detection's mask is pasted at its source-pixel box
(``jaxvision.ops.mask_paste.paste_masks_np``, Detectron2's pasting), a ground-truth mask
is mapped from the input's ``image_window`` to the source size nearest-neighbour (exact
when the input is the source image, as for the built-in dataset).

Example:
  >>> masks = np.zeros((1, 4, 4), bool); masks[0, :2] = True
  >>> source_masks(masks, np.array([0.0, 0.0, 1.0, 1.0]), (8, 4))[0, :, 0].tolist()
  [True, True, True, True, False, False, False, False]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxvision.evaluators import GatherEvaluator
from jaxvision.metrics.mask_coco import encode_masks
from jaxvision.ops.mask_paste import paste_masks_np

# Row keys: the detections' mask probabilities and the gt masks (input pixels) the device
# returns, and the RLE lists merge puts in their place.
MASK_PROBS = "mask_probs"
GT_INPUT_MASKS = "gt_input_masks"
MASK_RLES = "mask_rles"
GT_MASK_RLES = "gt_mask_rles"


def source_masks(masks: np.ndarray, window: np.ndarray, orig_size: tuple[int, int]) -> np.ndarray:
    """Masks in network-input pixels -> masks of the source image, nearest-neighbour.

    Args:
      masks: [m, h, w] masks of the network input.
      window: [4] normalised (ymin, xmin, ymax, xmax) of the source image in the input.
      orig_size: (height, width) of the source image.

    Returns:
      [m, height, width] bool.
    """
    masks = np.asarray(masks)
    h, w = masks.shape[1:]
    oh, ow = (int(s) for s in orig_size)
    ymin, xmin, ymax, xmax = (float(v) for v in window)
    ys = (ymin + (np.arange(oh) + 0.5) / oh * (ymax - ymin)) * h  # [oh] input rows
    xs = (xmin + (np.arange(ow) + 0.5) / ow * (xmax - xmin)) * w  # [ow]
    rows = np.clip(np.floor(ys).astype(np.int64), 0, h - 1)
    cols = np.clip(np.floor(xs).astype(np.int64), 0, w - 1)
    return masks[:, rows][:, :, cols] != 0  # [m, oh, ow]


def encode_image_masks(rows: dict[str, np.ndarray], i: int) -> tuple[list, list]:
    """(predicted RLEs of the valid detections, gt RLEs of the real boxes) of image ``i``."""
    size = tuple(int(v) for v in rows["orig_size"][i])
    keep = np.asarray(rows["valid"][i], bool)
    pasted = paste_masks_np(rows[MASK_PROBS][i][keep], rows["boxes"][i][keep], size)
    gt = np.asarray(rows["gt_mask"][i], bool)
    gt_masks = source_masks(rows[GT_INPUT_MASKS][i][gt], rows["image_window"][i], size)
    return encode_masks(pasted), encode_masks(gt_masks)


class InstanceRowsEvaluator(GatherEvaluator):
    """A ``GatherEvaluator`` whose rows carry masks, RLE-encoded batch by batch on the host.

    ``rows_fn`` returns ``mask_probs`` [b, k, M, M], ``gt_input_masks`` [b, m, h, w] and
    the detection rows (``boxes`` in source pixels, ``valid``, ``gt_mask``, ``orig_size``,
    ``image_window``); ``summarize_fn`` receives ``mask_rles`` and ``gt_mask_rles`` (one
    list of RLE dicts an image) in their place.
    """

    def merge(self, accumulator: Any, update: Any) -> list[dict[str, np.ndarray]]:
        accumulator = super().merge(accumulator, update)
        part = accumulator[-1]
        n = len(part["valid"])
        predicted = np.empty(n, object)
        ground_truth = np.empty(n, object)
        for i in range(n):
            predicted[i], ground_truth[i] = encode_image_masks(part, i)
        part = {k: v for k, v in part.items() if k not in (MASK_PROBS, GT_INPUT_MASKS)}
        part[MASK_RLES], part[GT_MASK_RLES] = predicted, ground_truth
        return [*accumulator[:-1], part]
