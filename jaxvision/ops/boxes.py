"""Pure bounding-box ops: formats, areas, IoU family, box coding.

The one import for box ops (``from jaxvision.ops import boxes as box_ops``); they live in
three modules, re-exported here:

  * ``boxes_geometry``: ``FORMATS``, ``convert_format``, ``scale``, ``normalize``,
    ``widths_heights``, ``area``, ``clip``, ``is_valid``.
  * ``boxes_iou``: ``iou``, ``giou``, ``diou``, ``ciou``, ``pairwise_iou``, ``pairwise_giou``.
  * ``boxes_coding``: ``encode``, ``decode`` (anchor deltas), ``boxes_to_distances``,
    ``distances_to_boxes`` (FCOS).

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

from jaxvision.ops.boxes_coding import (
    DEFAULT_MAX_LOG_SCALE,
    boxes_to_distances,
    decode,
    distances_to_boxes,
    encode,
)
from jaxvision.ops.boxes_geometry import (
    EPS,
    FORMATS,
    area,
    clip,
    convert_format,
    is_valid,
    normalize,
    scale,
    widths_heights,
)
from jaxvision.ops.boxes_iou import ciou, diou, giou, iou, pairwise_giou, pairwise_iou

__all__ = [
    "DEFAULT_MAX_LOG_SCALE",
    "EPS",
    "FORMATS",
    "area",
    "boxes_to_distances",
    "ciou",
    "clip",
    "convert_format",
    "decode",
    "diou",
    "distances_to_boxes",
    "encode",
    "giou",
    "iou",
    "is_valid",
    "normalize",
    "pairwise_giou",
    "pairwise_iou",
    "scale",
    "widths_heights",
]
