"""`jaxvision_faces_scene`: offline face detection data with exact boxes and five landmarks.

A real `tfds.core.GeneratorBasedBuilder` with nothing to download and no TensorFlow needed
(written in the ArrayRecord format, read back with `tfds.data_source`). Each image holds
0..`max_faces` procedural faces (`face_render`) of random identities at varied sizes,
positions, rolls, head turns, expressions, lighting and blur, over the cluttered
backgrounds of `shapes_scene`; faces may overlap (each keeps at least
1 - `max_overlap` of its skin visible), smaller ones behind larger ones.

  ========  =====  =====================  ==========================  ===============
  config    size   faces                  face (box) width            train / test
  ========  =====  =====================  ==========================  ===============
  scenes    128    1..6 (5% empty; ~3 on  0.12 .. 0.45 of the side     8,000 / 1,000
                   average: some are      (about 16 .. 60 px)
                   skipped for room)
  ========  =====  =====================  ==========================  ===============

Features follow the TFDS `wider_face` schema, so that one pipeline reads both:

* `image` uint8 [H, W, 3] (PNG; `wider_face` holds JPEGs of any size);
* `image/filename` text: `<split>/<index>.png`;
* `faces`, a sequence, back to front, of
  * `bbox`: (ymin, xmin, ymax, xmax) in [0, 1], tight around the pixels the whole head
    outline covers (hair and beard beyond it excluded; the part a face in front hides
    included), pixel edges as coordinates;
  * `blur` uint8: 0 sharp, 1 slight, 2 heavy (as `wider_face`);
  * `expression` bool: the face smiles (`face_params.SMILE_THRESHOLD`);
  * `illumination` bool: strong side lighting (`light_strength >= STRONG_LIGHT`);
  * `occlusion` uint8: 0 none, 1 partial, 2 heavy (of the skin, hidden by faces in front,
    see `occlusion_level`);
  * `pose` bool: atypical pose (`|yaw| > ATYPICAL_YAW` or `|roll| > ATYPICAL_ROLL`);
  * `invalid` bool: always False;
  * and, beyond `wider_face`: `landmarks` float32 [5, 2], the exact (x, y) of the left
    eye, right eye, nose tip, left and right mouth corner, normalised by the image width
    and height (TFDS `aflw2k3d`'s `landmarks_68_3d_xy_normalized` convention; note x
    first, unlike `bbox`; "left" is the image's left for an upright face, MTCNN's order);
    `landmarks_valid` bool, False when a face in front hides one of them. A reader of
    `wider_face`, which has no landmarks, treats every face as `landmarks_valid = False`.

Example `i` of a split is rendered from its own seed, derived from (split, i): the dataset
is reproducible bit for bit and a variant with fewer examples is a prefix of the full one.

Example:

  builder = prepare_faces_scene("/tmp/tfds", num_train=64, num_test=16)
  example = builder.as_data_source("train")[0]
  example["faces"]["landmarks"]  # float32 [n, 5, 2]
"""

from __future__ import annotations

import dataclasses
import io
import pathlib

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from jaxvision.data.builders import face_params, face_render, prepare, shapes_scene

NAME = "jaxvision_faces_scene"
DEFAULT_CONFIG = "scenes"
SPLIT_SEED_IDS = {"train": 0, "test": 1}
DATASET_SEED = 20_250_316  # Root entropy of every example seed.
MAX_PLACEMENT_TRIES = 20  # Integer shifts tried per face before it is skipped.
IMAGE_NOISE_STD = 3.0  # Gaussian noise over the finished image, uint8 levels.
# Clutter: shapes_scene objects behind the faces.
CLUTTER_SIZES = (0.1, 0.5)
CLUTTER_OVERLAP = 0.7
# Thresholds of the wider_face flags.
STRONG_LIGHT = 0.35
ATYPICAL_YAW = 0.3
ATYPICAL_ROLL = np.pi / 8
PARTIAL_OCCLUSION = 0.1  # Hidden skin fraction from which occlusion is "partial" ...
HEAVY_OCCLUSION = 0.4  # ... and "heavy".
VISIBLE = 0.5  # A landmark is hidden where faces in front cover more than this.


@dataclasses.dataclass(eq=False, kw_only=True)
class FacesSceneConfig(tfds.core.BuilderConfig):
    """BuilderConfig for `jaxvision_faces_scene`.

    Attributes:
      image_size: side of the square images, in pixels.
      num_train: examples in the train split.
      num_test: examples in the test split.
      min_faces: fewest faces in a non-empty image.
      max_faces: most faces in an image.
      empty_fraction: probability that an image holds no face.
      min_size: narrowest face (head outline width), as a fraction of the image side.
      max_size: widest face, as a fraction of the image side.
      max_overlap: largest fraction of a face's skin that faces in front may hide.
      max_roll: largest in-plane rotation, radians.
      max_yaw: largest head turn, radians (<= `face_params.MAX_YAW`).
      blur_probabilities: probabilities of blur levels 1 and 2.
      min_clutter: fewest background shapes.
      max_clutter: most background shapes.
    """

    image_size: int = 128
    num_train: int = 8_000
    num_test: int = 1_000
    min_faces: int = 1
    max_faces: int = 6
    empty_fraction: float = 0.05
    min_size: float = 0.12
    max_size: float = 0.45
    max_overlap: float = 0.2
    max_roll: float = np.pi / 6
    max_yaw: float = face_params.MAX_YAW
    blur_probabilities: tuple[float, float] = (0.1, 0.05)
    min_clutter: int = 2
    max_clutter: int = 8

    def __post_init__(self):
        if self.num_train < 0 or self.num_test < 0:
            raise ValueError(f"split sizes must be >= 0, got {self.num_train}, {self.num_test}.")
        if not 0 <= self.min_faces <= self.max_faces:
            raise ValueError(
                f"need 0 <= min_faces <= max_faces, got {self.min_faces}, {self.max_faces}."
            )
        if not 0.0 <= self.empty_fraction <= 1.0:
            raise ValueError(f"empty_fraction must be in [0, 1], got {self.empty_fraction}.")
        if not 0.0 < self.min_size <= self.max_size <= 0.6:
            raise ValueError(
                f"need 0 < min_size <= max_size <= 0.6 (the whole face must fit), "
                f"got {self.min_size}, {self.max_size}."
            )
        if self.image_size * self.min_size < face_render.MIN_FACE_SIZE:
            raise ValueError(
                f"faces of min_size={self.min_size} in {self.image_size} px "
                f"images are under {face_render.MIN_FACE_SIZE} px."
            )
        if not 0.0 <= self.max_overlap <= 1.0:
            raise ValueError(f"max_overlap must be in [0, 1], got {self.max_overlap}.")
        face_params.check_pose_limits(self.max_roll, self.max_yaw)
        shapes_scene.check_scene_args(self.image_size, (self.min_clutter, self.max_clutter))


BUILDER_CONFIGS = (
    FacesSceneConfig(
        name=DEFAULT_CONFIG,
        description="0..6 faces per 128x128 image over cluttered backgrounds.",
    ),
)


def png(array: np.ndarray) -> bytes:
    """PNG bytes of a uint8 [H, W, 3] array (encoded by Pillow, not TensorFlow)."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def clutter(rng: np.random.Generator, image_size: int, objects: tuple[int, int]) -> np.ndarray:
    """A float32 [S, S, 3] background: a colour gradient with `objects` shapes on it."""
    scene = shapes_scene.render_scene(
        rng, image_size, objects, *CLUTTER_SIZES, max_overlap=CLUTTER_OVERLAP
    )
    return scene["image"].astype(np.float32)  # [S, S, 3]


def finish(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3]: `image` with mild noise over everything (faces included)."""
    noise = rng.standard_normal(size=image.shape, dtype=np.float32)  # [H, W, 3]
    return np.clip(np.rint(image + IMAGE_NOISE_STD * noise), 0, 255).astype(np.uint8)


def occlusion_level(hidden_fraction: float) -> int:
    """The `wider_face` occlusion level of a face whose skin is `hidden_fraction` hidden."""
    return int(hidden_fraction >= PARTIAL_OCCLUSION) + int(hidden_fraction >= HEAVY_OCCLUSION)


@dataclasses.dataclass
class _Placed:
    """A face placed in a scene; `uncovered` shrinks as faces in front cover it."""

    face: face_params.FaceParams
    view: face_params.FaceView
    rendered: face_render.RenderedFace
    skin: np.ndarray  # [S, S] coverage of the head outline.
    uncovered: np.ndarray  # [S, S] 1 - the coverage of the faces in front.

    def hidden_fraction(self) -> float:
        """The fraction of the face's skin that faces in front hide."""
        return 1.0 - float((self.skin * self.uncovered).sum() / max(self.skin.sum(), 1e-6))


def _place(
    rng: np.random.Generator,
    rendered: face_render.RenderedFace,
    placed: list[_Placed],
    image_size: int,
    max_overlap: float,
) -> tuple[face_render.RenderedFace, np.ndarray] | None:
    """Moves a rendered face to a random spot where its box fits in the image and it hides
    at most `max_overlap` of every earlier face's skin.

    Returns:
      The moved face and its alpha in the image frame [S, S], or None if no tried spot fits.
    """
    x1, y1, x2, y2 = rendered.box.tolist()
    low = np.ceil([-x1, -y1]).astype(int)
    high = np.floor([image_size - x2, image_size - y2]).astype(int)
    if (high < low).any():
        return None
    for _ in range(MAX_PLACEMENT_TRIES):
        dx, dy = (int(rng.integers(lo, hi + 1)) for lo, hi in zip(low, high, strict=True))
        moved = face_render.shifted(rendered, dx, dy)
        alpha = face_render.in_frame(moved, moved.alpha, image_size, image_size)  # [S, S]
        if all(
            (p.skin * p.uncovered * (1.0 - alpha)).sum() >= (1.0 - max_overlap) * p.skin.sum()
            for p in placed
        ):
            return moved, alpha
    return None


def _place_faces(rng: np.random.Generator, config: FacesSceneConfig, count: int) -> list[_Placed]:
    """Draws `count` faces and places each in front of the earlier ones (some may be skipped).

    Smaller faces go further back, as in a photograph of a crowd.
    """
    size = config.image_size
    widths = np.sort(size * rng.uniform(config.min_size, config.max_size, count))  # [count]
    placed: list[_Placed] = []
    for width in widths:
        face = face_params.sample_face(rng)
        # Drawn near the origin at a random sub-pixel offset, then moved by whole pixels.
        view = face_params.sample_view(
            rng,
            (rng.random(), rng.random()),
            width,
            config.max_roll,
            config.max_yaw,
            config.blur_probabilities,
        )
        rendered = face_render.render_face(face, view)
        spot = _place(rng, rendered, placed, size, config.max_overlap)
        if spot is None:
            continue
        moved, alpha = spot
        dx, dy = moved.left - rendered.left, moved.top - rendered.top
        view = dataclasses.replace(view, center=(view.center[0] + dx, view.center[1] + dy))
        for p in placed:
            p.uncovered *= 1.0 - alpha
        skin = face_render.in_frame(moved, moved.skin, size, size)  # [S, S]
        placed.append(_Placed(face, view, moved, skin, np.ones_like(skin)))
    return placed


def _landmarks_visible(p: _Placed, image_size: int) -> bool:
    """Whether every landmark of `p` lies in the image, not hidden by a face in front."""
    for x, y in p.rendered.landmarks.tolist():
        col, row = int(np.floor(x)), int(np.floor(y))
        if not (0 <= col < image_size and 0 <= row < image_size):
            return False
        if p.uncovered[row, col] < VISIBLE:
            return False
    return True


def _face_targets(placed: list[_Placed], image_size: int) -> dict[str, np.ndarray]:
    """The per-face features of the `faces` sequence, as arrays with a leading [n]."""
    n, s = len(placed), float(image_size)
    boxes = np.zeros((n, 4), np.float32)  # [n, 4] (ymin, xmin, ymax, xmax)
    landmarks = np.zeros((n, 5, 2), np.float32)  # [n, 5, 2] (x, y)
    for i, p in enumerate(placed):
        x1, y1, x2, y2 = p.rendered.box
        boxes[i] = np.clip([y1 / s, x1 / s, y2 / s, x2 / s], 0.0, 1.0)
        landmarks[i] = p.rendered.landmarks / s
    views = [p.view for p in placed]
    return {
        "bbox": boxes,
        "blur": np.array([v.blur for v in views], np.uint8),  # [n]
        "expression": np.array(
            [v.smile >= face_params.SMILE_THRESHOLD for v in views], bool
        ),  # [n]
        "illumination": np.array([v.light_strength >= STRONG_LIGHT for v in views], bool),
        "occlusion": np.array([occlusion_level(p.hidden_fraction()) for p in placed], np.uint8),
        "pose": np.array(
            [abs(v.yaw) > ATYPICAL_YAW or abs(v.roll) > ATYPICAL_ROLL for v in views], bool
        ),  # [n]
        "invalid": np.zeros(n, bool),  # [n]
        "landmarks": landmarks,
        "landmarks_valid": np.array([_landmarks_visible(p, image_size) for p in placed], bool),
    }


def render_faces_scene(rng: np.random.Generator, config: FacesSceneConfig) -> dict:
    """Renders one image of faces over clutter.

    Args:
      rng: the only source of randomness; the scene is a deterministic function of its state.
      config: sizes, counts and pose limits.

    Returns:
      A dict with `image` uint8 [S, S, 3], `faces` (the per-face features of the module
      doc, each with a leading [n], back to front), and `params` and `views`, the
      `FaceParams` and `FaceView` of each face (`render_face(params[i], views[i])` draws
      face i where it is in the image).
    """
    # The draws, in order: empty or not, count, clutter, the face sizes, then per face its
    # identity, sub-pixel offset, view and placement shifts, then the noise. Changing the order
    # changes every generated dataset.
    empty = config.empty_fraction > 0 and rng.random() < config.empty_fraction
    count = 0 if empty else int(rng.integers(config.min_faces, config.max_faces + 1))
    image = clutter(rng, config.image_size, (config.min_clutter, config.max_clutter))
    placed = _place_faces(rng, config, count)
    for p in placed:
        face_render.paint(image, p.rendered)
    return {
        "image": finish(rng, image),
        "faces": _face_targets(placed, config.image_size),
        "params": [p.face for p in placed],
        "views": [p.view for p in placed],
    }


def example_rng(split: str, index: int) -> np.random.Generator:
    """The generator that renders example `index` of `split`."""
    if split not in SPLIT_SEED_IDS:
        raise ValueError(f"split must be one of {tuple(SPLIT_SEED_IDS)}, got {split!r}.")
    return np.random.default_rng([DATASET_SEED, SPLIT_SEED_IDS[split], index])


def render_example(config: FacesSceneConfig, split: str, index: int) -> dict:
    """Renders example `index` of `split` (the `render_faces_scene` dict)."""
    return render_faces_scene(example_rng(split, index), config)


class JaxvisionFacesScene(tfds.core.GeneratorBasedBuilder):
    """Procedural faces over clutter, with boxes and five landmarks (`wider_face` schema)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = list(BUILDER_CONFIGS)
    DEFAULT_CONFIG_NAME = DEFAULT_CONFIG
    # See `shapes.JaxvisionShapes.code_path`: TFDS cannot derive it for a packaged builder.
    code_path = pathlib.Path(__file__)

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size
        faces = {
            "bbox": tfds.features.BBoxFeature(),
            "blur": np.uint8,
            "expression": np.bool_,
            "illumination": np.bool_,
            "occlusion": np.uint8,
            "pose": np.bool_,
            "invalid": np.bool_,
            "landmarks": tfds.features.Tensor(shape=(5, 2), dtype=np.float32),
            "landmarks_valid": np.bool_,
        }
        features = {
            "image": tfds.features.Image(shape=(size, size, 3), encoding_format="png"),
            "image/filename": tfds.features.Text(),
            "faces": tfds.features.Sequence(faces),
        }
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "Procedural cartoon faces with exact boxes and five landmarks (eyes, nose "
                "tip, mouth corners) over cluttered backgrounds, generated offline by "
                "jaxvision.data.builders.faces_scene, in the wider_face schema plus "
                "faces/landmarks (x, y normalised) and faces/landmarks_valid. "
                + (self.builder_config.description or "")
            ),
            features=tfds.features.FeaturesDict(features),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing to download.
        config: FacesSceneConfig = self.builder_config
        return {
            "train": self._generate_examples("train", config.num_train),
            "test": self._generate_examples("test", config.num_test),
        }

    def _generate_examples(self, split: str, num_examples: int):
        for index in range(num_examples):
            scene = render_example(self.builder_config, split, index)
            filename = f"{split}/{index:06d}.png"
            yield (
                index,
                {"image": png(scene["image"]), "image/filename": filename, "faces": scene["faces"]},
            )


def prepare_faces_scene(
    data_dir: str, config: str = DEFAULT_CONFIG, **overrides
) -> tfds.core.DatasetBuilder:
    """Generates `jaxvision_faces_scene/<config>` in `data_dir` (ArrayRecord) unless there.

    Args:
      data_dir: the TFDS data directory.
      config: a registered config: "scenes".
      **overrides: `FacesSceneConfig` fields to change (e.g. `num_train=64` for tests); the
        variant gets its own config name, `<config>_custom_<hash of the overrides>`.

    Returns:
      The prepared builder; read it with `builder.as_data_source(split)`.

    Raises:
      ValueError: unknown config or override field, or an invalid override value.

    Example:

      builder = prepare_faces_scene("/tmp/tfds", num_train=256, num_test=64)
      train = builder.as_data_source("train")
    """
    return prepare.prepare(JaxvisionFacesScene, data_dir, config, overrides)
