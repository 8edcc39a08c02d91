"""``decode_faces``: a face-detection example with five landmarks -> the detection schema.

Reads any of:

* the TFDS ``wider_face`` schema: ``faces`` with ``bbox`` [n, 4] normalised (ymin, xmin,
  ymax, xmax) and ``invalid`` [n]; the built-in ``jaxvision_faces_scene`` adds
  ``landmarks`` [n, 5, 2] normalised (x, y) and ``landmarks_valid`` [n]. Without
  ``landmarks`` (the real ``wider_face``) every face's landmarks are unknown (masked);
* the detection schema ``objects`` (``bbox``, optional ``is_crowd``), e.g. a user's COCO
  JSON through ``jaxvision.data.coco_json``, whose ``keypoints`` [n, 5, 2] normalised (x, y)
  and ``keypoints_labeled`` [n, 5] become the landmarks (a face's landmarks are known where
  all five are labelled). Every object is a face, whatever its label.

The output is ``decode_detection``'s (``labels`` all 0: one class, "face"; ``invalid`` /
``is_crowd`` faces ``box_ignore``) plus ``landmarks`` float32 [n, 5, 2] normalised (x, y)
and ``landmark_mask`` bool [n]; ``jaxvision.data.preprocess.landmarks`` moves them with
every geometric op and ``pad_boxes`` pads them.

Example:
  >>> raw = {"image": np.zeros((8, 8, 3), np.uint8),
  ...        "faces": {"bbox": np.array([[0.0, 0.0, 0.5, 0.5]], np.float32),
  ...                  "invalid": np.array([False])}}
  >>> out = decode_faces()(raw, None)
  >>> out["labels"].tolist(), out["landmarks"].shape, out["landmark_mask"].tolist()
  ([0], (1, 5, 2), [False])
"""

from __future__ import annotations

import numpy as np

from jaxvision.data.preprocess.detection_ops import decode_detection
from jaxvision.data.preprocess.geometry import DROPPED_KEY
from jaxvision.data.preprocess.landmarks import LANDMARK_MASK_KEY, LANDMARKS_KEY
from jaxvision.data.preprocess.registry import Features, Op, register
from jaxvision.ops.landmarks import NUM_FACE_LANDMARKS

FACES_KEY = "faces"
OBJECTS_KEY = "objects"
FACE_LABEL = 0


def _as_array(values, dtype, shape_tail: tuple[int, ...]) -> np.ndarray:
    """``values`` as ``dtype`` [n, *shape_tail] (TFDS gives [] for an empty sequence)."""
    return np.asarray(values, dtype).reshape(-1, *shape_tail)


def _landmarks(annotations: dict, n: int, points_key: str, valid_key: str) -> tuple:
    """(landmarks [n, 5, 2], valid [n]) of one schema; zeros and False where absent."""
    if points_key not in annotations:
        return np.zeros((n, NUM_FACE_LANDMARKS, 2), np.float32), np.zeros(n, bool)
    points = np.asarray(annotations[points_key], np.float32)
    if points.size != n * NUM_FACE_LANDMARKS * 2:
        raise ValueError(
            f"{points_key} must be [{n}, {NUM_FACE_LANDMARKS}, 2] (x, y) for {n} faces, "
            f"got shape {points.shape}"
        )
    points = points.reshape(n, NUM_FACE_LANDMARKS, 2)  # [n, 5, 2]
    valid = np.asarray(annotations.get(valid_key, np.ones(n, bool)), bool)
    if valid.size not in (n, n * NUM_FACE_LANDMARKS):
        raise ValueError(f"{valid_key} must be [{n}] or [{n}, 5], got shape {valid.shape}")
    valid = valid.reshape(n, -1).all(axis=1) if n else np.zeros(0, bool)  # [n] (all points)
    return points, valid & np.isfinite(points).all(axis=(1, 2))


def face_annotations(features: Features) -> dict[str, np.ndarray]:
    """The faces of a raw example, in either schema of the module docstring.

    Returns:
      ``bbox`` float32 [n, 4], ``ignore`` bool [n], ``landmarks`` float32 [n, 5, 2] and
      ``landmark_mask`` bool [n].

    Raises:
      ValueError: the example has neither ``faces`` nor ``objects``, or its landmarks are
        not five (x, y) points a face.

    Example:
      >>> face_annotations({"objects": {"bbox": np.zeros((2, 4))}})["landmarks"].shape
      (2, 5, 2)
    """
    if FACES_KEY in features:
        faces = features[FACES_KEY]
        boxes = _as_array(faces["bbox"], np.float32, (4,))  # [n, 4]
        ignore = _as_array(faces.get("invalid", np.zeros(len(boxes))), bool, ())  # [n]
        points, valid = _landmarks(faces, len(boxes), "landmarks", "landmarks_valid")
    elif OBJECTS_KEY in features:
        objects = features[OBJECTS_KEY]
        boxes = _as_array(objects["bbox"], np.float32, (4,))  # [n, 4]
        ignore = _as_array(objects.get("is_crowd", np.zeros(len(boxes))), bool, ())  # [n]
        points, valid = _landmarks(objects, len(boxes), "keypoints", "keypoints_labeled")
    else:
        raise ValueError(
            f"decode_faces needs the raw '{FACES_KEY}' (wider_face schema) or "
            f"'{OBJECTS_KEY}' (detection schema) feature; got keys {sorted(features)}"
        )
    if len(ignore) != len(boxes):
        raise ValueError(f"{len(boxes)} face boxes but {len(ignore)} invalid/is_crowd flags")
    return {"bbox": boxes, "ignore": ignore, LANDMARKS_KEY: points, LANDMARK_MASK_KEY: valid}


@register("decode_faces")
def decode_faces() -> Op:
    """Raw face example (``wider_face`` or detection schema) -> the detection schema plus
    ``landmarks`` and ``landmark_mask`` (see the module docstring).

    Boxes with no area after clipping to [0, 1] are dropped with their landmarks and counted
    in ``num_dropped_boxes``, as ``decode_detection`` does.

    Returns:
      The op.
    """
    detection = decode_detection()

    def op(features: Features, rng: np.random.Generator) -> Features:
        faces = face_annotations(features)
        clipped = np.clip(faces["bbox"], 0.0, 1.0)  # [n, 4]
        keep = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])  # [n]
        raw = {k: v for k, v in features.items() if k not in (FACES_KEY, OBJECTS_KEY)}
        raw[OBJECTS_KEY] = {
            "bbox": faces["bbox"][keep],  # [k, 4]
            "label": np.full(int(keep.sum()), FACE_LABEL, np.int64),  # [k]
            "is_crowd": faces["ignore"][keep],  # [k]
        }
        out = detection(raw, rng)
        out[DROPPED_KEY] = np.int32(int(out[DROPPED_KEY]) + int((~keep).sum()))
        out[LANDMARKS_KEY] = faces[LANDMARKS_KEY][keep]  # [k, 5, 2]
        out[LANDMARK_MASK_KEY] = faces[LANDMARK_MASK_KEY][keep]  # [k]
        return out

    return op
