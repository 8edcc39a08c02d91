"""Pictures and JSON of detected faces with their five landmarks.

``draw_landmarks`` marks each face's points with one colour a point (left eye, right eye,
nose tip, left and right mouth corner, in MTCNN's order), over ``draw_detections``'s boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from jaxvision.ops.landmarks import NUM_FACE_LANDMARKS
from jaxvision.tasks.face_detection import points_to_source_pixels
from jaxvision.visualize.detection import PICTURE_SCORE_THRESHOLD, DetectionVisualizer

# One colour a landmark: left eye, right eye, nose tip, left and right mouth corner.
LANDMARK_COLORS = ((0, 200, 255), (0, 90, 255), (255, 220, 0), (255, 60, 160), (200, 0, 90))
# Radius of a landmark's dot, in pixels, and the outline that keeps it visible on any colour.
LANDMARK_RADIUS = 2
LANDMARK_OUTLINE = (0, 0, 0)


def draw_landmarks(
    picture: Image.Image,
    landmarks: np.ndarray,
    colors: Sequence[tuple[int, int, int]] = LANDMARK_COLORS,
    radius: float = LANDMARK_RADIUS,
) -> Image.Image:
    """Draws each face's points as dots, in place.

    Args:
      picture: the RGB picture to draw on.
      landmarks: [n, k, 2] (x, y) pixels of the picture.
      colors: one colour a point index (at least k).
      radius: dot radius in pixels.

    Returns:
      ``picture``.

    Example:
      >>> picture = Image.new("RGB", (32, 32))
      >>> draw_landmarks(picture, np.full((1, 5, 2), 16.0)).getpixel((16, 16))
      (200, 0, 90)
    """
    points = np.asarray(landmarks, np.float64)
    if points.size == 0:
        return picture
    if points.ndim != 3 or points.shape[-1] != 2:
        raise ValueError(f"landmarks must be [n, k, 2] (x, y), got {points.shape}")
    if points.shape[1] > len(colors):
        raise ValueError(f"{len(colors)} colours for {points.shape[1]} landmarks a face")
    draw = ImageDraw.Draw(picture)
    for face in points:
        for (x, y), color in zip(face.tolist(), colors, strict=False):
            box = [x - radius, y - radius, x + radius, y + radius]
            draw.ellipse(box, fill=tuple(color), outline=LANDMARK_OUTLINE)
    return picture


class FaceDetectionVisualizer(DetectionVisualizer):
    """Draws every face scoring at least ``PICTURE_SCORE_THRESHOLD``, with its landmarks;
    its JSON adds each detection's ``landmarks`` ([[x, y] * 5], source pixels)."""

    caption_noun = "faces"

    def draw_outputs(
        self, image: np.ndarray, outputs: Any, i: int, keep: np.ndarray
    ) -> Image.Image:
        """``DetectionVisualizer.draw_outputs``'s boxes with the kept faces' landmarks."""
        picture = super().draw_outputs(image, outputs, i, keep)
        return draw_landmarks(picture, np.asarray(outputs["landmarks"][i])[keep])

    def describe(
        self, images: list[np.ndarray], features: list[dict[str, np.ndarray]], outputs: Any
    ) -> list[dict[str, Any]]:
        """``DetectionVisualizer.describe``'s records, each detection with its
        ``landmarks`` [[x, y] * 5] in the source image's pixels."""
        records = super().describe(images, features, outputs)
        for i, (f, record) in enumerate(zip(features, records, strict=True)):
            keep = np.asarray(outputs["valid"][i])
            points = points_to_source_pixels(
                np.asarray(outputs["landmarks"][i])[None],
                f["image"].shape[:2],
                np.asarray(f["orig_size"])[None],
                np.asarray(f["image_window"])[None],
            )[0]  # [k, 5, 2]
            for det, face in zip(record["detections"], np.asarray(points)[keep], strict=True):
                det["landmarks"] = face.tolist()
        return records

    def draw(self, image: np.ndarray, record: dict[str, Any]) -> Image.Image:
        picture = super().draw(image, record)
        shown = [d for d in record["detections"] if d["score"] >= PICTURE_SCORE_THRESHOLD]
        points = np.asarray([d["landmarks"] for d in shown], np.float64).reshape(
            -1, NUM_FACE_LANDMARKS, 2
        )
        return draw_landmarks(picture, points)
