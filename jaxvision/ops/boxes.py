"""Pure bounding-box ops: formats, areas, IoU family, box coding.

Boxes are float arrays ``[..., 4]``. Four formats (``FORMATS``):

  * ``"xyxy"``: (x1, y1, x2, y2), corners; the format of every function here except
    ``convert_format``, ``scale`` and ``normalize``, which take a ``fmt``.
  * ``"yxyx"``: (ymin, xmin, ymax, xmax), the TFDS ``BBoxFeature`` layout.
  * ``"cxcywh"``: (centre x, centre y, width, height).
  * ``"xywh"``: (x1, y1, width, height), the COCO annotation layout.

Every function is pure ``jax.numpy`` on static shapes, so it jits, vmaps and differentiates.
Degenerate boxes (zero or negative width or height, or lying outside the image) never give NaN
or Inf, in values or gradients: widths and heights are clamped at 0 for areas and overlaps, and
every division has its denominator floored at ``EPS``. The IoU of an empty box with anything is 0.
The IoU family and the box coder compute in at least float32 (bfloat16 / float16 inputs are
upcast: areas of pixel-sized boxes overflow float16 and lose all precision in bfloat16).

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

FORMATS = ("xyxy", "yxyx", "cxcywh", "xywh")
# Floor of every denominator (areas, squared diagonals, widths): small enough not to change the
# IoU of any box of 1e-4 pixel or normalised units and more, large enough that the floored
# quotient and its gradient stay finite in float32.
EPS = 1e-9
# torchvision's BoxCoder default clamp of the decoded log-scales dw, dh (Faster R-CNN).
DEFAULT_MAX_LOG_SCALE = math.log(1000.0 / 16)
# The constant 4 / pi^2 of CIoU's aspect-ratio term v (Zheng et al. 2020, eq. 9).
_CIOU_V_SCALE = 4.0 / math.pi**2


def _check_boxes(boxes: jax.Array, name: str = "boxes") -> jax.Array:
    """Returns ``boxes`` as a float jax array; raises for a last dim other than 4."""
    boxes = jnp.asarray(boxes)
    if boxes.ndim < 1 or boxes.shape[-1] != 4:
        raise ValueError(f"{name} must have shape [..., 4], got {boxes.shape}")
    if not jnp.issubdtype(boxes.dtype, jnp.floating):
        boxes = boxes.astype(jnp.float32)
    return boxes


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"Unknown box format {fmt!r}; expected one of {FORMATS}")


def _compute_dtype(*arrays: jax.Array) -> jnp.dtype:
    """The common float dtype of ``arrays``, at least float32."""
    return jnp.promote_types(jnp.result_type(*arrays), jnp.float32)


def _unstack(boxes: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    return boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 3]


def _safe_div(num: jax.Array, den: jax.Array) -> jax.Array:
    """``num / den`` with ``den`` floored at ``EPS`` (finite value and gradient)."""
    return num / jnp.maximum(den, EPS)


def convert_format(boxes: jax.Array, src: str, dst: str) -> jax.Array:
    """Converts boxes between ``"xyxy"``, ``"yxyx"``, ``"cxcywh"`` and ``"xywh"``.

    Args:
      boxes: [..., 4] boxes in format ``src`` (integer boxes are cast to float32).
      src: format of ``boxes``.
      dst: format of the result.

    Returns:
      [..., 4] boxes in format ``dst``.

    Example:
      >>> convert_format(jnp.array([10.0, 20.0, 30.0, 60.0]), "xyxy", "cxcywh")
      Array([20., 40., 20., 40.], dtype=float32)
    """
    _check_format(src)
    _check_format(dst)
    boxes = _check_boxes(boxes)
    if src == dst:
        return boxes
    c0, c1, c2, c3 = _unstack(boxes)  # [...] each
    if src == "xyxy":
        x1, y1, x2, y2 = c0, c1, c2, c3
    elif src == "yxyx":
        y1, x1, y2, x2 = c0, c1, c2, c3
    elif src == "cxcywh":
        x1, y1, x2, y2 = c0 - 0.5 * c2, c1 - 0.5 * c3, c0 + 0.5 * c2, c1 + 0.5 * c3
    else:  # xywh
        x1, y1, x2, y2 = c0, c1, c0 + c2, c1 + c3
    if dst == "xyxy":
        out = (x1, y1, x2, y2)
    elif dst == "yxyx":
        out = (y1, x1, y2, x2)
    elif dst == "cxcywh":
        out = (0.5 * (x1 + x2), 0.5 * (y1 + y2), x2 - x1, y2 - y1)
    else:  # xywh
        out = (x1, y1, x2 - x1, y2 - y1)
    return jnp.stack(out, axis=-1)  # [..., 4]


def _size_factors(height, width, fmt: str, dtype: jnp.dtype) -> jax.Array:
    """[..., 4] per-coordinate factors: the image size along each coordinate's axis."""
    _check_format(fmt)
    h = jnp.asarray(height, dtype)
    w = jnp.asarray(width, dtype)
    order = (h, w, h, w) if fmt == "yxyx" else (w, h, w, h)
    return jnp.stack(jnp.broadcast_arrays(*order), axis=-1)  # [..., 4]


def scale(boxes: jax.Array, height, width, fmt: str = "xyxy") -> jax.Array:
    """Maps boxes in normalised [0, 1] coordinates to absolute pixels.

    Args:
      boxes: [..., 4] normalised boxes in format ``fmt``.
      height: image height; a scalar or an array broadcastable to ``boxes.shape[:-1]``
        (e.g. [b, 1] for per-image sizes of [b, n, 4] boxes).
      width: image width, like ``height``.
      fmt: box format (sizes scale like their axis).

    Returns:
      [..., 4] boxes in pixels, same format.

    Example:
      >>> scale(jnp.array([0.0, 0.5, 1.0, 1.0]), height=100, width=200)
      Array([  0.,  50., 200., 100.], dtype=float32)
    """
    boxes = _check_boxes(boxes)
    return boxes * _size_factors(height, width, fmt, boxes.dtype)  # [..., 4]


def normalize(boxes: jax.Array, height, width, fmt: str = "xyxy") -> jax.Array:
    """Maps boxes in absolute pixels to normalised [0, 1] coordinates (inverse of ``scale``).

    Args:
      boxes: [..., 4] pixel boxes in format ``fmt``.
      height: image height; a scalar or an array broadcastable to ``boxes.shape[:-1]``.
      width: image width, like ``height``.
      fmt: box format.

    Returns:
      [..., 4] normalised boxes, same format.

    Example:
      >>> normalize(jnp.array([0.0, 50.0, 200.0, 100.0]), height=100, width=200)
      Array([0. , 0.5, 1. , 1. ], dtype=float32)
    """
    boxes = _check_boxes(boxes)
    return boxes / _size_factors(height, width, fmt, boxes.dtype)  # [..., 4]


def widths_heights(boxes: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Widths and heights of xyxy boxes, clamped at 0.

    Args:
      boxes: [..., 4] xyxy boxes.

    Returns:
      ([...], [...]) widths and heights.
    """
    x1, y1, x2, y2 = _unstack(_check_boxes(boxes))
    return jnp.maximum(x2 - x1, 0.0), jnp.maximum(y2 - y1, 0.0)


def area(boxes: jax.Array) -> jax.Array:
    """Areas of xyxy boxes; a box of negative width or height has area 0.

    Args:
      boxes: [..., 4] xyxy boxes.

    Returns:
      [...] areas.

    Example:
      >>> area(jnp.array([[0.0, 0.0, 2.0, 3.0], [2.0, 0.0, 1.0, 3.0]]))
      Array([6., 0.], dtype=float32)
    """
    w, h = widths_heights(boxes)  # [...] each
    return w * h


def clip(boxes: jax.Array, height, width) -> jax.Array:
    """Clips xyxy pixel boxes to the image [0, width] x [0, height].

    Args:
      boxes: [..., 4] xyxy boxes in pixels.
      height: image height; a scalar or an array broadcastable to ``boxes.shape[:-1]``.
      width: image width, like ``height``.

    Returns:
      [..., 4] clipped boxes (a box wholly outside the image becomes empty).

    Example:
      >>> clip(jnp.array([-5.0, 2.0, 50.0, 40.0]), height=30, width=20)
      Array([ 0.,  2., 20., 30.], dtype=float32)
    """
    boxes = _check_boxes(boxes)
    upper = _size_factors(height, width, "xyxy", boxes.dtype)  # [..., 4]
    return jnp.clip(boxes, 0.0, upper)  # [..., 4]


def is_valid(boxes: jax.Array, min_size: float = 0.0) -> jax.Array:
    """Whether xyxy boxes have width and height strictly greater than ``min_size``.

    Args:
      boxes: [..., 4] xyxy boxes.
      min_size: minimum side length.

    Returns:
      [...] bool.

    Example:
      >>> is_valid(jnp.array([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0]]))
      Array([ True, False], dtype=bool)
    """
    x1, y1, x2, y2 = _unstack(_check_boxes(boxes))
    return (x2 - x1 > min_size) & (y2 - y1 > min_size)


def _prepare_pair(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    a = _check_boxes(a, "a")
    b = _check_boxes(b, "b")
    dtype = _compute_dtype(a, b)
    return a.astype(dtype), b.astype(dtype)


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
