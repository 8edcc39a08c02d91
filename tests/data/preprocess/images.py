"""Test images whose pixels say where they came from, and a one-example op runner."""

from __future__ import annotations

import numpy as np


def coords(height, width):
    """uint8 [h, w, 3] image whose pixel (i, j) holds (i, j, 7): values say where they came from."""
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = np.arange(height)[:, None]
    image[..., 1] = np.arange(width)[None, :]
    image[..., 2] = 7
    return image


def noise(height, width, seed=0):
    """Random uint8 image with no zero pixels (so windows of a zero-padded copy are unique)."""
    return np.random.default_rng(seed).integers(1, 256, (height, width, 3), dtype=np.uint8)


def apply_op(op, image, seed=0, **extra):
    """``op`` on the example ``{"image": image, **extra}`` with the generator of ``seed``."""
    return op({"image": image, **extra}, np.random.default_rng(seed))
