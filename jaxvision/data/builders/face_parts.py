"""The parts of a procedural face as flat shapes, and its five landmarks, in face units.

`face_drawing(face, view)` lays a face out in its own frame (centre at the origin, x to the
right, y down, half-width 1, half-height `face_aspect`) as a back-to-front list of
`Primitive`s (filled polygons and thick lines), and returns the five landmarks in the same
frame: the centres of the pupils, the nose tip and the two mouth corners.

A turn of the head (`view.yaw`) moves the features sideways as if they lay on a curved
surface of depth `FACE_DEPTH` (the nose tip stands `NOSE_DEPTH` further out), so the far
eye comes closer to the nose and the nose moves more than the eyes; the head outline and
the hair stay put. `face_render` maps the frame to pixels (size, roll, position).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxvision.data.builders.face_params import SMILE_THRESHOLD, FaceParams, FaceView

FACE_DEPTH = 0.55  # Depth of the face surface at the midline, in face units.
NOSE_DEPTH = 0.3  # How far the nose tip stands out of that surface.
OUTLINE_POINTS = 96
CURVE_POINTS = 17
_UNIT_GRID = np.linspace(-1.0, 1.0, CURVE_POINTS)  # The parameter of every default `arc`.
SCLERA = (240.0, 240.0, 235.0)
PUPIL = (15.0, 15.0, 15.0)
LID = (45.0, 32.0, 30.0)
MOUTH_INSIDE = (90.0, 25.0, 30.0)
TEETH = (242.0, 240.0, 232.0)
LENS_TINT = ((205.0, 225.0, 245.0), 45)  # Colour, alpha.
STUBBLE_ALPHA = 90
LINE_WIDTH = 0.03  # Eyelids, the mouth line, wrinkles.
FRAME_WIDTH = 0.045


@dataclasses.dataclass(frozen=True)
class Primitive:
    """One flat shape of a face, in face units.

    Attributes:
      kind: "polygon" (filled) or "line" (a polyline of `width`).
      points: [k, 2] (x, y) vertices.
      colour: RGB in 0..255.
      alpha: 255 for an opaque part of the face; less for a tint laid over parts already
        drawn (stubble, lens tint), which does not extend the face's silhouette.
      width: line width in face units (lines only).
    """

    kind: str
    points: np.ndarray
    colour: tuple[float, float, float]
    alpha: int = 255
    width: float = 0.0


@dataclasses.dataclass(frozen=True)
class FaceDrawing:
    """A laid-out face: its primitives (back to front), outline and landmarks, in face units.

    Attributes:
      primitives: back to front.
      outline: [k, 2] the head outline (the skin region the face box is tight around).
      landmarks: [5, 2] (x, y): left eye, right eye, nose tip, left and right mouth corner,
        "left" meaning the image's left for an upright face (MTCNN's order).
    """

    primitives: list[Primitive]
    outline: np.ndarray
    landmarks: np.ndarray


def _shade(colour, factor: float) -> tuple[float, float, float]:
    return tuple(float(c) for c in np.clip(np.asarray(colour) * factor, 0, 255))


def project(points: np.ndarray, yaw: float, depth: float | np.ndarray = 0.0) -> np.ndarray:
    """Moves face-surface points [k, 2] sideways for a head turned by `yaw` radians.

    A point at x lies at depth `FACE_DEPTH * sqrt(1 - x^2) + depth` and turns about the
    vertical axis: x' = x cos(yaw) + z sin(yaw); y is unchanged.
    """
    out = np.array(points, dtype=np.float64)  # [k, 2] (a copy)
    x = out[:, 0]  # [k]
    z = FACE_DEPTH * np.sqrt(np.maximum(1.0 - x * x, 0.0)) + depth  # [k]
    out[:, 0] = x * np.cos(yaw) + z * np.sin(yaw)
    return out


def arc(x0: float, x1: float, y_ends: float, y_mid: float, n: int = CURVE_POINTS) -> np.ndarray:
    """A parabola from (x0, y_ends) to (x1, y_ends) through ((x0 + x1) / 2, y_mid): [n, 2]."""
    s = _UNIT_GRID if n == CURVE_POINTS else np.linspace(-1.0, 1.0, n)  # [n]
    out = np.empty((n, 2))  # [n, 2]
    out[:, 0] = x0 + (x1 - x0) * (s + 1.0) / 2.0
    out[:, 1] = y_ends + (y_mid - y_ends) * (1.0 - s * s)
    return out


def ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 32, power: float = 2.0):
    """A (super)ellipse polygon [n, 2]; `power` > 2 squares it off."""
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)  # [n]
    c, s = np.cos(t), np.sin(t)  # [n], [n]
    x = np.sign(c) * np.abs(c) ** (2.0 / power)  # [n]
    y = np.sign(s) * np.abs(s) ** (2.0 / power)  # [n]
    return np.stack([cx + rx * x, cy + ry * y], axis=-1)  # [n, 2]


def outline(face: FaceParams, n: int = OUTLINE_POINTS) -> np.ndarray:
    """The head outline [n, 2], clockwise on screen from the right side (x = 1, y = 0).

    The upper half is an ellipse; the lower half a superellipse (squarer for a larger
    `jaw`) that narrows towards the chin by `taper`.
    """
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)  # [n]
    c, s = np.cos(t), np.sin(t)  # [n], [n]
    power = np.where(s > 0, 2.0 + 1.5 * face.jaw, 2.0)  # [n]
    x = np.sign(c) * np.abs(c) ** (2.0 / power)  # [n]
    y = np.sign(s) * np.abs(s) ** (2.0 / power)  # [n]
    x = x * (1.0 - face.taper * np.clip(y, 0.0, None) ** 2)  # [n]
    return np.stack([x, face.face_aspect * y], axis=-1)  # [n, 2]


def half_width(face: FaceParams, y: float) -> float:
    """Half-width of the head outline at height y (0 beyond the top or the chin)."""
    points = outline(face, 4 * OUTLINE_POINTS)  # [k, 2]
    right = points[points[:, 0] >= 0]  # [k', 2]
    order = np.argsort(right[:, 1])
    return float(np.interp(y, right[order, 1], right[order, 0], left=0.0, right=0.0))


@dataclasses.dataclass(frozen=True)
class Layout:
    """Heights of the features, in face units (y down)."""

    eye_y: float
    brow_y: float
    nose_y: float
    mouth_y: float
    hairline_y: float


def layout(face: FaceParams) -> Layout:
    """Where the eyes, brows, nose, mouth and hairline sit."""
    a = face.face_aspect
    eye_y = face.eye_height * a
    nose_y = eye_y + face.nose_length * a
    return Layout(
        eye_y=eye_y,
        brow_y=eye_y - face.eye_size * face.eye_open - face.brow_gap,
        nose_y=nose_y,
        mouth_y=nose_y + face.mouth_gap * (a - nose_y),
        hairline_y=-face.hairline * a,
    )


def thick_curve(centre: np.ndarray, thickness: np.ndarray) -> np.ndarray:
    """A polygon [2k, 2] around a left-to-right curve [k, 2] of vertical `thickness` [k]."""
    upper = centre - np.stack([np.zeros_like(thickness), thickness / 2], axis=-1)  # [k, 2]
    lower = centre + np.stack([np.zeros_like(thickness), thickness / 2], axis=-1)  # [k, 2]
    return np.concatenate([upper, lower[::-1]])  # [2k, 2]


def _eye(face: FaceParams, view: FaceView, side: int, eye_y: float) -> list[Primitive]:
    """Sclera, iris, pupil and upper lid of the eye on `side` (-1: image left)."""
    cx, w = side * face.eye_spacing, face.eye_size
    h_up = w * face.eye_open
    h_low = 0.75 * h_up * (1.0 - 0.3 * max(view.smile, 0.0))  # Smiling cheeks lift the lid.
    upper = arc(cx - w, cx + w, eye_y, eye_y - h_up)  # [n, 2]
    lower = arc(cx + w, cx - w, eye_y, eye_y + h_low)  # [n, 2]
    r = min(0.5 * w, 0.85 * h_low)
    iris = ellipse(cx, eye_y, r, r, 24)  # [24, 2]
    pupil = ellipse(cx, eye_y, 0.45 * r, 0.45 * r, 16)  # [16, 2]
    yaw = view.yaw
    return [
        Primitive("polygon", project(np.concatenate([upper, lower]), yaw), SCLERA),
        Primitive("polygon", project(iris, yaw), face.iris),
        Primitive("polygon", project(pupil, yaw), PUPIL),
        Primitive("line", project(upper, yaw), LID, width=LINE_WIDTH),
    ]


def _brow(face: FaceParams, yaw: float, side: int, brow_y: float) -> Primitive:
    cx, w = side * face.eye_spacing, face.eye_size
    centre = arc(cx - 1.15 * w, cx + 1.15 * w, brow_y, brow_y - face.brow_arch)  # [n, 2]
    s = np.linspace(-1.0, 1.0, len(centre))  # [n]
    thickness = face.brow_thickness * (1.0 - 0.45 * np.abs(s))  # [n]
    colour = _shade(face.hair, 0.7 if face.young else 0.85)
    return Primitive("polygon", project(thick_curve(centre, thickness), yaw), colour)


def _nose(face: FaceParams, yaw: float, lay: Layout) -> list[Primitive]:
    """The nose: a shaded wedge from the eyes to the tip, a lit tip and two nostrils."""
    nw, top, tip = face.nose_width, lay.eye_y + 0.12, lay.nose_y
    half = np.array([(0.0, top), (0.5 * nw, tip - 0.12), (nw, tip + 0.01), (0.5 * nw, tip + 0.06)])
    wedge = np.concatenate([half, [(0.0, tip + 0.05)], half[::-1] * [-1.0, 1.0]])  # [9, 2]
    depth = NOSE_DEPTH * np.array([0.15, 0.6, 0.5, 0.8, 1.0, 0.8, 0.5, 0.6, 0.15])  # [9]
    tip_light = ellipse(0.0, tip, 0.45 * nw, 0.05, 20)  # [20, 2]
    parts = [
        Primitive("polygon", project(wedge, yaw, depth), _shade(face.skin, 0.86)),
        Primitive("polygon", project(tip_light, yaw, NOSE_DEPTH), _shade(face.skin, 1.06)),
    ]
    for side in (-1, 1):
        nostril = ellipse(side * 0.45 * nw, tip + 0.045, 0.28 * nw, 0.022, 12)  # [12, 2]
        parts.append(Primitive("polygon", project(nostril, yaw, 0.7 * NOSE_DEPTH), (50, 30, 28)))
    return parts


def mouth_corners(face: FaceParams, view: FaceView, mouth_y: float) -> np.ndarray:
    """The two mouth corners [2, 2] before the head turn: a smile widens and lifts them."""
    width = face.mouth_width * (1.0 + 0.12 * max(view.smile, 0.0))
    y = mouth_y - 0.07 * view.smile
    return np.array([(-width, y), (width, y)])


def _mouth(face: FaceParams, view: FaceView, mouth_y: float) -> list[Primitive]:
    """Lips, and for a smile an open mouth with teeth; else a closed mouth line."""
    (x0, y_c), (x1, _) = mouth_corners(face, view, mouth_y)
    y_m = mouth_y + 0.05 * view.smile  # The middle sags below the lifted corners.
    opening = 0.0
    if view.smile >= SMILE_THRESHOLD:
        opening = 0.05 + 0.07 * (view.smile - SMILE_THRESHOLD) / (1.0 - SMILE_THRESHOLD)
    upper = arc(x0, x1, y_c, y_m - 0.01 - 0.045)  # [n, 2]
    lower = arc(x1, x0, y_c, y_m + opening + 0.06)  # [n, 2]
    yaw = view.yaw
    parts = [Primitive("polygon", project(np.concatenate([upper, lower]), yaw), face.lips)]
    inner_upper = arc(x0, x1, y_c, y_m - 0.01)  # [n, 2]
    if opening > 0:
        inner = np.concatenate([inner_upper, arc(x1, x0, y_c, y_m + opening)])  # [2n, 2]
        teeth = np.concatenate([inner_upper, arc(x1, x0, y_c, y_m + 0.45 * opening)])
        parts.append(Primitive("polygon", project(inner, yaw), MOUTH_INSIDE))
        parts.append(Primitive("polygon", project(teeth, yaw), TEETH))
    else:
        line = project(arc(x0, x1, y_c, y_m), yaw)  # [n, 2]
        parts.append(Primitive("line", line, _shade(face.lips, 0.55), width=LINE_WIDTH))
    return parts


def _wrinkles(face: FaceParams, yaw: float, lay: Layout) -> list[Primitive]:
    """Forehead lines, crow's feet and the folds from nose to mouth (old faces only)."""
    colour, lines = _shade(face.skin, 0.62), []
    for i in range(face.wrinkles):
        y = lay.brow_y - face.brow_thickness - 0.08 - 0.065 * i
        lines.append(arc(-0.38, 0.38, y + 0.02, y))
    for side in (-1, 1):
        x = side * (face.eye_spacing + face.eye_size + 0.03)
        for dy in (-0.05, 0.05):
            lines.append(np.array([(x, lay.eye_y), (x + side * 0.09, lay.eye_y + dy)]))
        fold = [(side * (face.nose_width + 0.05), lay.nose_y - 0.03)]
        fold += [(side * (face.mouth_width + 0.1), lay.mouth_y + 0.06)]
        lines.append(np.array(fold))
    return [Primitive("line", project(p, yaw), colour, width=LINE_WIDTH) for p in lines]


def _glasses(face: FaceParams, yaw: float, eye_y: float) -> list[Primitive]:
    """Lenses (a faint tint), frames, the bridge and the temples, around both eyes."""
    w = face.eye_size
    rx, ry = (1.5 * w, 1.5 * w) if face.round_glasses else (1.6 * w, 1.15 * w)
    power = 2.0 if face.round_glasses else 4.0
    parts, ends = [], []
    for side in (-1, 1):
        cx = side * face.eye_spacing
        frame = project(ellipse(cx, eye_y, rx, ry, 40, power), yaw)  # [40, 2]
        tint, alpha = LENS_TINT
        parts.append(Primitive("polygon", frame, tint, alpha=alpha))
        closed = np.concatenate([frame, frame[:1]])  # [41, 2]
        parts.append(Primitive("line", closed, face.frame, width=FRAME_WIDTH))
        temple = np.array([(cx + side * rx, eye_y - 0.2 * w), (side * 0.98, eye_y - 0.25 * w)])
        parts.append(Primitive("line", project(temple, yaw), face.frame, width=FRAME_WIDTH))
        ends.append((cx - side * rx, eye_y - 0.2 * w))
    bridge = project(arc(ends[0][0], ends[1][0], ends[0][1], ends[0][1] - 0.05, 7), yaw)
    parts.append(Primitive("line", bridge, face.frame, width=FRAME_WIDTH))
    return parts


def features(face: FaceParams, view: FaceView) -> tuple[list[Primitive], np.ndarray]:
    """The inner face, back to front: wrinkles, nose, mouth, eyes, brows (no hair, beard or
    glasses), and the five landmarks [5, 2] in face units, after the head turn."""
    lay = layout(face)
    parts = _wrinkles(face, view.yaw, lay) + _nose(face, view.yaw, lay)
    parts += _mouth(face, view, lay.mouth_y)
    for side in (-1, 1):
        parts += _eye(face, view, side, lay.eye_y)
        parts.append(_brow(face, view.yaw, side, lay.brow_y))
    eyes = np.array([(-face.eye_spacing, lay.eye_y), (face.eye_spacing, lay.eye_y)])  # [2, 2]
    landmarks = np.concatenate(
        [
            project(eyes, view.yaw),
            project([(0.0, lay.nose_y)], view.yaw, NOSE_DEPTH),
            project(mouth_corners(face, view, lay.mouth_y), view.yaw),
        ]
    )  # [5, 2]
    return parts, landmarks


def glasses(face: FaceParams, view: FaceView) -> list[Primitive]:
    """The glasses' primitives (none when the face wears none)."""
    return _glasses(face, view.yaw, layout(face).eye_y) if face.glasses else []
