"""Pictures of restoration: degraded input, restored output and clean target side by side."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from jaxvision.visualize.base import Visualizer
from jaxvision.visualize.draw import image_grid

# Eval images shown in the workdir's predictions.png (each as input, restored, target).
NUM_PICTURE_IMAGES = 4
MAX_PIXEL = 255.0


def padded_grid(tiles: list[np.ndarray], captions: list[str], columns: int) -> Image.Image:
    """uint8 [h_i, w_i, 3] tiles of any sizes, padded (bottom, right) to the largest, in a
    captioned grid of ``columns``."""
    size = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
    padded = [
        np.pad(t, ((0, size[0] - t.shape[0]), (0, size[1] - t.shape[1]), (0, 0))) for t in tiles
    ]
    return image_grid(np.stack(padded), captions, columns=columns)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8, rounded and clipped."""
    return np.clip(np.round(np.asarray(image, np.float32) * MAX_PIXEL), 0, 255).astype(np.uint8)


def _upsample(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of uint8 [h, w, 3] (pixels stay visible in the comparison)."""
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.NEAREST))


def side_by_side(images: list[np.ndarray]) -> Image.Image:
    """uint8 [h, w, 3] images of one height, left to right."""
    return Image.fromarray(np.concatenate(images, axis=1))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10.0 * np.log10(MAX_PIXEL**2 / mse)


class RestorationVisualizer(Visualizer):
    """Eval triplets (input, restored, target) with PSNRs; predict's restored and compare files."""

    uses_eval_forward = True

    def render_batch(self, batch: dict[str, np.ndarray], outputs: Any) -> Image.Image:
        n = min(NUM_PICTURE_IMAGES, len(outputs["restored"]))
        tiles, captions = [], []
        for i in range(n):
            h, w = (int(v) for v in outputs["image_size"][i])
            target = to_uint8(outputs["targets"][i][:h, :w])
            restored = to_uint8(outputs["restored"][i][:h, :w])
            scale = outputs["targets"].shape[1] // outputs["inputs"].shape[1]
            degraded = to_uint8(outputs["inputs"][i][: h // scale, : w // scale])
            tiles += [_upsample(degraded, h, w), restored, target]
            captions += [
                f"input {_psnr(_upsample(degraded, h, w), target):.1f} dB",
                f"restored {_psnr(restored, target):.1f} dB",
                "target",
            ]
        return padded_grid(tiles, captions, columns=3)

    def describe(
        self, images: list[np.ndarray], features: list[dict[str, np.ndarray]], outputs: Any
    ) -> list[dict[str, Any]]:
        """Each image's sizes: ``{"input_size": [h, w], "output_size": [H, W]}``."""
        return [
            {
                "input_size": list(image.shape[:2]),
                "output_size": list(np.asarray(outputs["restored"][i]).shape[:2]),
            }
            for i, image in enumerate(images)
        ]

    def pictures(
        self, image: np.ndarray, features: dict[str, Any], outputs: Any, record: dict[str, Any]
    ) -> dict[str, Image.Image]:
        """``<stem>.png``: the restored image; ``<stem>_compare.png``: input | restored."""
        restored = np.asarray(outputs["restored"][0])
        h, w = restored.shape[:2]
        return {
            "": Image.fromarray(restored),
            "_compare": side_by_side([_upsample(np.asarray(features["image"]), h, w), restored]),
        }
