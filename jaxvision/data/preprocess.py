"""Host-side preprocessing ops, registered by name and composed from a spec string.

Each op is a small factory: called with its arguments it returns a function
``op(features, rng) -> features`` over one example (a dict holding at least an
``"image"`` uint8 [H, W, 3] array). Ops run in Grain worker processes on NumPy
arrays; random ops draw only from the ``np.random.Generator`` Grain hands them,
which Grain seeds from the pipeline seed and the example's global index, so
augmentation is reproducible and independent of the number of hosts.

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


def _crop(image: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    return image[top : top + height, left : left + width]


@register("resize")
def resize(height: int, width: int | None = None) -> Op:
    """Resizes the image to [height, width] (width defaults to height)."""
    width = height if width is None else width

    def op(features: Features, rng: np.random.Generator) -> Features:
        del rng
        return {**features, "image": _resize(features["image"], height, width)}

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
        return {**features, "image": _resize(image, new_h, new_w)}

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
        return {**features, "image": _crop(image, top, left, height, width)}

    return op


@register("resize_center_crop")
def resize_center_crop(size: int, fraction: float = CENTER_CROP_FRACTION) -> Op:
    """The standard ImageNet evaluation transform: resize_small(size / fraction), crop(size)."""
    small = resize_small(math.ceil(size / fraction))
    crop = center_crop(size)
    return lambda features, rng: crop(small(features, rng), rng)


@register("flip_lr")
def flip_lr(probability: float = 0.5) -> Op:
    """Flips the image left-right with the given probability."""

    def op(features: Features, rng: np.random.Generator) -> Features:
        if rng.random() < probability:
            return {**features, "image": features["image"][:, ::-1]}
        return features

    return op


@register("pad_random_crop")
def pad_random_crop(size: int, pad: int = 4) -> Op:
    """CIFAR augmentation: zero-pads ``pad`` pixels a side, then crops a random size x size."""

    def op(features: Features, rng: np.random.Generator) -> Features:
        image = features["image"]
        padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))  # [h+2p, w+2p, c]
        h, w = padded.shape[:2]
        if h < size or w < size:
            raise ValueError(f"pad_random_crop({size}, {pad}) on image {image.shape}")
        top = int(rng.integers(0, h - size + 1))
        left = int(rng.integers(0, w - size + 1))
        return {**features, "image": _crop(padded, top, left, size, size)}

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
) -> Op:
    """Inception crop: a random window of random area and aspect, resized to size x size."""
    if not 0 < scale[0] <= scale[1] <= 1:
        raise ValueError(f"random_resized_crop scale must satisfy 0 < lo <= hi <= 1, got {scale}")

    def op(features: Features, rng: np.random.Generator) -> Features:
        image = features["image"]
        top, left, crop_h, crop_w = sample_crop_window(rng, *image.shape[:2], scale, ratio)
        crop = _crop(image, top, left, crop_h, crop_w)
        return {**features, "image": _resize(crop, size, size)}

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
