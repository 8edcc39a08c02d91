"""What a task family's visualizer does: pictures and JSON of a task's predictions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image


class Visualizer:
    """Turns ``Task.predict`` outputs into pictures and JSON records.

    The engine calls ``render_batch`` on the first eval batch with ``predict``'s outputs on its
    images, or, when ``uses_eval_forward``, with ``Task.eval_forward``'s outputs (the workdir's
    ``predictions.png`` and a TensorBoard image); ``python -m train.predict`` calls
    ``describe`` for each image's JSON record and ``pictures`` for the files it writes. The
    base class draws nothing and describes nothing.

    Args:
      class_names: the dataset's class names, by id.
    """

    uses_eval_forward: bool = False

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

    def pictures(
        self, image: np.ndarray, features: dict[str, Any], outputs: Any, record: dict[str, Any]
    ) -> dict[str, Image.Image]:
        """The files ``python -m train.predict`` writes for one image: suffix -> picture
        (``""`` is ``<stem>.png``). Default: ``draw``'s picture, if any.

        Args:
          image: the source image, RGB uint8 [h, w, 3].
          features: its preprocessed features.
          outputs: ``predict``'s outputs for it alone (a batch of one).
          record: its ``describe`` record.
        """
        del features, outputs
        picture = self.draw(image, record)
        return {} if picture is None else {"": picture}
