"""Anchor boxes and anchor points of dense detectors (RetinaNet, FCOS / YOLOX), in NumPy.

Shapes depend only on the static image size, so the grids are computed once on the host with
NumPy and enter jitted code as constants.

Order (the contract with the heads): level-major (one level a stride, finest first), then
row y, then column x, then, for anchor boxes, the A = len(aspect_ratios) * len(scales) anchors
of a cell with the aspect ratio major and the scale minor::

  index = level_offset + (y * w_level + x) * A + ratio_index * len(scales) + scale_index

This is what a head that outputs [b, h, w, A * k] (its channel ``a * k + j`` being value j of
anchor a) gives when reshaped (row-major) to [b, h * w * A, k] and concatenated over levels.
The point grid is the same order without the anchor axis.

Example:
  >>> anchor_grid((64, 64), strides=(32,), sizes=(32,), scales=(1.0,),
  ...             aspect_ratios=(1.0,)).tolist()[0]
  [0.0, 0.0, 32.0, 32.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

DEFAULT_STRIDES = (8, 16, 32, 64, 128)  # P3-P7 of RetinaNet
DEFAULT_SIZES = (32, 64, 128, 256, 512)  # base anchor size per level
DEFAULT_SCALES = (1.0, 2 ** (1 / 3), 2 ** (2 / 3))  # octave scales, Lin et al. 2017
DEFAULT_ASPECT_RATIOS = (0.5, 1.0, 2.0)  # height / width
DEFAULT_POINT_STRIDES = (8, 16, 32)  # P3-P5 of YOLOX
# Offset of a cell's centre from its top-left corner, in strides.
CELL_CENTER_OFFSET = 0.5


def _check_image_size(image_size: tuple[int, int]) -> tuple[int, int]:
    if len(image_size) != 2 or any(int(s) <= 0 for s in image_size):
        raise ValueError(f"image_size must be (height, width) > 0, got {image_size}")
    return int(image_size[0]), int(image_size[1])


def _check_strides(strides: Sequence[int]) -> tuple[int, ...]:
    strides = tuple(int(s) for s in strides)
    if not strides or any(s <= 0 for s in strides):
        raise ValueError(f"strides must be a non-empty sequence of positive ints, got {strides}")
    return strides


def feature_sizes(image_size: tuple[int, int], strides: Sequence[int]) -> list[tuple[int, int]]:
    """Feature-map sizes of each stride: ``(ceil(h / s), ceil(w / s))``.

    That is what a chain of stride-2 SAME-padded convs gives (each halves, rounding up).

    Args:
      image_size: (height, width) of the input image.
      strides: the stride of each level.

    Returns:
      One (height, width) a level.

    Example:
      >>> feature_sizes((100, 64), (8, 16))
      [(13, 8), (7, 4)]
    """
    height, width = _check_image_size(image_size)
    return [(math.ceil(height / s), math.ceil(width / s)) for s in _check_strides(strides)]


def _cell_centers(size: tuple[int, int], stride: int) -> np.ndarray:
    """[h * w, 2] (x, y) cell centres of a level, row-major (y, then x)."""
    h, w = size
    xs = (np.arange(w, dtype=np.float64) + CELL_CENTER_OFFSET) * stride  # [w]
    ys = (np.arange(h, dtype=np.float64) + CELL_CENTER_OFFSET) * stride  # [h]
    grid_x, grid_y = np.meshgrid(xs, ys, indexing="xy")  # [h, w] each
    return np.stack([grid_x.ravel(), grid_y.ravel()], axis=-1)  # [h * w, 2]


def cell_anchor_sizes(
    size: float, scales: Sequence[float], aspect_ratios: Sequence[float]
) -> np.ndarray:
    """(width, height) of the A anchors of a cell, aspect ratio major, scale minor.

    Aspect ratio r = height / width at constant area ``(size * scale)^2``:
    ``w = size * scale / sqrt(r)``, ``h = size * scale * sqrt(r)``.

    Args:
      size: base anchor size of the level.
      scales: scale multipliers of ``size``.
      aspect_ratios: height / width ratios.

    Returns:
      [len(aspect_ratios) * len(scales), 2] float64 (width, height).

    Example:
      >>> cell_anchor_sizes(32, (1.0,), (1.0, 4.0)).tolist()
      [[32.0, 32.0], [16.0, 64.0]]
    """
    ratios = np.asarray(aspect_ratios, np.float64)  # [r]
    scales = np.asarray(scales, np.float64)  # [s]
    if ratios.ndim != 1 or scales.ndim != 1 or not ratios.size or not scales.size:
        raise ValueError("scales and aspect_ratios must be non-empty 1-D sequences")
    if np.any(ratios <= 0) or np.any(scales <= 0) or size <= 0:
        raise ValueError(f"size, scales and aspect_ratios must be > 0: {size}, {scales}, {ratios}")
    side = size * scales[None, :]  # [1, s]
    widths = side / np.sqrt(ratios)[:, None]  # [r, s]
    heights = side * np.sqrt(ratios)[:, None]  # [r, s]
    return np.stack([widths.ravel(), heights.ravel()], axis=-1)  # [r * s, 2]


def num_anchors_per_cell(scales: Sequence[float], aspect_ratios: Sequence[float]) -> int:
    """A, the number of anchors a cell: ``len(scales) * len(aspect_ratios)``."""
    return len(scales) * len(aspect_ratios)


def anchor_grid(
    image_size: tuple[int, int],
    strides: Sequence[int] = DEFAULT_STRIDES,
    sizes: Sequence[float] = DEFAULT_SIZES,
    scales: Sequence[float] = DEFAULT_SCALES,
    aspect_ratios: Sequence[float] = DEFAULT_ASPECT_RATIOS,
) -> np.ndarray:
    """All anchor boxes of an image, in the order of the module docstring.

    Anchors are centred on ``((x + 0.5) * stride, (y + 0.5) * stride)`` over the feature map
    of each level (``feature_sizes``), not rounded, and not clipped to the image.

    Args:
      image_size: (height, width) of the input image.
      strides: the stride of each level.
      sizes: base anchor size of each level (same length as ``strides``).
      scales: scale multipliers of the size, shared by all levels.
      aspect_ratios: height / width ratios, shared by all levels.

    Returns:
      [sum_l h_l * w_l * A, 4] float32 xyxy anchors in pixels.

    Example:
      >>> anchor_grid((64, 64)).shape  # 8x8 + 4x4 + 2x2 + 1 + 1 cells, 9 anchors each
      (774, 4)
    """
    strides = _check_strides(strides)
    if len(sizes) != len(strides):
        raise ValueError(f"sizes ({len(sizes)}) must have one entry a stride ({len(strides)})")
    levels = []
    for (h, w), stride, size in zip(
        feature_sizes(image_size, strides), strides, sizes, strict=True
    ):
        centers = _cell_centers((h, w), stride)  # [h * w, 2]
        half = 0.5 * cell_anchor_sizes(float(size), scales, aspect_ratios)  # [A, 2]
        lo = centers[:, None, :] - half[None, :, :]  # [h * w, A, 2]
        hi = centers[:, None, :] + half[None, :, :]  # [h * w, A, 2]
        levels.append(np.concatenate([lo, hi], axis=-1).reshape(-1, 4))  # [h * w * A, 4]
    return np.concatenate(levels, axis=0).astype(np.float32)  # [n, 4]


def point_grid(
    image_size: tuple[int, int], strides: Sequence[int] = DEFAULT_POINT_STRIDES
) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres of every level, for anchor-free heads (FCOS, YOLOX).

    Args:
      image_size: (height, width) of the input image.
      strides: the stride of each level.

    Returns:
      (points [n, 2] float32 (x, y) at ``((x + 0.5) * stride, (y + 0.5) * stride)``,
      point_strides [n] float32), level-major, then y, then x.

    Example:
      >>> points, point_strides = point_grid((64, 64), strides=(32,))
      >>> points.tolist(), point_strides.tolist()
      ([[16.0, 16.0], [48.0, 16.0], [16.0, 48.0], [48.0, 48.0]], [32.0, 32.0, 32.0, 32.0])
    """
    strides = _check_strides(strides)
    points, point_strides = [], []
    for size, stride in zip(feature_sizes(image_size, strides), strides, strict=True):
        centers = _cell_centers(size, stride)  # [h * w, 2]
        points.append(centers)
        point_strides.append(np.full(len(centers), stride, np.float64))  # [h * w]
    return (
        np.concatenate(points).astype(np.float32),  # [n, 2]
        np.concatenate(point_strides).astype(np.float32),  # [n]
    )
