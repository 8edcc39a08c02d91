"""Pictures of semantic segmentation: the class map blended over the image, with a legend.

``python -m train.predict`` writes, for each image, ``<stem>.png`` (the blend and a legend of
the classes it shows) and ``<stem>_mask.png``: a single-channel PNG of the image's own size
whose pixel values are the predicted class ids, the encoding ``segmentation_folder`` masks
use (for a TFDS dataset whose raw ids the schema remaps, e.g. Cityscapes' labelIds, the
PNG holds the training ids). The class map is mapped back through the prediction
preprocessing (the letterbox window, if any) and resized nearest-neighbour.

Example:
  >>> picture = blend_with_legend(np.zeros((16, 24, 3), np.uint8),
  ...                             np.ones((16, 24), np.int32), ("background", "cat"))
  >>> picture.size[0] > 24, picture.size[1] >= 16  # the legend sits right of the image
  (True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from jaxvision.data.preprocess.geometry import resize_nearest
from jaxvision.visualize.base import Visualizer
from jaxvision.visualize.draw import class_colors, image_grid

# Weight of the class colour in the blend.
BLEND_ALPHA = 0.5
# A class of this name is left untinted (the image shows through).
BACKGROUND = "background"
# Legend layout, in pixels: swatch side, line height, margins.
SWATCH = 10
LINE_HEIGHT = 14
LEGEND_MARGIN = 4
LEGEND_BACKGROUND = (255, 255, 255)
LEGEND_TEXT = (0, 0, 0)
# Colour of ignored ground-truth pixels (label 255) in the eval picture.
IGNORE_COLOR = (0, 0, 0)
IGNORE_LABEL = 255
# Eval images drawn into the workdir's predictions.png (each as prediction | ground truth).
NUM_PICTURE_IMAGES = 8


def colorize(classes: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    """An RGB picture of a class map: each class its ``class_colors`` colour.

    Args:
      classes: int [h, w] class ids; ids outside [0, k) (255: ignored) are ``IGNORE_COLOR``.
      class_names: the k class names.

    Returns:
      uint8 [h, w, 3].

    Example:
      >>> colorize(np.array([[0, 255]]), ("a", "b"))[0, 1].tolist()
      [0, 0, 0]
    """
    palette = np.array([*class_colors(len(class_names)), IGNORE_COLOR], np.uint8)  # [k + 1, 3]
    classes = np.asarray(classes)
    index = np.where((classes >= 0) & (classes < len(class_names)), classes, len(class_names))
    return palette[index]  # [h, w, 3]


def _legend(class_ids: Sequence[int], class_names: Sequence[str], height: int) -> Image.Image:
    """A white strip listing ``class_ids`` with their colour swatches."""
    colors = class_colors(len(class_names))
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_w = max((probe.textlength(class_names[i]) for i in class_ids), default=0)
    width = int(3 * LEGEND_MARGIN + SWATCH + text_w)
    rows_h = 2 * LEGEND_MARGIN + LINE_HEIGHT * len(class_ids)
    strip = Image.new("RGB", (width, max(height, rows_h)), LEGEND_BACKGROUND)
    draw = ImageDraw.Draw(strip)
    for row, i in enumerate(class_ids):
        y = LEGEND_MARGIN + row * LINE_HEIGHT
        swatch = [LEGEND_MARGIN, y, LEGEND_MARGIN + SWATCH, y + SWATCH]
        if class_names[i] == BACKGROUND:  # untinted in the blend: an empty swatch
            draw.rectangle(swatch, outline=LEGEND_TEXT)
        else:
            draw.rectangle(swatch, fill=colors[i])
        draw.text((2 * LEGEND_MARGIN + SWATCH, y), class_names[i], fill=LEGEND_TEXT)
    return strip


def blend_with_legend(
    image: np.ndarray, classes: np.ndarray, class_names: Sequence[str], alpha: float = BLEND_ALPHA
) -> Image.Image:
    """The class map blended over the image, with a legend of its classes on the right.

    Args:
      image: uint8 [h, w, 3].
      classes: int [h, w] class ids.
      class_names: the class names, by id; a ``"background"`` class stays untinted.
      alpha: weight of the class colours.

    Returns:
      A PIL RGB image [h', w + legend width] (h' >= h when the legend is taller).
    """
    image, classes = np.asarray(image), np.asarray(classes)
    if image.shape[:2] != classes.shape:
        raise ValueError(f"image {image.shape} and class map {classes.shape} differ in size")
    weight = np.full(classes.shape, alpha, np.float32)  # [h, w]
    if BACKGROUND in class_names:
        weight[classes == class_names.index(BACKGROUND)] = 0.0
    colors = colorize(classes, class_names).astype(np.float32)  # [h, w, 3]
    mixed = image * (1.0 - weight[..., None]) + colors * weight[..., None]  # [h, w, 3]
    blended = Image.fromarray(np.clip(np.rint(mixed), 0, 255).astype(np.uint8))
    present = [int(i) for i in np.unique(classes) if 0 <= i < len(class_names)]
    legend = _legend(present, class_names, image.shape[0])
    canvas = Image.new("RGB", (image.shape[1] + legend.width, legend.height), LEGEND_BACKGROUND)
    canvas.paste(blended, (0, 0))
    canvas.paste(legend, (image.shape[1], 0))
    return canvas


def to_source_classes(
    classes: np.ndarray, features: dict[str, Any], source_hw: tuple[int, int]
) -> np.ndarray:
    """A predicted class map of the network input -> the source image's pixels.

    Args:
      classes: int [h, w], the network input's class map.
      features: the image's preprocessed features; an ``image_window`` (normalised (ymin,
        xmin, ymax, xmax), where the source lies in the input: a letterbox's) is cut out first.
      source_hw: the source image's (height, width).

    Returns:
      The class map [H, W] of the source image (nearest-neighbour).

    Example:
      >>> window = {"image_window": np.array([0.25, 0.0, 0.75, 1.0])}  # bars above and below
      >>> to_source_classes(np.array([[9], [1], [2], [9]]), window, (4, 1))[:, 0].tolist()
      [1, 1, 2, 2]
    """
    classes = np.asarray(classes)
    h, w = classes.shape
    if "image_window" in features:
        y0, x0, y1, x1 = np.asarray(features["image_window"], np.float64)
        top, left = max(0, round(y0 * h)), max(0, round(x0 * w))
        bottom, right = min(h, max(top + 1, round(y1 * h))), min(w, max(left + 1, round(x1 * w)))
        classes = classes[top:bottom, left:right]
    return resize_nearest(classes, *source_hw)


class SegmentationVisualizer(Visualizer):
    """Blends of predicted class maps; predict's picture and label PNG."""

    def render_batch(self, batch: dict[str, np.ndarray], outputs: Any) -> Image.Image:
        """Each eval image's prediction blend beside its ground-truth blend."""
        n = min(NUM_PICTURE_IMAGES, len(batch["image"]))
        tiles, captions = [], []
        for i in range(n):
            image = np.asarray(batch["image"][i])
            pred = np.asarray(outputs["classes"][i])
            truth = np.asarray(batch["segmentation_mask"][i])[..., 0].astype(np.int64)
            valid = truth != IGNORE_LABEL
            accuracy = float(np.mean(pred[valid] == truth[valid])) if valid.any() else 1.0
            for classes, caption in ((pred, f"pred {accuracy:.2f}"), (truth, "truth")):
                blended = blend_with_legend(image, classes, self.class_names)
                tiles.append(np.asarray(blended.crop((0, 0, image.shape[1], image.shape[0]))))
                captions.append(caption)
        return image_grid(np.stack(tiles), captions, columns=4)

    def describe(
        self, images: list[np.ndarray], features: list[dict[str, np.ndarray]], outputs: Any
    ) -> list[dict[str, Any]]:
        """Each image's classes with the fraction of its pixels they cover, largest first:
        ``{"classes": [{"label", "class_name", "fraction"}]}``."""
        records = []
        for i, (image, feature) in enumerate(zip(images, features, strict=True)):
            classes = to_source_classes(outputs["classes"][i], feature, image.shape[:2])
            ids, counts = np.unique(classes, return_counts=True)
            order = np.argsort(-counts, kind="stable")
            entries = [
                {
                    "label": int(ids[j]),
                    "class_name": self.class_names[int(ids[j])],
                    "fraction": float(counts[j] / classes.size),
                }
                for j in order
            ]
            records.append({"classes": entries})
        return records

    def pictures(
        self, image: np.ndarray, features: dict[str, Any], outputs: Any, record: dict[str, Any]
    ) -> dict[str, Image.Image]:
        """``<stem>.png``: the blend with a legend; ``<stem>_mask.png``: the class ids at the
        image's size (mode "L")."""
        del record
        classes = to_source_classes(outputs["classes"][0], features, image.shape[:2])  # [H, W]
        return {
            "": blend_with_legend(image, classes, self.class_names),
            "_mask": Image.fromarray(classes.astype(np.uint8)),  # 2-D uint8: mode "L"
        }
