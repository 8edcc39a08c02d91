"""Pictures and JSON of faces with landmarks, mapped back through a letterbox."""

from __future__ import annotations

import numpy as np
from PIL import Image

from jaxvision.visualize import face_detection


def _outputs():
    """One image's predict outputs: a face at input pixels (8, 8, 24, 40), one padding row."""
    points = np.array([[12, 16], [20, 16], [16, 24], [13, 32], [19, 32]], np.float32)
    return {
        "boxes": np.array([[[8, 8, 24, 40], [0, 0, 0, 0]]], np.float32),
        "scores": np.array([[0.9, 0.0]], np.float32),
        "classes": np.zeros((1, 2), np.int32),
        "landmarks": np.stack([points, np.zeros((5, 2), np.float32)])[None],
        "valid": np.array([[True, False]]),
    }


def test_draw_landmarks_colours_each_point():
    picture = Image.new("RGB", (32, 32))
    points = np.array([[[4.0, 4.0], [12.0, 4.0], [8.0, 12.0], [4.0, 20.0], [12.0, 20.0]]])
    face_detection.draw_landmarks(picture, points)
    for (x, y), color in zip(points[0], face_detection.LANDMARK_COLORS, strict=True):
        assert picture.getpixel((int(x), int(y))) == color
    assert picture.getpixel((28, 28)) == (0, 0, 0)


def test_describe_maps_landmarks_to_source_pixels_and_draw_shows_them():
    visualizer = face_detection.FaceDetectionVisualizer(("face",))
    # A 32 x 64 source letterboxed into 64 x 64: rows 16..48 hold it, at scale 1.
    features = {
        "image": np.zeros((64, 64, 3), np.uint8),
        "orig_size": np.array([32, 64]),
        "image_window": np.array([0.25, 0.0, 0.75, 1.0], np.float32),
    }
    image = np.zeros((32, 64, 3), np.uint8)
    (record,) = visualizer.describe([image], [features], _outputs())
    (det,) = record["detections"]
    assert det["box"] == [8.0, 0.0, 24.0, 24.0]
    np.testing.assert_allclose(det["landmarks"], _outputs()["landmarks"][0, 0] - [0.0, 16.0])
    picture = visualizer.draw(image, record)
    assert picture.size == (64, 32)
    assert picture.getpixel((16, 8)) == face_detection.LANDMARK_COLORS[2]  # the nose


def test_render_batch_draws_a_grid():
    visualizer = face_detection.FaceDetectionVisualizer(("face",))
    batch = {"image": np.zeros((1, 64, 64, 3), np.uint8), "box_mask": np.array([[True, False]])}
    picture = visualizer.render_batch(batch, _outputs())
    assert picture.size[0] >= 64
