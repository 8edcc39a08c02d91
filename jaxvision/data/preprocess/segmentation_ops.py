"""Semantic-segmentation ops: decode a dataset's label map, random crops that pad with ignore.

``decode_segmentation(schema)`` turns a raw example of a dataset (see
``jaxvision.data.segmentation_schemas``) into the working schema: ``image`` uint8
[H, W, 3] and ``segmentation_mask`` uint8 [H, W, 1] of training ids, 255 on ignored
pixels. Every geometric op then moves the class map with the image (``geometry``):
``resize``, ``flip_lr``, ``scale_jitter``, ``letterbox``, ``random_resized_crop``,
``center_crop``, ``pad_random_crop`` and ``random_crop_pad`` resample it nearest-neighbour
and pad it with 255. The segmentation task puts ``decode_segmentation`` in front of the
config's specs itself::

    train: "scale_jitter(128, 0.75, 1.25)|flip_lr"
    eval:  "letterbox(128)"

Example:
    >>> from jaxvision.data import preprocess
    >>> fn = preprocess.build("decode_segmentation('oxford_iiit_pet')|random_crop_pad(8)")
    >>> raw = {"image": np.zeros((4, 6, 3), np.uint8),
    ...        "segmentation_mask": np.full((4, 6, 1), 1, np.uint8)}  # trimap 1: pet
    >>> out = fn(raw, np.random.default_rng(0))
    >>> out["segmentation_mask"].shape, sorted(np.unique(out["segmentation_mask"]).tolist())
    ((8, 8, 1), [1, 255])
"""

from __future__ import annotations

import numpy as np

from jaxvision.data import segmentation_schemas
from jaxvision.data.preprocess.geometry import SEGMENTATION_IGNORE, SEGMENTATION_KEY, crop_features
from jaxvision.data.preprocess.registry import Features, Op, register
from jaxvision.data.preprocess.restoration_ops import as_rgb

# Features that name an example in error messages, tried in order.
NAME_KEYS = ("name", "file_name", "image_id")


def _describe(features: Features) -> str:
    for key in NAME_KEYS:
        if key in features:
            value = features[key]
            return f" ({key} {value.decode() if isinstance(value, bytes) else value!r})"
    return ""


def _label_map(features: Features, key: str) -> np.ndarray:
    """The raw label map [H, W] (channel 0 of a [H, W, c] one)."""
    if key not in features:
        raise ValueError(
            f"decode_segmentation needs the label map {key!r}; the example has {sorted(features)}"
        )
    raw = np.asarray(features[key])
    if raw.ndim == 3:
        raw = raw[..., 0]
    if raw.ndim != 2:
        raise ValueError(f"label map {key!r} must be [H, W] or [H, W, c], got {raw.shape}")
    return raw


@register("decode_segmentation")
def decode_segmentation(schema: str, num_classes: int | None = None) -> Op:
    """A dataset's raw example -> ``image`` [H, W, 3] and ``segmentation_mask`` [H, W, 1].

    The schema's image and label-map features are replaced by the working pair (other
    features pass through); raw ids become training ids by the schema's table.

    Args:
      schema: a key of ``jaxvision.data.segmentation_schemas.SCHEMAS``.
      num_classes: for a schema without an id table (the ids are the training ids): the
        class count ids must stay below (255 aside); None: the schema's class count, or no
        check when it has none.

    Returns:
      The op; it raises a ValueError when the label map's size differs from the image's or
      an id is out of range, naming the example where it has a name.

    Example:
      >>> op = decode_segmentation("scene_parse150")
      >>> raw = {"image": np.zeros((1, 3, 3), np.uint8),
      ...        "annotation": np.array([[[0, 0, 0], [1, 1, 1], [150, 150, 150]]], np.uint8)}
      >>> op(raw, None)["segmentation_mask"][..., 0].tolist()  # 0 "other" is ignored
      [[255, 0, 149]]
    """
    spec = segmentation_schemas.SCHEMAS.get(schema)
    if spec is None:
        known = sorted(segmentation_schemas.SCHEMAS)
        raise ValueError(f"unknown segmentation schema {schema!r}; known: {known}")
    table = spec.lookup_table()  # [256]
    limit = num_classes if num_classes is not None else (len(spec.class_names) or None)

    def op(features: Features, rng: np.random.Generator) -> Features:
        del rng
        image = as_rgb(features[spec.image_key])  # [H, W, 3]
        raw = _label_map(features, spec.mask_key)  # [H, W]
        if raw.shape != image.shape[:2]:
            raise ValueError(
                f"label map of size {raw.shape} differs from its image's {image.shape[:2]}"
                + _describe(features)
            )
        if raw.min(initial=0) < 0 or raw.max(initial=0) >= len(table):
            raise ValueError(f"label ids must be in 0..255{_describe(features)}")
        labels = table[raw.astype(np.int64)]  # [H, W]
        if spec.id_map is None and limit is not None:
            bad = labels[(labels >= limit) & (labels != SEGMENTATION_IGNORE)]
            if bad.size:
                raise ValueError(
                    f"label {int(bad.max())} is outside the {limit} classes (ids 0..{limit - 1}, "
                    f"255 ignored){_describe(features)}"
                )
        out = {k: v for k, v in features.items() if k not in (spec.image_key, spec.mask_key)}
        out["image"] = image
        out[SEGMENTATION_KEY] = labels.astype(np.uint8)[..., None]  # [H, W, 1]
        return out

    return op


@register("random_crop_pad")
def random_crop_pad(size: int, width: int | None = None, fill: int = 0) -> Op:
    """A random ``size`` x ``width`` window; a shorter side is padded (bottom / right).

    The classic segmentation crop: the image pads with ``fill``, the class map with 255
    (ignored), instance masks with 0; boxes, masks and ``image_window`` move with the pixels
    (``geometry.crop_features``).

    Args:
      size: window height in pixels.
      width: window width in pixels; ``size`` when None.
      fill: value of the image's padded pixels.

    Returns:
      The op.

    Example:
      >>> out = random_crop_pad(4)({"image": np.ones((3, 9, 3), np.uint8),
      ...                           "segmentation_mask": np.zeros((3, 9, 1), np.uint8)},
      ...                          np.random.default_rng(0))
      >>> out["image"].shape, out["segmentation_mask"][3, :, 0].tolist()
      ((4, 4, 3), [255, 255, 255, 255])
    """
    width = size if width is None else width
    if size <= 0 or width <= 0:
        raise ValueError(f"random_crop_pad needs a positive size, got {size} x {width}")

    def op(features: Features, rng: np.random.Generator) -> Features:
        h, w = np.asarray(features["image"]).shape[:2]
        top = int(rng.integers(0, max(h - size, 0) + 1))
        left = int(rng.integers(0, max(w - width, 0) + 1))
        return crop_features(features, top, left, size, width, fill=fill)

    return op
