"""Hair and beards of a procedural face, as flat shapes in face units (see `face_parts`).

Hair comes in two layers: long hair falls *behind* the head (drawn first), and the cap
over the skull, with its sideburns or the strands that fall beside a woman's face, lies
*over* the forehead (drawn after the features). Short male styles end at eye level; every
female style falls past the chin (the visible cue of the `Male` attribute). A beard is
drawn over the skin and under the nose and mouth; a moustache over the upper lip.
"""

from __future__ import annotations

import numpy as np

from jaxvision.data.builders.face_params import FaceParams
from jaxvision.data.builders.face_parts import (
    CURVE_POINTS,
    STUBBLE_ALPHA,
    Layout,
    Primitive,
    arc,
    half_width,
    outline,
    project,
    thick_curve,
)

LONG_STYLES = ("long", "bangs", "wavy")
STRAND_X = 0.86  # Inner edge of the strands that fall beside a woman's face.
WAVE_AMPLITUDE = 0.05
WAVE_FREQUENCY = 9.0
FRINGE_TEETH = 7


def _wave(face: FaceParams, values: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Adds waves to the edge of wavy hair; other styles keep straight edges."""
    if face.hair_style != "wavy":
        return values
    return values + WAVE_AMPLITUDE * np.sin(WAVE_FREQUENCY * phase)


def back_hair(face: FaceParams) -> list[Primitive]:
    """Long hair behind the head, from above the skull to `hair_length` below the chin."""
    if face.hair_style not in LONG_STYLES:
        return []
    t, a = face.hair_thickness, face.face_aspect
    theta = np.linspace(np.pi, 0.0, 2 * CURVE_POINTS)  # Left, over the top, to the right.
    top = np.stack([(1 + t) * np.cos(theta), -(a + t) * np.sin(theta)], axis=-1)  # [n, 2]
    bottom_y = a * (1.0 + face.hair_length)
    side_y = np.linspace(0.0, bottom_y, CURVE_POINTS)  # [m]
    right_x = _wave(face, 1 + t + 0.1 + 0.15 * side_y / bottom_y, side_y)  # [m]
    right = np.stack([right_x, side_y], axis=-1)  # [m, 2]
    bottom = arc(right_x[-1], -right_x[-1], bottom_y, bottom_y + 0.15)  # [m, 2]
    bottom[:, 1] = _wave(face, bottom[:, 1], bottom[:, 0])
    left = right[::-1] * [-1.0, 1.0]  # [m, 2]
    polygon = np.concatenate([top, right, bottom, left])  # [k, 2]
    return [Primitive("polygon", polygon, face.hair)]


def _cap_outer(face: FaceParams, side_y: float) -> np.ndarray:
    """The outer edge of the hair cap [n, 2], left to right over the top, ending at `side_y`."""
    t, a = face.hair_thickness, face.face_aspect
    start = np.arcsin(np.clip(-side_y / (a + t), -1.0, 1.0))
    theta = np.linspace(np.pi - start, start, 2 * CURVE_POINTS)  # [n]
    return np.stack([(1 + t) * np.cos(theta), -(a + t) * np.sin(theta)], axis=-1)  # [n, 2]


def _hairline(face: FaceParams, lay: Layout, side_y: float, x_side: float) -> np.ndarray:
    """The hairline [n, 2], right to left: flat over the forehead, down at the temples to
    (+-x_side, side_y)."""
    x = np.linspace(x_side, -x_side, 2 * CURVE_POINTS)  # [n]
    drop = (np.abs(x) / x_side) ** 6  # [n]
    line = np.stack([x, lay.hairline_y + (lay.eye_y - 0.05 - lay.hairline_y) * drop], -1)
    return np.concatenate([[(x_side, side_y)], line, [(-x_side, side_y)]])  # [n + 2, 2]


def cap(face: FaceParams, yaw: float, lay: Layout) -> list[Primitive]:
    """The hair over the skull and at the sides of the face, drawn over the forehead."""
    if face.hair_style == "bald":
        return _bald_sides(face, lay)
    long = face.hair_style in LONG_STYLES
    side_y = 0.55 * face.face_aspect if long else lay.eye_y - 0.02
    x_side = STRAND_X if long else 0.98 * half_width(face, lay.eye_y - 0.05)
    inner = project(_hairline(face, lay, side_y, x_side), yaw)  # [n, 2]
    parts = [Primitive("polygon", np.concatenate([_cap_outer(face, side_y), inner]), face.hair)]
    if face.hair_style == "bangs":
        parts.append(_fringe(face, yaw, lay))
    return parts


def _fringe(face: FaceParams, yaw: float, lay: Layout) -> Primitive:
    """A fringe from the hairline down to just above the brows, with a zigzag edge."""
    edge_y = lay.brow_y - face.brow_thickness - 0.05
    x = np.linspace(STRAND_X, -STRAND_X, 2 * FRINGE_TEETH + 1)  # [k]
    y = edge_y - 0.06 * (np.arange(len(x)) % 2)  # [k]
    top = arc(-STRAND_X, STRAND_X, lay.hairline_y + 0.1, lay.hairline_y - 0.02)  # [n, 2]
    polygon = np.concatenate([top, np.stack([x, y], axis=-1)])  # [n + k, 2]
    return Primitive("polygon", project(polygon, yaw), face.hair)


def _bald_sides(face: FaceParams, lay: Layout) -> list[Primitive]:
    """The fringe of hair left above the ears of a bald head."""
    parts = []
    for side in (-1, 1):
        y0, y1 = lay.eye_y - 0.4, lay.eye_y + 0.05
        x0, x1 = half_width(face, y0), half_width(face, y1)
        t = face.hair_thickness
        patch = [(0.9 * x0, y0), ((1 + t) * x0, y0 - 0.05), ((1 + t) * x1, y1), (0.93 * x1, y1)]
        parts.append(Primitive("polygon", np.array(patch) * [side, 1.0], face.hair))
    return parts


def _beard_region(face: FaceParams, yaw: float, lay: Layout) -> np.ndarray:
    """The lower face below the cheeks and the nose, as a polygon [k, 2]."""
    start_y = lay.eye_y + 0.2
    head = outline(face)  # [n, 2], clockwise from the right side.
    lower = head[head[:, 1] >= start_y]  # [m, 2] right -> chin -> left.
    mw, nose = face.mouth_width + 0.12, lay.nose_y
    cheek = np.array([(-0.72, start_y), (-mw, nose + 0.02), (0.0, nose + 0.09), (mw, nose + 0.02)])
    cheek = np.concatenate([cheek, [(0.72, start_y)]])  # [5, 2] left -> right.
    return np.concatenate([lower, project(cheek, yaw)])  # [m + 5, 2]


def _goatee_region(face: FaceParams, yaw: float, lay: Layout) -> np.ndarray:
    """The chin below the lower lip, as wide as the mouth, as a polygon [k, 2]."""
    width, top = face.mouth_width + 0.04, lay.mouth_y + 0.1
    head = outline(face)  # [n, 2], clockwise from the right side.
    chin = head[(head[:, 1] > top) & (np.abs(head[:, 0]) <= width)]  # [m, 2] right -> left.
    upper = project(arc(-width, width, top + 0.04, top), yaw)  # [n, 2] left -> right.
    return np.concatenate([chin, upper])  # [m + n, 2]


def beard(face: FaceParams, yaw: float, lay: Layout) -> tuple[list[Primitive], list[Primitive]]:
    """The beard's primitives: (drawn under the nose and mouth, drawn over the mouth)."""
    colour = tuple(float(c) for c in np.asarray(face.hair) * 0.85)
    if face.beard in ("full", "stubble"):
        alpha = 255 if face.beard == "full" else STUBBLE_ALPHA
        return [Primitive("polygon", _beard_region(face, yaw, lay), colour, alpha=alpha)], []
    if face.beard == "goatee":
        return [Primitive("polygon", _goatee_region(face, yaw, lay), colour)], []
    if face.beard == "moustache":
        mw, y = face.mouth_width + 0.05, lay.mouth_y - 0.09
        centre = arc(-mw, mw, y + 0.03, y - 0.04)  # [n, 2]
        s = np.linspace(-1.0, 1.0, len(centre))  # [n]
        polygon = thick_curve(centre, 0.07 * (1.0 - 0.6 * s * s))  # [2n, 2]
        return [], [Primitive("polygon", project(polygon, yaw), colour)]
    return [], []
