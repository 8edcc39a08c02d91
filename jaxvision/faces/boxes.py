"""MTCNN's box arithmetic, as facenet-pytorch computes it (pixel boxes x1, y1, x2, y2).

MTCNN mixes two width conventions, kept here as they are because the trained regressors
expect them: P-Net's calibration and the squaring use ``x2 - x1``; R-Net's and O-Net's
calibration, the landmark placement and the last NMS use ``x2 - x1 + 1`` (inclusive pixels).
Crops cover the integer pixels ``[max(trunc(x1), 1) - 1, min(trunc(x2), w))`` (likewise in y):
the part of the box inside the image, resampled to the network's input size.

Example:
  >>> square(jnp.array([[0.0, 0.0, 4.0, 2.0]]))
  Array([[ 0., -1.,  4.,  3.]], dtype=float32)
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from jaxvision.models.mtcnn import NUM_LANDMARKS, PNET_STRIDE, PNET_WINDOW


@jax.jit
def cell_boxes(rows: jax.Array, cols: jax.Array, scale: jax.Array) -> jax.Array:
    """The image box of the 12x12 window under P-Net cells (row, col) of a level.

    Args:
      rows, cols: [n] cell coordinates (any numeric dtype).
      scale: [] or [n] the scale of the cells' level.

    Returns:
      float32 [n, 4] ``floor((2 * (col, row) + 1) / scale)`` and
      ``floor((2 * (col, row) + 12) / scale)``.

    Example:
      >>> cell_boxes(jnp.array([0]), jnp.array([1]), jnp.float32(0.5))
      Array([[ 6.,  2., 28., 24.]], dtype=float32)
    """
    xy = PNET_STRIDE * jnp.stack([cols, rows], axis=-1).astype(jnp.float32)  # [n, 2]
    scale = jnp.asarray(scale, jnp.float32)[..., None]  # [1] or [n, 1]
    top_left = jnp.floor((xy + 1) / scale)  # [n, 2]
    bottom_right = jnp.floor((xy + PNET_WINDOW) / scale)  # [n, 2]
    return jnp.concatenate([top_left, bottom_right], axis=-1)  # [n, 4]


@functools.partial(jax.jit, static_argnames="inclusive")
def calibrate(boxes: jax.Array, regression: jax.Array, *, inclusive: bool) -> jax.Array:
    """Moves each corner by its regressed offset times the box's width or height.

    Args:
      boxes: [n, 4] x1, y1, x2, y2.
      regression: [n, 4] (dx1, dy1, dx2, dy2) from a network.
      inclusive: widths ``x2 - x1 + 1`` (R-Net, O-Net) rather than ``x2 - x1`` (P-Net).

    Returns:
      [n, 4] calibrated boxes.

    Example:
      >>> calibrate(jnp.array([[0.0, 0, 9, 9]]), jnp.array([[0.1, 0, 0, 0.5]]), inclusive=True)
      Array([[ 1.,  0.,  9., 14.]], dtype=float32)
    """
    extra = 1.0 if inclusive else 0.0
    w = boxes[:, 2] - boxes[:, 0] + extra  # [n]
    h = boxes[:, 3] - boxes[:, 1] + extra  # [n]
    return boxes + regression * jnp.stack([w, h, w, h], axis=-1)  # [n, 4]


def square(boxes: jax.Array) -> jax.Array:
    """Squares boxes about their centres, side ``max(x2 - x1, y2 - y1)`` (MTCNN's rerec).

    Args:
      boxes: [n, 4].

    Returns:
      [n, 4] square boxes.
    """
    w = boxes[:, 2] - boxes[:, 0]  # [n]
    h = boxes[:, 3] - boxes[:, 1]  # [n]
    side = jnp.maximum(w, h)  # [n]
    x1 = boxes[:, 0] + 0.5 * w - 0.5 * side  # [n]
    y1 = boxes[:, 1] + 0.5 * h - 0.5 * side  # [n]
    return jnp.stack([x1, y1, x1 + side, y1 + side], axis=-1)  # [n, 4]


@jax.jit
def crop_bounds(boxes: jax.Array, image_hw: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Integer pixel ranges of the crops MTCNN takes for its boxes.

    Args:
      boxes: [n, 4] finite pixel boxes.
      image_hw: int32 [2] the image's (height, width).

    Returns:
      (bounds int32 [n, 4] (y0, y1, x0, x1) within the image, nonempty bool [n]).

    Example:
      >>> crop_bounds(jnp.array([[-3.5, 2.7, 5.2, 40.0]]), jnp.array([30, 20]))
      (Array([[ 1, 30,  0,  5]], dtype=int32), Array([ True], dtype=bool))
    """
    corners = jnp.trunc(boxes).astype(jnp.int32)  # [n, 4]
    h, w = image_hw[0], image_hw[1]
    x0 = jnp.clip(jnp.maximum(corners[:, 0], 1) - 1, 0, w)  # [n]
    y0 = jnp.clip(jnp.maximum(corners[:, 1], 1) - 1, 0, h)
    x1 = jnp.clip(corners[:, 2], 0, w)
    y1 = jnp.clip(corners[:, 3], 0, h)
    nonempty = (y1 > y0) & (x1 > x0)  # [n]
    return jnp.stack([y0, y1, x0, x1], axis=-1), nonempty


@jax.jit
def landmarks_to_pixels(boxes: jax.Array, landmarks: jax.Array) -> jax.Array:
    """O-Net's landmarks (fractions of the box, x then y) in image pixels.

    Args:
      boxes: [n, 4] the boxes O-Net looked at (before its calibration).
      landmarks: [n, 10] x of the 5 points, then their y.

    Returns:
      [n, 5, 2] (x, y) pixels: ``x1 + (x2 - x1 + 1) * fx - 1``, likewise in y.

    Example:
      >>> landmarks_to_pixels(jnp.array([[10.0, 20, 19, 29]]), jnp.full((1, 10), 0.5))[0, 0]
      Array([14., 24.], dtype=float32)
    """
    wh = boxes[:, 2:] - boxes[:, :2] + 1  # [n, 2]
    fractions = landmarks.reshape(-1, 2, NUM_LANDMARKS).transpose(0, 2, 1)  # [n, 5, 2]
    return boxes[:, None, :2] + wh[:, None, :] * fractions - 1  # [n, 5, 2]


@jax.jit
def overlap_over_min(boxes: jax.Array) -> jax.Array:
    """Intersection over the smaller area of every pair, with inclusive pixel sizes.

    Args:
      boxes: [n, 4].

    Returns:
      [n, n].

    Example:
      >>> overlap_over_min(jnp.array([[0.0, 0, 9, 9], [0, 0, 4, 4]]))[0, 1]
      Array(1., dtype=float32)
    """
    area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)  # [n]
    top_left = jnp.maximum(boxes[:, None, :2], boxes[None, :, :2])  # [n, n, 2]
    bottom_right = jnp.minimum(boxes[:, None, 2:], boxes[None, :, 2:])  # [n, n, 2]
    wh = jnp.maximum(bottom_right - top_left + 1, 0.0)  # [n, n, 2]
    smaller = jnp.minimum(area[:, None], area[None, :])  # [n, n]
    return wh[..., 0] * wh[..., 1] / jnp.maximum(smaller, 1e-9)  # [n, n]


@jax.jit
def nms_min(
    boxes: jax.Array, scores: jax.Array, valid: jax.Array, threshold: float
) -> tuple[jax.Array, jax.Array]:
    """MTCNN's last NMS: greedy by score, suppressing overlap-over-min-area > ``threshold``.

    Args:
      boxes: [n, 4].
      scores: [n].
      valid: [n] bool, the candidates.
      threshold: suppression threshold.

    Returns:
      (indices int32 [n] score descending, kept ones first; kept bool [n]).

    Example:
      >>> boxes = jnp.array([[0.0, 0, 9, 9], [0, 0, 4, 4], [20, 20, 30, 30]])
      >>> nms_min(boxes, jnp.array([0.8, 0.9, 0.7]), jnp.array([True, True, True]), 0.7)
      (Array([1, 2, 0], dtype=int32), Array([ True,  True, False], dtype=bool))
    """
    n = boxes.shape[0]
    order = jnp.argsort(jnp.where(valid, -scores, jnp.inf), stable=True)  # [n]
    suppresses = overlap_over_min(boxes[order]) > threshold  # [n, n] in visiting order
    later = jnp.arange(n)[:, None] < jnp.arange(n)[None, :]  # [n, n]

    def visit(i, keep):  # keep [n]: a kept box removes the later ones it overlaps
        return keep & ~(keep[i] & suppresses[i] & later[i])

    keep = lax.fori_loop(0, n, visit, valid[order])  # [n]
    rank = jnp.argsort(~keep, stable=True)  # [n] kept first, in score order
    return order[rank].astype(jnp.int32), keep[rank]
