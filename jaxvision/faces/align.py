"""Aligned face crops of a photo: each face MTCNN finds, warped to ArcFace's 5-point template.

``detect_and_align(image)`` runs ``jaxvision.faces.detect`` and gives every face as a
``size`` x ``size`` crop whose five landmarks sit on the template
(``jaxvision.ops.face_align``: the least-squares similarity transform, bilinear warp): the
input that face recognition (``face_embedding``) and attribute networks expect.
``align_detected`` does the warping for landmarks found any other way.

The warp is jitted once per image size, crop size and number of faces rounded up to a power
of two, so repeated calls do not recompile.

Example:
  >>> crops, boxes, scores, landmarks = detect_and_align(np.zeros((32, 32, 3), np.uint8))
  >>> crops.shape, boxes.shape  # no face: empty results
  ((0, 112, 112, 3), (0, 4))
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import numpy as np

from jaxvision.data.preprocess.restoration_ops import as_rgb
from jaxvision.ops.face_align import NUM_LANDMARKS, align_faces

DEFAULT_SIZE = 112  # ArcFace's crop


@functools.partial(jax.jit, static_argnums=2)
def _align_many(image: jax.Array, landmarks: jax.Array, size: int) -> jax.Array:
    """uint8 crops [n, size, size, 3] of one image [h, w, 3], one a landmark set [n, 5, 2]."""
    return jax.vmap(lambda points: align_faces(image, points, size))(landmarks)


def _rgb_uint8(image) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"expects a uint8 image, got {image.dtype}")
    try:
        return as_rgb(image)
    except ValueError:
        raise ValueError(f"expects an [H, W] or [H, W, 1|3|4] image, got {image.shape}") from None


def align_detected(image, landmarks, size: int = DEFAULT_SIZE) -> np.ndarray:
    """One aligned crop a face of ``image``, from its five landmarks.

    Args:
      image: an [H, W] grey, [H, W, 3] RGB or [H, W, 4] RGBA uint8 image.
      landmarks: [n, 5, 2] (x, y) pixels: left eye, right eye, nose tip, left and right
        mouth corner (``jaxvision.faces.detect``'s order).
      size: the side of the crops.

    Returns:
      uint8 [n, size, size, 3].

    Raises:
      ValueError: a non-uint8 image or an unexpected shape.

    Example:
      >>> from jaxvision.ops.face_align import face_template
      >>> points = np.asarray(face_template(112))[None] + 10.0  # a face at the template, moved
      >>> align_detected(np.zeros((140, 140, 3), np.uint8), points).shape
      (1, 112, 112, 3)
    """
    image = _rgb_uint8(image)
    landmarks = np.asarray(landmarks, np.float32).reshape(-1, NUM_LANDMARKS, 2)  # [n, 5, 2]
    n = len(landmarks)
    if n == 0:
        return np.zeros((0, size, size, 3), np.uint8)
    bucket = 1 << (n - 1).bit_length()  # the next power of two: few compiled shapes
    padded = np.concatenate([landmarks, np.repeat(landmarks[:1], bucket - n, axis=0)])
    return np.asarray(_align_many(image, padded, int(size)))[:n]


def detect_and_align(
    image, size: int = DEFAULT_SIZE, *, detect_fn: Callable | None = None, **detect_kwargs
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every face of a photo, detected by MTCNN, as an aligned crop.

    Args:
      image: an [H, W] grey, [H, W, 3] RGB or [H, W, 4] RGBA uint8 image.
      size: the side of the crops (112: ArcFace's; the template is scaled for others).
      detect_fn: ``image -> (boxes [n, 4], scores [n], landmarks [n, 5, 2])``; None:
        ``jaxvision.faces.detect``.
      **detect_kwargs: passed to the detector (``min_face_size``, ``thresholds``,
        ``scale_factor``).

    Returns:
      ``(crops uint8 [n, size, size, 3], boxes [n, 4], scores [n], landmarks [n, 5, 2])``,
      the detections as the detector gives them; n = 0 when there is no face.
    """
    image = _rgb_uint8(image)
    if detect_fn is None:
        from jaxvision.faces.detector import detect as detect_fn
    boxes, scores, landmarks = detect_fn(image, **detect_kwargs)
    return align_detected(image, landmarks, size), boxes, scores, landmarks
