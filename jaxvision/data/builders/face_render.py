"""Renders a procedural face (`face_params`) with its exact box and five landmarks.

`render_face(face, view)` lays the face out (`face_parts`, `face_hair`), maps it to pixels
(size, roll, position of `view`), draws it with Pillow at `SUPERSAMPLE` times the output
resolution and averages down (anti-aliasing), then lights and optionally blurs it. It
returns a `RenderedFace`: a premultiplied colour patch with its coverage (alpha), where the
patch lies in the output frame, and, in that frame:

* `landmarks` [5, 2] (x, y) in pixels: the left eye, the right eye, the nose tip, the left
  and the right mouth corner (MTCNN's order; "left" is the image's left for an upright
  face). They are the exact points the features are drawn around (the pupil centres, the
  nose tip, the corners where the lips meet), not estimates;
* `box` [4] (x1, y1, x2, y2) in pixels, tight around the pixels the head outline covers
  at least half of (hair and beard outside the outline excluded).

Coordinates have pixel edges at integers: the centre of the top-left pixel is (0.5, 0.5),
and a box covering columns 3..5 has x1 = 3, x2 = 6 (the TFDS `BBox` convention, before
normalisation).

Example:
  >>> from jaxvision.data.builders import face_params
  >>> face = face_params.sample_face(np.random.default_rng(0))
  >>> rendered = render_face(face, face_params.FaceView(center=(32.0, 32.0), size=30.0))
  >>> image = np.zeros((64, 64, 3), np.float32)
  >>> paint(image, rendered)
  >>> rendered.landmarks.shape, bool(rendered.box[0] < rendered.landmarks[0, 0])
  ((5, 2), True)
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from jaxvision.data.builders import face_hair, face_parts
from jaxvision.data.builders.face_params import FaceParams, FaceView

SUPERSAMPLE = 4  # Drawing resolution over output resolution (anti-aliasing).
# Gaussian blur sigma of blur levels 0, 1, 2, in face half-widths.
BLUR_SIGMA = (0.0, 0.035, 0.07)
MARGIN = 2  # Pixels of patch around the drawing, for anti-aliasing and lines.
SKIN_COVERAGE = 0.5  # A pixel belongs to the face box when the outline covers this much.
MIN_GAIN = 0.2  # Darkest the lighting makes a face.
MIN_FACE_SIZE = 4.0  # Narrowest face, in pixels, that still has a box.


@dataclasses.dataclass(frozen=True)
class RenderedFace:
    """A face drawn in an output frame (see the module doc for the conventions).

    Attributes:
      rgb: float32 [h, w, 3] colour premultiplied by `alpha`, 0..255.
      alpha: float32 [h, w] coverage of the whole face (hair and glasses included), 0..1.
      skin: float32 [h, w] coverage of the head outline, 0..1.
      top: row of the patch's first row in the output frame.
      left: column of the patch's first column in the output frame.
      landmarks: float32 [5, 2] (x, y) pixels in the output frame.
      box: float32 [4] (x1, y1, x2, y2) pixels in the output frame.
    """

    rgb: np.ndarray
    alpha: np.ndarray
    skin: np.ndarray
    top: int
    left: int
    landmarks: np.ndarray
    box: np.ndarray


def face_drawing(face: FaceParams, view: FaceView) -> face_parts.FaceDrawing:
    """All the primitives of a face, back to front, with its outline and landmarks."""
    lay = face_parts.layout(face)
    under_mouth, over_mouth = face_hair.beard(face, view.yaw, lay)
    inner, landmarks = face_parts.features(face, view)
    head = face_parts.outline(face)  # [n, 2]
    primitives = face_hair.back_hair(face) + [face_parts.Primitive("polygon", head, face.skin)]
    primitives += under_mouth + inner + over_mouth + face_hair.cap(face, view.yaw, lay)
    primitives += face_parts.glasses(face, view)
    return face_parts.FaceDrawing(primitives, head, landmarks)


def to_pixels(points: np.ndarray, view: FaceView) -> np.ndarray:
    """Maps face-unit points [k, 2] to output pixels [k, 2]: scale, roll, translate."""
    points = np.asarray(points, dtype=np.float64)  # [k, 2]
    r, c, s = view.size / 2, np.cos(view.roll), np.sin(view.roll)
    x, y = points[:, 0], points[:, 1]  # [k], [k]
    return np.stack(
        [view.center[0] + r * (c * x - s * y), view.center[1] + r * (s * x + c * y)], -1
    )


def _draw(
    primitives: list[face_parts.Primitive],
    pixels: list[np.ndarray],
    view: FaceView,
    origin: np.ndarray,
    size: tuple[int, int],
) -> tuple[Image.Image, Image.Image]:
    """Draws primitives (their points in output pixels) at `SUPERSAMPLE` resolution.

    Returns:
      (premultiplied colour "RGB", coverage "L") images of `size`.
    """
    colour = Image.new("RGB", size)
    alpha = Image.new("L", size)
    draw_colour, draw_alpha = ImageDraw.Draw(colour, "RGBA"), ImageDraw.Draw(alpha)
    for p, points in zip(primitives, pixels, strict=True):
        # Pillow puts integer coordinates at pixel centres; ours are pixel edges.
        xy = ((points - origin) * SUPERSAMPLE - 0.5).ravel().tolist()  # [2k]
        fill = tuple(int(round(c)) for c in p.colour) + (p.alpha,)
        opaque = p.alpha == 255
        if p.kind == "polygon":
            draw_colour.polygon(xy, fill=fill)
            if opaque:
                draw_alpha.polygon(xy, fill=255)
        else:
            width = max(1, round(p.width * view.size / 2 * SUPERSAMPLE))
            draw_colour.line(xy, fill=fill, width=width, joint="curve")
            if opaque:
                draw_alpha.line(xy, fill=255, width=width, joint="curve")
    return colour, alpha


def _bounds(pixels: list[np.ndarray], view: FaceView) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the patch that holds every primitive's pixels [k, 2]."""
    points = np.concatenate(pixels)  # [k, 2]
    margin = MARGIN + view.size * (0.05 + 1.5 * BLUR_SIGMA[view.blur])
    left, top = np.floor(points.min(axis=0) - margin).astype(int)
    right, bottom = np.ceil(points.max(axis=0) + margin).astype(int)
    return int(top), int(left), int(bottom - top), int(right - left)


def _light(rgb: np.ndarray, view: FaceView, top: int, left: int) -> np.ndarray:
    """Multiplies the patch [h, w, 3] by a brightness gradient across the face."""
    h, w = rgb.shape[:2]
    x = left + np.arange(w) + 0.5 - view.center[0]  # [w]
    y = top + np.arange(h) + 0.5 - view.center[1]  # [h]
    toward = np.cos(view.light_angle) * x[None, :] + np.sin(view.light_angle) * y[:, None]
    gain = view.brightness * (1.0 + view.light_strength * toward / (view.size / 2))  # [h, w]
    return rgb * np.clip(gain, MIN_GAIN, None)[..., None]  # [h, w, 3]


def _tight_box(skin: np.ndarray, top: int, left: int) -> np.ndarray:
    """(x1, y1, x2, y2) pixel edges around the pixels of `skin` [h, w] >= SKIN_COVERAGE."""
    inside = skin >= SKIN_COVERAGE  # [h, w]
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    box = (left + cols[0], top + rows[0], left + cols[-1] + 1, top + rows[-1] + 1)
    return np.asarray(box, dtype=np.float32)  # [4]


def render_face(face: FaceParams, view: FaceView) -> RenderedFace:
    """Draws `face` as seen in `view`.

    Args:
      face: the identity.
      view: where and how it is seen (position and size in output pixels).

    Returns:
      A `RenderedFace` (see the module doc for the conventions).

    Raises:
      ValueError: `view.size` is under `MIN_FACE_SIZE` pixels.
    """
    if view.size < MIN_FACE_SIZE:
        raise ValueError(f"view.size must be >= {MIN_FACE_SIZE} pixels, got {view.size}.")
    drawing = face_drawing(face, view)
    prims = drawing.primitives
    counts = np.cumsum([len(p.points) for p in prims])[:-1]
    pixels = np.split(to_pixels(np.concatenate([p.points for p in prims]), view), counts)
    top, left, height, width = _bounds(pixels, view)
    origin = np.array([left, top], dtype=np.float64)
    size = (width * SUPERSAMPLE, height * SUPERSAMPLE)
    colour, alpha = _draw(prims, pixels, view, origin, size)
    skin_prim = face_parts.Primitive("polygon", drawing.outline, (255.0, 255.0, 255.0))
    _, skin = _draw([skin_prim], [to_pixels(drawing.outline, view)], view, origin, size)
    colour, alpha = colour.reduce(SUPERSAMPLE), alpha.reduce(SUPERSAMPLE)
    sigma = BLUR_SIGMA[view.blur] * view.size / 2  # Output pixels.
    if sigma > 0:  # Premultiplied colour and coverage blur alike.
        colour = colour.filter(ImageFilter.GaussianBlur(sigma))
        alpha = alpha.filter(ImageFilter.GaussianBlur(sigma))
    rgb = np.asarray(colour, dtype=np.float32)  # [h, w, 3]
    skin = np.asarray(skin.reduce(SUPERSAMPLE), dtype=np.float32) / 255.0  # [h, w]
    return RenderedFace(
        rgb=_light(rgb, view, top, left).astype(np.float32),
        alpha=np.asarray(alpha, dtype=np.float32) / 255.0,
        skin=skin,
        top=top,
        left=left,
        landmarks=to_pixels(drawing.landmarks, view).astype(np.float32),
        box=_tight_box(skin, top, left),
    )


def shifted(face: RenderedFace, dx: int, dy: int) -> RenderedFace:
    """The same rendered face moved by whole pixels (dx right, dy down): exact, no redraw."""
    offset = np.array([dx, dy], dtype=np.float32)
    return dataclasses.replace(
        face,
        top=face.top + int(dy),
        left=face.left + int(dx),
        landmarks=face.landmarks + offset,
        box=face.box + np.tile(offset, 2),
    )


def in_frame(face: RenderedFace, plane: np.ndarray, height: int, width: int) -> np.ndarray:
    """A patch plane [h, w] (`alpha` or `skin`) placed in a zero frame [height, width]."""
    frame = np.zeros((height, width), dtype=np.float32)  # [H, W]
    h, w = plane.shape
    y0, x0 = max(face.top, 0), max(face.left, 0)
    y1, x1 = min(face.top + h, height), min(face.left + w, width)
    if y1 > y0 and x1 > x0:
        frame[y0:y1, x0:x1] = plane[y0 - face.top : y1 - face.top, x0 - face.left : x1 - face.left]
    return frame


def paint(image: np.ndarray, face: RenderedFace) -> None:
    """Composites `face` over `image` (float [H, W, 3], in place); parts outside are cut."""
    height, width = image.shape[:2]
    h, w = face.alpha.shape
    y0, x0 = max(face.top, 0), max(face.left, 0)
    y1, x1 = min(face.top + h, height), min(face.left + w, width)
    if y1 <= y0 or x1 <= x0:
        return
    rows = slice(y0 - face.top, y1 - face.top)
    cols = slice(x0 - face.left, x1 - face.left)
    under = image[y0:y1, x0:x1]  # [h', w', 3]
    image[y0:y1, x0:x1] = face.rgb[rows, cols] + (1.0 - face.alpha[rows, cols, None]) * under
