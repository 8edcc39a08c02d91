"""Tests of the procedural scene renderer."""

import collections

import numpy as np
import pytest

from jaxvision.data.builders import shapes_scene
from jaxvision.data.builders.shapes_scene import NUM_CLASSES, SHAPE_NAMES, render_scene

DETECTION_KW = dict(min_size=0.12, max_size=0.4)


def _scene(seed, image_size=64, num_objects=(1, 5), **kw):
    return render_scene(np.random.default_rng(seed), image_size, num_objects, **kw)


def _tight_box(mask):
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return np.array([rows[0] / h, cols[0] / w, (rows[-1] + 1) / h, (cols[-1] + 1) / w])


def test_shape_names():
    assert len(SHAPE_NAMES) == NUM_CLASSES == 8
    assert len(set(SHAPE_NAMES)) == 8


def test_output_dtypes_and_shapes():
    scene = _scene(0, image_size=48)
    n = len(scene["labels"])
    assert scene["image"].shape == (48, 48, 3) and scene["image"].dtype == np.uint8
    assert scene["labels"].shape == (n,) and scene["labels"].dtype == np.int64
    assert scene["boxes"].shape == (n, 4) and scene["boxes"].dtype == np.float32
    assert scene["masks"].shape == (n, 48, 48) and scene["masks"].dtype == bool
    assert scene["segmentation"].shape == (48, 48)
    assert scene["segmentation"].dtype == np.uint8


def test_deterministic_given_rng():
    a, b = _scene(7), _scene(7)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    c = _scene(8)
    assert not np.array_equal(a["image"], c["image"])


@pytest.mark.parametrize("seed", range(6))
def test_targets_are_exact(seed):
    scene = _scene(seed, image_size=96, num_objects=(3, 6), max_overlap=0.6, **DETECTION_KW)
    masks, seg, image = scene["masks"], scene["segmentation"], scene["image"]
    assert len(scene["labels"]) >= 1
    # Visible masks are non-empty, large enough and pairwise disjoint.
    assert (masks.sum(axis=(1, 2)) >= shapes_scene.DEFAULT_MIN_VISIBLE_PIXELS).all()
    assert masks.sum(axis=0).max() <= 1
    for label, box, mask in zip(scene["labels"], scene["boxes"], masks, strict=True):
        # Boxes are tight around the visible pixels.
        np.testing.assert_allclose(box, _tight_box(mask), atol=1e-7)
        # The class map agrees with the masks.
        assert (seg[mask] == label + 1).all()
        # Objects are flat-coloured: every visible pixel has the object's colour.
        assert len(np.unique(image[mask], axis=0)) == 1
    np.testing.assert_array_equal(seg > 0, masks.any(axis=0))
    assert ((scene["boxes"] >= 0.0) & (scene["boxes"] <= 1.0)).all()


def test_counts():
    for seed in range(10):
        scene = _scene(seed, image_size=64, num_objects=(2, 4), **DETECTION_KW)
        assert 1 <= len(scene["labels"]) <= 4
    # With room to spare, every requested object is placed.
    for seed in range(10):
        scene = _scene(seed, image_size=96, num_objects=3, min_size=0.1, max_size=0.2)
        assert len(scene["labels"]) == 3
    # A single object always survives (nothing can hide it).
    for seed in range(20):
        assert len(_scene(seed, image_size=32, num_objects=1, min_size=0.5)["labels"]) == 1


def test_zero_objects():
    scene = _scene(3, image_size=40, num_objects=0)
    assert scene["labels"].shape == (0,) and scene["labels"].dtype == np.int64
    assert scene["boxes"].shape == (0, 4) and scene["boxes"].dtype == np.float32
    assert scene["masks"].shape == (0, 40, 40)
    assert not scene["segmentation"].any()
    assert scene["image"].std() > 0  # A gradient, not a blank image.


def test_class_balance():
    counts = collections.Counter()
    for seed in range(800):
        counts.update(
            _scene(seed, image_size=16, num_objects=1, min_size=0.6, max_size=0.95)[
                "labels"
            ].tolist()
        )
    assert sum(counts.values()) == 800
    assert set(counts) == set(range(NUM_CLASSES))
    # Expected 100 each, standard deviation ~9.4.
    assert all(60 <= c <= 140 for c in counts.values()), counts


# Areas in units of radius**2, from the geometry constants of shapes_scene.
EXPECTED_AREAS = {
    "circle": np.pi * 0.9**2,
    "square": 1.4**2,
    "triangle": 3 * np.sqrt(3) / 4,
    "diamond": 2 * 0.55,
    "ring": np.pi * (0.9**2 - 0.55**2),
    "cross": 2 * (1.9 * 0.6) - 0.6**2,
    "star": 5 * 1.0 * 0.45 * np.sin(np.pi / 5),
    "hexagon": 3 * np.sqrt(3) / 2 * 0.95**2,
}


@pytest.mark.parametrize("label", range(NUM_CLASSES))
def test_shape_geometry(label):
    radius = 40.0
    for angle in (0.0, 0.7):
        mask = shapes_scene._render_object_mask(100, label, 50.0, 50.0, radius, angle)
        area = mask.sum() / radius**2
        np.testing.assert_allclose(area, EXPECTED_AREAS[SHAPE_NAMES[label]], rtol=0.03)
        # Every shape fits its bounding circle.
        ys, xs = np.nonzero(mask)
        assert (np.hypot(ys + 0.5 - 50, xs + 0.5 - 50) <= radius).all()


def test_object_contrasts_with_background():
    for seed in range(20):
        scene = _scene(seed, image_size=32, num_objects=1, min_size=0.5)
        mask = scene["masks"][0]
        inside = scene["image"][mask].astype(float).mean(axis=0)
        outside = scene["image"][~mask].astype(float).mean(axis=0)
        assert np.linalg.norm(inside - outside) > 30


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(image_size=4, num_objects=1),
        dict(image_size=32.0, num_objects=1),
        dict(image_size=32, num_objects=-1),
        dict(image_size=32, num_objects=(3, 1)),
        dict(image_size=32, num_objects=(1, 2, 3)),
        dict(image_size=32, num_objects=1.5),
        dict(image_size=32, num_objects=1, min_size=0.0),
        dict(image_size=32, num_objects=1, max_size=1.5),
        dict(image_size=32, num_objects=1, min_size=0.6, max_size=0.5),
        dict(image_size=32, num_objects=1, max_overlap=-0.1),
        dict(image_size=32, num_objects=1, max_overlap=1.5),
        dict(image_size=32, num_objects=1, min_visible_pixels=0),
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        render_scene(np.random.default_rng(0), **kwargs)


def test_bad_rng():
    with pytest.raises(TypeError, match="Generator"):
        render_scene(0, 32, 1)
