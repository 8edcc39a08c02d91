"""The parameters of a procedural face: who it is (`FaceParams`) and how it is seen (`FaceView`).

A `FaceParams` is an identity: face shape, skin tone, eye, nose and mouth geometry, hair,
beard, glasses, sex and age cues, all fixed. A `FaceView` is one picture of it: position,
size, in-plane rotation (roll), a small turn of the head (yaw), expression (smile),
lighting and blur. `face_render.render_face` draws a (FaceParams, FaceView) pair.

Lengths in `FaceParams` are in units of the face's half-width, in a frame centred on the
face with x to the image's right and y down; `face_aspect` is the half-height.

The attributes a face-analysis model predicts are functions of these parameters
(`attributes`), chosen so that each one is visible:

* ``Male``: short hair, a beard or moustache for most men, no hair below the ears; women
  always have long hair falling beside the face and past the chin;
* ``Young``: the old have grey hair, wrinkles, and (some men) no hair;
* ``Eyeglasses``: a frame around both eyes;
* ``Smiling``: per view; smiles are drawn from two separated ranges (see `sample_smile`),
  so that no face sits on the threshold.

Example:

  rng = np.random.default_rng(0)
  face = sample_face(rng)
  view = sample_view(rng, center=(32.0, 34.0), size=38.0)
  attributes(face, view)  # {"Male": ..., "Young": ..., "Smiling": ..., "Eyeglasses": ...}
"""

from __future__ import annotations

import dataclasses

import numpy as np

# Skin tones from light to dark (RGB); a face interpolates between two neighbours.
SKIN_TONES = np.array(
    [
        (250, 218, 192),
        (236, 192, 160),
        (214, 163, 124),
        (180, 126, 88),
        (125, 84, 58),
        (84, 56, 40),
    ],
    dtype=np.float64,
)
HAIR_COLOURS = np.array(
    [(28, 24, 22), (62, 42, 30), (105, 70, 42), (206, 170, 100), (160, 70, 35), (120, 50, 36)],
    dtype=np.float64,
)  # black, dark brown, brown, blond, red, auburn
GREY_HAIR = np.array((200, 200, 200), dtype=np.float64)
IRIS_COLOURS = np.array(
    [(70, 45, 30), (40, 30, 25), (60, 100, 150), (70, 110, 70), (110, 110, 115)], dtype=np.float64
)
FRAME_COLOURS = np.array([(20, 20, 20), (90, 60, 40), (150, 150, 160), (30, 40, 120)], np.float64)

MALE_HAIR = ("short", "crew", "bald")  # "bald" only for old men.
FEMALE_HAIR = ("long", "bangs", "wavy")  # Every style falls past the chin.
BEARDS = ("none", "stubble", "moustache", "goatee", "full")
MALE_BEARD_PROBS = (0.3, 0.15, 0.15, 0.15, 0.25)
OLD_MALE_BALD_PROBABILITY = 0.35

# Attribute base rates of `sample_face`.
MALE_PROBABILITY = 0.5
YOUNG_PROBABILITY = 0.55
GLASSES_PROBABILITY = 0.3
SMILE_PROBABILITY = 0.5

# A view smiles when `smile >= SMILE_THRESHOLD`; `sample_smile` keeps clear of it.
SMILE_THRESHOLD = 0.45
NEUTRAL_SMILE = (-0.25, 0.2)
SMILING_SMILE = (0.65, 1.0)

# Pose limits a view may take (radians); beyond them the features leave the face outline.
MAX_YAW = 0.45
MAX_ROLL = np.pi / 4
MAX_LIGHT_STRENGTH = 0.4  # Brightness change from the face centre to its lit edge.
BRIGHTNESS = (0.85, 1.1)  # Range of the overall gain on a face's colours.
ATTRIBUTE_NAMES = ("Male", "Young", "Smiling", "Eyeglasses")


@dataclasses.dataclass(frozen=True)
class FaceParams:
    """One identity. Lengths are in units of the face half-width (see the module doc).

    Attributes:
      male: sex cue (hair length, beard, brows, jaw).
      young: age cue (hair colour, wrinkles, baldness).
      skin: RGB skin colour in 0..255.
      face_aspect: half-height of the face outline (half-width is 1).
      jaw: squareness of the lower face, 0 (round) to 1 (square).
      taper: narrowing of the face towards the chin.
      eye_spacing: x of each eye centre (distance from the midline).
      eye_height: y of the eyes, as a fraction of `face_aspect` (negative: above centre).
      eye_size: half-width of an eye.
      eye_open: eye half-height over half-width.
      iris: RGB iris colour.
      brow_thickness: eyebrow thickness.
      brow_arch: how far the middle of a brow rises above its ends.
      brow_gap: distance from the top of an eye to its brow.
      nose_length: from the eyes down to the nose tip, as a fraction of `face_aspect`.
      nose_width: half-width of the nose wings.
      mouth_width: half-width of the mouth (corner x).
      mouth_gap: mouth position between nose tip (0) and chin (1).
      lips: RGB lip colour.
      hair_style: one of `MALE_HAIR` or `FEMALE_HAIR`.
      hair: RGB hair colour (grey for the old).
      hair_thickness: how far the hair stands out of the head outline.
      hairline: height of the hairline, as a fraction of `face_aspect` above the centre.
      hair_length: how far long hair falls below the chin, in units of `face_aspect`.
      beard: one of `BEARDS` ("none" for women).
      glasses: whether the face wears glasses.
      frame: RGB glasses frame colour.
      round_glasses: round (True) or rectangular (False) frames.
      wrinkles: number of forehead lines (0 for the young).
    """

    male: bool
    young: bool
    skin: tuple[float, float, float]
    face_aspect: float
    jaw: float
    taper: float
    eye_spacing: float
    eye_height: float
    eye_size: float
    eye_open: float
    iris: tuple[float, float, float]
    brow_thickness: float
    brow_arch: float
    brow_gap: float
    nose_length: float
    nose_width: float
    mouth_width: float
    mouth_gap: float
    lips: tuple[float, float, float]
    hair_style: str
    hair: tuple[float, float, float]
    hair_thickness: float
    hairline: float
    hair_length: float
    beard: str
    glasses: bool
    frame: tuple[float, float, float]
    round_glasses: bool
    wrinkles: int


@dataclasses.dataclass(frozen=True)
class FaceView:
    """One picture of a face.

    Attributes:
      center: (x, y) of the face centre in output pixels (pixel edges at integers, so
        the centre of pixel (row 0, column 0) is (0.5, 0.5)).
      size: width of the face outline (twice its half-width) in pixels, before roll.
      roll: in-plane rotation in radians (positive turns the face clockwise on screen).
      yaw: turn of the head in radians, |yaw| <= `MAX_YAW` (positive: towards the image's
        right).
      smile: expression, -0.25 (slight frown) .. 1 (broad open smile).
      light_angle: direction the light comes from, in radians in the image plane.
      light_strength: brightness change from the face centre to its lit edge.
      brightness: overall gain on the face's colours.
      blur: 0 (sharp), 1 (slight) or 2 (heavy) Gaussian blur of the face.
    """

    center: tuple[float, float]
    size: float
    roll: float = 0.0
    yaw: float = 0.0
    smile: float = 0.0
    light_angle: float = 0.0
    light_strength: float = 0.0
    brightness: float = 1.0
    blur: int = 0

    def __post_init__(self):
        if not self.size > 0:
            raise ValueError(f"size must be > 0 pixels, got {self.size}.")
        if abs(self.yaw) > MAX_YAW + 1e-9:
            raise ValueError(f"|yaw| must be <= {MAX_YAW}, got {self.yaw}.")
        if self.blur not in (0, 1, 2):
            raise ValueError(f"blur must be 0, 1 or 2, got {self.blur}.")


def _colour(palette: np.ndarray, t: float) -> tuple[float, float, float]:
    """The colour at position t in [0, 1] along a palette, interpolating neighbours."""
    position = t * (len(palette) - 1)
    low = min(int(position), len(palette) - 2)
    mix = position - low
    return tuple(float(c) for c in (1 - mix) * palette[low] + mix * palette[low + 1])


def _hair(rng: np.random.Generator, male: bool, young: bool) -> dict:
    """Hair style, colour and shape: long for women, short or none for men, grey when old."""
    styles = MALE_HAIR[:2] if male else FEMALE_HAIR
    style = str(rng.choice(styles))
    if male and not young and rng.random() < OLD_MALE_BALD_PROBABILITY:
        style = "bald"
    colour = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))]
    if not young:
        colour = colour + rng.uniform(0.6, 0.9) * (GREY_HAIR - colour)
    thin = style == "crew"
    return dict(
        hair_style=style,
        hair=tuple(float(c) for c in colour),
        hair_thickness=float(rng.uniform(0.04, 0.08) if thin else rng.uniform(0.1, 0.2)),
        hairline=float(rng.uniform(0.45, 0.6) if young else rng.uniform(0.55, 0.75)),
        hair_length=float(rng.uniform(0.35, 0.8)),
    )


def sample_face(rng: np.random.Generator) -> FaceParams:
    """Draws an identity.

    Args:
      rng: the only source of randomness; the face is a deterministic function of its state.

    Returns:
      A `FaceParams`.
    """
    male = bool(rng.random() < MALE_PROBABILITY)
    young = bool(rng.random() < YOUNG_PROBABILITY)
    skin = np.asarray(_colour(SKIN_TONES, rng.random()))
    lipstick = np.array((190.0, 50.0, 70.0))
    lips = skin * 0.75 + np.array((25.0, -10.0, -5.0))
    if not male:
        lips = lips + rng.uniform(0.3, 0.8) * (lipstick - lips)
    beard = str(rng.choice(BEARDS, p=MALE_BEARD_PROBS)) if male else "none"
    return FaceParams(
        male=male,
        young=young,
        skin=tuple(float(c) for c in skin),
        face_aspect=float(rng.uniform(1.2, 1.45)),
        jaw=float(rng.uniform(0.4, 1.0) if male else rng.uniform(0.0, 0.4)),
        taper=float(rng.uniform(0.1, 0.2) if male else rng.uniform(0.2, 0.3)),
        eye_spacing=float(rng.uniform(0.36, 0.46)),
        eye_height=float(rng.uniform(-0.2, -0.06)),
        eye_size=float(rng.uniform(0.12, 0.17)),
        eye_open=float(rng.uniform(0.45, 0.65)),
        iris=_colour(IRIS_COLOURS, rng.random()),
        brow_thickness=float(rng.uniform(0.06, 0.09) if male else rng.uniform(0.035, 0.055)),
        brow_arch=float(rng.uniform(0.0, 0.06)),
        brow_gap=float(rng.uniform(0.07, 0.13)),
        nose_length=float(rng.uniform(0.36, 0.48)),
        nose_width=float(rng.uniform(0.13, 0.22)),
        mouth_width=float(rng.uniform(0.26, 0.36)),
        mouth_gap=float(rng.uniform(0.3, 0.42)),
        lips=tuple(float(c) for c in np.clip(lips, 0, 255)),
        beard=beard,
        glasses=bool(rng.random() < GLASSES_PROBABILITY),
        frame=tuple(float(c) for c in FRAME_COLOURS[rng.integers(len(FRAME_COLOURS))]),
        round_glasses=bool(rng.random() < 0.5),
        wrinkles=0 if young else int(rng.integers(2, 4)),
        **_hair(rng, male, young),
    )


def sample_smile(rng: np.random.Generator, probability: float = SMILE_PROBABILITY) -> float:
    """A smile value: with `probability` from `SMILING_SMILE`, else from `NEUTRAL_SMILE`.

    The two ranges leave a gap around `SMILE_THRESHOLD`, so the label is never ambiguous.
    """
    low, high = SMILING_SMILE if rng.random() < probability else NEUTRAL_SMILE
    return float(rng.uniform(low, high))


def check_pose_limits(max_roll: float, max_yaw: float) -> None:
    """Raises ValueError unless 0 <= max_roll <= `MAX_ROLL` and 0 <= max_yaw <= `MAX_YAW`."""
    if not 0 <= max_roll <= MAX_ROLL or not 0 <= max_yaw <= MAX_YAW:
        raise ValueError(
            f"need 0 <= max_roll <= {MAX_ROLL:.3f} and 0 <= max_yaw <= {MAX_YAW}, "
            f"got {max_roll}, {max_yaw}."
        )


def sample_view(
    rng: np.random.Generator,
    center: tuple[float, float],
    size: float,
    max_roll: float = np.pi / 6,
    max_yaw: float = MAX_YAW,
    blur_probabilities: tuple[float, float] = (0.0, 0.0),
) -> FaceView:
    """Draws a view of a face at `center` (x, y pixels) with outline width `size` pixels.

    Args:
      rng: source of the pose, expression and lighting.
      center: (x, y) of the face centre in pixels.
      size: face width in pixels.
      max_roll: largest in-plane rotation, radians (<= `MAX_ROLL`).
      max_yaw: largest head turn, radians (<= `MAX_YAW`).
      blur_probabilities: probabilities of blur levels 1 and 2.

    Returns:
      A `FaceView`.

    Raises:
      ValueError: a pose limit out of range.
    """
    check_pose_limits(max_roll, max_yaw)
    p1, p2 = blur_probabilities
    u = rng.random()
    return FaceView(
        center=(float(center[0]), float(center[1])),
        size=float(size),
        roll=float(rng.uniform(-max_roll, max_roll)),
        yaw=float(rng.uniform(-max_yaw, max_yaw)),
        smile=sample_smile(rng),
        light_angle=float(rng.uniform(0.0, 2 * np.pi)),
        light_strength=float(rng.uniform(0.0, MAX_LIGHT_STRENGTH)),
        brightness=float(rng.uniform(*BRIGHTNESS)),
        blur=2 if u < p2 else (1 if u < p1 + p2 else 0),
    )


def attributes(face: FaceParams, view: FaceView) -> dict[str, bool]:
    """The CelebA-named attributes of a face seen in `view`.

    Example:
      >>> face = sample_face(np.random.default_rng(0))
      >>> a = attributes(face, FaceView(center=(0.0, 0.0), size=10.0, smile=0.9))
      >>> sorted(a), a["Smiling"], a["Male"] == face.male
      (['Eyeglasses', 'Male', 'Smiling', 'Young'], True, True)
    """
    return {
        "Male": face.male,
        "Young": face.young,
        "Smiling": bool(view.smile >= SMILE_THRESHOLD),
        "Eyeglasses": face.glasses,
    }
