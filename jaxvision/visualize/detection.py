"""Pictures and JSON of a multi-object detector's detections."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from jaxvision.tasks.detection import to_source_pixels
from jaxvision.visualize.base import Visualizer
from jaxvision.visualize.draw import detections_to_json, draw_detections, image_grid

# Images drawn into the workdir's predictions.png.
NUM_PICTURE_IMAGES = 16
# Detections drawn: those scoring at least this.
PICTURE_SCORE_THRESHOLD = 0.3


class DetectionVisualizer(Visualizer):
    """Draws every detection scoring at least ``PICTURE_SCORE_THRESHOLD``."""

    # What the grid's captions count ("3 objects").
    caption_noun = "objects"

    def render_batch(self, batch: dict[str, np.ndarray], outputs: Any) -> Image.Image:
        n = min(NUM_PICTURE_IMAGES, len(batch["image"]))
        drawn = []
        for i in range(n):
            scores = np.asarray(outputs["scores"][i])
            keep = np.asarray(outputs["valid"][i]) & (scores >= PICTURE_SCORE_THRESHOLD)
            picture = self.draw_outputs(np.asarray(batch["image"][i]), outputs, i, keep)
            drawn.append(np.asarray(picture.convert("RGB")))
        captions = [f"{int(np.sum(batch['box_mask'][i]))} {self.caption_noun}" for i in range(n)]
        return image_grid(np.stack(drawn), captions)

    def draw_outputs(
        self, image: np.ndarray, outputs: Any, i: int, keep: np.ndarray
    ) -> Image.Image:
        """The detections of the batch's image ``i`` that ``keep`` [k] selects, drawn on
        ``image`` [h, w, 3] (``render_batch``'s picture of it)."""
        return draw_detections(
            image,
            np.asarray(outputs["boxes"][i])[keep],
            np.asarray(outputs["classes"][i])[keep],
            np.asarray(outputs["scores"][i])[keep],
            self.class_names,
        )

    def describe(
        self, images: list[np.ndarray], features: list[dict[str, np.ndarray]], outputs: Any
    ) -> list[dict[str, Any]]:
        """Each image's detections in its source pixels: ``{"detections": [{"box": [x1, y1,
        x2, y2], "label", "class_name", "score"}]}``, best first."""
        records = []
        for i, f in enumerate(features):
            keep = np.asarray(outputs["valid"][i])
            boxes = to_source_pixels(
                np.asarray(outputs["boxes"][i])[None],
                f["image"].shape[:2],
                np.asarray(f["orig_size"])[None],
                np.asarray(f["image_window"])[None],
            )[0]  # [k, 4]
            detections = detections_to_json(
                np.asarray(boxes)[keep],
                np.asarray(outputs["classes"][i])[keep],
                np.asarray(outputs["scores"][i])[keep],
                self.class_names,
            )
            records.append({"detections": detections})
        return records

    def draw(self, image: np.ndarray, record: dict[str, Any]) -> Image.Image:
        dets = record["detections"]
        return draw_detections(
            image,
            np.asarray([d["box"] for d in dets], np.float32).reshape(-1, 4),
            np.asarray([d["label"] for d in dets], np.int64),
            np.asarray([d["score"] for d in dets], np.float32),
            self.class_names,
            score_threshold=PICTURE_SCORE_THRESHOLD,
        )
