"""Pictures and JSON of a classifier's top-5 predictions.

Example:
  >>> vis = ClassificationVisualizer(("circle", "square"))
  >>> outputs = {"classes": np.array([[1, 0]]), "probabilities": np.array([[0.9, 0.1]])}
  >>> vis.describe([np.zeros((8, 8, 3), np.uint8)], [{}], outputs)[0]["top5"][0]["class_name"]
  'square'
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from jaxvision.visualize.base import Visualizer
from jaxvision.visualize.draw import image_grid

# Images shown in the workdir's predictions.png.
NUM_PICTURE_IMAGES = 32


class ClassificationVisualizer(Visualizer):
    """Captions each eval image with its top class, probability and true class."""

    def render_batch(self, batch: dict[str, np.ndarray], outputs: Any) -> Image.Image:
        names = self.class_names
        n = min(NUM_PICTURE_IMAGES, len(batch["image"]))
        predicted = np.asarray(outputs["classes"])[:n, 0]
        prob = np.asarray(outputs["probabilities"])[:n, 0]
        labels = np.asarray(batch["label"])[:n]
        captions = [
            f"{names[p]} {q:.0%}\ntrue: {names[t]}"
            for p, q, t in zip(predicted, prob, labels, strict=True)
        ]
        return image_grid(np.asarray(batch["image"])[:n], captions, predicted == labels)

    def describe(
        self, images: list[np.ndarray], features: list[dict[str, np.ndarray]], outputs: Any
    ) -> list[dict[str, Any]]:
        """Each image's top-5: ``{"top5": [{"label", "class_name", "probability"}]}``."""
        names = self.class_names
        return [
            {
                "top5": [
                    {"label": int(c), "class_name": names[int(c)], "probability": float(p)}
                    for c, p in zip(outputs["classes"][i], outputs["probabilities"][i], strict=True)
                ]
            }
            for i in range(len(features))
        ]
