"""Images of style transfer: reading, writing, built-in style images and the resize rule.

The size rule (a content or style image of any size is accepted):

- The content image keeps its size, or, given ``size``, is resized (bilinear, antialiased)
  so that its longer side is ``size`` pixels, aspect ratio kept. The output has the
  content's (resized) size.
- The style image is resized so that its longer side equals the content's longer side
  times ``style_scale`` (1 by default), aspect ratio kept: the style's strokes and textures
  then appear at the scale they have in the style image relative to its frame. Its aspect
  ratio may differ from the content's (Gram matrices and channel statistics are averages
  over positions, whatever their number).
- Both must keep at least ``MIN_SIDE`` pixels a side (VGG-19's ``conv5_1`` is at 1/16 of the
  image); a smaller one is a ValueError.

Built-in style images (``load_style_image``): ``skimage:NAME``, a photograph that ships
inside scikit-image (read from the package's files with Pillow; nothing is downloaded), and
``texture:NAME``, a procedural texture (``TEXTURES``); anything else is a file path.

Example:
  >>> fit_sizes((300, 451), (512, 512), size=128)  # (content, style) [h, w]
  ((85, 128), (128, 128))
"""

from __future__ import annotations

import pathlib

import numpy as np
from PIL import Image

# VGG-19's conv5_1 is at 1/16 of the image size: smaller images leave it no pixel.
MIN_SIDE = 16
SKIMAGE_PREFIX = "skimage:"
TEXTURE_PREFIX = "texture:"
TEXTURES = ("waves", "checks")
# The side of a procedural texture, in pixels.
TEXTURE_SIZE = 256


def read_image(path: str | pathlib.Path) -> np.ndarray:
    """An image file as RGB uint8 [h, w, 3] (grey and RGBA converted).

    Raises:
      FileNotFoundError: no file at ``path``. ValueError: a file Pillow cannot read.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no image file at {path}")
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read image {path}: {e}") from e


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A float image in [0, 1] -> uint8, rounded and clipped."""
    return np.clip(np.round(np.asarray(image, np.float32) * 255.0), 0, 255).astype(np.uint8)


def save_image(image: np.ndarray, path: str | pathlib.Path) -> None:
    """Writes [h, w, 3] (uint8, or float in [0, 1]) to ``path`` (format from the suffix)."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = to_uint8(array)
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def longer_side_size(shape: tuple[int, int], longer: int) -> tuple[int, int]:
    """[h, w] scaled so that the longer side is ``longer`` (aspect kept, rounded, >= 1).

    Example:
      >>> longer_side_size((300, 451), 64)
      (43, 64)
    """
    h, w = shape
    scale = longer / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def _check_min_side(name: str, shape: tuple[int, int]) -> None:
    if min(shape) < MIN_SIDE:
        raise ValueError(
            f"the {name} image would be {shape[0]} x {shape[1]} pixels; style transfer needs "
            f"at least {MIN_SIDE} a side (VGG-19's conv5_1 is at 1/16 of the image)"
        )


def fit_sizes(
    content_shape: tuple[int, int],
    style_shape: tuple[int, int],
    size: int | None = None,
    style_scale: float = 1.0,
) -> tuple[tuple[int, int], tuple[int, int]]:
    """The [h, w] the content and the style image are resized to (the module's rule).

    Args:
      content_shape: the content image's [h, w].
      style_shape: the style image's [h, w].
      size: the content's longer side after resizing (None: its own size).
      style_scale: the style's longer side relative to the content's.

    Returns:
      ``(content [h, w], style [h, w])``.

    Raises:
      ValueError: a non-positive size or scale, or either image under ``MIN_SIDE`` a side.
    """
    if (size is not None and size < 1) or style_scale <= 0:
        raise ValueError(f"size must be >= 1 and style_scale > 0, got {size}, {style_scale}")
    content = tuple(content_shape) if size is None else longer_side_size(content_shape, size)
    style = longer_side_size(style_shape, round(max(content) * style_scale))
    _check_min_side("content", content)
    _check_min_side("style", style)
    return content, style


def resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """uint8 [h, w, 3] -> uint8 [shape[0], shape[1], 3], bilinear and antialiased (Pillow)."""
    if tuple(image.shape[:2]) == tuple(shape):
        return image
    resized = Image.fromarray(image).resize((shape[1], shape[0]), Image.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)


def texture(name: str, size: int = TEXTURE_SIZE) -> np.ndarray:
    """A procedural colour texture, uint8 [size, size, 3].

    ``waves``: interfering diagonal sine waves in three phase-shifted colour channels, like
    brush strokes of a few hues; ``checks``: a small red / blue / yellow checkerboard with
    thin dark lines.

    Example:
      >>> texture("waves", 32).shape
      (32, 32, 3)
    """
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size  # [size, size] in [0, 1)
    if name == "waves":
        phase = 2 * np.pi * (6 * x + 3 * y) + 2.5 * np.sin(2 * np.pi * 4 * y)
        shifts = np.array([0.0, 2.1, 4.2], np.float32)
        rgb = 0.5 + 0.5 * np.sin(phase[..., None] + shifts)  # [size, size, 3]
    elif name == "checks":
        cells = (np.floor(x * 8) + 2 * np.floor(y * 8)) % 3  # [size, size] in {0, 1, 2}
        palette = np.array([[0.85, 0.15, 0.1], [0.1, 0.25, 0.8], [0.95, 0.85, 0.1]])
        rgb = palette[cells.astype(int)] * (np.minimum((x * 8) % 1, (y * 8) % 1) > 0.08)[..., None]
    else:
        raise ValueError(f"unknown texture {name!r}; valid: {', '.join(TEXTURES)}")
    return to_uint8(rgb)


def load_style_image(spec: str) -> np.ndarray:
    """A style image, RGB uint8 [h, w, 3], from a built-in name or a file.

    Args:
      spec: ``skimage:NAME`` (a photograph of ``jaxvision.data.builders.photos.PHOTO_FILES``),
        ``texture:NAME`` (``TEXTURES``) or a file path.

    Returns:
      The image.

    Raises:
      ValueError: an unknown built-in name. FileNotFoundError: no such file.

    Example:
      >>> load_style_image("texture:checks").shape
      (256, 256, 3)
    """
    if spec.startswith(TEXTURE_PREFIX):
        return texture(spec.removeprefix(TEXTURE_PREFIX))
    if spec.startswith(SKIMAGE_PREFIX):
        from jaxvision.data.builders import photos

        name = spec.removeprefix(SKIMAGE_PREFIX)
        if name not in photos.PHOTO_FILES:
            raise ValueError(
                f"unknown scikit-image photograph {name!r}; valid: {sorted(photos.PHOTO_FILES)}"
            )
        return photos.load_photo(name)
    return read_image(spec)
