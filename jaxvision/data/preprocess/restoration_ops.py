"""Image-restoration ops: colour conversion, patch crops, pair alignment, eval canvases.

A restoration example holds either a clean ``image`` (uint8 [H, W, 3]; the task degrades
it on the device) or a pair ``input`` / ``target`` (uint8; for super-resolution by
``scale`` the target is ``scale`` times the input's size: ``input`` [h, w, 3],
``target`` [h * scale, w * scale, 3]). ``flip_lr`` (``geometry.flip_features``) and
``rot90`` move every pixel array together, so a pair stays aligned.

Training cuts random patches; evaluation runs on whole images, which differ in size
within a split while a batch needs one shape: ``pad_to_canvas`` pads each image (at the
bottom and right, by reflection) to a fixed canvas and records in ``image_size`` where
the real image is, ``[:image_size[0], :image_size[1]]`` of the (target) canvas::

    train, clean images:  "to_rgb|random_crop(96)|flip_lr|rot90"
    train, pairs (x4):    "to_rgb|paired_random_crop(96, scale=4)|flip_lr|rot90"
    eval, clean images:   "to_rgb|pad_to_canvas(512, 600)"
    eval, TFDS div2k x4:  "rename(lr='input', hr='target')|pad_to_canvas(2040, 2040, scale=4)"

Example:
    >>> from jaxvision.data import preprocess
    >>> fn = preprocess.build("paired_random_crop(8, scale=2)|flip_lr|rot90")
    >>> pair = {"input": np.zeros((10, 12, 3), np.uint8),
    ...         "target": np.zeros((20, 24, 3), np.uint8)}
    >>> out = fn(pair, np.random.default_rng(0))
    >>> out["input"].shape, out["target"].shape
    ((4, 4, 3), (8, 8, 3))
"""

from __future__ import annotations

import numpy as np

from jaxvision.data.preprocess.geometry import PIXEL_KEYS
from jaxvision.data.preprocess.registry import Features, Op, register

INPUT_KEY = "input"
TARGET_KEY = "target"
# Where pad_to_canvas records the real (target) image's [height, width] in the canvas.
IMAGE_SIZE_KEY = "image_size"
# Border mode of random_crop and pad_to_canvas: reflection keeps the padded border
# textured like the image (no hard edge for a convolution to learn or to ring on).
PAD_MODE = "reflect"
# Channel counts to_rgb accepts: grey, RGB, RGBA.
GREY_CHANNELS, RGB_CHANNELS, RGBA_CHANNELS = 1, 3, 4
# Features that ops moving only the pixel arrays cannot move: they refuse examples
# holding them, rather than leave them misaligned.
GEOMETRIC_KEYS = ("boxes", "bbox", "image_window")
# Quarter turns rot90 draws from: 0, 90, 180 or 270 degrees.
NUM_QUARTER_TURNS = 4


def as_rgb(image: np.ndarray) -> np.ndarray:
    """An RGB copy of a grey [H, W] / [H, W, 1], RGB or RGBA [H, W, 4] image.

    Grey is repeated over the three channels; the alpha channel of RGBA is dropped (the
    stored colour of transparent pixels is kept), as Pillow's ``convert("RGB")`` does.

    Args:
      image: the image, any dtype.

    Returns:
      [H, W, 3] of the same dtype (the array itself when it is RGB already).

    Raises:
      ValueError: any other shape.

    Example:
      >>> as_rgb(np.zeros((2, 5), np.uint8)).shape, as_rgb(np.zeros((2, 5, 4))).shape
      ((2, 5, 3), (2, 5, 3))
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]  # [h, w, 1]
    channels = image.shape[-1] if image.ndim == 3 else None
    if channels == GREY_CHANNELS:
        return np.repeat(image, RGB_CHANNELS, axis=-1)  # [h, w, 3]
    if channels == RGBA_CHANNELS:
        return image[..., :RGB_CHANNELS]  # [h, w, 3]
    if channels == RGB_CHANNELS:
        return image
    raise ValueError(f"to_rgb expects an [H, W] or [H, W, 1|3|4] image, got shape {image.shape}")


def reflect_pad(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pads an [h, w, c] image at the bottom and right, by reflection, to [height, width].

    The reflection excludes the edge pixel (``np.pad`` mode ``"reflect"``) and repeats
    itself when the padding is wider than the image; a 1-pixel side is repeated.

    Args:
      image: [h, w, c] with h <= height and w <= width.
      height: output height.
      width: output width.

    Returns:
      [height, width, c]; ``image`` is its top-left corner.

    Example:
      >>> reflect_pad(np.arange(3).reshape(1, 3, 1), 1, 6)[0, :, 0].tolist()
      [0, 1, 2, 1, 0, 1]
    """
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    return np.pad(image, ((0, height - h), (0, width - w), (0, 0)), mode=PAD_MODE)


def _refuse_geometry(features: Features, op_name: str, pixels: tuple[str, ...]) -> None:
    """Raises when the example holds features the op would leave misaligned."""
    held = [k for k in (*GEOMETRIC_KEYS, *pixels) if k in features]
    if held:
        raise ValueError(f"{op_name} does not move {held}; the example holds them")


def aligned_pair(features: Features, scale: int, op_name: str) -> tuple[np.ndarray, np.ndarray]:
    """The example's ``input`` and ``target``, checked to correspond at ``scale``.

    A target side that is not a multiple of ``scale`` is first cropped down to one (its
    last rows / columns go), as super-resolution datasets do for their high-resolution
    images; the input must then be exactly the target's size divided by ``scale``.

    Args:
      features: one example holding ``input`` [h, w, c] and ``target`` [H, W, c].
      scale: the target's size over the input's (1 for deblurring or denoising).
      op_name: the calling op, for the error messages.

    Returns:
      ``(input, target)`` with target [h * scale, w * scale, c].

    Raises:
      ValueError: a missing image, or sizes that do not correspond; the message names
        both shapes.

    Example:
      >>> ex = {"input": np.zeros((2, 3, 3)), "target": np.zeros((5, 7, 3))}
      >>> aligned_pair(ex, 2, "example")[1].shape
      (4, 6, 3)
    """
    missing = [k for k in (INPUT_KEY, TARGET_KEY) if k not in features]
    if missing:
        raise ValueError(f"{op_name} needs a pair 'input' / 'target'; the example lacks {missing}")
    image, target = np.asarray(features[INPUT_KEY]), np.asarray(features[TARGET_KEY])
    height, width = target.shape[0] // scale * scale, target.shape[1] // scale * scale
    if image.shape[:2] != (height // scale, width // scale):
        raise ValueError(
            f"{op_name}: input of shape {image.shape} does not match target of shape "
            f"{target.shape} at scale {scale} (expected input [{height // scale}, "
            f"{width // scale}, ...])"
        )
    return image, target[:height, :width]


def _check_sizes(op_name: str, scale: int, **sizes: int) -> None:
    if scale < 1:
        raise ValueError(f"{op_name}: scale must be >= 1, got {scale}")
    for name, size in sizes.items():
        if size < 1 or size % scale:
            raise ValueError(
                f"{op_name}: {name} must be a positive multiple of scale {scale}, got {size}"
            )


@register("to_rgb")
def to_rgb() -> Op:
    """Converts ``image``, ``input`` and ``target`` (those present) to RGB (see ``as_rgb``).

    Decoded files may be grey ([H, W] or [H, W, 1]) or RGBA ([H, W, 4]).

    Returns:
      The op.

    Example:
      >>> to_rgb()({"image": np.zeros((4, 5, 1), np.uint8)}, None)["image"].shape
      (4, 5, 3)
    """

    def op(features: Features, rng: np.random.Generator) -> Features:
        del rng
        return {k: as_rgb(v) if k in PIXEL_KEYS else v for k, v in features.items()}

    return op


@register("random_crop")
def random_crop(size: int) -> Op:
    """A random ``size`` x ``size`` patch of ``image``.

    A side shorter than ``size`` is first reflect-padded up to it (at the bottom or
    right, see ``reflect_pad``), so small images give patches too.

    Args:
      size: patch side in pixels.

    Returns:
      The op; it raises a ValueError on an example holding a pair (use
      ``paired_random_crop``) or boxes (use ``pad_random_crop``, ``random_resized_crop``).

    Example:
      >>> op = random_crop(4)
      >>> op({"image": np.zeros((3, 9, 3), np.uint8)}, np.random.default_rng(0))["image"].shape
      (4, 4, 3)
    """
    _check_sizes("random_crop", 1, size=size)

    def op(features: Features, rng: np.random.Generator) -> Features:
        _refuse_geometry(features, "random_crop", (INPUT_KEY, TARGET_KEY, "segmentation_mask"))
        image = np.asarray(features["image"])  # [h, w, c]
        image = reflect_pad(image, max(image.shape[0], size), max(image.shape[1], size))
        top = int(rng.integers(0, image.shape[0] - size + 1))
        left = int(rng.integers(0, image.shape[1] - size + 1))
        return {**features, "image": image[top : top + size, left : left + size]}

    return op


@register("paired_random_crop")
def paired_random_crop(size: int, scale: int = 1) -> Op:
    """Aligned random patches of a pair: target ``size`` x ``size``, input ``size / scale``.

    The input patch starts at (top, left) of the input and the target patch at
    (top * scale, left * scale) of the target: the same place of the scene. The pair is
    first checked and its target cropped down to a multiple of ``scale`` (see
    ``aligned_pair``).

    Args:
      size: the target patch side in pixels, a multiple of ``scale``.
      scale: the target's size over the input's (1: same size, as in deblurring).

    Returns:
      The op; it raises a ValueError when the pair does not correspond (naming both
      shapes) or its input is smaller than the input patch.

    Raises:
      ValueError: ``size`` is not a positive multiple of ``scale``.

    Example:
      >>> target = np.arange(8, dtype=np.uint8).reshape(1, 8, 1).repeat(2, 0)  # [2, 8, 1]
      >>> ex = {"input": target[::2, ::2], "target": target}
      >>> out = paired_random_crop(2, scale=2)(ex, np.random.default_rng(1))
      >>> out["input"][0, :, 0].tolist(), out["target"][0, :, 0].tolist()
      ([2], [2, 3])
    """
    _check_sizes("paired_random_crop", scale, size=size)
    in_size = size // scale

    def op(features: Features, rng: np.random.Generator) -> Features:
        _refuse_geometry(features, "paired_random_crop", ("image", "segmentation_mask"))
        image, target = aligned_pair(features, scale, "paired_random_crop")
        if image.shape[0] < in_size or image.shape[1] < in_size:
            raise ValueError(
                f"paired_random_crop({size}, scale={scale}): input of shape {image.shape} "
                f"(target {target.shape}) is smaller than the {in_size} x {in_size} patch"
            )
        top = int(rng.integers(0, image.shape[0] - in_size + 1))
        left = int(rng.integers(0, image.shape[1] - in_size + 1))
        target_top, target_left = top * scale, left * scale  # The same place in the target.
        return {
            **features,
            INPUT_KEY: image[top : top + in_size, left : left + in_size],
            TARGET_KEY: target[target_top : target_top + size, target_left : target_left + size],
        }

    return op


@register("rot90")
def rot90(k: int | None = None) -> Op:
    """Rotates every pixel array (and ``segmentation_mask``) by the same quarter turns.

    With ``flip_lr`` it gives the eight symmetries of the square, the usual augmentation
    of restoration training. Non-square images change shape on odd turns.

    Args:
      k: counter-clockwise quarter turns; None draws 0, 1, 2 or 3 uniformly.

    Returns:
      The op; it raises a ValueError on an example holding boxes.

    Example:
      >>> image = np.arange(4, dtype=np.uint8).reshape(2, 2, 1)
      >>> rot90(1)({"image": image}, None)["image"][..., 0].tolist()
      [[1, 3], [0, 2]]
    """

    def op(features: Features, rng: np.random.Generator) -> Features:
        _refuse_geometry(features, "rot90", ())
        turns = int(rng.integers(0, NUM_QUARTER_TURNS)) if k is None else k % NUM_QUARTER_TURNS
        if turns == 0:
            return features
        out = dict(features)
        for key in (*PIXEL_KEYS, "segmentation_mask"):
            if key in features:
                out[key] = np.rot90(np.asarray(features[key]), turns, axes=(0, 1))
        return out

    return op


def _pad_image(features: Features, height: int, width: int, scale: int) -> Features:
    image = np.asarray(features["image"])  # [h, w, c]
    image = image[: image.shape[0] // scale * scale, : image.shape[1] // scale * scale]
    if image.shape[0] > height or image.shape[1] > width:
        raise ValueError(
            f"pad_to_canvas: image of size {image.shape[:2]} is larger than the "
            f"canvas ({height}, {width})"
        )
    size = np.array(image.shape[:2], np.int32)  # [2]
    return {**features, "image": reflect_pad(image, height, width), IMAGE_SIZE_KEY: size}


def _pad_pair(features: Features, height: int, width: int, scale: int) -> Features:
    image, target = aligned_pair(features, scale, "pad_to_canvas")
    if target.shape[0] > height or target.shape[1] > width:
        raise ValueError(
            f"pad_to_canvas: target of size {target.shape[:2]} (input {image.shape[:2]}) "
            f"is larger than the canvas ({height}, {width})"
        )
    return {
        **features,
        INPUT_KEY: reflect_pad(image, height // scale, width // scale),
        TARGET_KEY: reflect_pad(target, height, width),
        IMAGE_SIZE_KEY: np.array(target.shape[:2], np.int32),  # [2]
    }


@register("pad_to_canvas")
def pad_to_canvas(height: int, width: int | None = None, scale: int = 1) -> Op:
    """Reflect-pads an eval image (or pair) at the bottom and right to a fixed canvas.

    The whole image is kept; ``image_size`` = int32 [h, w] records the real (target)
    image, ``canvas[:h, :w]``, where metrics are computed: the padding only gives the
    batch one shape (a pair's input and target are each reflected on their own grid, so
    their paddings do not correspond pixel for pixel). For a pair, the target canvas
    is ``height`` x ``width`` and the input's ``height / scale`` x ``width / scale``. A
    side not a multiple of ``scale`` (of ``image``, or of the pair's target) is first
    cropped down to one, so that the real image downsamples exactly (see
    ``aligned_pair``).

    Args:
      height: canvas height in pixels (of ``image`` or ``target``), a multiple of scale.
      width: canvas width; ``height`` when None.
      scale: the target's size over the input's.

    Returns:
      The op; it raises a ValueError on an image larger than the canvas (naming its
      size and the canvas) or a pair that does not correspond.

    Raises:
      ValueError: a canvas side that is not a positive multiple of ``scale``.

    Example:
      >>> out = pad_to_canvas(6, 8)({"image": np.ones((5, 7, 3), np.uint8)}, None)
      >>> out["image"].shape, out["image_size"].tolist()
      ((6, 8, 3), [5, 7])
    """
    width = height if width is None else width
    _check_sizes("pad_to_canvas", scale, height=height, width=width)

    def op(features: Features, rng: np.random.Generator) -> Features:
        del rng
        _refuse_geometry(features, "pad_to_canvas", ("segmentation_mask",))
        if INPUT_KEY in features or TARGET_KEY in features:
            return _pad_pair(features, height, width, scale)
        return _pad_image(features, height, width, scale)

    return op


@register("rename")
def rename(**mapping: str) -> Op:
    """Renames features, ``source=destination``: serves other schemas to the same ops.

    TFDS ``div2k`` examples hold ``lr`` and ``hr``: ``rename(lr="input", hr="target")``
    makes them the pair the restoration ops move.

    Args:
      **mapping: new name by old name.

    Returns:
      The op; it raises a ValueError when a source is missing (naming the example's
      keys) or a destination exists already and is not renamed itself.

    Raises:
      ValueError: no mapping, or two sources with the same destination.

    Example:
      >>> out = rename(lr="input", hr="target")({"lr": 1, "hr": 2, "name": "x"}, None)
      >>> sorted(out.items())
      [('input', 1), ('name', 'x'), ('target', 2)]
    """
    destinations = list(mapping.values())
    if not mapping or len(set(destinations)) != len(destinations):
        raise ValueError(f"rename needs distinct destinations, old=new, got {mapping}")

    def op(features: Features, rng: np.random.Generator) -> Features:
        del rng
        missing = sorted(k for k in mapping if k not in features)
        if missing:
            raise ValueError(
                f"rename: no feature {missing} in the example (has {sorted(features)})"
            )
        out = {k: v for k, v in features.items() if k not in mapping}
        taken = sorted(k for k in destinations if k in out)
        if taken:
            raise ValueError(f"rename: features {taken} exist already in the example")
        out.update({new: features[old] for old, new in mapping.items()})
        return out

    return op
