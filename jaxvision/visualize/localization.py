"""Pictures and JSON of a localizer's class and box, one object an image."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from jaxvision.visualize.base import Visualizer
from jaxvision.visualize.draw import detections_to_json, draw_detections, image_grid

NUM_PICTURE_IMAGES = 32


class LocalizationVisualizer(Visualizer):
    """Draws the predicted box and class on each image; captions the true class."""

    def render_batch(self, batch: dict[str, np.ndarray], outputs: Any) -> Image.Image:
        names = self.class_names
        n = min(NUM_PICTURE_IMAGES, len(batch["image"]))
        drawn, captions, correct = [], [], []
        for i in range(n):
            cls = int(outputs["classes"][i])
            picture = draw_detections(
                np.asarray(batch["image"][i]),
                np.asarray(outputs["boxes"][i])[None],
                np.asarray([cls]),
                np.asarray(outputs["probabilities"][i])[None],
                names,
            )
            drawn.append(np.asarray(picture.convert("RGB")))
            captions.append(f"true: {names[int(batch['label'][i])]}")
            correct.append(cls == int(batch["label"][i]))
        return image_grid(np.stack(drawn), captions, correct)

    def describe(
        self, images: list[np.ndarray], features: list[dict[str, np.ndarray]], outputs: Any
    ) -> list[dict[str, Any]]:
        """Each image's class and box in its source pixels (``{"detections": [one]}``)."""
        records = []
        for i, (image, f) in enumerate(zip(images, features, strict=True)):
            (h, w), (src_h, src_w) = f["image"].shape[:2], image.shape[:2]
            factor = np.asarray([src_w / w, src_h / h, src_w / w, src_h / h], np.float32)
            box = np.asarray(outputs["boxes"][i], np.float32) * factor  # [4]
            detections = detections_to_json(
                box[None],
                np.asarray([outputs["classes"][i]]),
                np.asarray([outputs["probabilities"][i]]),
                self.class_names,
            )
            records.append({"detections": detections})
        return records

    def draw(self, image: np.ndarray, record: dict[str, Any]) -> Image.Image:
        (det,) = record["detections"]
        return draw_detections(
            image,
            np.asarray([det["box"]], np.float32),
            np.asarray([det["label"]]),
            np.asarray([det["score"]], np.float32),
            self.class_names,
        )
