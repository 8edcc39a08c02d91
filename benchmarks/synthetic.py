"""Synthetic training batches of each task's schema, for timing without reading a dataset.

The benchmark suite times train and predict steps on random batches of the exact shapes and
dtypes a task's input pipeline yields (no dataset is read, no JPEG decoded: the input pipeline
has its own benchmark, `benchmarks.pipeline`). One builder per task name, in `BATCH_BUILDERS`;
a new task adds one function and one line there.

Example:
  >>> batch = make_batch("retinanet", batch_size=2, image_size=64, num_classes=3)
  >>> batch["boxes"].shape, batch["labels"].dtype
  ((2, 16, 4), dtype('int32'))
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Batch = dict[str, np.ndarray]
BatchBuilder = Callable[..., Batch]

NUM_CHANNELS = 3
SEED = 0
# Padded object slots of a detection batch when the config does not say (`max_boxes`).
DEFAULT_MAX_BOXES = 16
# Real objects in each synthetic detection image: between these counts (rest is padding).
MIN_OBJECTS = 1
MAX_OBJECTS = 6
# Side of a synthetic box, as a fraction of the image side.
MIN_BOX_SIDE = 0.1
MAX_BOX_SIDE = 0.5
LABEL_PADDING = -1
# Semantic segmentation: the ignore label, and the fraction of pixels that carry it.
IGNORE_LABEL = 255
IGNORED_FRACTION = 0.1


def _images(rng: np.random.Generator, batch_size: int, image_size: int) -> np.ndarray:
    shape = (batch_size, image_size, image_size, NUM_CHANNELS)
    return rng.integers(0, 256, shape, dtype=np.uint8)  # [b, s, s, 3]


def _random_boxes(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Valid normalised (ymin, xmin, ymax, xmax) boxes of random size and place."""
    side = rng.uniform(MIN_BOX_SIDE, MAX_BOX_SIDE, (*shape, 2))  # [..., 2] (h, w)
    start = rng.uniform(0.0, 1.0 - side)  # [..., 2] (ymin, xmin)
    return np.concatenate([start, start + side], axis=-1).astype(np.float32)  # [..., 4]


def classification_batch(batch_size: int, image_size: int, num_classes: int, **_) -> Batch:
    """`image` uint8 [b, s, s, 3] and `label` int32 [b].

    Args:
      batch_size: examples.
      image_size: side of the square images.
      num_classes: labels are drawn from [0, num_classes).

    Returns:
      The batch, as NumPy arrays.
    """
    rng = np.random.default_rng(SEED)
    return {
        "image": _images(rng, batch_size, image_size),
        "label": rng.integers(0, num_classes, batch_size, dtype=np.int32),  # [b]
    }


def localization_batch(batch_size: int, image_size: int, num_classes: int, **_) -> Batch:
    """Single-object localization: `image`, `label` int32 [b], `bbox` float32 [b, 4] (yxyx)."""
    batch = classification_batch(batch_size, image_size, num_classes)
    batch["bbox"] = _random_boxes(np.random.default_rng(SEED + 1), (batch_size,))  # [b, 4]
    return batch


def detection_batch(
    batch_size: int, image_size: int, num_classes: int, max_boxes: int = DEFAULT_MAX_BOXES, **_
) -> Batch:
    """Multi-object detection, padded to `max_boxes` with a validity mask.

    Args:
      batch_size: examples.
      image_size: side of the square images.
      num_classes: object labels are drawn from [0, num_classes).
      max_boxes: padded object slots; each image has MIN_OBJECTS..MAX_OBJECTS real ones.

    Returns:
      `image` uint8 [b, s, s, 3], `boxes` float32 [b, m, 4] normalised yxyx, `labels` int32
      [b, m] (-1 padding), `box_mask` bool [b, m], `box_ignore` bool [b, m] (all False),
      `orig_size` int32 [b, 2], `image_window` float32 [b, 4] (the whole image),
      `num_dropped_boxes` int32 [b] (zeros).
    """
    rng = np.random.default_rng(SEED)
    count = rng.integers(MIN_OBJECTS, min(MAX_OBJECTS, max_boxes) + 1, batch_size)  # [b]
    box_mask = np.arange(max_boxes)[None, :] < count[:, None]  # [b, m]
    boxes = _random_boxes(rng, (batch_size, max_boxes)) * box_mask[..., None]  # [b, m, 4]
    labels = rng.integers(0, num_classes, (batch_size, max_boxes), dtype=np.int32)  # [b, m]
    return {
        "image": _images(rng, batch_size, image_size),
        "boxes": boxes.astype(np.float32),
        "labels": np.where(box_mask, labels, LABEL_PADDING).astype(np.int32),
        "box_mask": box_mask,
        "box_ignore": np.zeros_like(box_mask),
        "orig_size": np.full((batch_size, 2), image_size, np.int32),  # [b, 2]
        "image_window": np.tile(np.array([0, 0, 1, 1], np.float32), (batch_size, 1)),  # [b, 4]
        "num_dropped_boxes": np.zeros(batch_size, np.int32),  # [b]
    }


def _ellipse_masks(boxes: np.ndarray, box_mask: np.ndarray, image_size: int) -> np.ndarray:
    """Each real box's inscribed ellipse as a pixel mask; all False on padded slots.

    A pixel is inside when its centre is; the pixel holding the box's centre is always set,
    so that no real object has an empty mask (a box side of at least one pixel keeps that
    pixel's centre inside the box).

    Args:
      boxes: float32 [b, m, 4] normalised yxyx.
      box_mask: bool [b, m], the real slots.
      image_size: side of the square images.

    Returns:
      bool [b, m, s, s].
    """
    b, m = box_mask.shape
    masks = np.zeros((b, m, image_size, image_size), bool)  # [b, m, s, s]
    pixel_centres = (np.arange(image_size) + 0.5) / image_size  # [s] normalised
    for i, j in zip(*np.nonzero(box_mask), strict=True):  # at most MAX_OBJECTS an image
        low, high = boxes[i, j, :2], boxes[i, j, 2:]  # [2] (y, x) each
        centre, radius = (low + high) / 2, (high - low) / 2  # [2] each
        dy = (pixel_centres - centre[0]) / radius[0]  # [s]
        dx = (pixel_centres - centre[1]) / radius[1]  # [s]
        masks[i, j] = dy[:, None] ** 2 + dx[None, :] ** 2 <= 1.0  # [s, s]
        cy, cx = np.minimum((centre * image_size).astype(int), image_size - 1)
        masks[i, j, cy, cx] = True
    return masks


def maskrcnn_batch(
    batch_size: int, image_size: int, num_classes: int, max_boxes: int = DEFAULT_MAX_BOXES, **_
) -> Batch:
    """Instance segmentation: `detection_batch` plus `instance_masks` bool [b, m, s, s], each
    real box's inscribed ellipse (never empty), all False on padded slots.

    Args:
      batch_size, image_size, num_classes, max_boxes: as `detection_batch`.

    Returns:
      The detection batch with `instance_masks`.

    Example:
      >>> batch = maskrcnn_batch(batch_size=2, image_size=32, num_classes=3, max_boxes=8)
      >>> masks = batch["instance_masks"]
      >>> masks.shape, bool(np.all(masks.any(axis=(2, 3)) == batch["box_mask"]))
      ((2, 8, 32, 32), True)
    """
    batch = detection_batch(batch_size, image_size, num_classes, max_boxes)
    batch["instance_masks"] = _ellipse_masks(batch["boxes"], batch["box_mask"], image_size)
    return batch


def restoration_batch(
    batch_size: int, image_size: int, num_classes: int, scale: int = 1, **_
) -> Batch:
    """A restoration pair: `input` uint8 [b, s / scale, s / scale, 3], `target` [b, s, s, 3]
    (what a paired dataset yields; `num_classes` is unused).

    Raises:
      ValueError: `image_size` not divisible by `scale`.
    """
    del num_classes
    if image_size % scale:
        raise ValueError(f"image size {image_size} is not divisible by the scale {scale}")
    rng = np.random.default_rng(SEED)
    return {
        "input": _images(rng, batch_size, image_size // scale),
        "target": _images(rng, batch_size, image_size),
    }


def segmentation_batch(batch_size: int, image_size: int, num_classes: int, **_) -> Batch:
    """Semantic segmentation: `image` uint8 [b, s, s, 3] and `segmentation_mask` uint8
    [b, s, s, 1] of class ids in [0, num_classes), a tenth of the pixels 255 (ignored)."""
    rng = np.random.default_rng(SEED)
    shape = (batch_size, image_size, image_size, 1)
    labels = rng.integers(0, num_classes, shape).astype(np.uint8)  # [b, s, s, 1]
    labels[rng.random(shape) < IGNORED_FRACTION] = IGNORE_LABEL
    return {"image": _images(rng, batch_size, image_size), "segmentation_mask": labels}


# Task name (config `task`, `jaxvision.tasks.TASKS`) -> batch builder.
BATCH_BUILDERS: dict[str, BatchBuilder] = {
    "classification": classification_batch,
    "localization": localization_batch,
    "retinanet": detection_batch,
    "fcos": detection_batch,
    "maskrcnn": maskrcnn_batch,
    "restoration": restoration_batch,
    "restoration_gan": restoration_batch,
    "segmentation": segmentation_batch,
}


def make_batch(
    task: str,
    batch_size: int,
    image_size: int,
    num_classes: int,
    max_boxes: int | None = None,
    scale: int | None = None,
) -> Batch:
    """A synthetic batch of `task`'s training schema.

    Args:
      task: a key of `BATCH_BUILDERS`.
      batch_size: examples.
      image_size: side of the square images.
      num_classes: classes of the labels.
      max_boxes: padded object slots (detection tasks; None: `DEFAULT_MAX_BOXES`).
      scale: target / input size of a restoration pair (None: 1).

    Returns:
      A dict of NumPy arrays.

    Raises:
      ValueError: no builder for `task` (the message lists the known tasks).
    """
    if task not in BATCH_BUILDERS:
        raise ValueError(f"no synthetic batch for task {task!r}; known: {sorted(BATCH_BUILDERS)}")
    extra = {} if max_boxes is None else {"max_boxes": max_boxes}
    if scale is not None:
        extra["scale"] = scale
    return BATCH_BUILDERS[task](batch_size, image_size, num_classes, **extra)
