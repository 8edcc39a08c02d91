"""Tests of the generic image ops: resize, crops, flips."""

import numpy as np
import pytest
from PIL import Image

from jaxvision.data import preprocess
from jaxvision.data.preprocess import image_ops
from tests.data.preprocess.images import apply_op, coords, noise


@pytest.mark.parametrize(
    ("spec", "in_shape", "out_shape"),
    [
        ("resize(8)", (32, 24), (8, 8)),
        ("resize(8, 6)", (32, 24), (8, 6)),
        ("resize_small(16)", (32, 48), (16, 24)),
        ("resize_small(16)", (48, 32), (24, 16)),
        ("center_crop(10, 12)", (20, 21), (10, 12)),
        ("center_crop(5)", (20, 21), (5, 5)),
        ("resize_center_crop(224)", (300, 400), (224, 224)),
        ("flip_lr", (9, 7), (9, 7)),
        ("pad_random_crop(32, 4)", (32, 32), (32, 32)),
        ("pad_random_crop(16)", (20, 18), (16, 16)),
        ("random_resized_crop(16)", (40, 30), (16, 16)),
    ],
)
def test_op_shape_and_dtype(spec, in_shape, out_shape):
    out = apply_op(preprocess.build(spec), noise(*in_shape), label=3)
    assert out["image"].shape == (*out_shape, 3)
    assert out["image"].dtype == np.uint8
    assert out["label"] == 3  # Other features pass through untouched.


def test_resize_same_size_is_noop():
    image = noise(12, 10)
    out = apply_op(preprocess.build("resize(12, 10)"), image)
    np.testing.assert_array_equal(out["image"], image)


def test_resize_constant_stays_constant():
    image = np.full((17, 23, 3), 123, np.uint8)
    out = apply_op(preprocess.build("resize(8, 40)"), image)
    assert out["image"].shape == (8, 40, 3)
    assert np.all(out["image"] == 123)


def test_resize_matches_pil_bilinear():
    image = noise(30, 20)
    out = apply_op(preprocess.build("resize(15, 10)"), image)
    reference = np.asarray(Image.fromarray(image).resize((10, 15), Image.BILINEAR))
    np.testing.assert_array_equal(out["image"], reference)


def test_resize_small_keeps_aspect_ratio():
    out = apply_op(preprocess.build("resize_small(10)"), noise(25, 40))
    assert out["image"].shape == (10, 16, 3)  # 40 * 10 / 25 = 16.


@pytest.mark.parametrize(("h", "w", "ch", "cw"), [(10, 13, 4, 6), (11, 11, 4, 4), (9, 8, 9, 1)])
def test_center_crop_takes_the_centre(h, w, ch, cw):
    out = apply_op(preprocess.build(f"center_crop({ch}, {cw})"), coords(h, w))["image"]
    top, left = (h - ch) // 2, (w - cw) // 2
    np.testing.assert_array_equal(
        out[..., 0], np.broadcast_to(np.arange(top, top + ch)[:, None], (ch, cw))
    )
    np.testing.assert_array_equal(
        out[..., 1], np.broadcast_to(np.arange(left, left + cw)[None], (ch, cw))
    )
    # The margins left out on each side differ by at most one pixel.
    assert abs(top - (h - ch - top)) <= 1 and abs(left - (w - cw - left)) <= 1


def test_center_crop_hand_values():
    out = apply_op(preprocess.build("center_crop(2, 3)"), coords(6, 7))["image"]
    # top = (6 - 2) // 2 = 2, left = (7 - 3) // 2 = 2.
    assert out[..., 0].tolist() == [[2, 2, 2], [3, 3, 3]]
    assert out[..., 1].tolist() == [[2, 3, 4], [2, 3, 4]]


def test_center_crop_too_large_raises():
    with pytest.raises(ValueError, match="smaller image"):
        apply_op(preprocess.build("center_crop(8)"), noise(7, 20))


def test_resize_center_crop_imagenet_style():
    image = noise(300, 400)
    out = apply_op(preprocess.build("resize_center_crop(224)"), image)["image"]
    # Shorter side to ceil(224 / 0.875) = 256: (300, 400) -> (256, round(341.33) = 341),
    # then the central 224 x 224: top = (256 - 224) // 2 = 16, left = (341 - 224) // 2 = 58.
    resized = np.asarray(Image.fromarray(image).resize((341, 256), Image.BILINEAR))
    np.testing.assert_array_equal(out, resized[16:240, 58:282])


def test_resize_center_crop_custom_fraction():
    image = noise(40, 40)
    out = apply_op(preprocess.build("resize_center_crop(16, fraction=0.5)"), image)["image"]
    resized = np.asarray(Image.fromarray(image).resize((32, 32), Image.BILINEAR))
    np.testing.assert_array_equal(out, resized[8:24, 8:24])


def test_pad_random_crop_is_a_window_of_the_zero_padded_image():
    size, pad = 12, 3
    image = noise(12, 12)
    padded = np.zeros((18, 18, 3), np.uint8)
    padded[pad:-pad, pad:-pad] = image
    op = preprocess.build(f"pad_random_crop({size}, {pad})")
    offsets = set()
    for seed in range(60):
        out = apply_op(op, image, seed)["image"]
        matches = [
            (top, left)
            for top in range(2 * pad + 1)
            for left in range(2 * pad + 1)
            if np.array_equal(padded[top : top + size, left : left + size], out)
        ]
        assert len(matches) == 1, f"seed {seed}: not a unique window of the padded image"
        offsets.add(matches[0])
    # The offsets are random over the (2 pad + 1)^2 positions, corners reachable.
    assert len(offsets) > 15
    tops = {t for t, _ in offsets}
    lefts = {lo for _, lo in offsets}
    assert tops <= set(range(7)) and lefts <= set(range(7))
    assert len(tops) >= 5 and len(lefts) >= 5


def test_pad_random_crop_too_large_raises():
    with pytest.raises(ValueError, match="pad_random_crop"):
        apply_op(preprocess.build("pad_random_crop(20, 2)"), noise(10, 10))


def test_flip_lr_probability_one_and_zero():
    image = coords(5, 6)
    flipped = apply_op(preprocess.build("flip_lr(1.0)"), image)["image"]
    np.testing.assert_array_equal(flipped[..., 1], np.tile([5, 4, 3, 2, 1, 0], (5, 1)))
    np.testing.assert_array_equal(flipped, image[:, ::-1])
    kept = apply_op(preprocess.build("flip_lr(0.0)"), image)["image"]
    np.testing.assert_array_equal(kept, image)


def test_flip_lr_default_flips_about_half():
    image = coords(3, 4)
    op = preprocess.build("flip_lr")
    flips = sum(
        int(np.array_equal(apply_op(op, image, seed)["image"], image[:, ::-1]))
        for seed in range(400)
    )
    assert 150 < flips < 250


RANDOM_SPECS = [
    "flip_lr",
    "pad_random_crop(16, 4)",
    "random_resized_crop(12)",
    "random_resized_crop(12)|flip_lr|pad_random_crop(12, 2)",
]


@pytest.mark.parametrize("spec", RANDOM_SPECS)
def test_random_ops_deterministic_per_seed(spec):
    op = preprocess.build(spec)
    image = noise(16, 16)
    for seed in (0, 5):
        a = apply_op(op, image, seed)["image"]
        b = apply_op(op, image.copy(), seed)["image"]
        np.testing.assert_array_equal(a, b)
    outs = {apply_op(op, image, seed)["image"].tobytes() for seed in range(8)}
    assert len(outs) > 1  # Different seeds give different results.


def test_random_resized_crop_is_a_resized_window():
    image = noise(30, 40)
    out = apply_op(preprocess.build("random_resized_crop(10)"), image, seed=3)["image"]
    top, left, h, w = image_ops.sample_crop_window(np.random.default_rng(3), 30, 40)
    window = image[top : top + h, left : left + w]
    reference = np.asarray(Image.fromarray(window).resize((10, 10), Image.BILINEAR))
    np.testing.assert_array_equal(out, reference)


@pytest.mark.parametrize(
    ("height", "width", "scale", "ratio"),
    [
        (50, 80, (0.08, 1.0), (3 / 4, 4 / 3)),
        (64, 64, (0.25, 0.5), (3 / 4, 4 / 3)),
        (90, 40, (0.5, 1.0), (0.3, 3.0)),
    ],
)
def test_sample_crop_window_inside_and_within_bounds(height, width, scale, ratio):
    rng = np.random.default_rng(0)
    area = height * width
    tops, lefts, fractions = [], [], []
    for _ in range(2000):
        top, left, h, w = image_ops.sample_crop_window(rng, height, width, scale, ratio)
        assert 0 < h <= height and 0 < w <= width
        assert 0 <= top <= height - h and 0 <= left <= width - w
        # h and w are rounded from sqrt(target / aspect) and sqrt(target * aspect): each is
        # within 0.5 of the exact value, so the target area lies in [(h-.5)(w-.5), (h+.5)(w+.5)].
        assert (h - 0.5) * (w - 0.5) <= scale[1] * area + 1e-6
        assert (h + 0.5) * (w + 0.5) >= scale[0] * area - 1e-6
        assert (w - 0.5) / (h + 0.5) <= ratio[1] + 1e-6
        assert (w + 0.5) / (h - 0.5) >= ratio[0] - 1e-6
        tops.append(top / max(1, height - h))
        lefts.append(left / max(1, width - w))
        fractions.append(h * w / area)
    # Positions spread over the whole admissible range, areas over the scale range.
    assert min(tops) < 0.05 and max(tops) > 0.95
    assert min(lefts) < 0.05 and max(lefts) > 0.95
    assert min(fractions) < scale[0] + 0.1 * (scale[1] - scale[0])
    assert max(fractions) > scale[1] - 0.2 * (scale[1] - scale[0])


def test_sample_crop_window_falls_back_to_centre_crop():
    # A 10 x 200 strip cannot hold a crop of >= 90% of its area with aspect <= 4/3.
    top, left, h, w = image_ops.sample_crop_window(np.random.default_rng(0), 10, 200, (0.9, 1.0))
    # Clamped to the widest admissible aspect: h = 10, w = round(10 * 4 / 3) = 13, centred.
    assert (top, left, h, w) == (0, (200 - 13) // 2, 10, 13)
    # And a tall strip: w = 10, h = round(10 / (3 / 4)) = 13.
    top, left, h, w = image_ops.sample_crop_window(np.random.default_rng(0), 200, 10, (0.9, 1.0))
    assert (top, left, h, w) == ((200 - 13) // 2, 0, 13, 10)


@pytest.mark.parametrize("scale", [(0.0, 1.0), (0.6, 0.5), (0.5, 1.5)])
def test_random_resized_crop_bad_scale_raises(scale):
    with pytest.raises(ValueError, match="scale"):
        image_ops.random_resized_crop(8, scale=scale)


def test_random_resized_crop_moves_boxes_with_the_window():
    image = noise(30, 40)
    whole = {
        "boxes": np.array([[0.0, 0.0, 1.0, 1.0]], np.float32),  # The whole image.
        "labels": np.array([5], np.int32),
        "box_ignore": np.array([False]),
        "image_window": np.array([0, 0, 1, 1], np.float32),
    }
    for seed in range(6):
        top, left, h, w = image_ops.sample_crop_window(np.random.default_rng(seed), 30, 40)
        visible = h * w / (30 * 40)
        out = apply_op(preprocess.build("random_resized_crop(10)"), image, seed, **whole)
        # The window says where the whole source image lies around the crop (unclipped).
        np.testing.assert_allclose(
            out["image_window"], [-top / h, -left / w, (30 - top) / h, (40 - left) / w], rtol=1e-5
        )
        kept = visible >= preprocess.MIN_VISIBLE_FRACTION
        assert len(out["boxes"]) == len(out["labels"]) == int(kept)
        assert int(out["num_dropped_boxes"]) == int(not kept)
        # Without a visibility threshold the box is clipped to the whole crop.
        spec = "random_resized_crop(10, min_visible=0.0)"
        out = apply_op(preprocess.build(spec), image, seed, **whole)
        np.testing.assert_allclose(out["boxes"], [[0.0, 0.0, 1.0, 1.0]])
        assert out["labels"].tolist() == [5]


def test_min_visible_validated():
    with pytest.raises(ValueError, match="min_visible"):
        image_ops.random_resized_crop(8, min_visible=1.5)
