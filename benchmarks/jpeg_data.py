"""ImageNet-like JPEG files and small encoded-image sources, generated locally for benchmarks.

The images are smooth random colour fields (a coarse random grid, upsampled bicubically) with
mild noise, saved as quality-90 JPEGs of 500 x 375 pixels: the size and content statistics of
a typical ImageNet photo (tens of KiB, costs about what a real photo costs to decode).

Example:
  >>> root = generate_jpegs("/tmp/jpegs", num_images=8)
  >>> load_image_folder(root, "train")[0]["image"].shape
  (375, 500, 3)
"""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image

IMAGENET_LIKE_SIZE = (500, 375)  # (width, height), PIL order
JPEG_QUALITY = 90
NUM_CLASSES = 10
SPLIT = "train"
GRID = (6, 8)  # coarse colour grid (rows, columns) upsampled to the image size
NOISE_STD = 6.0
SEED = 0


def _smooth_image(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A random smooth RGB picture of `size` (width, height) with mild noise."""
    coarse = rng.integers(0, 256, (*GRID, 3), dtype=np.uint8)  # [gh, gw, 3]
    image = np.asarray(Image.fromarray(coarse).resize(size, Image.BICUBIC), np.float32)
    image += rng.normal(0.0, NOISE_STD, image.shape)  # [h, w, 3]
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))


def generate_jpegs(
    root: str, num_images: int, size: tuple[int, int] = IMAGENET_LIKE_SIZE, seed: int = SEED
) -> str:
    """Writes `num_images` JPEGs as `root/train/class_<k>/<i>.jpg` (kept if already there).

    Args:
      root: the output folder (an `image_folder` dataset root).
      num_images: how many images, spread over `NUM_CLASSES` classes.
      size: (width, height) of every image.
      seed: content seed.

    Returns:
      `root`.
    """
    rng = np.random.default_rng(seed)
    for i in range(num_images):
        class_dir = os.path.join(root, SPLIT, f"class_{i % NUM_CLASSES}")
        path = os.path.join(class_dir, f"{i:06d}.jpg")
        if os.path.exists(path):
            continue
        os.makedirs(class_dir, exist_ok=True)
        _smooth_image(rng, size).save(path, quality=JPEG_QUALITY)
    return root


class EncodedImageSource:
    """In-memory random-access source of PNG-encoded images, decoded on access.

    The CIFAR-like case: TFDS stores CIFAR images as 32 x 32 PNGs and decodes them on read.

    Args:
      num_images: how many images.
      image_size: side of the square images.
      seed: content seed.
    """

    def __init__(self, num_images: int, image_size: int, seed: int = SEED):
        rng = np.random.default_rng(seed)
        self.encoded = []
        for _ in range(num_images):
            buffer = io.BytesIO()
            _smooth_image(rng, (image_size, image_size)).save(buffer, format="PNG")
            self.encoded.append(buffer.getvalue())
        self.labels = [i % NUM_CLASSES for i in range(num_images)]

    def __len__(self) -> int:
        return len(self.encoded)

    def __getitem__(self, index: int) -> dict[str, np.ndarray | int]:
        with Image.open(io.BytesIO(self.encoded[index])) as image:
            pixels = np.asarray(image.convert("RGB"), np.uint8)  # [s, s, 3]
        return {"image": pixels, "label": self.labels[index]}


def load_image_folder(root: str, split: str = SPLIT):
    """`jaxvision.data.image_folder.load_image_folder` (imported lazily)."""
    from jaxvision.data import image_folder

    return image_folder.load_image_folder(root, split)
