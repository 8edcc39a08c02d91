"""The generic image ops: resize, crops, flips, in the style of big_vision's ``pp``.

Every op is box-aware through ``geometry``: boxes, ``bbox``, ``image_window`` and
``segmentation_mask`` move with the pixels, so the same ops serve classification,
localization, detection and segmentation.

Example:
    >>> from jaxvision.data import preprocess
    >>> fn = preprocess.build("resize_small(16)|center_crop(16)|flip_lr")
    >>> fn({"image": np.zeros((32, 48, 3), np.uint8)}, np.random.default_rng(0))["image"].shape
    (16, 16, 3)
"""

from __future__ import annotations

import math

import numpy as np

from jaxvision.data.preprocess.geometry import (
    MIN_VISIBLE_FRACTION,
    crop_features,
    flip_features,
    resize_features,
)
from jaxvision.data.preprocess.registry import Features, Op, register

# Inception-style crop defaults (Szegedy et al. 2015), as in torchvision.
DEFAULT_CROP_SCALE = (0.08, 1.0)
DEFAULT_CROP_RATIO = (3 / 4, 4 / 3)
# Attempts at sampling a crop inside the image before falling back to a centre crop.
MAX_CROP_ATTEMPTS = 10
# ImageNet evaluation: resize the shorter side to size / 0.875, then centre crop.
CENTER_CROP_FRACTION = 0.875


@register("resize")
def resize(height: int, width: int | None = None) -> Op:
    """Resizes the image to [height, width] (width defaults to height).

    Args:
      height: output height in pixels.
      width: output width in pixels; ``height`` when None.

    Returns:
      The op.

    Example:
      >>> resize(8, 6)({"image": np.zeros((32, 24, 3), np.uint8)}, None)["image"].shape
      (8, 6, 3)
    """
    width = height if width is None else width

    def op(features: Features, rng: np.random.Generator) -> Features:
        del rng
        return resize_features(features, height, width)

    return op


@register("resize_small")
def resize_small(size: int) -> Op:
    """Resizes so that the shorter side is ``size``, keeping the aspect ratio.

    Args:
      size: the shorter side in pixels.

    Returns:
      The op.

    Example:
      >>> resize_small(10)({"image": np.zeros((25, 40, 3), np.uint8)}, None)["image"].shape
      (10, 16, 3)
    """

    def op(features: Features, rng: np.random.Generator) -> Features:
        del rng
        h, w = features["image"].shape[:2]
        scale = size / min(h, w)
        new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
        return resize_features(features, new_h, new_w)

    return op


@register("center_crop")
def center_crop(height: int, width: int | None = None) -> Op:
    """Crops the central [height, width] window (the image must be at least that large).

    Args:
      height: crop height in pixels.
      width: crop width in pixels; ``height`` when None.

    Returns:
      The op; it raises a ValueError on an image smaller than the crop.

    Example:
      >>> center_crop(5)({"image": np.zeros((20, 21, 3), np.uint8)}, None)["image"].shape
      (5, 5, 3)
    """
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
    """The standard ImageNet evaluation transform: resize_small(size / fraction), crop(size).

    Args:
      size: output side in pixels.
      fraction: the crop's side over the resized shorter side.

    Returns:
      The op.

    Example:
      >>> op = resize_center_crop(224)
      >>> op({"image": np.zeros((300, 400, 3), np.uint8)}, None)["image"].shape
      (224, 224, 3)
    """
    small = resize_small(math.ceil(size / fraction))
    crop = center_crop(size)
    return lambda features, rng: crop(small(features, rng), rng)


@register("flip_lr")
def flip_lr(probability: float = 0.5) -> Op:
    """Flips the image left-right with the given probability, and its boxes with it.

    Moves ``boxes`` [n, 4], the localization ``bbox`` [4], ``image_window`` and
    ``segmentation_mask`` when present (see ``geometry.flip_features``).

    Args:
      probability: chance of a flip.

    Returns:
      The op.

    Example:
      >>> image = np.arange(6, dtype=np.uint8).reshape(1, 2, 3)
      >>> flip_lr(1.0)({"image": image}, np.random.default_rng(0))["image"][0, :, 0].tolist()
      [3, 0]
    """

    def op(features: Features, rng: np.random.Generator) -> Features:
        if rng.random() < probability:
            return flip_features(features)
        return features

    return op


@register("pad_random_crop")
def pad_random_crop(size: int, pad: int = 4) -> Op:
    """CIFAR augmentation: zero-pads ``pad`` pixels a side, then crops a random size x size.

    Args:
      size: output side in pixels.
      pad: padding on each side, in pixels.

    Returns:
      The op; it raises a ValueError when the padded image is smaller than ``size``.

    Example:
      >>> op = pad_random_crop(32, 4)
      >>> op({"image": np.zeros((32, 32, 3), np.uint8)}, np.random.default_rng(0))[
      ...     "image"].shape
      (32, 32, 3)
    """

    def op(features: Features, rng: np.random.Generator) -> Features:
        image = features["image"]
        h, w = image.shape[0] + 2 * pad, image.shape[1] + 2 * pad  # The zero-padded size.
        if h < size or w < size:
            raise ValueError(f"pad_random_crop({size}, {pad}) on image {image.shape}")
        top = int(rng.integers(0, h - size + 1))
        left = int(rng.integers(0, w - size + 1))
        return crop_features(features, top - pad, left - pad, size, size)

    return op


def _fallback_window(
    height: int, width: int, ratio: tuple[float, float]
) -> tuple[int, int, int, int]:
    """The centred crop of the aspect ratio nearest the image's within ``ratio``."""
    in_ratio = width / height
    if in_ratio < ratio[0]:
        crop_w, crop_h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        crop_h, crop_w = height, round(height * ratio[1])
    else:
        crop_h, crop_w = height, width
    return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w


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

    Example:
      >>> sample_crop_window(np.random.default_rng(0), 10, 200, (0.9, 1.0))
      (0, 93, 10, 13)
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
    return _fallback_window(height, width, ratio)


@register("random_resized_crop")
def random_resized_crop(
    size: int,
    scale: tuple[float, float] = DEFAULT_CROP_SCALE,
    ratio: tuple[float, float] = DEFAULT_CROP_RATIO,
    min_visible: float = MIN_VISIBLE_FRACTION,
) -> Op:
    """Inception crop: a random window of random area and aspect, resized to size x size.

    Box-aware: boxes keeping less than ``min_visible`` of their area are dropped (see
    ``geometry.crop_features``).

    Args:
      size: output side in pixels.
      scale: range of the window's area as a fraction of the image area, in (0, 1].
      ratio: range of the window's aspect ratio (width / height).
      min_visible: smallest kept fraction of a cropped box, in [0, 1].

    Returns:
      The op.

    Raises:
      ValueError: a bad ``scale`` or ``min_visible``.

    Example:
      >>> op = random_resized_crop(16)
      >>> op({"image": np.zeros((40, 30, 3), np.uint8)}, np.random.default_rng(0))[
      ...     "image"].shape
      (16, 16, 3)
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
