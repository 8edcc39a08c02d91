"""Drawing primitives: image grids with captions, class colours, boxes with their captions.

Also the JSON form of one image's detections, for the files written beside the pictures.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

# Smallest side a tile is upscaled to, so that 32 px images stay legible.
MIN_TILE = 96
CAPTION_HEIGHT = 30
OK_COLOR = (20, 140, 20)
BAD_COLOR = (200, 30, 30)
# Box outline width and caption padding, in pixels.
BOX_LINE_WIDTH = 2
CAPTION_PADDING = 1
CAPTION_TEXT_COLOR = (255, 255, 255)
# Hue step between consecutive classes (golden ratio conjugate: well-spread colours).
_HUE_STEP = 0.618033988749895


def image_grid(
    images: np.ndarray,
    captions: Sequence[str],
    correct: Sequence[bool] | None = None,
    columns: int = 8,
) -> Image.Image:
    """Tiles images into one picture with a caption under each.

    Args:
      images: uint8 [n, h, w, 3].
      captions: n strings (up to two lines, ``\\n``-separated).
      correct: optional n booleans: green captions for True, red for False.
      columns: tiles per row.

    Returns:
      A PIL RGB image.

    Example:
      >>> image_grid(np.zeros((2, 32, 32, 3), np.uint8), ["a", "b"]).size[0] > 0
      True
    """
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images but {len(captions)} captions")
    n, h, w = images.shape[:3]
    scale = max(1, math.ceil(MIN_TILE / min(h, w)))
    tile_h, tile_w = h * scale, w * scale
    columns = max(1, min(columns, n))
    rows = math.ceil(n / columns)
    canvas = Image.new("RGB", (columns * tile_w, rows * (tile_h + CAPTION_HEIGHT)), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (image, caption) in enumerate(zip(images, captions, strict=True)):
        r, c = divmod(i, columns)
        x, y = c * tile_w, r * (tile_h + CAPTION_HEIGHT)
        tile = Image.fromarray(np.asarray(image, np.uint8)).resize((tile_w, tile_h), Image.NEAREST)
        canvas.paste(tile, (x, y))
        color = (0, 0, 0) if correct is None else (OK_COLOR if correct[i] else BAD_COLOR)
        draw.text((x + 2, y + tile_h + 1), caption, fill=color)
    return canvas


def class_colors(num_classes: int) -> list[tuple[int, int, int]]:
    """Distinct, saturated RGB colours, one per class (the same for every call).

    Args:
      num_classes: how many colours.

    Returns:
      num_classes (r, g, b) tuples of ints in [0, 255].

    Example:
      >>> len(class_colors(3)), class_colors(3)[0] == class_colors(5)[0]
      (3, True)
    """
    colors = []
    for i in range(num_classes):
        r, g, b = colorsys.hsv_to_rgb((i * _HUE_STEP) % 1.0, 0.85, 0.9)
        colors.append((round(r * 255), round(g * 255), round(b * 255)))
    return colors


def draw_detections(
    image: np.ndarray,
    boxes: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray | None,
    class_names: Sequence[str],
    *,
    score_threshold: float = 0.0,
    colors: Sequence[tuple[int, int, int]] | None = None,
) -> Image.Image:
    """Draws boxes with a class-coloured outline and a ``name 0.97`` caption.

    Args:
      image: uint8 [h, w, 3].
      boxes: [k, 4] absolute xyxy pixel coordinates.
      labels: [k] integer labels, indices into ``class_names``.
      scores: [k] confidences, or None (ground truth: captions hold only the name).
      class_names: the names of the classes.
      score_threshold: boxes scoring below it are not drawn (ignored without scores).
      colors: one (r, g, b) per class; default ``class_colors(len(class_names))``.

    Returns:
      A PIL RGB image of the same size as ``image``.

    Example:
      >>> picture = draw_detections(np.zeros((64, 64, 3), np.uint8),
      ...                           np.array([[8, 8, 40, 40]]), np.array([0]),
      ...                           np.array([0.97]), ["cat"])
      >>> picture.size
      (64, 64)
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must be uint8 [h, w, 3], got {image.dtype} {image.shape}")
    boxes, labels, scores = _check_detections(boxes, labels, scores, len(class_names))
    colors = class_colors(len(class_names)) if colors is None else list(colors)
    if len(colors) < len(class_names):
        raise ValueError(f"{len(colors)} colors for {len(class_names)} classes")
    keep = np.ones(len(boxes), bool) if scores is None else scores >= score_threshold  # [k]
    picture = Image.fromarray(image, "RGB")
    draw = ImageDraw.Draw(picture)
    for i in np.flatnonzero(keep):
        x1, y1, x2, y2 = boxes[i].tolist()
        color = tuple(colors[labels[i]])
        draw.rectangle([x1, y1, x2, y2], outline=color, width=BOX_LINE_WIDTH)
        caption = class_names[labels[i]]
        if scores is not None:
            caption = f"{caption} {scores[i]:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), caption)
        text_w, text_h = right - left, bottom - top
        # Above the box, or just inside its top edge where it would leave the image.
        y = y1 - text_h - 2 * CAPTION_PADDING
        if y < 0:
            y = y1 + BOX_LINE_WIDTH
        x = x1
        draw.rectangle(
            [x, y, x + text_w + 2 * CAPTION_PADDING, y + text_h + 2 * CAPTION_PADDING], fill=color
        )
        text_xy = (x + CAPTION_PADDING - left, y + CAPTION_PADDING - top)
        draw.text(text_xy, caption, fill=CAPTION_TEXT_COLOR)
    return picture


def detections_to_json(
    boxes: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    class_names: Sequence[str],
) -> list[dict]:
    """One image's detections as JSON-serializable dicts (``json.dump`` writes them).

    Args:
      boxes: [k, 4] absolute xyxy pixel coordinates.
      labels: [k] integer labels, indices into ``class_names``.
      scores: [k] confidences.
      class_names: the names of the classes.

    Returns:
      k dicts ``{"box": [x1, y1, x2, y2], "label": int, "class_name": str, "score": float}``,
      in the input order.

    Example:
      >>> detections_to_json(np.array([[1.0, 2.0, 3.0, 4.0]]), np.array([1]),
      ...                    np.array([0.5]), ["cat", "dog"])
      [{'box': [1.0, 2.0, 3.0, 4.0], 'label': 1, 'class_name': 'dog', 'score': 0.5}]
    """
    if scores is None:
        raise ValueError("scores are required")
    boxes, labels, scores = _check_detections(boxes, labels, scores, len(class_names))
    return [
        {"box": box, "label": label, "class_name": class_names[label], "score": score}
        for box, label, score in zip(boxes.tolist(), labels.tolist(), scores.tolist(), strict=True)
    ]


def _check_detections(
    boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray | None, num_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validated float64 [k, 4] boxes, int64 [k] labels and float64 [k] scores (or None)."""
    boxes = np.asarray(boxes, np.float64)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)  # [0, 4]
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be [k, 4], got {boxes.shape}")
    k = boxes.shape[0]
    labels = np.asarray(labels).reshape(-1).astype(np.int64)  # [k]
    if labels.shape != (k,):
        raise ValueError(f"labels must be [{k}], got {labels.shape}")
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if bad.size:
        raise ValueError(f"label {int(bad[0])} is outside [0, {num_classes})")
    if scores is not None:
        scores = np.asarray(scores, np.float64).reshape(-1)  # [k]
        if scores.shape != (k,):
            raise ValueError(f"scores must be [{k}], got {scores.shape}")
    return boxes, labels, scores
