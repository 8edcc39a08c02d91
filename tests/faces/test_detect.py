"""`jaxvision.faces.detect` on scikit-image's photographs, odd inputs, and the command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data
from PIL import Image

from jaxvision import faces
from jaxvision.convert import facenet_mtcnn
from jaxvision.faces import cascade
from jaxvision.faces import weights as weights_file
from jaxvision.faces.__main__ import main
from tests.faces import mtcnn_reference

LEFT_EYE, RIGHT_EYE, NOSE, MOUTH_LEFT, MOUTH_RIGHT = range(5)


@pytest.fixture(scope="module")
def astronaut():
    return skimage.data.astronaut()  # [512, 512, 3]


@pytest.fixture(scope="module")
def astronaut_faces(astronaut):
    return faces.detect(astronaut)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.prod(np.maximum(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0))
    return float(inter / (np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter))


def _check_shapes(boxes, scores, landmarks, n):
    assert boxes.shape == (n, 4) and scores.shape == (n,) and landmarks.shape == (n, 5, 2)
    assert boxes.dtype == scores.dtype == landmarks.dtype == np.float32


def test_one_face_in_the_astronaut(astronaut_faces):
    boxes, scores, landmarks = astronaut_faces
    _check_shapes(boxes, scores, landmarks, 1)
    (x1, y1, x2, y2), points = boxes[0], landmarks[0]
    assert scores[0] > 0.99
    assert np.all((points[:, 0] > x1) & (points[:, 0] < x2))
    assert np.all((points[:, 1] > y1) & (points[:, 1] < y2))
    eyes_y = points[[LEFT_EYE, RIGHT_EYE], 1]
    assert eyes_y.max() < points[NOSE, 1] < points[[MOUTH_LEFT, MOUTH_RIGHT], 1].min()
    assert points[LEFT_EYE, 0] < points[RIGHT_EYE, 0]  # left as seen in the image
    assert points[MOUTH_LEFT, 0] < points[MOUTH_RIGHT, 0]
    # Her face: about 90 x 110 px around (225, 115) in the 512 px photograph.
    assert 170 < x1 < 200 and 250 < x2 < 280 and 50 < y1 < 80 and 160 < y2 < 190


def test_same_as_facenet_pytorchs_cascade(astronaut, astronaut_faces, facenet_wheel):
    # facenet-pytorch's algorithm (every candidate kept, torch resampling) with the same
    # pretrained weights: the same face, box and landmarks.
    nets = mtcnn_reference.load_nets(facenet_mtcnn.read_wheel(facenet_wheel))
    expected = mtcnn_reference.detect(nets, astronaut)
    for got, want in zip(astronaut_faces, expected, strict=True):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-2, rtol=1e-5)


def test_no_face_in_the_coffee():
    boxes, scores, landmarks = faces.detect(skimage.data.coffee())  # [400, 600, 3]
    _check_shapes(boxes, scores, landmarks, 0)


def test_images_of_a_bucket_share_one_compiled_cascade(astronaut, astronaut_faces):
    compiled = cascade.cascade._cache_size()
    boxes, _, _ = faces.detect(astronaut[:500, :490])  # pads to the same 512 x 512 bucket
    assert cascade.cascade._cache_size() == compiled
    assert len(boxes) == 1 and _iou(boxes[0], astronaut_faces[0][0]) > 0.8  # the same face


def test_an_image_smaller_than_the_smallest_face_has_none():
    _check_shapes(*faces.detect(np.full((19, 40, 3), 128, np.uint8)), 0)
    _check_shapes(*faces.detect(np.zeros((30, 30, 3), np.uint8), min_face_size=31), 0)


def test_grey_and_rgba_images_are_converted(astronaut, astronaut_faces):
    rgba = np.concatenate([astronaut, np.full((512, 512, 1), 7, np.uint8)], axis=-1)
    for got, want in zip(faces.detect(rgba), astronaut_faces, strict=True):
        np.testing.assert_array_equal(got, want)
    grey = astronaut.mean(axis=-1).round().astype(np.uint8)  # [512, 512]
    for image in (grey, grey[..., None], Image.fromarray(grey)):
        boxes, _, _ = faces.detect(image)
        assert len(boxes) == 1 and _iou(boxes[0], astronaut_faces[0][0]) > 0.8


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="uint8"):
        faces.detect(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[H, W, 1\|3\|4\]"):
        faces.detect(np.zeros((64, 64, 2), np.uint8))
    with pytest.raises(ValueError, match="thresholds"):
        faces.detect(np.zeros((64, 64, 3), np.uint8), thresholds=(0.6, 0.7))
    with pytest.raises(ValueError, match="scale_factor"):
        faces.detect(np.zeros((64, 64, 3), np.uint8), scale_factor=1.2)
    with pytest.raises(ValueError, match="differ in size"):
        faces.detect_batch([np.zeros((64, 64, 3), np.uint8), np.zeros((64, 65, 3), np.uint8)])


def test_missing_or_damaged_weights_say_how_to_rebuild(tmp_path):
    image = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(FileNotFoundError, match=r"python -m jaxvision\.convert\.facenet_mtcnn"):
        faces.detect(image, weights_path=tmp_path / "mtcnn.npz")
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(weights_file.DEFAULT_PATH.read_bytes()[:50_000])  # truncated
    with pytest.raises(ValueError, match=r"damaged.*python -m jaxvision\.convert\.facenet_mtcnn"):
        faces.detect(image, weights_path=damaged)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, **{"pnet/params/conv1/kernel": np.zeros((3, 3, 3, 10), np.float32)})
    with pytest.raises(ValueError, match="missing onet/params/conv1/bias"):
        weights_file.load(wrong)


def test_the_command_draws_and_writes_json(tmp_path, astronaut, astronaut_faces):
    path = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(path)
    out = tmp_path / "out"
    records = main([str(path), f"--out={out}"])
    picture = np.asarray(Image.open(out / "astronaut.png"))
    assert picture.shape == astronaut.shape
    assert np.any(picture != astronaut)  # something was drawn
    written = json.loads((out / "detections.json").read_text())
    assert written == records
    (face,) = written[0]["faces"]
    assert (written[0]["height"], written[0]["width"]) == (512, 512)
    np.testing.assert_allclose(face["box"], astronaut_faces[0][0], rtol=1e-6)
    assert list(face["landmarks"]) == list(faces.LANDMARK_NAMES)
    with pytest.raises(SystemExit):
        main([str(tmp_path / "missing.png"), f"--out={out}"])
