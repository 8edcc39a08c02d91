"""Face-crop ops: CelebA-schema targets as arrays, a landmark-aware flip, text identities.

``decode_face_crop`` turns the TFDS ``celeb_a`` schema (which ``jaxvision_faces_identity``
shares) into arrays a batch can carry: ``attributes`` float32 [a] (0/1, in the order
asked for) and ``landmarks`` float32 [5, 2], the (x, y) of left eye, right eye, nose tip,
left and right mouth corner normalised by the image's width and height, so that ``resize``
leaves them right. CelebA stores the pixel that holds each landmark: its centre is used
(``jaxvision.ops.face_align``'s pixel convention). ``flip_face`` mirrors an example with
its landmarks (the generic ``flip_lr`` does not know them). ``text_label`` maps the TFDS
``lfw`` schema's person names to integer identities.

Example:
    >>> from jaxvision.data.preprocess import build
    >>> names = ("lefteye", "righteye", "nose", "leftmouth", "rightmouth")
    >>> example = {"image": np.zeros((10, 20, 3), np.uint8),
    ...            "attributes": {"Male": True, "Smiling": False},
    ...            "landmarks": {f"{n}_{a}": 4 for n in names for a in "xy"}}
    >>> out = build("decode_face_crop(attributes=('Smiling', 'Male'))")(example, None)
    >>> out["attributes"].tolist(), (out["landmarks"][0] * [20, 10]).round(3).tolist()
    ([0.0, 1.0], [4.5, 4.5])
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from jaxvision.data.preprocess.registry import Features, Op, register
from jaxvision.ops.face_align import NUM_LANDMARKS, PIXEL_CENTER

# CelebA's (and MTCNN's) landmark order, as celeb_a names the fields "<name>_x", "<name>_y".
LANDMARK_NAMES = ("lefteye", "righteye", "nose", "leftmouth", "rightmouth")
DEFAULT_ATTRIBUTES = ("Male", "Young", "Smiling", "Eyeglasses")
# The landmark order of a mirrored face: left and right eyes, left and right mouth corners swap.
MIRRORED_ORDER = (1, 0, 2, 4, 3)
# `text_label` without a vocabulary: a stable hash of the name in [0, 2**31).
HASH_BYTES = 4
HASH_MASK = 0x7FFFFFFF


def _landmark_pixels(landmarks) -> np.ndarray:
    """The (x, y) pixel points [5, 2] of a celeb_a landmarks dict (centres of the pixels
    it names) or of a [5, 2] / [10] array of points."""
    if isinstance(landmarks, dict):
        missing = [f"{n}_{a}" for n in LANDMARK_NAMES for a in "xy" if f"{n}_{a}" not in landmarks]
        if missing:
            raise ValueError(
                f"decode_face_crop: landmarks lack {missing} (has {sorted(landmarks)})"
            )
        pixels = [[landmarks[f"{n}_x"], landmarks[f"{n}_y"]] for n in LANDMARK_NAMES]
        return np.asarray(pixels, np.float32) + PIXEL_CENTER  # [5, 2]
    points = np.asarray(landmarks, np.float32)
    if points.size != 2 * NUM_LANDMARKS:
        raise ValueError(f"decode_face_crop: landmarks must be 5 (x, y) points, got {points.shape}")
    return points.reshape(NUM_LANDMARKS, 2)


@register("decode_face_crop")
def decode_face_crop(attributes: Sequence[str] = DEFAULT_ATTRIBUTES, landmarks: bool = True) -> Op:
    """The celeb_a schema's ``attributes`` and ``landmarks`` as arrays.

    Args:
      attributes: the attribute names to keep, in this order (() keeps none; the
        example's ``attributes`` dict is then left as it is, and dropped by the batch's keys).
      landmarks: convert ``landmarks`` (a celeb_a dict of pixel fields, or [5, 2] exact
        (x, y) pixels) to normalised float32 [5, 2].

    Returns:
      The op; it raises a ValueError naming what is missing from an example.

    Example:
      >>> op = decode_face_crop(attributes=("Male",), landmarks=False)
      >>> op({"image": np.zeros((4, 4, 3)), "attributes": {"Male": False}}, None)["attributes"]
      array([0.], dtype=float32)
    """
    names = tuple(attributes)

    def op(features: Features, rng: np.random.Generator) -> Features:
        del rng
        out = dict(features)
        if names:
            given = features.get("attributes")
            if not isinstance(given, dict) or any(n not in given for n in names):
                found = sorted(given) if isinstance(given, dict) else None
                raise ValueError(f"decode_face_crop: wants attributes {names}, found {found}")
            out["attributes"] = np.asarray([bool(given[n]) for n in names], np.float32)
        if landmarks:
            if "landmarks" not in features:
                raise ValueError(
                    f"decode_face_crop: no landmarks in the example {sorted(features)}"
                )
            h, w = np.shape(features["image"])[:2]
            size = np.array([w, h], np.float32)
            out["landmarks"] = _landmark_pixels(features["landmarks"]) / size  # [5, 2]
        return out

    return op


def mirror_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Normalised [..., 5, 2] landmarks of the left-right mirrored image (left <-> right).

    Example:
      >>> points = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.4, 0.8], [0.6, 0.8]])
      >>> bool(np.allclose(mirror_landmarks(points), points))  # a symmetric face
      True
    """
    mirrored = np.array(landmarks, np.float32)[..., MIRRORED_ORDER, :]  # [..., 5, 2]
    mirrored[..., 0] = 1.0 - mirrored[..., 0]
    return mirrored


@register("flip_face")
def flip_face(probability: float = 0.5) -> Op:
    """Mirrors the image left-right with the given probability, and its normalised
    ``landmarks`` (after ``decode_face_crop``) with it.

    Returns:
      The op.

    Example:
      >>> ex = {"image": np.arange(2, dtype=np.uint8).reshape(1, 2, 1),
      ...       "landmarks": np.tile([[0.25, 0.5]], (5, 1))}
      >>> out = flip_face(1.0)(ex, np.random.default_rng(0))
      >>> out["image"].ravel().tolist(), out["landmarks"][0].tolist()
      ([1, 0], [0.75, 0.5])
    """
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"flip_face: probability must be in [0, 1], got {probability}")

    def op(features: Features, rng: np.random.Generator) -> Features:
        if rng.random() >= probability:
            return features
        out = dict(features)
        out["image"] = np.ascontiguousarray(np.asarray(features["image"])[:, ::-1])
        if "landmarks" in features:
            if isinstance(features["landmarks"], dict):
                raise ValueError("flip_face: run decode_face_crop first (landmarks are a dict)")
            out["landmarks"] = mirror_landmarks(features["landmarks"])
        return out

    return op


def name_hash(name: str) -> int:
    """A stable (process- and run-independent) integer in [0, 2**31) for a name.

    Example:
      >>> name_hash("Aaron_Peirsol") == name_hash(b"Aaron_Peirsol")
      True
    """
    data = name if isinstance(name, bytes) else str(name).encode("utf-8")
    digest = hashlib.blake2b(data, digest_size=HASH_BYTES).digest()
    return int.from_bytes(digest, "little") & HASH_MASK


@register("text_label")
def text_label(vocabulary: str = "") -> Op:
    """A text ``label`` (TFDS ``lfw``'s person name) as an integer identity.

    Args:
      vocabulary: a text file of names, one a line: the label is the name's line number
        (training needs these class ids). "": a stable hash of the name (``name_hash``),
        enough to tell same from different people (verification evaluation), but not a
        class id.

    Returns:
      The op; it raises a ValueError for a name missing from the vocabulary.

    Example:
      >>> int(text_label()({"label": "Aaron_Peirsol"}, None)["label"]) == name_hash("Aaron_Peirsol")
      True
    """
    index = None
    if vocabulary:
        with open(vocabulary, encoding="utf-8") as f:
            names = [line.strip() for line in f if line.strip()]
        index = {name: i for i, name in enumerate(names)}

    def op(features: Features, rng: np.random.Generator) -> Features:
        del rng
        name = features["label"]
        if isinstance(name, np.ndarray):
            name = name.item()
        name = name.decode("utf-8") if isinstance(name, bytes) else str(name)
        if index is None:
            return {**features, "label": np.int64(name_hash(name))}
        if name not in index:
            raise ValueError(f"text_label: {name!r} is not in the vocabulary {vocabulary!r}")
        return {**features, "label": np.int64(index[name])}

    return op
