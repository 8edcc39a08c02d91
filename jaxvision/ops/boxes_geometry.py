"""Box formats and geometry: format conversion, scaling, widths, areas, clipping, validity.

Boxes are float arrays ``[..., 4]`` in one of four formats (``FORMATS``):

  * ``"xyxy"``: (x1, y1, x2, y2), corners; the format of every function here except
    ``convert_format``, ``scale`` and ``normalize``, which take a ``fmt``.
  * ``"yxyx"``: (ymin, xmin, ymax, xmax), the TFDS ``BBoxFeature`` layout.
  * ``"cxcywh"``: (centre x, centre y, width, height).
  * ``"xywh"``: (x1, y1, width, height), the COCO annotation layout.

Widths and heights are clamped at 0, so a degenerate box (negative width or height) has area
0. The input checks and the float helpers at the top (``_check_boxes``, ``_prepare_pair``,
``_safe_div`` ...) are shared with ``boxes_iou`` and ``boxes_coding``; users import every
box op through ``jaxvision.ops.boxes``.

Example:
  >>> area(convert_format(jnp.array([[1.0, 1.0, 2.0, 3.0]]), "xywh", "xyxy"))
  Array([6.], dtype=float32)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

FORMATS = ("xyxy", "yxyx", "cxcywh", "xywh")
# Floor of every denominator (areas, squared diagonals, widths): small enough not to change the
# IoU of any box of 1e-4 pixel or normalised units and more, large enough that the floored
# quotient and its gradient stay finite in float32.
EPS = 1e-9


def _check_boxes(boxes: jax.Array, name: str = "boxes") -> jax.Array:
    """Returns ``boxes`` as a float jax array; raises for a last dim other than 4."""
    boxes = jnp.asarray(boxes)
    if boxes.ndim < 1 or boxes.shape[-1] != 4:
        raise ValueError(f"{name} must have shape [..., 4], got {boxes.shape}")
    if not jnp.issubdtype(boxes.dtype, jnp.floating):
        boxes = boxes.astype(jnp.float32)
    return boxes


def _check_format(fmt: str) -> None:
    """Raises unless ``fmt`` is one of ``FORMATS``."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown box format {fmt!r}; expected one of {FORMATS}")


def _compute_dtype(*arrays: jax.Array) -> jnp.dtype:
    """The common float dtype of ``arrays``, at least float32."""
    return jnp.promote_types(jnp.result_type(*arrays), jnp.float32)


def _unstack(boxes: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """The four coordinates of [..., 4] boxes, [...] each."""
    return boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 3]


def _safe_div(num: jax.Array, den: jax.Array) -> jax.Array:
    """``num / den`` with ``den`` floored at ``EPS`` (finite value and gradient)."""
    return num / jnp.maximum(den, EPS)


def _prepare_pair(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Checks two [..., 4] arrays and casts both to their common dtype, at least float32."""
    a = _check_boxes(a, "a")
    b = _check_boxes(b, "b")
    dtype = _compute_dtype(a, b)
    return a.astype(dtype), b.astype(dtype)


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
