"""Pictures of colorization: grayscale input, colorized output and original side by side."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from jaxvision.visualize.base import Visualizer
from jaxvision.visualize.restoration import padded_grid, side_by_side, to_uint8

# Eval images shown in the workdir's predictions.png (each as gray, colorized, original).
NUM_PICTURE_IMAGES = 3
# eval_forward's outputs shown, left to right, and their captions.
PANELS = (("gray", "gray"), ("colorized", "colorized"), ("targets", "original"))


class ColorizationVisualizer(Visualizer):
    """Eval triplets (gray, colorized, original); predict's colorized and compare files."""

    uses_eval_forward = True

    def render_batch(self, batch: dict[str, np.ndarray], outputs: Any) -> Image.Image:
        n = min(NUM_PICTURE_IMAGES, len(outputs["colorized"]))
        tiles, captions = [], []
        for i in range(n):
            h, w = (int(v) for v in outputs["image_size"][i])
            for key, caption in PANELS:
                tiles.append(to_uint8(outputs[key][i][:h, :w]))
                captions.append(caption)
        return padded_grid(tiles, captions, columns=len(PANELS))

    def describe(
        self, images: list[np.ndarray], features: list[dict[str, np.ndarray]], outputs: Any
    ) -> list[dict[str, Any]]:
        """Each image's size: ``{"size": [h, w]}``."""
        del features, outputs
        return [{"size": list(image.shape[:2])} for image in images]

    def pictures(
        self, image: np.ndarray, features: dict[str, Any], outputs: Any, record: dict[str, Any]
    ) -> dict[str, Image.Image]:
        """``<stem>.png``: the colorized image at the input's size; ``<stem>_compare.png``:
        grayscale input | colorized | original."""
        del features, record
        colorized = np.asarray(outputs["colorized"][0])
        gray = np.asarray(outputs["gray"][0])
        return {"": Image.fromarray(colorized), "_compare": side_by_side([gray, colorized, image])}
