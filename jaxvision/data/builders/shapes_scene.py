"""Procedural scenes of coloured shapes: the single source of jaxvision's offline data.

One scene gives every target the vision tasks need, all exact by construction:

* `labels`: the class of each object (an index into `SHAPE_NAMES`);
* `masks`: the pixels of each object that remain visible after occlusion;
* `boxes`: tight boxes around those visible pixels, (ymin, xmin, ymax, xmax) normalised to
  [0, 1] with pixel *edges* as the coordinates (the TFDS `BBox` convention), so a box
  covering rows 3..5 has ymin = 3 / H and ymax = 6 / H;
* `segmentation`: a class map, 0 for background and `label + 1` for each object pixel.

Classification takes one-object scenes and keeps the label, localization adds the box,
detection and segmentation take many-object scenes. The renderer is pure numpy and
deterministic given its `np.random.Generator`.

Example:

  rng = np.random.default_rng(0)
  scene = render_scene(rng, image_size=64, num_objects=(1, 4))
  scene["image"].shape   # (64, 64, 3) uint8
  scene["boxes"].shape   # (n, 4) float32, n <= 4
"""

from __future__ import annotations

import dataclasses

import numpy as np

SHAPE_NAMES: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "diamond",
    "ring",
    "cross",
    "star",
    "hexagon",
)
NUM_CLASSES = len(SHAPE_NAMES)

MIN_IMAGE_SIZE = 8  # Smaller images cannot hold a recognisable shape.
DEFAULT_MIN_SIZE = 0.15  # Object diameter, as a fraction of the image side.
DEFAULT_MAX_SIZE = 0.5
DEFAULT_MAX_OVERLAP = 0.4  # Largest fraction of an object later objects may hide.
DEFAULT_MIN_VISIBLE_PIXELS = 16  # Objects with fewer visible pixels are dropped.

MAX_PLACEMENT_TRIES = 20  # Positions tried per object before it is skipped.
COLOUR_CANDIDATES = 32  # Colours drawn per object; the first with enough contrast wins.
MIN_CONTRAST = 100.0  # Euclidean RGB distance from background and covered objects.
BACKGROUND_NOISE_STD = 4.0  # Mild Gaussian noise on the background, in 0..255 units.

# Shape geometry, in units of the object's radius (every shape fits the unit disc).
_CIRCLE_RADIUS = 0.9
_RING_OUTER, _RING_INNER = 0.9, 0.55
_SQUARE_HALF_SIDE = 0.7
_DIAMOND_HALF_WIDTH = 0.55
_CROSS_HALF_WIDTH, _CROSS_HALF_LENGTH = 0.3, 0.95
_STAR_OUTER, _STAR_INNER, _STAR_POINTS = 1.0, 0.45, 5
_HEXAGON_RADIUS = 0.95


def _regular_polygon(num_vertices: int, radius: float) -> np.ndarray:
    angles = np.pi / 2 + 2 * np.pi * np.arange(num_vertices) / num_vertices  # [k]
    return radius * np.stack([np.sin(angles), np.cos(angles)], axis=-1)  # [k, 2] (v, u)


def _star_polygon() -> np.ndarray:
    radii = np.tile([_STAR_OUTER, _STAR_INNER], _STAR_POINTS)  # [2p]
    angles = np.pi / 2 + np.pi * np.arange(2 * _STAR_POINTS) / _STAR_POINTS  # [2p]
    return radii[:, None] * np.stack([np.sin(angles), np.cos(angles)], axis=-1)  # [2p, 2]


def _cross_polygon() -> np.ndarray:
    w, h = _CROSS_HALF_WIDTH, _CROSS_HALF_LENGTH
    # (v, u) corners of a plus sign, walked around its outline.
    corners = [(h, w), (w, w), (w, h), (-w, h), (-w, w), (-h, w)]
    corners += [(-h, -w), (-w, -w), (-w, -h), (w, -h), (w, -w), (h, -w)]
    return np.array(corners, dtype=np.float64)  # [12, 2]


# Polygon outlines in (v, u) unit coordinates; circle and ring are analytic.
_POLYGONS: dict[str, np.ndarray] = {
    "square": _SQUARE_HALF_SIDE * np.array([(1.0, 1.0), (1.0, -1.0), (-1.0, -1.0), (-1.0, 1.0)]),
    "triangle": _regular_polygon(3, 1.0),
    "diamond": np.array(
        [(1.0, 0.0), (0.0, _DIAMOND_HALF_WIDTH), (-1.0, 0.0), (0.0, -_DIAMOND_HALF_WIDTH)]
    ),
    "cross": _cross_polygon(),
    "star": _star_polygon(),
    "hexagon": _regular_polygon(6, _HEXAGON_RADIUS),
}


def _polygon_mask(v: np.ndarray, u: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test for points (v, u) against a closed polygon."""
    inside = np.zeros(v.shape, dtype=bool)  # [h, w]
    v0, u0 = polygon[:, 0], polygon[:, 1]  # [k], [k]
    v1, u1 = np.roll(v0, -1), np.roll(u0, -1)  # [k], [k]
    for a_v, a_u, b_v, b_u in zip(v0, u0, v1, u1, strict=True):
        if a_v == b_v:
            continue  # A horizontal edge never crosses a horizontal ray.
        crosses = (a_v > v) != (b_v > v)  # [h, w]
        u_cross = a_u + (v - a_v) * (b_u - a_u) / (b_v - a_v)  # [h, w]
        inside ^= crosses & (u < u_cross)
    return inside


def _shape_mask(label: int, v: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Mask of shape `label` at unit-radius coordinates (v, u) (already rotated)."""
    name = SHAPE_NAMES[label]
    if name == "circle":
        return v * v + u * u <= _CIRCLE_RADIUS**2
    if name == "ring":
        rho2 = v * v + u * u
        return (rho2 <= _RING_OUTER**2) & (rho2 >= _RING_INNER**2)
    return _polygon_mask(v, u, _POLYGONS[name])


def _render_object_mask(
    image_size: int, label: int, cy: float, cx: float, radius: float, angle: float
) -> np.ndarray:
    """Full (unoccluded) mask of one object, sampled at pixel centres."""
    mask = np.zeros((image_size, image_size), dtype=bool)  # [H, W]
    y0, y1 = max(int(np.floor(cy - radius)), 0), min(int(np.ceil(cy + radius)), image_size)
    x0, x1 = max(int(np.floor(cx - radius)), 0), min(int(np.ceil(cx + radius)), image_size)
    dy = (np.arange(y0, y1) + 0.5 - cy)[:, None] / radius  # [h, 1]
    dx = (np.arange(x0, x1) + 0.5 - cx)[None, :] / radius  # [1, w]
    cos, sin = np.cos(angle), np.sin(angle)
    v = cos * dy - sin * dx  # [h, w]
    u = sin * dy + cos * dx  # [h, w]
    mask[y0:y1, x0:x1] = _shape_mask(label, v, u)
    return mask


def _background(rng: np.random.Generator, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """A linear colour gradient in a random direction.

    Returns:
      The noiseless background, float32 [H, W, 3], and the gradient position of every pixel,
      float32 [H, W] in [0, 1] (used to check object contrast).
    """
    start, end = rng.uniform(0.0, 255.0, size=(2, 3))  # [3], [3]
    theta = rng.uniform(0.0, 2 * np.pi)
    coords = (np.arange(image_size, dtype=np.float32) + 0.5) / image_size  # [H]
    proj = np.cos(theta) * coords[:, None] + np.sin(theta) * coords[None, :]  # [H, W]
    t = (proj - proj.min()) / max(float(np.ptp(proj)), 1e-6)  # [H, W]
    image = start + t[..., None] * (end - start)  # [H, W, 3]
    return image.astype(np.float32), t.astype(np.float32)


def _distance_to_segment(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance of each of `points` [c, 3] to the segment a-b in RGB space."""
    ab = b - a  # [3]
    denom = max(float(ab @ ab), 1e-12)
    s = np.clip((points - a) @ ab / denom, 0.0, 1.0)  # [c]
    return np.linalg.norm(points - (a + s[:, None] * ab), axis=-1)  # [c]


def _pick_colour(
    rng: np.random.Generator,
    gradient_ends: tuple[np.ndarray, np.ndarray],
    covered_colours: list[np.ndarray],
) -> np.ndarray:
    """A colour contrasting with the background under the object and the objects it covers."""
    candidates = rng.uniform(0.0, 255.0, size=(COLOUR_CANDIDATES, 3))  # [c, 3]
    contrast = _distance_to_segment(candidates, *gradient_ends)  # [c]
    for colour in covered_colours:
        contrast = np.minimum(contrast, np.linalg.norm(candidates - colour, axis=-1))  # [c]
    good = np.flatnonzero(contrast >= MIN_CONTRAST)
    return candidates[good[0] if good.size else int(np.argmax(contrast))]  # [3]


def check_scene_args(
    image_size: int,
    num_objects: int | tuple[int, int],
    min_size: float = DEFAULT_MIN_SIZE,
    max_size: float = DEFAULT_MAX_SIZE,
    max_overlap: float = DEFAULT_MAX_OVERLAP,
    min_visible_pixels: int = DEFAULT_MIN_VISIBLE_PIXELS,
) -> tuple[int, int]:
    """Validates the arguments of `render_scene`.

    Returns:
      The inclusive (min, max) range of the number of objects.

    Raises:
      ValueError: an argument is out of range or of the wrong kind.
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int | np.integer):
        raise ValueError(f"image_size must be an int, got {image_size!r}.")
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be >= {MIN_IMAGE_SIZE}, got {image_size}.")
    if isinstance(num_objects, int | np.integer) and not isinstance(num_objects, bool):
        low = high = int(num_objects)
    elif isinstance(num_objects, tuple | list) and len(num_objects) == 2:
        low, high = num_objects
        if any(isinstance(x, bool) or not isinstance(x, int | np.integer) for x in (low, high)):
            raise ValueError(f"num_objects bounds must be ints, got {num_objects!r}.")
        low, high = int(low), int(high)
    else:
        raise ValueError(
            f"num_objects must be an int or a (min, max) pair of ints, got {num_objects!r}."
        )
    if low < 0 or high < low:
        raise ValueError(f"num_objects must satisfy 0 <= min <= max, got {num_objects!r}.")
    if not 0.0 < min_size <= max_size <= 1.0:
        raise ValueError(
            f"Need 0 < min_size <= max_size <= 1 (fractions of the image side), "
            f"got min_size={min_size}, max_size={max_size}."
        )
    if not 0.0 <= max_overlap <= 1.0:
        raise ValueError(f"max_overlap must be in [0, 1], got {max_overlap}.")
    if min_visible_pixels < 1:
        raise ValueError(f"min_visible_pixels must be >= 1, got {min_visible_pixels}.")
    return low, high


def _boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """Tight (ymin, xmin, ymax, xmax) boxes in [0, 1] around non-empty masks [n, H, W]."""
    n, height, width = masks.shape
    boxes = np.zeros((n, 4), dtype=np.float32)  # [n, 4]
    if n == 0:
        return boxes
    rows = masks.any(axis=2)  # [n, H]
    cols = masks.any(axis=1)  # [n, W]
    boxes[:, 0] = rows.argmax(axis=1) / height
    boxes[:, 1] = cols.argmax(axis=1) / width
    boxes[:, 2] = (height - rows[:, ::-1].argmax(axis=1)) / height
    boxes[:, 3] = (width - cols[:, ::-1].argmax(axis=1)) / width
    return boxes


@dataclasses.dataclass
class _Object:
    """One placed object. `visible` shrinks in place as later objects cover it."""

    label: int
    colour: np.ndarray  # [3] float64 RGB in 0..255.
    mask: np.ndarray  # [H, W] bool: the object's own (full, unoccluded) pixels.
    visible: np.ndarray  # [H, W] bool: its pixels not covered by later objects.
    area: int  # Pixel count of `mask`.


def _leaves_enough_visible(mask: np.ndarray, objects: list[_Object], max_overlap: float) -> bool:
    """Whether drawing `mask` [H, W] on top hides at most `max_overlap` of every object."""
    return all(
        np.count_nonzero(obj.visible & ~mask) >= (1.0 - max_overlap) * obj.area for obj in objects
    )


def _find_position(
    rng: np.random.Generator,
    image_size: int,
    label: int,
    min_size: float,
    max_size: float,
    max_overlap: float,
    objects: list[_Object],
) -> np.ndarray | None:
    """Draws a size, an angle and candidate centres for an object of class `label`.

    Args:
      rng: the scene's generator; draws the radius, the angle, then the candidate centres.
      image_size: side of the image, in pixels.
      label: the object's class.
      min_size: smallest object diameter, as a fraction of `image_size`.
      max_size: largest object diameter, as a fraction of `image_size`.
      max_overlap: largest fraction of an earlier object the new one may hide.
      objects: the objects placed so far.

    Returns:
      The full mask [H, W] at the first candidate centre that covers some pixel and hides
      at most `max_overlap` of every earlier object, or None when no candidate does.
    """
    radius = 0.5 * image_size * rng.uniform(min_size, max_size)
    angle = rng.uniform(0.0, 2 * np.pi)
    centres = rng.uniform(radius, image_size - radius, size=(MAX_PLACEMENT_TRIES, 2))  # [T, 2]
    for cy, cx in centres:
        mask = _render_object_mask(image_size, label, cy, cx, radius, angle)  # [H, W]
        if mask.any() and _leaves_enough_visible(mask, objects, max_overlap):
            return mask
    return None


def _object_colour(
    rng: np.random.Generator,
    mask: np.ndarray,
    background: np.ndarray,
    gradient_t: np.ndarray,
    objects: list[_Object],
) -> np.ndarray:
    """A colour [3] for a new object `mask` [H, W], contrasting with what it covers.

    What it covers: the background gradient between its two extreme colours under the
    mask, and the visible parts of the earlier objects it overlaps.
    """
    t_under = gradient_t[mask]  # [m]
    ends = tuple(background[mask][[t_under.argmin(), t_under.argmax()]])  # ([3], [3])
    covered = [obj.colour for obj in objects if (obj.visible & mask).any()]
    return _pick_colour(rng, ends, covered)  # [3]


def _place_objects(
    rng: np.random.Generator,
    count: int,
    background: np.ndarray,
    gradient_t: np.ndarray,
    min_size: float,
    max_size: float,
    max_overlap: float,
) -> list[_Object]:
    """Places up to `count` objects one on top of the other, back to front.

    An object with no acceptable position (see `_find_position`) is skipped.

    Args:
      rng: the scene's generator; per object it draws the label, the position (see
        `_find_position`) and, when placed, the colour candidates.
      count: the number of objects to try.
      background: the noiseless background, float32 [H, W, 3].
      gradient_t: the gradient position of every pixel, float32 [H, W].
      min_size: smallest object diameter, as a fraction of the image side.
      max_size: largest object diameter, as a fraction of the image side.
      max_overlap: largest fraction of an object that later objects may hide.

    Returns:
      The placed objects, back to front.
    """
    image_size = background.shape[0]
    objects: list[_Object] = []
    for _ in range(count):
        label = int(rng.integers(NUM_CLASSES))
        mask = _find_position(rng, image_size, label, min_size, max_size, max_overlap, objects)
        if mask is None:
            continue  # No acceptable position: skip this object.
        colour = _object_colour(rng, mask, background, gradient_t, objects)
        for obj in objects:
            obj.visible &= ~mask
        objects.append(_Object(label, colour, mask, mask.copy(), np.count_nonzero(mask)))
    return objects


def _drop_hidden(
    objects: list[_Object], image_size: int, min_visible_pixels: int
) -> list[tuple[_Object, np.ndarray]]:
    """The objects with at least `min_visible_pixels` visible, back to front.

    Objects are dropped front to back, so the kept ones' visibility only depends on kept
    objects and dropped objects are not drawn at all.

    Returns:
      (object, visible mask [H, W] among the kept objects) pairs, back to front.
    """
    kept: list[tuple[_Object, np.ndarray]] = []
    occupied = np.zeros((image_size, image_size), dtype=bool)  # [H, W]
    for obj in reversed(objects):
        vis = obj.mask & ~occupied  # [H, W]
        if np.count_nonzero(vis) >= min_visible_pixels:
            kept.append((obj, vis))
            occupied |= obj.mask
    kept.reverse()
    return kept


def _draw_scene(image: np.ndarray, kept: list[tuple[_Object, np.ndarray]]) -> dict[str, np.ndarray]:
    """Paints the kept objects on `image` [H, W, 3] (float, in place) and builds the targets.

    Returns:
      The `render_scene` dict.
    """
    image_size = image.shape[0]
    segmentation = np.zeros((image_size, image_size), dtype=np.uint8)  # [H, W]
    for obj, vis in kept:
        image[obj.mask] = obj.colour
        segmentation[vis] = obj.label + 1
    if kept:
        masks = np.stack([vis for _, vis in kept])  # [n, H, W]
    else:
        masks = np.zeros((0, image_size, image_size), dtype=bool)  # [0, H, W]
    return {
        "image": np.clip(np.rint(image), 0, 255).astype(np.uint8),  # [H, W, 3]
        "labels": np.asarray([obj.label for obj, _ in kept], dtype=np.int64),  # [n]
        "boxes": _boxes_from_masks(masks),  # [n, 4]
        "masks": masks,  # [n, H, W]
        "segmentation": segmentation,  # [H, W]
    }


def render_scene(
    rng: np.random.Generator,
    image_size: int,
    num_objects: int | tuple[int, int],
    min_size: float = DEFAULT_MIN_SIZE,
    max_size: float = DEFAULT_MAX_SIZE,
    max_overlap: float = DEFAULT_MAX_OVERLAP,
    min_visible_pixels: int = DEFAULT_MIN_VISIBLE_PIXELS,
) -> dict[str, np.ndarray]:
    """Renders a scene of coloured shapes on a gradient background.

    Objects are placed one after the other, each on top of the previous ones. A position is
    rejected if it would hide more than `max_overlap` of any earlier object; after
    `MAX_PLACEMENT_TRIES` rejections the object is skipped. Finally objects with fewer than
    `min_visible_pixels` visible pixels are dropped (and not drawn), so every returned
    object is visible and its mask, box and class-map pixels agree exactly with the image.
    Because of skipping, a scene may hold fewer objects than requested.

    Args:
      rng: source of all randomness; the scene is a deterministic function of its state.
      image_size: side of the square image, in pixels (>= `MIN_IMAGE_SIZE`).
      num_objects: number of objects to place, or an inclusive (min, max) range to draw from.
      min_size: smallest object diameter, as a fraction of `image_size`.
      max_size: largest object diameter, as a fraction of `image_size`.
      max_overlap: largest fraction of an object's area that later objects may hide.
      min_visible_pixels: objects with fewer visible pixels are dropped.

    Returns:
      A dict with `image` uint8 [H, W, 3], `labels` int64 [n], `boxes` float32 [n, 4]
      (ymin, xmin, ymax, xmax in [0, 1]), `masks` bool [n, H, W] (visible pixels) and
      `segmentation` uint8 [H, W] (0 background, label + 1 on object pixels). Objects are
      ordered back to front.

    Raises:
      TypeError: `rng` is not a `np.random.Generator`.
      ValueError: an argument is out of range.

    Example:

      scene = render_scene(np.random.default_rng(0), 128, num_objects=(1, 6))
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a np.random.Generator, got {type(rng).__name__}.")
    low, high = check_scene_args(
        image_size, num_objects, min_size, max_size, max_overlap, min_visible_pixels
    )
    image_size = int(image_size)
    # The draws, in order: count, background, noise, then per object its label, size, angle,
    # candidate centres and (when placed) colour candidates. Changing the order changes
    # every generated dataset.
    count = int(rng.integers(low, high + 1))
    background, gradient_t = _background(rng, image_size)  # [H, W, 3], [H, W]
    noise = rng.standard_normal(size=background.shape, dtype=np.float32)  # [H, W, 3]
    objects = _place_objects(rng, count, background, gradient_t, min_size, max_size, max_overlap)
    kept = _drop_hidden(objects, image_size, min_visible_pixels)
    image = background + BACKGROUND_NOISE_STD * noise  # [H, W, 3]
    return _draw_scene(image, kept)
