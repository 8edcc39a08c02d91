"""What a task family's visualizer does: pictures and JSON of a task's predictions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image


class Visualizer:
    """Turns ``Task.predict`` outputs into pictures and JSON records.

    The engine calls ``render_batch`` on the first eval batch (the workdir's
    ``predictions.png`` and a TensorBoard image); ``python -m train.predict`` calls
    ``describe`` for each image's JSON record and ``draw`` for its picture. The base class
    draws nothing and describes nothing.

    Args:
      class_names: the dataset's class names, by id.
    """

    def __init__(self, class_names: Sequence[str]):
        self.class_names = tuple(class_names)

    def render_batch(self, batch: dict[str, np.ndarray], outputs: Any) -> Image.Image | None:
        """A picture of ``predict``'s outputs on a (host) eval batch, or None."""
        del batch, outputs
        return None

    def describe(
        self, images: list[np.ndarray], features: list[dict[str, np.ndarray]], outputs: Any
    ) -> list[dict[str, Any]]:
        """One JSON-able record an image.

        Args:
          images: the source images, RGB uint8 [h, w, 3] each.
          features: each image's preprocessed features (the task's ``predict_pp`` applied).
          outputs: ``predict`` on the stacked preprocessed images (host arrays).
        """
        del images, outputs
        return [{} for _ in features]

    def draw(self, image: np.ndarray, record: dict[str, Any]) -> Image.Image | None:
        """A picture of one record on its source image, or None."""
        del image, record
        return None
