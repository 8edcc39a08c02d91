"""`detect`: faces and their five landmarks in an image, with the pretrained MTCNN.

The image is converted to RGB (grey repeated, alpha dropped), padded at the bottom and right
to its size bucket (`jaxvision.faces.pyramid.bucket_size`), and run through the jitted
cascade (`jaxvision.faces.cascade.cascade`), which compiles once a bucket and settings:
repeated calls on images of similar sizes reuse it. The parameters are read once from the
file shipped with jaxvision (`jaxvision.faces.weights`).

Example:
  >>> boxes, scores, landmarks = detect(np.zeros((16, 16, 3), np.uint8))  # under 20 px
  >>> boxes.shape, scores.shape, landmarks.shape
  ((0, 4), (0,), (0, 5, 2))
"""

from __future__ import annotations

import functools
import pathlib
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxvision.data.preprocess.restoration_ops import as_rgb
from jaxvision.faces import cascade, pyramid, weights
from jaxvision.models.mtcnn import NUM_LANDMARKS

MIN_FACE_SIZE = 20
THRESHOLDS = (0.6, 0.7, 0.7)
SCALE_FACTOR = 0.709
# MTCNN's landmark order; left and right as seen in the image.
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

Detections = tuple[np.ndarray, np.ndarray, np.ndarray]


@functools.cache
def _device_variables(path: pathlib.Path, mtime_ns: int) -> dict:
    del mtime_ns  # part of the cache key: a rewritten file is read again
    return jax.tree.map(jnp.asarray, weights.load(path))


def _variables(path) -> dict:
    path = pathlib.Path(weights.DEFAULT_PATH if path is None else path).resolve()
    return _device_variables(path, path.stat().st_mtime_ns if path.is_file() else -1)


def _check_settings(min_face_size, thresholds, scale_factor) -> tuple[float, ...]:
    """The thresholds as floats; raises ValueError on bad settings."""
    if not min_face_size > 0:
        raise ValueError(f"min_face_size must be > 0, got {min_face_size}")
    if not 0 < scale_factor < 1:
        raise ValueError(f"scale_factor must be in (0, 1), got {scale_factor}")
    thresholds = tuple(float(t) for t in thresholds)
    if len(thresholds) != 3 or not all(0 <= t <= 1 for t in thresholds):
        raise ValueError(f"thresholds must be 3 probabilities in [0, 1], got {thresholds}")
    return thresholds


def _as_image(image) -> np.ndarray:
    """A uint8 [h, w, 3] array of a grey, RGB or RGBA uint8 image (array or PIL image)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(
            f"detect expects a uint8 image, got {image.dtype} (e.g. convert floats in [0, 1] "
            "with skimage.util.img_as_ubyte)"
        )
    try:
        image = as_rgb(image)
    except ValueError:
        raise ValueError(
            f"detect expects an [H, W] or [H, W, 1|3|4] image, got shape {image.shape}"
        ) from None
    if 0 in image.shape:
        raise ValueError(f"the image is empty: shape {image.shape}")
    return image


def empty() -> Detections:
    """No face: boxes [0, 4], scores [0], landmarks [0, 5, 2] (float32).

    Example:
      >>> [a.shape for a in empty()]
      [(0, 4), (0,), (0, 5, 2)]
    """
    return (
        np.zeros((0, 4), np.float32),
        np.zeros((0,), np.float32),
        np.zeros((0, NUM_LANDMARKS, 2), np.float32),
    )


def detect_batch(
    images: Sequence[np.ndarray] | np.ndarray,
    *,
    min_face_size: float = MIN_FACE_SIZE,
    thresholds: Sequence[float] = THRESHOLDS,
    scale_factor: float = SCALE_FACTOR,
    buffers: cascade.Buffers = cascade.Buffers(),
    weights_path: str | pathlib.Path | None = None,
) -> list[Detections]:
    """`detect` on images of one size at once (one compiled call for the batch).

    Args:
      images: uint8 [b, h, w, 3] (or b images of one size, grey, RGB or RGBA).
      min_face_size, thresholds, scale_factor, buffers, weights_path: as `detect`'s.

    Returns:
      One (boxes, scores, landmarks) an image, as `detect` returns.

    Raises:
      ValueError: images of different sizes, or as `detect`.

    Example:
      >>> results = detect_batch(np.zeros((2, 10, 10, 3), np.uint8))
      >>> len(results), results[0][0].shape
      (2, (0, 4))
    """
    thresholds = _check_settings(min_face_size, thresholds, scale_factor)
    images = [_as_image(image) for image in images]
    if len({image.shape for image in images}) > 1:
        raise ValueError(f"images differ in size: {sorted({im.shape for im in images})}")
    if not images:
        return []
    height, width = images[0].shape[:2]
    if min(height, width) < min_face_size:  # no pyramid level: no face can be found
        return [empty() for _ in images]
    bucket_h, bucket_w = pyramid.bucket_size(height), pyramid.bucket_size(width)
    levels = cascade.prepare_levels(
        height, width, bucket_h, bucket_w, min_face_size=min_face_size, scale_factor=scale_factor
    )
    batch = np.zeros((len(images), bucket_h, bucket_w, 3), np.uint8)  # zeros beyond each image
    batch[:, :height, :width] = np.stack(images)
    out = cascade.cascade(
        _variables(weights_path),
        batch,
        levels,
        jnp.asarray(thresholds, jnp.float32),
        buffers=buffers,
    )
    out = jax.device_get(out)
    return [
        (out["boxes"][i][valid], out["scores"][i][valid], out["landmarks"][i][valid])
        for i, valid in enumerate(out["valid"])
    ]


def detect(
    image: np.ndarray,
    *,
    min_face_size: float = MIN_FACE_SIZE,
    thresholds: Sequence[float] = THRESHOLDS,
    scale_factor: float = SCALE_FACTOR,
    buffers: cascade.Buffers = cascade.Buffers(),
    weights_path: str | pathlib.Path | None = None,
) -> Detections:
    """Finds the faces in an image, with their five landmarks (MTCNN, pretrained).

    Args:
      image: uint8 [h, w, 3] RGB (grey [h, w] or [h, w, 1] and RGBA [h, w, 4] are converted;
        a PIL image is taken as its array).
      min_face_size: smallest face side to find, in pixels; a smaller image has no face.
      thresholds: face probability thresholds of P-Net, R-Net and O-Net.
      scale_factor: ratio of consecutive pyramid scales.
      buffers: candidate counts of the stages (`jaxvision.faces.cascade.Buffers`);
        ``buffers.refined`` bounds the faces returned.
      weights_path: an ``.npz`` of MTCNN's parameters; None for the shipped one.

    Returns:
      (boxes float32 [n, 4] x1, y1, x2, y2 pixels; scores float32 [n] face probabilities;
      landmarks float32 [n, 5, 2] (x, y) pixels of the left eye, right eye, nose, left and
      right mouth corners), by score descending; n = 0 when no face is found.

    Raises:
      ValueError: not a uint8 grey, RGB or RGBA image, or bad settings.
      FileNotFoundError, ValueError: the weights file is missing or damaged (the message
        says how to rebuild it).

    Example:
      >>> import skimage.data
      >>> boxes, scores, landmarks = detect(skimage.data.astronaut())  # doctest: +SKIP
      >>> len(boxes), bool(scores[0] > 0.99)  # doctest: +SKIP
      (1, True)
    """
    return detect_batch(
        [image],
        min_face_size=min_face_size,
        thresholds=thresholds,
        scale_factor=scale_factor,
        buffers=buffers,
        weights_path=weights_path,
    )[0]


def to_json(boxes: np.ndarray, scores: np.ndarray, landmarks: np.ndarray) -> list[dict]:
    """One image's detections as JSON-serializable dicts.

    Args:
      boxes, scores, landmarks: as `detect` returns them.

    Returns:
      ``[{"box": [x1, y1, x2, y2], "score": s, "landmarks": {"left_eye": [x, y], ...}}]``.

    Example:
      >>> boxes, scores, landmarks = np.array([[1.0, 2, 3, 4]]), np.array([0.9]), np.ones((1, 5, 2))
      >>> to_json(boxes, scores, landmarks)[0]["landmarks"]["nose"]
      [1.0, 1.0]
    """
    return [
        {
            "box": [float(v) for v in box],
            "score": float(score),
            "landmarks": {
                name: [float(v) for v in point]
                for name, point in zip(LANDMARK_NAMES, points, strict=True)
            },
        }
        for box, score, points in zip(boxes, scores, landmarks, strict=True)
    ]
