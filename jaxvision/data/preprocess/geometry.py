"""Geometric helpers shared by the ops: resize, crop (or pad) and flip one example.

They move every geometric feature with the image: the detection features that
``decode_detection`` creates (``boxes`` [n, 4] normalised (ymin, xmin, ymax, xmax), with
``labels``, ``box_ignore`` and, for instance segmentation, ``instance_masks`` [n, H, W]
alongside, and ``image_window``), the localization ``bbox`` [4] and a semantic
``segmentation_mask`` [H, W, 1] (class ids); ``flip_features`` also mirrors the
``input`` / ``target`` pair of a restoration example. Label maps and instance masks are
resampled nearest-neighbour (no blended ids); padding gives the class map
``SEGMENTATION_IGNORE`` (255: counts nowhere) and the instance masks 0. Boxes that a crop
leaves with less than ``min_visible`` of their area (or with none) are dropped, with their
masks, and counted in ``num_dropped_boxes``. Box-moving helpers refuse examples whose
boxes are already padded: padding must come last. Per-box face ``landmarks`` move with their
boxes (``jaxvision.data.preprocess.landmarks``).

Example:
    >>> ex = {"image": np.zeros((4, 8, 3), np.uint8), "bbox": np.array([0, 0, 1, 0.25])}
    >>> out = flip_features(resize_features(ex, 2, 4))
    >>> out["image"].shape, out["bbox"].tolist()
    ((2, 4, 3), [0.0, 0.75, 1.0, 1.0])
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from jaxvision.data.preprocess.landmarks import LANDMARKS_KEY, crop_landmarks, flip_landmarks
from jaxvision.data.preprocess.registry import Features

# A cropped box survives when at least this fraction of its area stays in the image.
MIN_VISIBLE_FRACTION = 0.25
# Features that hold one entry per box: filtered together when boxes are dropped.
PER_BOX_KEYS = ("boxes", "labels", "box_ignore")
DROPPED_KEY = "num_dropped_boxes"
# Present only after pad_boxes, which must come after every geometric op.
PADDED_MARKER_KEY = "box_mask"
# Guards the visible-fraction division against zero-area boxes.
AREA_EPSILON = 1e-12
# The pixel arrays an example may hold: ``image``, or a restoration pair ``input`` /
# ``target`` (the target may be larger than the input, by a super-resolution scale).
PIXEL_KEYS = ("image", "input", "target")
# The semantic class map [H, W, 1] and the per-object masks [n, H, W] (aligned with boxes).
SEGMENTATION_KEY = "segmentation_mask"
INSTANCE_MASKS_KEY = "instance_masks"
# Class id of class-map pixels a crop adds outside the image: the ignore label of
# ``jaxvision.metrics.segmentation`` and ``jaxvision.losses.segmentation``.
SEGMENTATION_IGNORE = 255


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear (antialiased) resize of a uint8 [H, W, C] image to [height, width, C]."""
    if image.shape[:2] == (height, width):
        return image
    squeeze = image.shape[-1] == 1
    pil = Image.fromarray(image[..., 0] if squeeze else image)
    out = np.asarray(pil.resize((width, height), Image.BILINEAR))
    return out[..., None] if squeeze else out


def resize_nearest(labels: np.ndarray, height: int, width: int, axes: tuple = (0, 1)) -> np.ndarray:
    """Nearest-neighbour resize of a label array along two ``axes``: every output pixel takes
    the input pixel under its centre, so no new ids appear.

    Args:
      labels: e.g. a class map [H, W, 1] (``axes=(0, 1)``) or masks [n, H, W] (``(1, 2)``).
      height: output size along ``axes[0]``.
      width: output size along ``axes[1]``.
      axes: the two spatial axes.

    Returns:
      The resized array, same dtype.

    Example:
      >>> resize_nearest(np.array([[1, 2], [3, 4]]), 4, 2).tolist()
      [[1, 2], [1, 2], [3, 4], [3, 4]]
    """
    labels = np.asarray(labels)
    h, w = labels.shape[axes[0]], labels.shape[axes[1]]
    if (h, w) == (height, width):
        return labels
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(np.int64), w - 1)
    return np.take(np.take(labels, rows, axis=axes[0]), cols, axis=axes[1])


def _crop_or_pad(
    image: np.ndarray, top: int, left: int, height: int, width: int, fill: int = 0
) -> np.ndarray:
    """The [height, width] pixel window at (top, left) of [H, W, ...]; parts outside the
    image are ``fill``."""
    h, w = image.shape[:2]
    out = np.full((height, width, *image.shape[2:]), fill, image.dtype)  # [height, width, ...]
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + height, h), min(left + width, w)
    if y1 > y0 and x1 > x0:
        out[y0 - top : y1 - top, x0 - left : x1 - left] = image[y0:y1, x0:x1]
    return out


def _crop_instance_masks(
    masks: np.ndarray, top: int, left: int, height: int, width: int
) -> np.ndarray:
    """The [n, height, width] window of masks [n, H, W]; 0 outside them."""
    moved = _crop_or_pad(np.moveaxis(np.asarray(masks), 0, -1), top, left, height, width, 0)
    return np.moveaxis(moved, -1, 0)  # [n, height, width]


def check_not_padded(features: Features, op_name: str) -> None:
    """Raises a ValueError when the example's boxes are already padded (by ``pad_boxes``)."""
    if PADDED_MARKER_KEY in features:
        raise ValueError(
            f"{op_name} moves boxes and must run before pad_boxes (the example already "
            f"holds {PADDED_MARKER_KEY!r})"
        )


def add_dropped(features: Features, count: int) -> np.int32:
    """The example's ``num_dropped_boxes`` plus ``count``."""
    return np.int32(int(features.get(DROPPED_KEY, 0)) + count)


def resize_features(features: Features, height: int, width: int) -> Features:
    """Resizes the image (bilinear), ``segmentation_mask`` and ``instance_masks`` (nearest)
    to [height, width].

    Normalised boxes and ``image_window`` are unchanged by a resize.

    Args:
      features: one example.
      height: output height in pixels.
      width: output width in pixels.

    Returns:
      The example with the image-like features resized.

    Example:
      >>> resize_features({"image": np.zeros((4, 6, 3), np.uint8)}, 2, 3)["image"].shape
      (2, 3, 3)
    """
    out = {**features, "image": _resize(features["image"], height, width)}
    if SEGMENTATION_KEY in features:
        out[SEGMENTATION_KEY] = resize_nearest(features[SEGMENTATION_KEY], height, width)
    if INSTANCE_MASKS_KEY in features:
        masks = features[INSTANCE_MASKS_KEY]  # [n, h, w]
        out[INSTANCE_MASKS_KEY] = resize_nearest(masks, height, width, axes=(1, 2))
    return out


def _crop_boxes(
    features: Features, scale: np.ndarray, shift: np.ndarray, min_visible: float
) -> tuple[Features, np.ndarray]:
    """The per-box features mapped by ``c * scale - shift``, clipped, hidden boxes dropped;
    and which boxes were kept, [n] bool."""
    check_not_padded(features, "crop_features")
    boxes = np.asarray(features["boxes"], np.float32).reshape(-1, 4) * scale - shift  # [n, 4]
    clipped = np.clip(boxes, 0.0, 1.0)  # [n, 4]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])  # [n]
    heights = clipped[:, 2] - clipped[:, 0]  # [n]
    widths = clipped[:, 3] - clipped[:, 1]  # [n]
    visible = np.where(area > 0, heights * widths / np.maximum(area, AREA_EPSILON), 0.0)  # [n]
    keep = (heights > 0) & (widths > 0) & (visible >= min_visible)  # [n]
    out = {"boxes": clipped[keep].astype(np.float32)}  # [k, 4]
    for key in PER_BOX_KEYS[1:]:
        if key in features:
            out[key] = np.asarray(features[key])[keep]  # [k]
    out[DROPPED_KEY] = add_dropped(features, int((~keep).sum()))
    return out, keep


def crop_features(
    features: Features,
    top: int,
    left: int,
    height: int,
    width: int,
    *,
    fill: int = 0,
    min_visible: float = MIN_VISIBLE_FRACTION,
) -> Features:
    """Takes the [height, width] pixel window at (top, left) and moves every geometric feature.

    The window may reach outside the image (negative ``top``/``left`` or past the far
    edge): those pixels are ``fill`` (the class map's ``SEGMENTATION_IGNORE``, the instance
    masks' 0), which is how padding works.

    Boxes ``[n, 4]`` are mapped into the window, clipped to [0, 1], and dropped with
    their ``labels``, ``box_ignore`` and ``instance_masks`` when less than ``min_visible`` of
    their area,
    or no area at all, is left; the drops are added to ``num_dropped_boxes``. The single
    localization ``bbox`` [4] is mapped and clipped, never dropped. ``image_window`` is
    mapped but not clipped: it stays the exact place of the source image in output
    coordinates, so ``(pred - window_min) / window_size * orig_size`` remains exact.

    Args:
      features: one example; ``image`` uint8 [H, W, C].
      top: first row of the window (may be negative).
      left: first column of the window (may be negative).
      height: window height in pixels (> 0).
      width: window width in pixels (> 0).
      fill: value of the image pixels outside the source image.
      min_visible: smallest kept fraction of a box's area, in [0, 1].

    Returns:
      The example with ``image`` [height, width, C] and every geometric feature moved.

    Raises:
      ValueError: an empty window, or the boxes are already padded.

    Example:
      >>> ex = {"image": np.zeros((10, 10, 3), np.uint8),
      ...       "boxes": np.array([[0.0, 0.0, 0.5, 0.5]], np.float32)}
      >>> crop_features(ex, 0, 0, 5, 5)["boxes"]
      array([[0., 0., 1., 1.]], dtype=float32)
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"crop window must be non-empty, got {height} x {width}")
    image = features["image"]
    h, w = image.shape[:2]
    out = {**features, "image": _crop_or_pad(image, top, left, height, width, fill)}
    if SEGMENTATION_KEY in features:
        mask = np.asarray(features[SEGMENTATION_KEY])  # [h, w, 1]
        out[SEGMENTATION_KEY] = _crop_or_pad(
            mask, top, left, height, width, SEGMENTATION_IGNORE
        )  # [height, width, 1]
    if INSTANCE_MASKS_KEY in features:
        masks = features[INSTANCE_MASKS_KEY]  # [n, h, w]
        out[INSTANCE_MASKS_KEY] = _crop_instance_masks(masks, top, left, height, width)
    # Normalised input coordinate c maps to (c * size - offset) / new_size.
    scale = np.array([h / height, w / width] * 2, np.float32)  # [4]
    shift = np.array([top / height, left / width] * 2, np.float32)  # [4]
    if "image_window" in features:
        window = np.asarray(features["image_window"], np.float32)  # [4]
        out["image_window"] = (window * scale - shift).astype(np.float32)  # [4]
    if "bbox" in features:
        bbox = np.asarray(features["bbox"], np.float32) * scale - shift  # [4]
        out["bbox"] = np.clip(bbox, 0.0, 1.0).astype(np.float32)  # [4]
    if "boxes" in features:
        moved, keep = _crop_boxes(features, scale, shift, min_visible)
        out.update(moved)
        if INSTANCE_MASKS_KEY in out:
            out[INSTANCE_MASKS_KEY] = out[INSTANCE_MASKS_KEY][keep]  # [k, height, width]
        if LANDMARKS_KEY in features:
            out.update(crop_landmarks(features, scale[:2], shift[:2], keep))
    return out


def _flip_box(box: np.ndarray) -> np.ndarray:
    """Mirrors normalised (ymin, xmin, ymax, xmax) boxes [..., 4]: x becomes 1 - x."""
    box = np.asarray(box, np.float32)  # [..., 4]
    ymin, xmin, ymax, xmax = np.moveaxis(box, -1, 0)
    return np.stack([ymin, 1.0 - xmax, ymax, 1.0 - xmin], axis=-1)  # [..., 4]


def flip_features(features: Features) -> Features:
    """Flips the image left-right with its boxes, ``bbox``, ``image_window`` and masks.

    Every pixel array present (``image``, ``input``, ``target``: see ``PIXEL_KEYS``)
    is mirrored, so a restoration pair stays aligned at any scale between its images.

    Args:
      features: one example.

    Returns:
      The mirrored example (x becomes 1 - x for every normalised coordinate).

    Raises:
      ValueError: the boxes are already padded.

    Example:
      >>> ex = {"image": np.zeros((2, 4, 3), np.uint8), "bbox": np.array([0, 0, 1, 0.25])}
      >>> flip_features(ex)["bbox"].tolist()
      [0.0, 0.75, 1.0, 1.0]
    """
    out = dict(features)
    for key in PIXEL_KEYS:
        if key in features:
            out[key] = np.asarray(features[key])[:, ::-1]  # [h, w, c]
    if SEGMENTATION_KEY in features:
        out[SEGMENTATION_KEY] = np.asarray(features[SEGMENTATION_KEY])[:, ::-1]
    if INSTANCE_MASKS_KEY in features:
        out[INSTANCE_MASKS_KEY] = np.asarray(features[INSTANCE_MASKS_KEY])[:, :, ::-1]
    if "boxes" in features:
        check_not_padded(features, "flip_lr")
        out["boxes"] = _flip_box(np.asarray(features["boxes"]).reshape(-1, 4))  # [n, 4]
        if LANDMARKS_KEY in features:
            out.update(flip_landmarks(features))  # mirrored, left and right swapped
    for key in ("bbox", "image_window"):
        if key in features:
            out[key] = _flip_box(features[key])  # [4]
    return out
