"""The IoU family of xyxy boxes: IoU, GIoU, DIoU, CIoU, elementwise and pairwise.

Degenerate boxes (zero or negative width or height, or lying outside the image) never give NaN
or Inf, in values or gradients: widths and heights are clamped at 0 for areas and overlaps, and
every division has its denominator floored at ``EPS``. The IoU of an empty box with anything is
0. Computation is in at least float32 (bfloat16 / float16 inputs are upcast: areas of
pixel-sized boxes overflow float16 and lose all precision in bfloat16).

Example:
  >>> a = jnp.array([[0.0, 0.0, 2.0, 2.0]])
  >>> b = jnp.array([[1.0, 1.0, 3.0, 3.0], [5.0, 5.0, 6.0, 6.0]])
  >>> pairwise_iou(a, b)
  Array([[0.14285715, 0.        ]], dtype=float32)
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxvision.ops.boxes_geometry import (
    EPS,
    _check_boxes,
    _prepare_pair,
    _safe_div,
    _unstack,
    area,
    widths_heights,
)

# The constant 4 / pi^2 of CIoU's aspect-ratio term v (Zheng et al. 2020, eq. 9).
_CIOU_V_SCALE = 4.0 / math.pi**2


def _iou_parts(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(iou, union) of broadcastable xyxy boxes [..., 4] -> [...] each."""
    ax1, ay1, ax2, ay2 = _unstack(a)
    bx1, by1, bx2, by2 = _unstack(b)
    inter_w = jnp.maximum(jnp.minimum(ax2, bx2) - jnp.maximum(ax1, bx1), 0.0)  # [...]
    inter_h = jnp.maximum(jnp.minimum(ay2, by2) - jnp.maximum(ay1, by1), 0.0)  # [...]
    inter = inter_w * inter_h  # [...]
    union = area(a) + area(b) - inter  # [...]
    return _safe_div(inter, union), union


def _enclosing_wh(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Width and height of the smallest box enclosing a and b, clamped at 0."""
    ax1, ay1, ax2, ay2 = _unstack(a)
    bx1, by1, bx2, by2 = _unstack(b)
    enc_w = jnp.maximum(jnp.maximum(ax2, bx2) - jnp.minimum(ax1, bx1), 0.0)  # [...]
    enc_h = jnp.maximum(jnp.maximum(ay2, by2) - jnp.minimum(ay1, by1), 0.0)  # [...]
    return enc_w, enc_h


def _center_distance_sq(a: jax.Array, b: jax.Array) -> jax.Array:
    """Squared distance between the centres of a and b, [...]."""
    ax1, ay1, ax2, ay2 = _unstack(a)
    bx1, by1, bx2, by2 = _unstack(b)
    dx = 0.5 * ((bx1 + bx2) - (ax1 + ax2))  # [...]
    dy = 0.5 * ((by1 + by2) - (ay1 + ay2))  # [...]
    return dx**2 + dy**2


def iou(a: jax.Array, b: jax.Array) -> jax.Array:
    """Elementwise intersection over union of broadcastable xyxy boxes.

    Args:
      a: [..., 4] xyxy boxes.
      b: [..., 4] xyxy boxes, broadcastable against ``a``.

    Returns:
      [...] IoU in [0, 1]; 0 where either box is empty.

    Example:
      >>> iou(jnp.array([0.0, 0.0, 2.0, 2.0]), jnp.array([1.0, 0.0, 3.0, 2.0]))
      Array(0.33333334, dtype=float32)
    """
    a, b = _prepare_pair(a, b)
    return _iou_parts(a, b)[0]


def giou(a: jax.Array, b: jax.Array) -> jax.Array:
    """Elementwise generalised IoU (Rezatofighi et al. 2019) of broadcastable xyxy boxes.

    ``GIoU = IoU - (C - U) / C`` with C the area of the smallest enclosing box, U the union.

    Args:
      a: [..., 4] xyxy boxes.
      b: [..., 4] xyxy boxes, broadcastable against ``a``.

    Returns:
      [...] GIoU in [-1, 1].

    Example:
      >>> giou(jnp.array([0.0, 0.0, 1.0, 1.0]), jnp.array([2.0, 0.0, 3.0, 1.0]))
      Array(-0.33333334, dtype=float32)
    """
    a, b = _prepare_pair(a, b)
    iou_, union = _iou_parts(a, b)  # [...] each
    enc_w, enc_h = _enclosing_wh(a, b)  # [...] each
    enclosing = enc_w * enc_h  # [...]
    return iou_ - _safe_div(enclosing - union, enclosing)


def diou(a: jax.Array, b: jax.Array) -> jax.Array:
    """Elementwise distance IoU (Zheng et al. 2020) of broadcastable xyxy boxes.

    ``DIoU = IoU - rho^2 / c^2`` with rho the distance between the box centres and c the
    diagonal of the smallest enclosing box.

    Args:
      a: [..., 4] xyxy boxes.
      b: [..., 4] xyxy boxes, broadcastable against ``a``.

    Returns:
      [...] DIoU in [-1, 1].

    Example:
      >>> diou(jnp.array([0.0, 0.0, 1.0, 1.0]), jnp.array([2.0, 0.0, 3.0, 1.0]))
      Array(-0.4, dtype=float32)
    """
    a, b = _prepare_pair(a, b)
    return _diou_parts(a, b)[0]


def _diou_parts(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(diou, iou) of prepared boxes."""
    iou_, _ = _iou_parts(a, b)  # [...]
    enc_w, enc_h = _enclosing_wh(a, b)  # [...] each
    diagonal_sq = enc_w**2 + enc_h**2  # [...]
    return iou_ - _safe_div(_center_distance_sq(a, b), diagonal_sq), iou_


def ciou(a: jax.Array, b: jax.Array) -> jax.Array:
    """Elementwise complete IoU (Zheng et al. 2020) of broadcastable xyxy boxes.

    ``CIoU = DIoU - alpha * v`` with ``v = 4 / pi^2 (atan(w_b / h_b) - atan(w_a / h_a))^2`` and
    ``alpha = v / (1 - IoU + v)``. As in the paper's implementation (and torchvision's
    ``complete_box_iou_loss``), alpha is a constant for gradients (``stop_gradient``). The
    formula is symmetric in a and b.

    Args:
      a: [..., 4] xyxy boxes (e.g. predictions).
      b: [..., 4] xyxy boxes (e.g. targets), broadcastable against ``a``.

    Returns:
      [...] CIoU in [-2, 1].

    Example:
      >>> ciou(jnp.array([0.0, 0.0, 2.0, 2.0]), jnp.array([0.0, 0.0, 2.0, 2.0]))
      Array(1., dtype=float32)
    """
    a, b = _prepare_pair(a, b)
    diou_, iou_ = _diou_parts(a, b)  # [...] each
    wa, ha = widths_heights(a)  # [...] each
    wb, hb = widths_heights(b)  # [...] each
    angle_diff = jnp.arctan(wb / (hb + EPS)) - jnp.arctan(wa / (ha + EPS))  # [...]
    v = _CIOU_V_SCALE * angle_diff**2  # [...]
    alpha = jax.lax.stop_gradient(_safe_div(v, 1.0 - iou_ + v))  # [...]
    return diou_ - alpha * v


def _pairwise(fn, a: jax.Array, b: jax.Array) -> jax.Array:
    a = _check_boxes(a, "a")
    b = _check_boxes(b, "b")
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"pairwise ops need [..., n, 4] and [..., m, 4], got {a.shape}, {b.shape}")
    return fn(a[..., :, None, :], b[..., None, :, :])  # [..., n, m]


def pairwise_iou(a: jax.Array, b: jax.Array) -> jax.Array:
    """IoU of every box of ``a`` with every box of ``b``.

    Args:
      a: [..., n, 4] xyxy boxes.
      b: [..., m, 4] xyxy boxes (leading dims broadcast against ``a``'s).

    Returns:
      [..., n, m] IoU matrix.

    Example:
      >>> pairwise_iou(jnp.zeros((3, 4)), jnp.zeros((0, 4))).shape
      (3, 0)
    """
    return _pairwise(iou, a, b)


def pairwise_giou(a: jax.Array, b: jax.Array) -> jax.Array:
    """Generalised IoU of every box of ``a`` with every box of ``b``.

    Args:
      a: [..., n, 4] xyxy boxes.
      b: [..., m, 4] xyxy boxes (leading dims broadcast against ``a``'s).

    Returns:
      [..., n, m] GIoU matrix.

    Example:
      >>> pairwise_giou(jnp.zeros((3, 4)), jnp.ones((2, 4))).shape
      (3, 2)
    """
    return _pairwise(giou, a, b)
