"""decode_faces and the landmarks that move with the geometry: flips swap left and right."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from jaxvision.data import preprocess
from jaxvision.data.preprocess import landmarks
from jaxvision.data.sources import open_split
from tests.data.preprocess.images import coords

H, W = 20, 30
# A face's points at pixel centres: left eye, right eye, nose tip, left / right mouth corner.
POINTS_PX = np.array([[5.5, 4.5], [12.5, 4.5], [9.5, 8.5], [6.5, 12.5], [11.5, 12.5]])


def _face_example(image=None, with_landmarks=True):
    """A wider_face-schema example: the face of POINTS_PX and a second, smaller one."""
    image = coords(H, W) if image is None else image
    h, w = image.shape[:2]
    points = np.stack([POINTS_PX, POINTS_PX + [14.0, 2.0]]) / [w, h]  # [2, 5, 2]
    faces = {
        "bbox": np.array([[2 / h, 3 / w, 15 / h, 15 / w], [4 / h, 17 / w, 17 / h, 29 / w]]),
        "invalid": np.array([False, False]),
    }
    if with_landmarks:
        faces["landmarks"] = points.astype(np.float32)
        faces["landmarks_valid"] = np.array([True, False])
    return {"image": image, "faces": faces}


def _pixel_source(image, points):
    """The (x, y) pixel centre each normalised point's pixel of a coords image came from."""
    h, w = image.shape[:2]
    cols = np.floor(points[:, 0] * w).astype(int)
    rows = np.floor(points[:, 1] * h).astype(int)
    i, j = image[rows, cols, 0], image[rows, cols, 1]  # the source row and column
    return np.stack([j + 0.5, i + 0.5], axis=-1)  # [k, 2]


def test_decode_faces_reads_boxes_landmarks_and_validity():
    out = preprocess.build("decode_faces", max_boxes=4)(_face_example(), np.random.default_rng(0))
    assert out["labels"].tolist() == [0, 0, -1, -1]
    assert out["landmarks"].shape == (4, 5, 2)
    assert out["landmark_mask"].tolist() == [True, False, False, False]
    np.testing.assert_allclose(out["landmarks"][0], POINTS_PX / [W, H], rtol=1e-6)
    assert not out["landmarks"][2:].any()


def test_flip_mirrors_points_and_swaps_left_and_right():
    out = preprocess.build("decode_faces|flip_lr(1.0)")(_face_example(), np.random.default_rng(0))
    flipped = out["landmarks"][0]  # [5, 2]
    # The points still sit on the pixels they marked: new point k is old point FLIP[k].
    order = list(landmarks.FLIP_ORDERS[5])
    np.testing.assert_allclose(_pixel_source(out["image"], flipped), POINTS_PX[order])
    np.testing.assert_allclose(flipped[:, 0], 1.0 - POINTS_PX[order, 0] / W, rtol=1e-6)
    # And the names still hold: the left eye and mouth corner are on the image's left.
    assert flipped[0, 0] < flipped[1, 0] and flipped[3, 0] < flipped[4, 0]
    assert out["landmark_mask"].tolist() == [True, False]


def test_crops_move_points_with_pixels_and_drop_them_with_their_boxes():
    out = preprocess.build("decode_faces|flip_lr(1.0)")(_face_example(), np.random.default_rng(0))
    cropped = preprocess.crop_features(out, 1, 5, 17, 25, min_visible=0.9)
    order = list(landmarks.FLIP_ORDERS[5])
    assert len(cropped["boxes"]) == 1  # the small face (now on the left) is cut: dropped
    assert cropped["landmarks"].shape == (1, 5, 2) and cropped["landmark_mask"].tolist() == [True]
    np.testing.assert_allclose(
        _pixel_source(cropped["image"], cropped["landmarks"][0]), POINTS_PX[order]
    )


@pytest.mark.parametrize(
    ("spec", "moves"),
    [("letterbox(64)", True), ("scale_jitter(64, 0.6, 0.6)", True), ("resize(48)", False)],
)
def test_points_at_box_corners_stay_at_the_corners(spec, moves):
    example = _face_example(np.zeros((40, 100, 3), np.uint8))
    boxes = example["faces"]["bbox"]  # (ymin, xmin, ymax, xmax)
    example["faces"]["landmarks"][:, :, 0] = boxes[:, None, 1]  # every point at the top-left
    example["faces"]["landmarks"][:, :, 1] = boxes[:, None, 0]
    out = preprocess.build(f"decode_faces|{spec}")(example, np.random.default_rng(0))
    corner = np.broadcast_to(out["boxes"][:, None, 1::-1], out["landmarks"].shape)  # (x, y)
    np.testing.assert_allclose(out["landmarks"], corner, atol=1e-6)
    assert np.allclose(out["landmarks"], example["faces"]["landmarks"]) != moves


def test_wider_face_schema_without_landmarks_is_masked():
    example = _face_example(with_landmarks=False)
    out = preprocess.build("decode_faces|flip_lr(1.0)", max_boxes=3)(
        example, np.random.default_rng(0)
    )
    assert out["box_mask"].tolist() == [True, True, False]
    assert not out["landmark_mask"].any() and out["landmarks"].shape == (3, 5, 2)


def test_empty_faces_and_degenerate_boxes():
    empty = {"image": np.zeros((8, 8, 3), np.uint8), "faces": {"bbox": [], "invalid": []}}
    out = preprocess.build("decode_faces", max_boxes=2)(empty, np.random.default_rng(0))
    assert not out["box_mask"].any() and not out["landmark_mask"].any()
    example = _face_example()
    example["faces"]["bbox"][0] = [0.5, 0.5, 0.5, 0.9]  # zero height: dropped with its points
    out = preprocess.build("decode_faces")(example, np.random.default_rng(0))
    assert out["num_dropped_boxes"] == 1 and out["landmark_mask"].tolist() == [False]
    np.testing.assert_allclose(out["landmarks"][0], (POINTS_PX + [14.0, 2.0]) / [W, H], rtol=1e-6)


def test_detection_schema_with_coco_keypoints():
    points = (POINTS_PX / [W, H])[None].astype(np.float32)  # [1, 5, 2]
    visible = np.array([[True, True, True, True, True], [True, False, True, True, True]])
    example = {
        "image": coords(H, W),
        "objects": {
            "bbox": np.array([[0.1, 0.1, 0.8, 0.5], [0.2, 0.5, 0.9, 0.9]], np.float32),
            "label": np.array([3, 3]),
            "is_crowd": np.array([False, True]),
            "keypoints": np.concatenate([points, points]),
            "keypoints_labeled": visible,
        },
    }
    out = preprocess.build("decode_faces")(example, np.random.default_rng(0))
    assert out["labels"].tolist() == [0, 0]  # every object is a face
    assert out["box_ignore"].tolist() == [False, True]
    assert out["landmark_mask"].tolist() == [True, False]  # a point of face 2 is unlabelled


def test_bad_input():
    with pytest.raises(ValueError, match="'faces'"):
        preprocess.build("decode_faces")({"image": np.zeros((4, 4, 3), np.uint8)}, None)
    example = _face_example()
    example["faces"]["landmarks"] = np.zeros((2, 4, 2), np.float32)
    with pytest.raises(ValueError, match=r"\[2, 5, 2\]"):
        preprocess.build("decode_faces")(example, None)
    three = {
        "image": np.zeros((4, 4, 3), np.uint8),
        "boxes": np.zeros((1, 4)),
        "landmarks": np.zeros((1, 3, 2)),
        "landmark_mask": np.ones(1, bool),
    }
    with pytest.raises(ValueError, match="no left-right order"):
        preprocess.flip_features(three)


def test_coco_keypoints_json_reaches_the_face_schema(tmp_path):
    os.makedirs(tmp_path / "images")
    Image.fromarray(np.zeros((40, 80, 3), np.uint8)).save(tmp_path / "images" / "a.png")
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(tmp_path / "images" / "b.png")
    points = [[10.0, 8.0], [20.0, 8.0], [15.0, 14.0], [11.0, 20.0], [19.0, 20.0]]
    full = [v for x, y in points for v in (x, y, 2)]
    one_unlabelled = full[:-3] + [0, 0, 0]
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 2, 20, 24], "keypoints": full},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [40, 2, 20, 24]},  # no keypoints
        {
            "id": 3,
            "image_id": 1,
            "category_id": 1,
            "bbox": [5, 2, 20, 24],
            "keypoints": one_unlabelled,
        },
    ]
    data = {
        "images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}],
        "annotations": anns,
        "categories": [{"id": 1, "name": "face"}],
    }
    (tmp_path / "train.json").write_text(json.dumps(data))
    source, meta = open_split("coco_json", "train", str(tmp_path))
    assert meta.class_names == ("face",)
    decode = preprocess.build("decode_faces", max_boxes=4)
    out = decode(source[0], np.random.default_rng(0))
    assert out["landmark_mask"].tolist() == [True, False, False, False]
    np.testing.assert_allclose(out["landmarks"][0], np.array(points) / [80, 40], rtol=1e-6)
    empty = decode(source[1], np.random.default_rng(0))  # an image without faces
    assert not empty["box_mask"].any() and empty["landmarks"].shape == (4, 5, 2)

    anns[0]["keypoints"] = full[:-1]
    (tmp_path / "train.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="keypoint values"):
        open_split("coco_json", "train", str(tmp_path))
