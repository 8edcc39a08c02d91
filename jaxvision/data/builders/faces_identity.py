"""`jaxvision_faces_identity`: offline aligned face crops of known identities, with attributes.

A real `tfds.core.GeneratorBasedBuilder` with nothing to download and no TensorFlow needed
(written in the ArrayRecord format, read back with `tfds.data_source`). An identity is one
fixed `face_params.FaceParams` (drawn from the identity's own seed); each of its images
is a new view of it, centred in the crop like CelebA's aligned images, with a random
in-plane rotation, head turn, size and position jitter, expression, lighting, slight blur
and a cluttered background (`faces_scene.clutter`).

  ==========  =====  ===========================  ===========================
  config      size   train                        test
  ==========  =====  ===========================  ===========================
  aligned64   64     1,000 identities x 16 views  200 identities x 8 views
  aligned112  112    1,000 identities x 16 views  200 identities x 8 views
  ==========  =====  ===========================  ===========================

The splits hold *disjoint* identities (train: ids 0 .. 999, test: ids 1000 .. 1199), so
the test split measures face verification on people never seen in training: pair its
images by `label` (same person or not) as in the LFW protocol. An identity looks the
same in every config (its parameters depend on its id only).

Features, compatible with TFDS `celeb_a` (the same names and types) and `lfw` (`label`):

* `image` uint8 [S, S, 3] (PNG);
* `label`: the identity, a `ClassLabel` over all identities (`person_00000` ...; `lfw`
  holds the person's name as text instead); a train split's labels are 0 ..
  `num_train_identities - 1`, so an embedding's classification head needs only those;
* `identity`: {`Identity_No`: int64}, `label + 1` (`celeb_a` numbers identities from 1);
* `attributes`: {`Male`, `Young`, `Smiling`, `Eyeglasses`: bool}, the four `celeb_a`
  attributes this renderer draws (`face_params.attributes`; `Smiling` varies per image);
* `landmarks`: {`lefteye_x`, `lefteye_y`, `righteye_x`, `righteye_y`, `nose_x`, `nose_y`,
  `leftmouth_x`, `leftmouth_y`, `rightmouth_x`, `rightmouth_y`: int64}, as in `celeb_a`:
  the column and row of the pixel that holds each landmark ("left" is the image's left).
  The exact sub-pixel points are `render_example(...)["landmarks"]`.

Example:

  builder = prepare_faces_identity("/tmp/tfds", num_train_identities=8, num_test_identities=4)
  example = builder.as_data_source("train")[0]
  example["attributes"]["Smiling"], example["landmarks"]["nose_x"]
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import tensorflow_datasets as tfds

from jaxvision.data.builders import face_params, face_render, faces_scene, prepare

NAME = "jaxvision_faces_identity"
DEFAULT_CONFIG = "aligned64"
SPLITS = ("train", "test")
DATASET_SEED = 20_250_317  # Root entropy of every identity and image seed.
IDENTITY_STREAM, IMAGE_STREAM = 0, 1  # Distinct streams: identities and their images.
# celeb_a's landmark fields, in MTCNN's landmark order.
LANDMARK_NAMES = (
    "lefteye_x",
    "lefteye_y",
    "righteye_x",
    "righteye_y",
    "nose_x",
    "nose_y",
    "leftmouth_x",
    "leftmouth_y",
    "rightmouth_x",
    "rightmouth_y",
)
FACE_CENTER_Y = 0.52  # Height of the face centre in the crop, as a fraction of the side.


@dataclasses.dataclass(eq=False, kw_only=True)
class FacesIdentityConfig(tfds.core.BuilderConfig):
    """BuilderConfig for `jaxvision_faces_identity`.

    Attributes:
      image_size: side of the square crops, in pixels.
      num_train_identities: identities of the train split (ids 0 .. n - 1).
      num_test_identities: identities of the test split (the next ids).
      train_images_per_identity: images of each train identity.
      test_images_per_identity: images of each test identity.
      face_size: face (head outline) width, as a fraction of the crop side.
      size_jitter: relative random change of the face width.
      shift_jitter: largest shift of the face centre, as a fraction of the crop side.
      max_roll: largest in-plane rotation, radians.
      max_yaw: largest head turn, radians (<= `face_params.MAX_YAW`).
      blur_probabilities: probabilities of blur levels 1 and 2.
      max_clutter: most background shapes.
    """

    image_size: int = 64
    num_train_identities: int = 1_000
    num_test_identities: int = 200
    train_images_per_identity: int = 16
    test_images_per_identity: int = 8
    face_size: float = 0.56
    size_jitter: float = 0.05
    shift_jitter: float = 0.03
    max_roll: float = np.pi / 12
    max_yaw: float = 0.3
    blur_probabilities: tuple[float, float] = (0.05, 0.0)
    max_clutter: int = 3

    def __post_init__(self):
        counts = (
            self.num_train_identities,
            self.num_test_identities,
            self.train_images_per_identity,
            self.test_images_per_identity,
        )
        if min(counts) < 0:
            raise ValueError(f"identity and image counts must be >= 0, got {counts}.")
        if not 0.0 < self.face_size * (1 + self.size_jitter) <= 0.7:
            raise ValueError(
                f"need 0 < face_size * (1 + size_jitter) <= 0.7 (the face must fit the crop), "
                f"got face_size={self.face_size}, size_jitter={self.size_jitter}."
            )
        if self.image_size * self.face_size * (1 - self.size_jitter) < 4 * (
            face_render.MIN_FACE_SIZE
        ):
            raise ValueError(f"image_size={self.image_size} is too small for face crops.")
        if not 0.0 <= self.shift_jitter <= 0.1:
            raise ValueError(f"shift_jitter must be in [0, 0.1], got {self.shift_jitter}.")
        face_params.check_pose_limits(self.max_roll, self.max_yaw)
        faces_scene.shapes_scene.check_scene_args(self.image_size, (0, self.max_clutter))


BUILDER_CONFIGS = (
    FacesIdentityConfig(
        name=DEFAULT_CONFIG,
        description="64x64 crops; 1,000 train and 200 held-out test identities.",
    ),
    FacesIdentityConfig(
        name="aligned112",
        description="112x112 crops (the ArcFace input size); identities as aligned64.",
        image_size=112,
    ),
)


def identity_ids(config: FacesIdentityConfig, split: str) -> range:
    """The identities of `split`: train and test never share one."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    n_train = config.num_train_identities
    return (
        range(n_train) if split == "train" else range(n_train, n_train + config.num_test_identities)
    )


def identity_face(identity: int) -> face_params.FaceParams:
    """The fixed face of `identity` (the same in every config and split)."""
    return face_params.sample_face(np.random.default_rng([DATASET_SEED, IDENTITY_STREAM, identity]))


def render_example(config: FacesIdentityConfig, identity: int, image: int) -> dict:
    """Renders image number `image` of `identity`.

    Returns:
      A dict with `image` uint8 [S, S, 3], `landmarks` float32 [5, 2] (exact (x, y)
      pixels: left eye, right eye, nose tip, left and right mouth corner), `box` float32
      [4] (x1, y1, x2, y2 pixels), `attributes` (the CelebA-named dict), and the `face`
      (`FaceParams`) and `view` (`FaceView`) drawn.
    """
    # The view and the pixels (background, noise) come from separate streams, so that an
    # image shows the same view in every config, whatever its size.
    rng = np.random.default_rng([DATASET_SEED, IMAGE_STREAM, identity, image, 0])
    pixels_rng = np.random.default_rng([DATASET_SEED, IMAGE_STREAM, identity, image, 1])
    size = config.image_size
    shift = rng.uniform(-config.shift_jitter, config.shift_jitter, 2) * size  # [2]
    width = size * config.face_size * (1 + rng.uniform(-config.size_jitter, config.size_jitter))
    center = (size / 2 + shift[0], size * FACE_CENTER_Y + shift[1])
    face = identity_face(identity)
    view = face_params.sample_view(
        rng, center, width, config.max_roll, config.max_yaw, config.blur_probabilities
    )
    rendered = face_render.render_face(face, view)
    background = faces_scene.clutter(pixels_rng, size, (0, config.max_clutter))  # [S, S, 3]
    face_render.paint(background, rendered)
    return {
        "image": faces_scene.finish(pixels_rng, background),
        "landmarks": rendered.landmarks,
        "box": rendered.box,
        "attributes": face_params.attributes(face, view),
        "face": face,
        "view": view,
    }


def celeba_landmarks(landmarks: np.ndarray) -> dict[str, int]:
    """celeb_a's landmark fields: the pixel (column, row) holding each (x, y) of [5, 2].

    Example:
      >>> celeba_landmarks(np.array([[3.2, 4.9]] * 5))["nose_y"]
      4
    """
    pixels = np.floor(np.asarray(landmarks, np.float64)).astype(np.int64).ravel()  # [10]
    return {name: int(v) for name, v in zip(LANDMARK_NAMES, pixels, strict=True)}


class JaxvisionFacesIdentity(tfds.core.GeneratorBasedBuilder):
    """Procedural identities: aligned crops with labels, attributes and five landmarks."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = list(BUILDER_CONFIGS)
    DEFAULT_CONFIG_NAME = DEFAULT_CONFIG
    # See `shapes.JaxvisionShapes.code_path`: TFDS cannot derive it for a packaged builder.
    code_path = pathlib.Path(__file__)

    def _info(self) -> tfds.core.DatasetInfo:
        config: FacesIdentityConfig = self.builder_config
        size = config.image_size
        total = config.num_train_identities + config.num_test_identities
        features = {
            "image": tfds.features.Image(shape=(size, size, 3), encoding_format="png"),
            "label": tfds.features.ClassLabel(names=[f"person_{i:05d}" for i in range(total)]),
            "identity": {"Identity_No": np.int64},
            "attributes": {name: np.bool_ for name in face_params.ATTRIBUTE_NAMES},
            "landmarks": {name: np.int64 for name in LANDMARK_NAMES},
        }
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "Procedural cartoon identities (fixed face parameters) seen under varying "
                "pose, lighting and expression, as aligned crops, generated offline by "
                "jaxvision.data.builders.faces_identity; celeb_a-style attributes and "
                "landmarks, lfw-style labels; train and test identities are disjoint. "
                + (config.description or "")
            ),
            features=tfds.features.FeaturesDict(features),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing to download.
        return {split: self._generate_examples(split) for split in SPLITS}

    def _generate_examples(self, split: str):
        config: FacesIdentityConfig = self.builder_config
        per_identity = (
            config.train_images_per_identity
            if split == "train"
            else config.test_images_per_identity
        )
        for identity in identity_ids(config, split):
            for image in range(per_identity):
                example = render_example(config, identity, image)
                yield (
                    f"{identity:05d}_{image:04d}",
                    {
                        "image": faces_scene.png(example["image"]),
                        "label": identity,
                        "identity": {"Identity_No": identity + 1},
                        "attributes": example["attributes"],
                        "landmarks": celeba_landmarks(example["landmarks"]),
                    },
                )


def prepare_faces_identity(
    data_dir: str, config: str = DEFAULT_CONFIG, **overrides
) -> tfds.core.DatasetBuilder:
    """Generates `jaxvision_faces_identity/<config>` in `data_dir` (ArrayRecord) unless there.

    Args:
      data_dir: the TFDS data directory.
      config: a registered config: "aligned64" or "aligned112".
      **overrides: `FacesIdentityConfig` fields to change (e.g. `num_train_identities=8`);
        the variant gets its own config name, `<config>_custom_<hash of the overrides>`.

    Returns:
      The prepared builder; read it with `builder.as_data_source(split)`.

    Raises:
      ValueError: unknown config or override field, or an invalid override value.

    Example:

      builder = prepare_faces_identity("/tmp/tfds", num_train_identities=32)
      test = builder.as_data_source("test")  # 200 identities never seen in train.
    """
    return prepare.prepare(JaxvisionFacesIdentity, data_dir, config, overrides)
