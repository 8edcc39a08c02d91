"""Host-side preprocessing ops, registered by name and composed from a spec string.

Each op is a small factory: called with its arguments it returns a function
``op(features, rng) -> features`` over one example (a dict holding at least an
``"image"`` uint8 [H, W, 3] array). Ops run in Grain worker processes on NumPy
arrays; random ops draw only from the ``np.random.Generator`` Grain hands them,
which Grain seeds from the pipeline seed and the example's global index, so
augmentation is reproducible and independent of the number of hosts.

Geometric ops are box-aware: they move the detection features that
``detection_preprocess.decode_detection`` creates (``boxes`` [n, 4] normalised
(ymin, xmin, ymax, xmax), with ``labels`` and ``box_ignore`` alongside, and
``image_window``), the localization ``bbox`` [4] and a ``segmentation_mask``
[H, W, 1] together with the image. Boxes that a crop leaves with less than
``min_visible`` of their area (or with none) are dropped and counted in
``num_dropped_boxes``. Box-aware ops must run before ``pad_boxes``.

Normalisation to float happens on the device, inside the jitted step (images
travel to the accelerator as uint8: four times less host-to-device traffic).

A pipeline is written as a spec string in the style of big_vision's ``pp``::

    "random_resized_crop(224)|flip_lr"
    "pad_random_crop(32, 4)|flip_lr"
    "resize_small(256)|center_crop(224)"

Example:
    >>> fn = build("resize(8)|flip_lr")
    >>> out = fn({"image": np.zeros((32, 32, 3), np.uint8)}, np.random.default_rng(0))
    >>> out["image"].shape
    (8, 8, 3)
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

Features = dict[str, Any]
Op = Callable[[Features, np.random.Generator], Features]

_REGISTRY: dict[str, Callable[..., Op]] = {}

# Inception-style crop defaults (Szegedy et al. 2015), as in torchvision.
DEFAULT_CROP_SCALE = (0.08, 1.0)
DEFAULT_CROP_RATIO = (3 / 4, 4 / 3)
# Attempts at sampling a crop inside the image before falling back to a centre crop.
MAX_CROP_ATTEMPTS = 10
# ImageNet evaluation: resize the shorter side to size / 0.875, then centre crop.
CENTER_CROP_FRACTION = 0.875
# A cropped box survives when at least this fraction of its area stays in the image.
MIN_VISIBLE_FRACTION = 0.25

# Features that hold one entry per box: filtered together when boxes are dropped.
PER_BOX_KEYS = ("boxes", "labels", "box_ignore")
DROPPED_KEY = "num_dropped_boxes"
# Present only after pad_boxes, which must come after every geometric op.
PADDED_MARKER_KEY = "box_mask"


def register(name: str) -> Callable[[Callable[..., Op]], Callable[..., Op]]:
    """Registers a preprocessing op factory under ``name``."""

    def wrap(factory: Callable[..., Op]) -> Callable[..., Op]:
        if name in _REGISTRY:
            raise ValueError(f"preprocessing op {name!r} is registered twice")
        _REGISTRY[name] = factory
        return factory

    return wrap


def registered_ops() -> list[str]:
    """Returns the names of all registered ops, sorted."""
    return sorted(_REGISTRY)


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear (antialiased) resize of a uint8 [H, W, C] image to [height, width, C]."""
    if image.shape[:2] == (height, width):
        return image
    squeeze = image.shape[-1] == 1
    pil = Image.fromarray(image[..., 0] if squeeze else image)
    out = np.asarray(pil.resize((width, height), Image.BILINEAR))
    return out[..., None] if squeeze else out


def _crop_or_pad(
    image: np.ndarray, top: int, left: int, height: int, width: int, fill: int = 0
) -> np.ndarray:
    """The [height, width] pixel window at (top, left); parts outside the image are ``fill``."""
    h, w = image.shape[:2]
    out = np.full((height, width, image.shape[2]), fill, image.dtype)  # [height, width, c]
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + height, h), min(left + width, w)
    if y1 > y0 and x1 > x0:
        out[y0 - top : y1 - top, x0 - left : x1 - left] = image[y0:y1, x0:x1]
    return out


def _check_not_padded(features: Features, op_name: str) -> None:
    if PADDED_MARKER_KEY in features:
        raise ValueError(
            f"{op_name} moves boxes and must run before pad_boxes (the example already "
            f"holds {PADDED_MARKER_KEY!r})"
        )


def _add_dropped(features: Features, count: int) -> np.ndarray:
    return np.int32(int(features.get(DROPPED_KEY, 0)) + count)


def resize_features(features: Features, height: int, width: int) -> Features:
    """Resizes the image (bilinear) and ``segmentation_mask`` (nearest) to [height, width].

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
    if "segmentation_mask" in features:
        mask = np.asarray(features["segmentation_mask"])  # [h, w, 1]
        if mask.shape[:2] != (height, width):
            pil = Image.fromarray(mask[..., 0])
            mask = np.asarray(pil.resize((width, height), Image.NEAREST))[..., None]
        out["segmentation_mask"] = mask  # [height, width, 1]
    return out


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
    edge): those pixels are ``fill`` (the mask's are 0), which is how padding works.

    Boxes ``[n, 4]`` are mapped into the window, clipped to [0, 1], and dropped with
    their ``labels`` and ``box_ignore`` when less than ``min_visible`` of their area,
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
    if "segmentation_mask" in features:
        mask = np.asarray(features["segmentation_mask"])  # [h, w, 1]
        out["segmentation_mask"] = _crop_or_pad(mask, top, left, height, width, 0)
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
        _check_not_padded(features, "crop_features")
        boxes = np.asarray(features["boxes"], np.float32).reshape(-1, 4) * scale - shift  # [n, 4]
        clipped = np.clip(boxes, 0.0, 1.0)  # [n, 4]
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])  # [n]
        heights = clipped[:, 2] - clipped[:, 0]  # [n]
        widths = clipped[:, 3] - clipped[:, 1]  # [n]
        visible = np.where(area > 0, heights * widths / np.maximum(area, 1e-12), 0.0)  # [n]
        keep = (heights > 0) & (widths > 0) & (visible >= min_visible)  # [n]
        out["boxes"] = clipped[keep].astype(np.float32)  # [k, 4]
        for key in PER_BOX_KEYS[1:]:
            if key in features:
                out[key] = np.asarray(features[key])[keep]  # [k]
        out[DROPPED_KEY] = _add_dropped(features, int((~keep).sum()))
    return out


def flip_features(features: Features) -> Features:
    """Flips the image left-right with its boxes, ``bbox``, ``image_window`` and mask.

    Args:
      features: one example.

    Returns:
      The mirrored example (x becomes 1 - x for every normalised coordinate).

    Example:
      >>> ex = {"image": np.zeros((2, 4, 3), np.uint8), "bbox": np.array([0, 0, 1, 0.25])}
      >>> flip_features(ex)["bbox"].tolist()
      [0.0, 0.75, 1.0, 1.0]
    """

    def flip_box(box: np.ndarray) -> np.ndarray:
        box = np.asarray(box, np.float32)  # [..., 4]
        ymin, xmin, ymax, xmax = np.moveaxis(box, -1, 0)
        return np.stack([ymin, 1.0 - xmax, ymax, 1.0 - xmin], axis=-1)  # [..., 4]

    out = {**features, "image": features["image"][:, ::-1]}
    if "segmentation_mask" in features:
        out["segmentation_mask"] = np.asarray(features["segmentation_mask"])[:, ::-1]
    if "boxes" in features:
        _check_not_padded(features, "flip_lr")
        out["boxes"] = flip_box(np.asarray(features["boxes"]).reshape(-1, 4))  # [n, 4]
    for key in ("bbox", "image_window"):
        if key in features:
            out[key] = flip_box(features[key])  # [4]
    return out


@register("resize")
def resize(height: int, width: int | None = None) -> Op:
    """Resizes the image to [height, width] (width defaults to height)."""
    width = height if width is None else width

    def op(features: Features, rng: np.random.Generator) -> Features:
        del rng
        return resize_features(features, height, width)

    return op


@register("resize_small")
def resize_small(size: int) -> Op:
    """Resizes so that the shorter side is ``size``, keeping the aspect ratio."""

    def op(features: Features, rng: np.random.Generator) -> Features:
        del rng
        image = features["image"]
        h, w = image.shape[:2]
        scale = size / min(h, w)
        new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
        return resize_features(features, new_h, new_w)

    return op


@register("center_crop")
def center_crop(height: int, width: int | None = None) -> Op:
    """Crops the central [height, width] window (the image must be at least that large)."""
    width = height if width is None else width

    def op(features: Features, rng: np.random.Generator) -> Features:
        del rng
        image = features["image"]
        h, w = image.shape[:2]
        if h < height or w < width:
            raise ValueError(f"center_crop({height}, {width}) on a smaller image {image.shape}")
        top, left = (h - height) // 2, (w - width) // 2
        return crop_features(features, top, left, height, width)

    return op


@register("resize_center_crop")
def resize_center_crop(size: int, fraction: float = CENTER_CROP_FRACTION) -> Op:
    """The standard ImageNet evaluation transform: resize_small(size / fraction), crop(size)."""
    small = resize_small(math.ceil(size / fraction))
    crop = center_crop(size)
    return lambda features, rng: crop(small(features, rng), rng)


@register("flip_lr")
def flip_lr(probability: float = 0.5) -> Op:
    """Flips the image left-right with the given probability, and its boxes with it.

    Moves ``boxes`` [n, 4], the localization ``bbox`` [4], ``image_window`` and
    ``segmentation_mask`` when present (see ``flip_features``).
    """

    def op(features: Features, rng: np.random.Generator) -> Features:
        if rng.random() < probability:
            return flip_features(features)
        return features

    return op


@register("pad_random_crop")
def pad_random_crop(size: int, pad: int = 4) -> Op:
    """CIFAR augmentation: zero-pads ``pad`` pixels a side, then crops a random size x size."""

    def op(features: Features, rng: np.random.Generator) -> Features:
        image = features["image"]
        h, w = image.shape[0] + 2 * pad, image.shape[1] + 2 * pad  # The zero-padded size.
        if h < size or w < size:
            raise ValueError(f"pad_random_crop({size}, {pad}) on image {image.shape}")
        top = int(rng.integers(0, h - size + 1))
        left = int(rng.integers(0, w - size + 1))
        return crop_features(features, top - pad, left - pad, size, size)

    return op


def sample_crop_window(
    rng: np.random.Generator,
    height: int,
    width: int,
    scale: tuple[float, float] = DEFAULT_CROP_SCALE,
    ratio: tuple[float, float] = DEFAULT_CROP_RATIO,
) -> tuple[int, int, int, int]:
    """Samples an Inception-style crop window (top, left, crop_h, crop_w) inside an image.

    Args:
      rng: the example's generator.
      height: image height.
      width: image width.
      scale: range of the crop's area as a fraction of the image area.
      ratio: range of the crop's aspect ratio (width / height).

    Returns:
      ``(top, left, crop_h, crop_w)``; a centre crop of the clamped aspect ratio when
      no sample fits after ``MAX_CROP_ATTEMPTS`` tries.
    """
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(MAX_CROP_ATTEMPTS):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(*log_ratio))
        crop_w = round(math.sqrt(target_area * aspect))
        crop_h = round(math.sqrt(target_area / aspect))
        if 0 < crop_w <= width and 0 < crop_h <= height:
            top = int(rng.integers(0, height - crop_h + 1))
            left = int(rng.integers(0, width - crop_w + 1))
            return top, left, crop_h, crop_w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        crop_w, crop_h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        crop_h, crop_w = height, round(height * ratio[1])
    else:
        crop_h, crop_w = height, width
    return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w


@register("random_resized_crop")
def random_resized_crop(
    size: int,
    scale: tuple[float, float] = DEFAULT_CROP_SCALE,
    ratio: tuple[float, float] = DEFAULT_CROP_RATIO,
    min_visible: float = MIN_VISIBLE_FRACTION,
) -> Op:
    """Inception crop: a random window of random area and aspect, resized to size x size.

    Box-aware: boxes keeping less than ``min_visible`` of their area are dropped (see
    ``crop_features``).
    """
    if not 0 < scale[0] <= scale[1] <= 1:
        raise ValueError(f"random_resized_crop scale must satisfy 0 < lo <= hi <= 1, got {scale}")
    if not 0.0 <= min_visible <= 1.0:
        raise ValueError(f"min_visible must be in [0, 1], got {min_visible}")

    def op(features: Features, rng: np.random.Generator) -> Features:
        image = features["image"]
        top, left, crop_h, crop_w = sample_crop_window(rng, *image.shape[:2], scale, ratio)
        cropped = crop_features(features, top, left, crop_h, crop_w, min_visible=min_visible)
        return resize_features(cropped, size, size)

    return op


def _parse_call(text: str) -> tuple[str, tuple, dict]:
    """Parses ``"name(1, 2, k=3)"`` (or a bare ``"name"``) into name, args and kwargs."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as e:
        raise ValueError(f"cannot parse preprocessing op {text!r}: {e}") from e
    if isinstance(node, ast.Name):
        return node.id, (), {}
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ValueError(f"a preprocessing op looks like name(args), got {text!r}")
    args = tuple(ast.literal_eval(a) for a in node.args)
    kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    return node.func.id, args, kwargs


def build(spec: str) -> Op:
    """Builds one op from a ``|``-separated spec string.

    Args:
      spec: for example ``"random_resized_crop(224)|flip_lr"``; an empty string is
        the identity.

    Returns:
      ``op(features, rng) -> features`` applying the ops left to right.

    Raises:
      ValueError: an unknown op (the message lists the registered ones) or bad syntax.
    """
    ops = []
    for part in filter(None, (p.strip() for p in spec.split("|"))):
        name, args, kwargs = _parse_call(part)
        if name not in _REGISTRY:
            raise ValueError(
                f"unknown preprocessing op {name!r} in {spec!r}; registered: {registered_ops()}"
            )
        ops.append(_REGISTRY[name](*args, **kwargs))

    def composed(features: Features, rng: np.random.Generator) -> Features:
        for op in ops:
            features = op(features, rng)
        return features

    return composed


# Registers the detection ops (they build on the helpers above); imported last on purpose.
from jaxvision.data import detection_preprocess  # noqa: E402, F401
