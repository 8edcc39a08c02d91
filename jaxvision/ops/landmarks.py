"""Landmark coding: points as offsets from an anchor's centre, in units of its size.

RetinaFace (Deng et al., 2020) regresses each face's five landmarks from the anchor that
matches the face: point ``(x, y)`` against anchor centre ``(cx, cy)`` and size ``(w, h)`` is
coded ``(weight * (x - cx) / w, weight * (y - cy) / h)`` (the paper's variance 0.1 is
``weight = 10``). Anchors are xyxy; points (x, y) [..., k, 2]. The coder computes in at
least float32; anchor sizes are floored at ``EPS``, so degenerate anchors give finite codes.

Example:
  >>> anchor = jnp.array([0.0, 0.0, 4.0, 2.0])
  >>> points = jnp.array([[1.0, 1.0], [4.0, 2.0]])  # [k, 2]
  >>> encode_landmarks(points, anchor)
  Array([[-0.25,  0.  ],
         [ 0.5 ,  0.5 ]], dtype=float32)
  >>> decode_landmarks(encode_landmarks(points, anchor), anchor)
  Array([[1., 1.],
         [4., 2.]], dtype=float32)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxvision.ops.boxes_geometry import EPS

# The five face landmarks, in MTCNN's order (x, y each).
NUM_FACE_LANDMARKS = 5


def _check(points: jax.Array, anchors: jax.Array, weight: float) -> tuple[jax.Array, jax.Array]:
    points, anchors = jnp.asarray(points), jnp.asarray(anchors)
    if points.ndim < 2 or points.shape[-1] != 2:
        raise ValueError(f"landmarks must have shape [..., k, 2] (x, y), got {points.shape}")
    if anchors.ndim < 1 or anchors.shape[-1] != 4:
        raise ValueError(f"anchors must have shape [..., 4] (xyxy), got {anchors.shape}")
    if weight <= 0:
        raise ValueError(f"weight must be > 0, got {weight}")
    dtype = jnp.promote_types(jnp.result_type(points, anchors), jnp.float32)
    return points.astype(dtype), anchors.astype(dtype)


def _centre_size(anchors: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Centres and sizes [..., 1, 2] of xyxy anchors [..., 4], sizes floored at EPS."""
    lo, hi = anchors[..., None, :2], anchors[..., None, 2:]  # [..., 1, 2] each
    return 0.5 * (lo + hi), jnp.maximum(hi - lo, EPS)


def encode_landmarks(points: jax.Array, anchors: jax.Array, weight: float = 1.0) -> jax.Array:
    """Regression targets of landmarks relative to anchors.

    Args:
      points: [..., k, 2] (x, y) landmarks.
      anchors: [..., 4] xyxy anchors, broadcastable against ``points`` without its last two
        dims (e.g. [n, 4] anchors against [b, n, k, 2] points).
      weight: the codes' scale (1 / RetinaFace's variance).

    Returns:
      [..., k, 2] codes ``weight * (p - centre) / size``, at least float32.

    Example:
      >>> encode_landmarks(jnp.zeros((2, 5, 2)), jnp.array([[-1.0, -1, 1, 1]] * 2)).shape
      (2, 5, 2)
    """
    points, anchors = _check(points, anchors, weight)
    centre, size = _centre_size(anchors)  # [..., 1, 2] each
    return weight * (points - centre) / size  # [..., k, 2]


def decode_landmarks(codes: jax.Array, anchors: jax.Array, weight: float = 1.0) -> jax.Array:
    """Landmarks from their codes relative to anchors; the inverse of ``encode_landmarks``.

    Args:
      codes: [..., k, 2] codes (a head's flat [..., 2k] output reshaped).
      anchors: [..., 4] xyxy anchors, broadcastable against the codes' leading dims.
      weight: as given to ``encode_landmarks``.

    Returns:
      [..., k, 2] (x, y) points, at least float32.

    Example:
      >>> decode_landmarks(jnp.array([[1.0, -1.0]]), jnp.array([0.0, 0.0, 2.0, 2.0])).tolist()
      [[3.0, -1.0]]
    """
    codes, anchors = _check(codes, anchors, weight)
    centre, size = _centre_size(anchors)  # [..., 1, 2] each
    return centre + codes * size / weight  # [..., k, 2]
