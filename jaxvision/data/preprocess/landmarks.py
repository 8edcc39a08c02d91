"""How per-box landmarks move with the image: crops, flips and padding.

A face example (``decode_faces``) holds, beside its ``boxes`` [n, 4]:

  ``landmarks``      float32 [n, k, 2]  each box's k points, normalised (x, y) of the image
                                       (x first, unlike the boxes; the TFDS and MTCNN order);
  ``landmark_mask``  bool [n]           True where the box's points are all known.

``geometry.crop_features`` and ``geometry.flip_features`` call these helpers, so every
geometric op (``flip_lr``, ``letterbox``, ``scale_jitter``, ``random_resized_crop`` ...)
moves the points with the pixels; ``pad_boxes`` pads them to ``max_boxes`` rows. Points
are not clipped: a point a crop pushes outside the image is still the face's point.

A horizontal flip mirrors x and also swaps the points that name a side: the image-left eye
of an upright face becomes its image-right eye. ``FLIP_ORDERS`` holds, for each known
point count, the order of the points after a flip; five points are MTCNN's left eye, right
eye, nose tip, left mouth corner, right mouth corner.

Example:
  >>> ex = {"landmarks": np.array([[[0.2, 0.3], [0.6, 0.3], [0.4, 0.5], [0.3, 0.7],
  ...                               [0.5, 0.7]]], np.float32)}
  >>> eyes = flip_landmarks(ex)["landmarks"][0, :2]  # swapped and mirrored
  >>> eyes.astype(np.float64).round(2).tolist()
  [[0.4, 0.3], [0.8, 0.3]]
"""

from __future__ import annotations

import numpy as np

from jaxvision.data.preprocess.registry import Features

LANDMARKS_KEY = "landmarks"
LANDMARK_MASK_KEY = "landmark_mask"
# Points per box -> their order after a left-right flip.
FLIP_ORDERS = {5: (1, 0, 2, 4, 3)}


def _landmarks(features: Features) -> np.ndarray:
    """The example's landmarks as float32 [n, k, 2], checked against its boxes."""
    points = np.asarray(features[LANDMARKS_KEY], np.float32)
    n = len(np.asarray(features["boxes"]).reshape(-1, 4))
    if points.ndim != 3 or points.shape[0] != n or points.shape[2] != 2:
        raise ValueError(f"landmarks must be [{n}, k, 2] (one row a box), got {points.shape}")
    if LANDMARK_MASK_KEY not in features:
        raise ValueError(f"an example with {LANDMARKS_KEY!r} needs {LANDMARK_MASK_KEY!r}")
    return points


def crop_landmarks(
    features: Features, scale_yx: np.ndarray, shift_yx: np.ndarray, keep: np.ndarray
) -> Features:
    """The landmarks of a crop: normalised ``c`` becomes ``c * scale - shift``, and the
    rows of dropped boxes go.

    Args:
      features: the example before the crop (``landmarks``, ``landmark_mask``, ``boxes``).
      scale_yx: (y, x) scale of the crop's coordinate map.
      shift_yx: (y, x) shift of the crop's coordinate map.
      keep: [n] bool, the boxes the crop keeps.

    Returns:
      ``{"landmarks": [k', p, 2], "landmark_mask": [k']}``.

    Example:
      >>> ex = {"boxes": np.zeros((1, 4)), "landmarks": np.full((1, 5, 2), 0.5),
      ...       "landmark_mask": np.array([True])}
      >>> crop_landmarks(ex, np.array([2.0, 2.0]), np.array([0.0, 0.5]), np.array([True]))[
      ...     "landmarks"][0, 0].tolist()
      [0.5, 1.0]
    """
    points = _landmarks(features)  # [n, p, 2]
    scale = np.asarray(scale_yx, np.float32)[::-1]  # [2] (x, y)
    shift = np.asarray(shift_yx, np.float32)[::-1]  # [2] (x, y)
    moved = (points * scale - shift).astype(np.float32)  # [n, p, 2]
    mask = np.asarray(features[LANDMARK_MASK_KEY], bool).reshape(-1)  # [n]
    return {LANDMARKS_KEY: moved[keep], LANDMARK_MASK_KEY: mask[keep]}


def flip_landmarks(features: Features) -> Features:
    """The landmarks of the left-right mirrored example: x becomes 1 - x, and the points
    are reordered by ``FLIP_ORDERS`` (left and right swap).

    Raises:
      ValueError: no flip order is known for the number of points.
    """
    points = np.asarray(features[LANDMARKS_KEY], np.float32)  # [n, p, 2]
    if points.ndim != 3 or points.shape[2] != 2:
        raise ValueError(f"landmarks must be [n, k, 2], got {points.shape}")
    k = points.shape[1]
    if k not in FLIP_ORDERS:
        raise ValueError(
            f"no left-right order is known for {k} landmarks a box (known: "
            f"{sorted(FLIP_ORDERS)}): add it to FLIP_ORDERS, or do not flip"
        )
    flipped = points[:, list(FLIP_ORDERS[k])]  # [n, p, 2]
    flipped[..., 0] = 1.0 - flipped[..., 0]
    return {LANDMARKS_KEY: flipped}


def pad_landmarks(features: Features, max_boxes: int) -> Features:
    """The landmarks padded (or truncated) to ``max_boxes`` rows, as ``pad_boxes`` pads the
    boxes: padding rows are 0 with ``landmark_mask`` False.

    Example:
      >>> ex = {"boxes": np.zeros((1, 4)), "landmarks": np.ones((1, 5, 2)),
      ...       "landmark_mask": np.array([True])}
      >>> pad_landmarks(ex, 3)["landmark_mask"].tolist()
      [True, False, False]
    """
    points = _landmarks(features)  # [n, p, 2]
    k = min(len(points), max_boxes)
    out_points = np.zeros((max_boxes, *points.shape[1:]), np.float32)  # [m, p, 2]
    out_points[:k] = points[:k]
    mask = np.zeros(max_boxes, bool)  # [m]
    mask[:k] = np.asarray(features[LANDMARK_MASK_KEY], bool).reshape(-1)[:k]
    return {LANDMARKS_KEY: out_points, LANDMARK_MASK_KEY: mask}
