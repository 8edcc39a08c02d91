"""Object-detection preprocessing ops: decode, scale jitter, letterbox, fixed-size padding.

They register into ``registry`` beside the generic ops of ``image_ops``, which are
box-aware, and compose with them in spec strings. A detection task writes no padding
into its specs: it passes its ``detection.max_boxes`` to ``build`` (through
``jaxvision.data.pipeline``), which ends the pipeline with ``pad_boxes(max_boxes)``::

    train: build("decode_detection|scale_jitter(512)|flip_lr", max_boxes=100)
    eval:  build("decode_detection|letterbox(512)", max_boxes=100)

``decode_detection`` turns a raw TFDS-style example (``image`` uint8 [H, W, 3];
``objects`` with ``bbox`` [n, 4] normalised (ymin, xmin, ymax, xmax), ``label`` [n]
and optionally ``is_crowd`` / ``is_difficult``; for instance segmentation either an
``instance_map`` [H, W, 1], 0 on background and ``i + 1`` on object i's pixels, as the
built-in ``jaxvision_shapes/segmentation`` stores them, or per-object masks
``objects/mask`` [n, H, W], as ``coco_json`` gives them from polygons / RLE, which keep
the overlaps of objects) into the working schema; after
``pad_boxes(max_boxes)`` an example holds exactly:

  ==================  =======  ====================  ==========================================
  key                 dtype    shape                 meaning
  ==================  =======  ====================  ==========================================
  image               uint8    [S, S, 3]             the output image
  boxes               float32  [max_boxes, 4]        normalised (ymin, xmin, ymax, xmax) in
                                                     [0, 1] of the OUTPUT image; padding 0
  labels              int32    [max_boxes]           class ids; -1 on padding
  box_mask            bool     [max_boxes]           True on real boxes
  box_ignore          bool     [max_boxes]           COCO crowd / VOC difficult boxes: never
                                                     positives; iscrowd for COCO evaluation
  orig_size           int32    [2]                   (height, width) of the source image
  image_window        float32  [4]                   where the whole source image lies in the
                                                     output, normalised (ymin, xmin, ymax, xmax)
  num_dropped_boxes   int32    []                    boxes dropped as degenerate, cropped away
                                                     or truncated by pad_boxes
  instance_masks      bool     [max_boxes, S, S]     (with an ``instance_map`` or
                                                     ``objects/mask`` only) each box's object
                                                     pixels; all False on padding
  ==================  =======  ====================  ==========================================

Mapping predictions back to source pixels (evaluation happens in original-image
coordinates)::

    window_min = image_window[:2]                      # (ymin, xmin)
    window_size = image_window[2:] - image_window[:2]  # (height, width)
    ymin_px, xmin_px = (pred[:2] - window_min) / window_size * orig_size
    ymax_px, xmax_px = (pred[2:] - window_min) / window_size * orig_size

``image_window`` is (0, 0, 1, 1) after ``decode_detection`` and any plain resize, smaller
after ``letterbox`` (the padding is outside it), and may reach past [0, 1] after a
random crop (it is never clipped, so the mapping stays exact).

Example:
    >>> from jaxvision.data import preprocess
    >>> fn = preprocess.build("decode_detection|letterbox(64)", max_boxes=4)
    >>> raw = {"image": np.zeros((32, 64, 3), np.uint8),
    ...        "objects": {"bbox": np.array([[0.0, 0.0, 1.0, 0.5]]), "label": [2]}}
    >>> out = fn(raw, np.random.default_rng(0))
    >>> out["boxes"][0].tolist(), out["image_window"].tolist()
    ([0.25, 0.0, 0.75, 0.5], [0.25, 0.0, 0.75, 1.0])
"""

from __future__ import annotations

import numpy as np

from jaxvision.data.preprocess.geometry import (
    DROPPED_KEY,
    INSTANCE_MASKS_KEY,
    MIN_VISIBLE_FRACTION,
    PADDED_MARKER_KEY,
    PER_BOX_KEYS,
    add_dropped,
    crop_features,
    resize_features,
)
from jaxvision.data.preprocess.landmarks import LANDMARKS_KEY, pad_landmarks
from jaxvision.data.preprocess.registry import PAD_BOXES_OP, Features, Op, register

# Fill of the padding that scale_jitter adds (black, as in the LSJ recipe).
SCALE_JITTER_FILL = 0
# Fill of the letterbox bars: the mid-grey of the YOLO family.
LETTERBOX_FILL = 114
# Large-scale jitter range (Ghiasi et al. 2021 use 0.1 .. 2.0; 0.5 .. 1.5 is "standard").
DEFAULT_MIN_SCALE = 0.5
DEFAULT_MAX_SCALE = 1.5
# Label of padding rows.
PAD_LABEL = -1
# Raw per-object flags that mark a box that training must ignore.
IGNORE_FLAGS = ("is_crowd", "is_difficult")
FULL_WINDOW = (0.0, 0.0, 1.0, 1.0)
# Raw feature of the per-object masks: 0 on background, i + 1 on object i's pixels.
INSTANCE_MAP_KEY = "instance_map"
# Raw ``objects`` feature of per-object masks [n, H, W] (nonzero on the object's pixels).
OBJECT_MASKS_KEY = "mask"


def instance_masks_from_map(instance_map: np.ndarray, num_objects: int) -> np.ndarray:
    """Per-object boolean masks [n, H, W] from an instance map [H, W] or [H, W, 1].

    Args:
      instance_map: 0 on background, ``i + 1`` on the pixels of object ``i``.
      num_objects: n, the number of objects (rows of the boxes).

    Returns:
      bool [n, H, W]; an object without pixels has an all-False mask.

    Example:
      >>> instance_masks_from_map(np.array([[0, 1], [2, 2]]), 2).sum(axis=(1, 2)).tolist()
      [1, 2]
    """
    ids = np.asarray(instance_map)
    if ids.ndim == 3:
        ids = ids[..., 0]  # [H, W]
    return ids[None] == np.arange(1, num_objects + 1)[:, None, None]  # [n, H, W]


def _objects(features: Features) -> dict:
    if "objects" not in features:
        raise ValueError(
            "decode_detection needs the raw 'objects' feature (bbox, label); got keys "
            f"{sorted(features)}"
        )
    return features["objects"]


@register("decode_detection")
def decode_detection() -> Op:
    """Raw TFDS-style detection example -> the unpadded working schema.

    Boxes are clipped to [0, 1]; boxes with no area after clipping (or with NaNs) are
    dropped and counted in ``num_dropped_boxes``. ``is_crowd`` / ``is_difficult`` become
    ``box_ignore``. ``orig_size`` is the image's (height, width), ``image_window``
    (0, 0, 1, 1). An ``instance_map``, or per-object ``objects/mask`` [n, H, W], becomes
    ``instance_masks`` [n, H, W] bool, one a box (dropped with it); from there every
    geometric op moves them. The raw ``objects`` and ``instance_map`` features are removed
    (ops do not update them).

    Returns:
      The op; its output has ``image``, ``boxes`` float32 [n, 4], ``labels`` int32 [n],
      ``box_ignore`` bool [n], ``orig_size``, ``image_window``, ``num_dropped_boxes``.

    Example:
      >>> raw = {"image": np.zeros((4, 4, 3), np.uint8),
      ...        "objects": {"bbox": [[0.5, 0.5, 0.5, 0.9]], "label": [1]}}
      >>> decode_detection()(raw, None)["num_dropped_boxes"]
      np.int32(1)
    """

    def op(features: Features, rng: np.random.Generator) -> Features:
        del rng
        objects = _objects(features)
        image = np.asarray(features["image"])
        if image.ndim != 3 or image.shape[-1] not in (1, 3):
            raise ValueError(f"decode_detection expects an [H, W, 3] image, got {image.shape}")
        if image.shape[-1] == 1:
            image = np.repeat(image, 3, axis=-1)  # [h, w, 3]
        boxes = np.asarray(objects["bbox"], np.float32).reshape(-1, 4)  # [n, 4]
        labels = np.asarray(objects["label"]).reshape(-1).astype(np.int32)  # [n]
        if len(labels) != len(boxes):
            raise ValueError(f"{len(boxes)} boxes but {len(labels)} labels")
        ignore = np.zeros(len(boxes), bool)  # [n]
        for flag in IGNORE_FLAGS:
            if flag in objects:
                ignore |= np.asarray(objects[flag], bool).reshape(-1)  # [n]
        boxes = np.clip(boxes, 0.0, 1.0)  # [n, 4]  (NaN stays NaN and fails the test below)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])  # [n]
        out = {k: v for k, v in features.items() if k not in ("objects", INSTANCE_MAP_KEY)}
        masks = _instance_masks(features, objects, image, len(boxes))  # [n, h, w] or None
        if masks is not None:
            out[INSTANCE_MASKS_KEY] = masks[keep]  # [k, h, w]
        out.update(
            image=image,
            boxes=boxes[keep],  # [k, 4]
            labels=labels[keep],  # [k]
            box_ignore=ignore[keep],  # [k]
            orig_size=np.array(image.shape[:2], np.int32),  # [2]
            image_window=np.array(FULL_WINDOW, np.float32),  # [4]
            num_dropped_boxes=np.int32(int((~keep).sum())),
        )
        return out

    return op


def _instance_masks(
    features: Features, objects: dict, image: np.ndarray, num_objects: int
) -> np.ndarray | None:
    """The example's ``instance_map`` or ``objects/mask`` as bool masks [n, H, W], checked
    against the image's size; None without either."""
    if INSTANCE_MAP_KEY in features and OBJECT_MASKS_KEY in objects:
        raise ValueError(
            f"an example has both {INSTANCE_MAP_KEY!r} and 'objects/{OBJECT_MASKS_KEY}' "
            "masks; give one"
        )
    if INSTANCE_MAP_KEY in features:
        instance_map = np.asarray(features[INSTANCE_MAP_KEY])
        if instance_map.shape[:2] != image.shape[:2]:
            raise ValueError(
                f"instance_map of shape {instance_map.shape} does not match the image {image.shape}"
            )
        return instance_masks_from_map(instance_map, num_objects)  # [n, H, W]
    if OBJECT_MASKS_KEY in objects:
        masks = np.asarray(objects[OBJECT_MASKS_KEY]) != 0  # [n, H, W]
        if masks.shape != (num_objects, *image.shape[:2]):
            raise ValueError(
                f"objects/{OBJECT_MASKS_KEY} of shape {masks.shape} does not fit {num_objects} "
                f"boxes on the image {image.shape}: expected [n, H, W]"
            )
        return masks
    return None


def _scaled_size(height: int, width: int, longer_side: float) -> tuple[int, int]:
    """(h, w) scaled so that the longer side is ``longer_side``, each at least 1."""
    scale = longer_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


@register("scale_jitter")
def scale_jitter(
    size: int,
    min_scale: float = DEFAULT_MIN_SCALE,
    max_scale: float = DEFAULT_MAX_SCALE,
    fill: int = SCALE_JITTER_FILL,
    min_visible: float = MIN_VISIBLE_FRACTION,
) -> Op:
    """Large-scale jitter: random rescale, then a random size x size crop or pad.

    The image is resized (aspect kept) so that its longer side is ``size * scale``,
    ``scale ~ U(min_scale, max_scale)``; a side longer than ``size`` is cropped at a
    random offset, a shorter one padded with ``fill`` at the bottom / right. Boxes,
    ``image_window`` and ``segmentation_mask`` follow; boxes keeping less than
    ``min_visible`` of their area are dropped and counted.

    Args:
      size: output side in pixels.
      min_scale: smallest scale.
      max_scale: largest scale.
      fill: value of padded pixels.
      min_visible: smallest kept fraction of a cropped box, in [0, 1].

    Returns:
      The op.

    Example:
      >>> op = scale_jitter(64)
      >>> op({"image": np.zeros((30, 40, 3), np.uint8)}, np.random.default_rng(0))[
      ...     "image"].shape
      (64, 64, 3)
    """
    if size <= 0:
        raise ValueError(f"scale_jitter size must be positive, got {size}")
    if not 0 < min_scale <= max_scale:
        raise ValueError(
            f"scale_jitter needs 0 < min_scale <= max_scale, got {min_scale}, {max_scale}"
        )
    if not 0.0 <= min_visible <= 1.0:
        raise ValueError(f"min_visible must be in [0, 1], got {min_visible}")

    def op(features: Features, rng: np.random.Generator) -> Features:
        h, w = features["image"].shape[:2]
        scale = rng.uniform(min_scale, max_scale)
        new_h, new_w = _scaled_size(h, w, size * scale)
        top = int(rng.integers(0, max(new_h - size, 0) + 1))
        left = int(rng.integers(0, max(new_w - size, 0) + 1))
        resized = resize_features(features, new_h, new_w)
        return crop_features(resized, top, left, size, size, fill=fill, min_visible=min_visible)

    return op


@register("letterbox")
def letterbox(size: int, fill: int = LETTERBOX_FILL) -> Op:
    """Resizes the longer side to ``size`` (aspect kept) and pads, centred, to size x size.

    Deterministic: the evaluation / prediction transform. ``image_window`` becomes the
    part of the output that shows the image (the bars are outside it).

    Args:
      size: output side in pixels.
      fill: value of the bars.

    Returns:
      The op.

    Example:
      >>> out = letterbox(8)({"image": np.zeros((4, 8, 3), np.uint8),
      ...                     "image_window": np.array([0, 0, 1, 1], np.float32)}, None)
      >>> out["image_window"].tolist()
      [0.25, 0.0, 0.75, 1.0]
    """
    if size <= 0:
        raise ValueError(f"letterbox size must be positive, got {size}")

    def op(features: Features, rng: np.random.Generator) -> Features:
        del rng
        h, w = features["image"].shape[:2]
        new_h, new_w = _scaled_size(h, w, size)
        top, left = (size - new_h) // 2, (size - new_w) // 2
        resized = resize_features(features, new_h, new_w)
        # A pure pad never cuts a box: every box stays whole (min_visible is moot).
        return crop_features(resized, -top, -left, size, size, fill=fill)

    return op


@register(PAD_BOXES_OP)
def pad_boxes(max_boxes: int) -> Op:
    """Pads (or truncates) the box features to ``max_boxes`` rows and adds ``box_mask``.

    Rows past the real boxes hold box 0, label -1, mask and ignore False (and an all-False
    ``instance_masks`` row, when the example has instance masks; zero ``landmarks`` with
    ``landmark_mask`` False, when it has landmarks). When an image
    has more than ``max_boxes`` boxes the first ``max_boxes`` are kept and the rest
    counted in ``num_dropped_boxes``. It must run last (geometric ops refuse padded
    boxes); ``build(spec, max_boxes=m)`` appends it itself, which is how the tasks pad,
    and the op stays registered for specs composed by hand.

    Args:
      max_boxes: fixed number of box rows.

    Returns:
      The op.

    Example:
      >>> ex = {"boxes": np.zeros((0, 4), np.float32), "labels": np.zeros(0, np.int32),
      ...       "box_ignore": np.zeros(0, bool)}
      >>> pad_boxes(3)(ex, None)["labels"].tolist()
      [-1, -1, -1]
    """
    if max_boxes <= 0:
        raise ValueError(f"pad_boxes needs max_boxes > 0, got {max_boxes}")

    def op(features: Features, rng: np.random.Generator) -> Features:
        del rng
        missing = [k for k in PER_BOX_KEYS if k not in features]
        if missing:
            raise ValueError(f"pad_boxes needs {missing}: put decode_detection first in the spec")
        boxes = np.asarray(features["boxes"], np.float32).reshape(-1, 4)  # [n, 4]
        n = len(boxes)
        k = min(n, max_boxes)
        out = dict(features)
        out["boxes"] = np.zeros((max_boxes, 4), np.float32)  # [m, 4]
        out["boxes"][:k] = boxes[:k]
        out["labels"] = np.full(max_boxes, PAD_LABEL, np.int32)  # [m]
        out["labels"][:k] = np.asarray(features["labels"])[:k]
        out["box_ignore"] = np.zeros(max_boxes, bool)  # [m]
        out["box_ignore"][:k] = np.asarray(features["box_ignore"], bool)[:k]
        out[PADDED_MARKER_KEY] = np.arange(max_boxes) < k  # [m]
        if INSTANCE_MASKS_KEY in features:
            masks = np.asarray(features[INSTANCE_MASKS_KEY], bool)  # [n, h, w]
            out[INSTANCE_MASKS_KEY] = np.zeros((max_boxes, *masks.shape[1:]), bool)  # [m, h, w]
            out[INSTANCE_MASKS_KEY][:k] = masks[:k]
        if LANDMARKS_KEY in features:
            out.update(pad_landmarks(features, max_boxes))
        out[DROPPED_KEY] = add_dropped(features, n - k)
        return out

    return op
