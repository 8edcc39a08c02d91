"""`jaxvision_photos`: the project's offline restoration dataset, from scikit-image's photos.

A real `tfds.core.GeneratorBasedBuilder` with nothing to download and no TensorFlow needed:
its examples are cut from the photographs that ship inside the scikit-image wheel
(the files under `skimage/data/`, read with Pillow: scikit-image's own loaders are not
called, so nothing is ever fetched from the network, whatever the installed version
keeps in its download registry). It is written in the ArrayRecord format and read back
with `tfds.data_source`.

  =====  ==================================================  =================================
  split  photographs                                          examples
  =====  ==================================================  =================================
  train  colour: hubble_deep_field, immunohistochemistry,    96 x 96 patches on a stride-64
         retina, rocket, motorcycle_left, motorcycle_right;  grid, flat ones left out, at most
         grey (as RGB): camera, brick, grass, gravel,        80 a photograph: 661
         coins, moon, page, text
  test   astronaut, coffee, chelsea (held out)               the 3 whole photographs (512 x
                                                             512, 400 x 600, 300 x 451)
  =====  ==================================================  =================================

The ``tune`` config holds a validation split out of the training photographs, for choosing
a config's settings without looking at the test photographs: the bottom
``validation_rows`` (128) rows of each colour training photograph (at most
``VALIDATION_MAX_WIDTH`` columns, centred) are the ``validation`` examples, and that
photograph's train patches come from the rows above them only. Tune on it, then train the
chosen config on the default config's full ``train`` and report ``test``::

  --config.dataset.name=jaxvision_photos/tune --config.dataset.eval_split=validation

The colour photographs are all those in the scikit-image wheel but the three held out
(checked with 0.26); the grey ones and the textures give the split the edges and textures
natural images have, which the colour ones (a retina, deep sky, a micrograph) mostly lack.
The others there are synthetic (colorwheel, logo, chessboard, phantom), binary (horse) or
already blurred (clock_motion).

Features: `image` (uint8 [H, W, 3], PNG) and `name` (text, read back as bytes: the
photograph's name; for a train patch `<photo>_y<top>_x<left>`, its place in the
photograph). A patch whose pixels vary less than `min_patch_std` (the black frame of the
retina) is left out: restoring it teaches nothing. The restoration task degrades the clean
images on the device (noise, blur, downsampling); eval pads the test photographs to one
canvas (`pad_to_canvas(512, 608)`).

Example:

  builder = prepare_photos("/tmp/tfds")
  train = tfds.data_source("jaxvision_photos", split="train", data_dir="/tmp/tfds")
  train[0]["image"].shape  # (96, 96, 3)
"""

from __future__ import annotations

import dataclasses
import io
import pathlib

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from jaxvision.data.builders import prepare

NAME = "jaxvision_photos"
DEFAULT_CONFIG = "patches96"
# The photograph files of `skimage/data/` by name (the name of scikit-image's loader).
PHOTO_FILES = {
    "astronaut": "astronaut.png",
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "immunohistochemistry": "ihc.png",
    "retina": "retina.jpg",
    "rocket": "rocket.jpg",
    "motorcycle_left": "motorcycle_left.png",
    "motorcycle_right": "motorcycle_right.png",
    "camera": "camera.png",
    "brick": "brick.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "coins": "coins.png",
    "moon": "moon.png",
    "page": "page.png",
    "text": "text.png",
}
# The test split, held out of training whole.
TEST_PHOTOS = ("astronaut", "coffee", "chelsea")
# Every other colour photograph, and the grey photographs and textures (as RGB, equal
# channels): without them the train split would be mostly retina and deep sky.
COLOUR_TRAIN_PHOTOS = (
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "rocket",
    "motorcycle_left",
    "motorcycle_right",
)
GREY_TRAIN_PHOTOS = ("camera", "brick", "grass", "gravel", "coins", "moon", "page", "text")
TRAIN_PHOTOS = (*COLOUR_TRAIN_PHOTOS, *GREY_TRAIN_PHOTOS)
# At most this many patches from one photograph (evenly spaced over its grid), so that no
# photograph dominates the split.
DEFAULT_MAX_PATCHES_PER_PHOTO = 80
# Standard deviation (over a patch's pixels and channels, in uint8 levels) below which a
# patch counts as flat and is left out.
DEFAULT_MIN_PATCH_STD = 8.0
# The `tune` config's validation strips: rows from each photograph's bottom, and at most
# this many columns (centred), within the restoration eval canvas (512 x 608).
DEFAULT_VALIDATION_ROWS = 128
VALIDATION_MAX_WIDTH = 512
SKIMAGE_REQUIREMENT = "scikit-image>=0.24,<0.27"


@dataclasses.dataclass(eq=False, kw_only=True)
class PhotosConfig(tfds.core.BuilderConfig):
    """BuilderConfig for `jaxvision_photos`.

    Attributes:
      patch_size: side of the square train patches, in pixels.
      stride: step between the train patches of the grid, in pixels.
      min_patch_std: train patches whose pixel standard deviation is below this are
        left out.
      train_photos: the photographs the train patches are cut from.
      max_patches_per_photo: at most this many kept patches from one photograph, evenly
        spaced over its grid (0: all).
      validation_photos: training photographs whose bottom `validation_rows` rows form the
        `validation` split (none: no such split) and give no train patch.
      validation_rows: rows of each validation strip.
    """

    patch_size: int = 96
    stride: int = 64
    min_patch_std: float = DEFAULT_MIN_PATCH_STD
    train_photos: tuple[str, ...] = TRAIN_PHOTOS
    max_patches_per_photo: int = DEFAULT_MAX_PATCHES_PER_PHOTO
    validation_photos: tuple[str, ...] = ()
    validation_rows: int = DEFAULT_VALIDATION_ROWS

    def __post_init__(self):
        if self.patch_size < 1 or self.stride < 1:
            raise ValueError(
                f"patch_size and stride must be >= 1, got {self.patch_size}, {self.stride}."
            )
        if self.min_patch_std < 0:
            raise ValueError(f"min_patch_std must be >= 0, got {self.min_patch_std}.")
        if self.max_patches_per_photo < 0:
            raise ValueError(
                f"max_patches_per_photo must be >= 0, got {self.max_patches_per_photo}."
            )
        unknown = sorted(set(self.train_photos) - set(PHOTO_FILES))
        held_out = sorted(set(self.train_photos) & set(TEST_PHOTOS))
        if unknown or held_out or not self.train_photos:
            allowed = sorted(set(PHOTO_FILES) - set(TEST_PHOTOS))
            raise ValueError(
                f"train_photos must be a non-empty subset of {allowed}; got unknown "
                f"{unknown} and held-out {held_out} in {self.train_photos}."
            )
        stray = sorted(set(self.validation_photos) - set(self.train_photos))
        if stray:
            raise ValueError(
                f"validation_photos must be among train_photos {self.train_photos}; got {stray}."
            )
        if self.validation_photos and self.validation_rows < 1:
            raise ValueError(f"validation_rows must be >= 1, got {self.validation_rows}.")


BUILDER_CONFIGS = (
    PhotosConfig(
        name=DEFAULT_CONFIG,
        description="96 x 96 train patches on a stride-64 grid; whole test photographs.",
    ),
    PhotosConfig(
        name="tune",
        description=(
            "patches96 less the bottom 128 rows of each colour training photograph, which "
            "form the validation split."
        ),
        validation_photos=COLOUR_TRAIN_PHOTOS,
    ),
)


def skimage_data_dir() -> pathlib.Path:
    """The folder of the data files inside the installed scikit-image package.

    Raises:
      ImportError: scikit-image is not installed; the message says what to install.
    """
    try:
        import skimage
    except ImportError as e:
        raise ImportError(
            f"{NAME} is generated from the photographs that ship with scikit-image: "
            f"pip install '{SKIMAGE_REQUIREMENT}'"
        ) from e
    return pathlib.Path(skimage.__file__).parent / "data"


def load_photo(name: str) -> np.ndarray:
    """One photograph of `PHOTO_FILES`, read from the scikit-image package with Pillow.

    Args:
      name: a key of `PHOTO_FILES`.

    Returns:
      uint8 [H, W, 3].

    Raises:
      FileNotFoundError: the installed scikit-image does not ship the file (the message
        names the path and the supported versions).
    """
    path = skimage_data_dir() / PHOTO_FILES[name]
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is not in the installed scikit-image; {NAME} needs a version that "
            f"ships it ({SKIMAGE_REQUIREMENT})."
        )
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)  # [h, w, 3]


def patch_corners(height: int, width: int, size: int, stride: int) -> list[tuple[int, int]]:
    """The (top, left) corners of the size x size patches of a stride grid, row by row.

    Example:
      >>> patch_corners(5, 7, 3, 2)
      [(0, 0), (0, 2), (0, 4), (2, 0), (2, 2), (2, 4)]
    """
    return [
        (top, left)
        for top in range(0, height - size + 1, stride)
        for left in range(0, width - size + 1, stride)
    ]


def _evenly(items: list, limit: int) -> list:
    """At most ``limit`` of ``items``, evenly spaced (all of them when ``limit`` is 0)."""
    if not limit or len(items) <= limit:
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, limit).round().astype(int)]


def train_patches(config: PhotosConfig):
    """Yields `(name, patch)` for every kept patch of the train photographs, in order."""
    size = config.patch_size
    for photo in config.train_photos:
        image = load_photo(photo)  # [h, w, 3]
        if photo in config.validation_photos:
            image = image[: -config.validation_rows]  # the rows above the validation strip
        kept = []
        for top, left in patch_corners(*image.shape[:2], size, config.stride):
            patch = image[top : top + size, left : left + size]  # [size, size, 3]
            if patch.std() >= config.min_patch_std:
                kept.append((f"{photo}_y{top:04d}_x{left:04d}", patch))
        yield from _evenly(kept, config.max_patches_per_photo)


def validation_strips(config: PhotosConfig):
    """Yields `(name, strip)` for each validation photograph: its bottom
    `config.validation_rows` rows, at most `VALIDATION_MAX_WIDTH` columns (centred)."""
    for photo in config.validation_photos:
        image = load_photo(photo)  # [h, w, 3]
        strip = image[-config.validation_rows :]
        left = max(0, (strip.shape[1] - VALIDATION_MAX_WIDTH) // 2)
        yield f"{photo}_bottom", strip[:, left : left + VALIDATION_MAX_WIDTH]


def _png(array: np.ndarray) -> bytes:
    """PNG bytes of a uint8 [H, W, 3] array (encoded by Pillow, not TensorFlow)."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


class JaxvisionPhotos(tfds.core.GeneratorBasedBuilder):
    """Clean photographs for image restoration: train patches, held-out test photographs."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "1.1.0": "Grey photographs and textures, motorcycle_right; at most 80 patches a photo.",
    }
    BUILDER_CONFIGS = list(BUILDER_CONFIGS)
    DEFAULT_CONFIG_NAME = DEFAULT_CONFIG
    # See `shapes.JaxvisionShapes.code_path`: TFDS cannot derive it for a packaged builder.
    code_path = pathlib.Path(__file__)

    def _info(self) -> tfds.core.DatasetInfo:
        config: PhotosConfig = self.builder_config
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "Clean colour photographs for image restoration, from the files that ship "
                "inside scikit-image (skimage.data; see its loaders' docstrings for each "
                f"photograph's source). Train: patches of {', '.join(config.train_photos)}; "
                f"test: the whole {', '.join(TEST_PHOTOS)}. " + (config.description or "")
            ),
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 3), encoding_format="png"),
                    "name": tfds.features.Text(),
                }
            ),
            homepage="https://scikit-image.org/docs/stable/api/skimage.data.html",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing to download.
        splits = ["train", "test"] + (
            ["validation"] if self.builder_config.validation_photos else []
        )
        return {split: self._generate_examples(split) for split in splits}

    def _generate_examples(self, split: str):
        if split == "train":
            for name, patch in train_patches(self.builder_config):
                yield name, {"image": _png(patch), "name": name}
        elif split == "validation":
            for name, strip in validation_strips(self.builder_config):
                yield name, {"image": _png(strip), "name": name}
        else:
            for name in TEST_PHOTOS:
                yield name, {"image": _png(load_photo(name)), "name": name}


def prepare_photos(
    data_dir: str, config: str = DEFAULT_CONFIG, **overrides
) -> tfds.core.DatasetBuilder:
    """Generates `jaxvision_photos/<config>` in `data_dir` (ArrayRecord) unless already there.

    Args:
      data_dir: the TFDS data directory.
      config: a registered config: "patches96" or "tune".
      **overrides: `PhotosConfig` fields to change (e.g. `patch_size=128, stride=128`).
        The variant gets its own config name, `<config>_custom_<hash of the overrides>`,
        so it never collides with the registered config in `data_dir`.

    Returns:
      The prepared builder; read it with `builder.as_data_source(split)`.

    Raises:
      ValueError: unknown config or override field, or an invalid override value.
      ImportError: scikit-image is missing (only when the data must be generated).

    Example:

      builder = prepare_photos("/tmp/tfds", patch_size=128, stride=128)
      train = builder.as_data_source("train")
    """
    return prepare.prepare(JaxvisionPhotos, data_dir, config, overrides)
