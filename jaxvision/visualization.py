"""Pictures of predictions for a person to look at (written into the workdir)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

# Smallest side a tile is upscaled to, so that 32 px images stay legible.
MIN_TILE = 96
CAPTION_HEIGHT = 30
OK_COLOR = (20, 140, 20)
BAD_COLOR = (200, 30, 30)


def image_grid(
    images: np.ndarray,
    captions: Sequence[str],
    correct: Sequence[bool] | None = None,
    columns: int = 8,
) -> Image.Image:
    """Tiles images into one picture with a caption under each.

    Args:
      images: uint8 [n, h, w, 3].
      captions: n strings (up to two lines, ``\\n``-separated).
      correct: optional n booleans: green captions for True, red for False.
      columns: tiles per row.

    Returns:
      A PIL RGB image.

    Example:
      >>> image_grid(np.zeros((2, 32, 32, 3), np.uint8), ["a", "b"]).size[0] > 0
      True
    """
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images but {len(captions)} captions")
    n, h, w = images.shape[:3]
    scale = max(1, math.ceil(MIN_TILE / min(h, w)))
    tile_h, tile_w = h * scale, w * scale
    columns = max(1, min(columns, n))
    rows = math.ceil(n / columns)
    canvas = Image.new("RGB", (columns * tile_w, rows * (tile_h + CAPTION_HEIGHT)), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (image, caption) in enumerate(zip(images, captions, strict=True)):
        r, c = divmod(i, columns)
        x, y = c * tile_w, r * (tile_h + CAPTION_HEIGHT)
        tile = Image.fromarray(np.asarray(image, np.uint8)).resize((tile_w, tile_h), Image.NEAREST)
        canvas.paste(tile, (x, y))
        color = (0, 0, 0) if correct is None else (OK_COLOR if correct[i] else BAD_COLOR)
        draw.text((x + 2, y + tile_h + 1), caption, fill=color)
    return canvas
