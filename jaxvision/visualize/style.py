"""Pictures of style transfer: content, style and styled image side by side."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from jaxvision.visualize.base import Visualizer
from jaxvision.visualize.draw import image_grid
from jaxvision.visualize.restoration import side_by_side

# Eval images shown in the workdir's predictions.png (each as content, style, styled).
NUM_PICTURE_IMAGES = 4


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(image, np.float32) * 255.0), 0, 255).astype(np.uint8)


class StyleVisualizer(Visualizer):
    """Eval triplets (content, style, styled); predict's styled and compare files."""

    uses_eval_forward = True

    def render_batch(self, batch: dict[str, np.ndarray], outputs: Any) -> Image.Image:
        """Rows of content | style | styled for the first eval images.

        Example:
          >>> images = np.zeros((2, 8, 8, 3), np.float32)
          >>> outputs = {"content": images, "style": images, "stylized": images}
          >>> StyleVisualizer(()).render_batch({}, outputs).size[0] > 0
          True
        """
        del batch
        n = min(NUM_PICTURE_IMAGES, len(outputs["stylized"]))
        tiles, captions = [], []
        for i in range(n):
            tiles += [_to_uint8(outputs[k][i]) for k in ("content", "style", "stylized")]
            captions += ["content", "style", "styled"]
        return image_grid(np.stack(tiles), captions, columns=3)

    def pictures(
        self, image: np.ndarray, features: dict[str, Any], outputs: Any, record: dict[str, Any]
    ) -> dict[str, Image.Image]:
        """``<stem>.png``: the styled image; ``<stem>_compare.png``: content | styled."""
        del image, record
        styled = np.asarray(outputs["stylized"][0])
        return {
            "": Image.fromarray(styled),
            "_compare": side_by_side([np.asarray(features["image"]), styled]),
        }
