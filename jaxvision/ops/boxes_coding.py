"""Box coding: regression deltas against anchors, and distances from points to box sides.

``encode`` / ``decode`` are the Faster R-CNN (torchvision ``BoxCoder``) parameterisation of a
box relative to an anchor; ``boxes_to_distances`` / ``distances_to_boxes`` are FCOS's
(left, top, right, bottom) distances from a point. Boxes are xyxy. Widths and heights are
floored at ``EPS`` and decoded log-scales clamped, so degenerate boxes and wild predictions
give finite values and gradients. The coder computes in at least float32.

Example:
  >>> anchor = jnp.array([0.0, 0.0, 2.0, 2.0])
  >>> decode(encode(jnp.array([1.0, 0.0, 3.0, 4.0]), anchor), anchor)
  Array([1., 0., 3., 4.], dtype=float32)
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxvision.ops.boxes_geometry import EPS, _check_boxes, _prepare_pair, _unstack

# torchvision's BoxCoder default clamp of the decoded log-scales dw, dh (Faster R-CNN).
DEFAULT_MAX_LOG_SCALE = math.log(1000.0 / 16)


def _check_weights(weights) -> tuple[float, float, float, float]:
    weights = tuple(float(w) for w in weights)
    if len(weights) != 4 or any(w <= 0 for w in weights):
        raise ValueError(f"weights must be 4 positive numbers (wx, wy, ww, wh), got {weights}")
    return weights


def _centers_sizes(boxes: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """(cx, cy, w, h) of xyxy boxes, w and h floored at EPS."""
    x1, y1, x2, y2 = _unstack(boxes)
    w = jnp.maximum(x2 - x1, EPS)
    h = jnp.maximum(y2 - y1, EPS)
    return x1 + 0.5 * (x2 - x1), y1 + 0.5 * (y2 - y1), w, h


def encode(
    boxes: jax.Array,
    anchors: jax.Array,
    weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0),
) -> jax.Array:
    """Regression targets of boxes relative to anchors (Faster R-CNN / torchvision BoxCoder).

    ``dx = wx (cx_b - cx_a) / w_a``, ``dy = wy (cy_b - cy_a) / h_a``, ``dw = ww log(w_b / w_a)``,
    ``dh = wh log(h_b / h_a)``. Widths and heights are floored at ``EPS``, so a degenerate
    (e.g. padded all-zero) box gives large but finite deltas; mask them out of the loss.

    Args:
      boxes: [..., 4] xyxy target boxes.
      anchors: [..., 4] xyxy anchors, broadcastable against ``boxes``.
      weights: (wx, wy, ww, wh), e.g. (10, 10, 5, 5) for Faster R-CNN's RoI heads.

    Returns:
      [..., 4] deltas (dx, dy, dw, dh), at least float32.

    Example:
      >>> encode(jnp.array([1.0, 0.0, 3.0, 4.0]), jnp.array([0.0, 0.0, 2.0, 2.0]))
      Array([0.5      , 0.5      , 0.       , 0.6931472], dtype=float32)
    """
    wx, wy, ww, wh = _check_weights(weights)
    boxes, anchors = _prepare_pair(boxes, anchors)
    bx, by, bw, bh = _centers_sizes(boxes)  # [...] each
    ax, ay, aw, ah = _centers_sizes(anchors)  # [...] each
    deltas = (
        wx * (bx - ax) / aw,
        wy * (by - ay) / ah,
        ww * jnp.log(bw / aw),
        wh * jnp.log(bh / ah),
    )
    return jnp.stack(deltas, axis=-1)  # [..., 4]


def decode(
    deltas: jax.Array,
    anchors: jax.Array,
    weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0),
    max_log_scale: float = DEFAULT_MAX_LOG_SCALE,
) -> jax.Array:
    """Boxes from regression deltas relative to anchors; the inverse of ``encode``.

    Args:
      deltas: [..., 4] (dx, dy, dw, dh).
      anchors: [..., 4] xyxy anchors, broadcastable against ``deltas``.
      weights: (wx, wy, ww, wh), as given to ``encode``.
      max_log_scale: dw / ww and dh / wh are clamped at this before ``exp`` (no overflow
        from wild early-training predictions).

    Returns:
      [..., 4] xyxy boxes, at least float32.

    Example:
      >>> decode(jnp.array([0.5, 0.5, 0.0, 0.6931472]), jnp.array([0.0, 0.0, 2.0, 2.0]))
      Array([1., 0., 3., 4.], dtype=float32)
    """
    wx, wy, ww, wh = _check_weights(weights)
    deltas = jnp.asarray(deltas)
    if deltas.shape[-1:] != (4,):
        raise ValueError(f"deltas must have shape [..., 4], got {deltas.shape}")
    deltas, anchors = _prepare_pair(deltas, anchors)
    ax, ay, aw, ah = _centers_sizes(anchors)  # [...] each
    dx, dy, dw, dh = _unstack(deltas)  # [...] each
    dw = jnp.minimum(dw / ww, max_log_scale)
    dh = jnp.minimum(dh / wh, max_log_scale)
    cx = ax + (dx / wx) * aw  # [...]
    cy = ay + (dy / wy) * ah  # [...]
    half_w = 0.5 * jnp.exp(dw) * aw  # [...]
    half_h = 0.5 * jnp.exp(dh) * ah  # [...]
    return jnp.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=-1)  # [..., 4]


def _check_points(points: jax.Array) -> jax.Array:
    points = jnp.asarray(points)
    if points.ndim < 1 or points.shape[-1] != 2:
        raise ValueError(f"points must have shape [..., 2] (x, y), got {points.shape}")
    if not jnp.issubdtype(points.dtype, jnp.floating):
        points = points.astype(jnp.float32)
    return points


def distances_to_boxes(points: jax.Array, distances: jax.Array) -> jax.Array:
    """xyxy boxes from points and their distances to the four sides (FCOS decoding).

    Args:
      points: [..., 2] (x, y) points.
      distances: [..., 4] (left, top, right, bottom) distances, broadcastable against
        ``points`` (without its last dim).

    Returns:
      [..., 4] xyxy boxes ``(x - l, y - t, x + r, y + b)``.

    Example:
      >>> distances_to_boxes(jnp.array([4.0, 4.0]), jnp.array([1.0, 2.0, 3.0, 4.0]))
      Array([3., 2., 7., 8.], dtype=float32)
    """
    points = _check_points(points)
    distances = _check_boxes(distances, "distances")
    x, y = points[..., 0], points[..., 1]  # [...] each
    left, top, right, bottom = _unstack(distances)
    return jnp.stack([x - left, y - top, x + right, y + bottom], axis=-1)  # [..., 4]


def boxes_to_distances(points: jax.Array, boxes: jax.Array) -> jax.Array:
    """Distances from points to the four sides of xyxy boxes (FCOS targets).

    A point lies strictly inside its box exactly where all four distances are > 0.

    Args:
      points: [..., 2] (x, y) points.
      boxes: [..., 4] xyxy boxes, broadcastable against ``points`` (without its last dim):
        ``boxes_to_distances(points[:, None], gt[None])`` gives all [n, m, 4] pairs.

    Returns:
      [..., 4] (left, top, right, bottom) = ``(x - x1, y - y1, x2 - x, y2 - y)``.

    Example:
      >>> boxes_to_distances(jnp.array([4.0, 4.0]), jnp.array([3.0, 2.0, 7.0, 8.0]))
      Array([1., 2., 3., 4.], dtype=float32)
    """
    points = _check_points(points)
    boxes = _check_boxes(boxes)
    x, y = points[..., 0], points[..., 1]  # [...] each
    x1, y1, x2, y2 = _unstack(boxes)
    return jnp.stack([x - x1, y - y1, x2 - x, y2 - y], axis=-1)  # [..., 4]
