"""Aligned crops of detected faces: landmarks given by a stand-in detector land on the
template; MTCNN's own detections on a real photo align consistently."""

from __future__ import annotations

import numpy as np
import pytest

from jaxvision.faces import align
from jaxvision.ops import face_align

SIZE = 48


def _face_at(angle: float, scale: float, shift) -> np.ndarray:
    """The [5, 2] landmarks of a face: the template of a SIZE crop, rotated, scaled, moved."""
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    template = np.asarray(face_align.face_template(SIZE), np.float64)
    return template @ np.array([[c, -s], [s, c]]).T + np.asarray(shift)


def _photo(faces, shape=(120, 160)) -> np.ndarray:
    """A grey photo with a bright 3x3 block on every landmark."""
    photo = np.zeros(shape, np.uint8)
    for points in faces:
        for x, y in points:
            photo[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2] = 255
    return photo


def test_detected_landmarks_land_on_the_template():
    faces = np.stack([_face_at(0.3, 1.2, (10, 5)), _face_at(-0.2, 0.9, (95, 40)),
                      _face_at(0.0, 1.5, (40, 45))])  # fmt: skip
    boxes = np.zeros((3, 4), np.float32)

    def detect(image, min_face_size=20):
        assert image.shape == (120, 160, 3) and min_face_size == 30  # grey became RGB
        return boxes, np.ones(3, np.float32), faces.astype(np.float32)

    crops, got_boxes, scores, landmarks = align.detect_and_align(
        _photo(faces), SIZE, detect_fn=detect, min_face_size=30
    )
    assert crops.shape == (3, SIZE, SIZE, 3) and crops.dtype == np.uint8
    np.testing.assert_array_equal(landmarks, faces.astype(np.float32))
    for crop in crops:  # every face's blocks at the template points, and dark elsewhere
        for x, y in np.asarray(face_align.face_template(SIZE)):
            assert crop[int(y), int(x), 0] > 100
        assert crop[2, 2, 0] == 0 and crop[SIZE // 2, 3, 0] == 0


def test_no_face_gives_empty_crops():
    def detect(image):
        return np.zeros((0, 4)), np.zeros((0,)), np.zeros((0, 5, 2))

    crops, boxes, _, _ = align.detect_and_align(np.zeros((30, 30, 4), np.uint8), detect_fn=detect)
    assert crops.shape == (0, 112, 112, 3) and boxes.shape == (0, 4)
    with pytest.raises(ValueError, match="uint8"):
        align.align_detected(np.zeros((30, 30, 3)), np.zeros((1, 5, 2)))


def test_mtcnn_faces_of_a_photo_align():
    from skimage import data

    try:
        crops, boxes, _, landmarks = align.detect_and_align(data.astronaut(), 112)
    except (FileNotFoundError, OSError) as error:
        pytest.skip(f"no MTCNN weights: {error}")
    assert crops.shape == (1, 112, 112, 3) and boxes.shape == (1, 4)
    # MTCNN's five points are a face: a similarity maps them near the template (a wide
    # smile moves the mouth corners; swapped or scattered points would be far off).
    matrix = face_align.alignment_matrix(landmarks, 112)
    moved = np.asarray(face_align.transform_points(matrix, landmarks))[0]
    template = np.asarray(face_align.face_template(112))
    assert np.abs(moved - template).max() < 0.2 * (template[1, 0] - template[0, 0])
    assert crops[0].std() > 20  # a face, not the zero border
