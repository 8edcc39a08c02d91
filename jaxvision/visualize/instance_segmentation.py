"""Pictures and JSON of instance segmentation (Mask R-CNN): each instance its own colour.

``draw_instances`` blends every instance's mask over the image in a colour of its own (the
best-scoring instance on top), then draws its box and a ``name 0.97`` caption in the same
colour with ``draw_detections``. ``python -m train.predict`` writes ``<stem>.png`` (that
picture at the source image's size) and ``<stem>.json``: the detection records of
``DetectionVisualizer`` (source-pixel boxes, class, score), each with its ``mask`` as a COCO
RLE of the source image (``{"size": [h, w], "counts": str}``; ``pycocotools.mask.decode``
reads it).

Example:
  >>> masks = np.zeros((1, 32, 32), bool); masks[0, 16:28, 4:12] = True
  >>> picture = draw_instances(np.zeros((32, 32, 3), np.uint8), masks,
  ...                          np.array([[4.0, 16.0, 12.0, 28.0]]), np.array([0]),
  ...                          np.array([0.9]), ("cat",))  # the caption above the box
  >>> picture.getpixel((8, 22)), class_colors(1)[0]  # half the colour over black
  ((115, 17, 17), (230, 34, 34))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from jaxvision.metrics.mask_coco import encode_masks
from jaxvision.tasks.maskrcnn_eval import source_masks
from jaxvision.visualize.detection import PICTURE_SCORE_THRESHOLD, DetectionVisualizer
from jaxvision.visualize.draw import class_colors, draw_detections
from jaxvision.visualize.segmentation import BLEND_ALPHA


def blend_instances(
    image: np.ndarray,
    masks: np.ndarray,
    colors: Sequence[tuple[int, int, int]],
    alpha: float = BLEND_ALPHA,
) -> np.ndarray:
    """Tints each mask's pixels with its colour, the last mask first (the first on top).

    Args:
      image: uint8 [h, w, 3].
      masks: [k, h, w] bool (nonzero inside).
      colors: k (r, g, b) colours.
      alpha: weight of a colour over what lies under it.

    Returns:
      uint8 [h, w, 3]; where masks overlap, the first mask's tint is applied last.

    Example:
      >>> blend_instances(np.zeros((1, 2, 3), np.uint8), np.array([[[True, False]]]),
      ...                 [(200, 100, 0)])[0].tolist()
      [[100, 50, 0], [0, 0, 0]]
    """
    image, masks = np.asarray(image), np.asarray(masks) != 0
    if masks.ndim != 3 or masks.shape[1:] != image.shape[:2]:
        raise ValueError(f"masks must be [k, h, w] of the image {image.shape}, got {masks.shape}")
    if len(colors) < len(masks):
        raise ValueError(f"{len(colors)} colors for {len(masks)} masks")
    out = image.astype(np.float32)  # [h, w, 3]
    for mask, color in reversed(list(zip(masks, colors, strict=False))):
        out[mask] = out[mask] * (1.0 - alpha) + np.asarray(color, np.float32) * alpha
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def draw_instances(
    image: np.ndarray,
    masks: np.ndarray,
    boxes: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    class_names: Sequence[str],
    *,
    alpha: float = BLEND_ALPHA,
) -> Image.Image:
    """The instances' masks blended over the image, each with its box and caption, one
    colour an instance (``class_colors``' sequence, in the given order).

    Args:
      image: uint8 [h, w, 3].
      masks: [k, h, w] bool of the image.
      boxes: [k, 4] xyxy pixels of the image.
      labels: [k] class ids.
      scores: [k] confidences (best first puts the best on top).
      class_names: the class names, by id.
      alpha: weight of the instance colours.

    Returns:
      A PIL RGB image of the image's size.
    """
    labels = np.asarray(labels, np.int64).reshape(-1)  # [k]
    colors = class_colors(len(labels))
    blended = blend_instances(image, masks, colors, alpha)  # [h, w, 3]
    bad = labels[(labels < 0) | (labels >= len(class_names))]
    if bad.size:
        raise ValueError(f"label {int(bad[0])} is outside [0, {len(class_names)})")
    # Each instance as a "class" of its own, named after its class: its colour is its own.
    names = [class_names[label] for label in labels]
    return draw_detections(blended, boxes, np.arange(len(labels)), scores, names, colors=colors)


class InstanceSegmentationVisualizer(DetectionVisualizer):
    """Draws every instance scoring at least ``PICTURE_SCORE_THRESHOLD`` with its mask; its
    JSON adds each detection's ``mask`` (COCO RLE of the source image)."""

    def draw_outputs(
        self, image: np.ndarray, outputs: Any, i: int, keep: np.ndarray
    ) -> Image.Image:
        """The batch's image ``i`` with the instances ``keep`` [k] selects (predict's masks
        are in the input's pixels, as ``image`` is)."""
        masks, boxes, classes, scores = (
            np.asarray(outputs[key][i])[keep] for key in ("masks", "boxes", "classes", "scores")
        )
        return draw_instances(image, masks, boxes, classes, scores, self.class_names)

    def describe(
        self, images: list[np.ndarray], features: list[dict[str, np.ndarray]], outputs: Any
    ) -> list[dict[str, Any]]:
        """``DetectionVisualizer.describe``'s records, each detection with its ``mask``: a
        COCO RLE ``{"size": [h, w], "counts": str}`` of the source image."""
        records = super().describe(images, features, outputs)
        for i, (image, f, record) in enumerate(zip(images, features, records, strict=True)):
            keep = np.asarray(outputs["valid"][i])
            masks = source_masks(
                np.asarray(outputs["masks"][i])[keep], f["image_window"], image.shape[:2]
            )  # [n, H, W]
            for det, rle in zip(record["detections"], encode_masks(masks), strict=True):
                det["mask"] = rle
        return records

    def draw(self, image: np.ndarray, record: dict[str, Any]) -> Image.Image:
        shown = [d for d in record["detections"] if d["score"] >= PICTURE_SCORE_THRESHOLD]
        h, w = np.asarray(image).shape[:2]
        masks = np.zeros((len(shown), h, w), bool)  # [n, h, w]
        if shown:
            decoded = mask_utils.decode([d["mask"] for d in shown])  # [h, w, n]
            masks = np.moveaxis(decoded, -1, 0) != 0
        return draw_instances(
            image,
            masks,
            np.asarray([d["box"] for d in shown], np.float32).reshape(-1, 4),
            np.asarray([d["label"] for d in shown], np.int64),
            np.asarray([d["score"] for d in shown], np.float32),
            self.class_names,
        )
