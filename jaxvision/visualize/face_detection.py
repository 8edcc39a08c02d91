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
from jaxvision.visualize.detection import (
    NUM_PICTURE_IMAGES,
    PICTURE_SCORE_THRESHOLD,
    DetectionVisualizer,
)
from jaxvision.visualize.draw import draw_detections, image_grid

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

    def render_batch(self, batch: dict[str, np.ndarray], outputs: Any) -> Image.Image:
        n = min(NUM_PICTURE_IMAGES, len(batch["image"]))
        drawn = []
        for i in range(n):
            scores = np.asarray(outputs["scores"][i])
            keep = np.asarray(outputs["valid"][i]) & (scores >= PICTURE_SCORE_THRESHOLD)
            picture = draw_detections(
                np.asarray(batch["image"][i]),
                np.asarray(outputs["boxes"][i])[keep],
                np.asarray(outputs["classes"][i])[keep],
                scores[keep],
                self.class_names,
            )
            draw_landmarks(picture, np.asarray(outputs["landmarks"][i])[keep])
            drawn.append(np.asarray(picture.convert("RGB")))
        captions = [f"{int(np.sum(batch['box_mask'][i]))} faces" for i in range(n)]
        return image_grid(np.stack(drawn), captions)

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
