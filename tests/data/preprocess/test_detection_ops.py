"""Tests of the box-aware preprocessing ops against boxes measured on rendered rectangles."""

import numpy as np
import pytest

from jaxvision.data import preprocess
from jaxvision.data.preprocess import detection_ops

# Bilinear resizing blurs an edge over about one output pixel.
EDGE_TOLERANCE_PX = 1.01


def _raw(height, width, rects, labels=None, **flags):
    """A raw example: black image, each rect (y0, x0, y1, x1) in pixels filled white."""
    image = np.zeros((height, width, 3), np.uint8)
    for y0, x0, y1, x1 in rects:
        image[y0:y1, x0:x1] = 255
    boxes = np.array(
        [(y0 / height, x0 / width, y1 / height, x1 / width) for y0, x0, y1, x1 in rects],
        np.float32,
    ).reshape(-1, 4)
    labels = list(range(len(rects))) if labels is None else labels
    return {"image": image, "objects": {"bbox": boxes, "label": labels, **flags}}


def _measured_box(image):
    """Tight pixel box (y0, x0, y1, x1) of the bright pixels, or None when there are none."""
    mask = image[..., 0] > 127  # [h, w]
    if not mask.any():
        return None
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return np.array([rows[0], cols[0], rows[-1] + 1, cols[-1] + 1], np.float32)


def _pixels(box, image):
    h, w = image.shape[:2]
    return np.asarray(box, np.float32) * np.array([h, w, h, w], np.float32)


def _run(spec, example, seed=0):
    return preprocess.build(spec)(example, np.random.default_rng(seed))


def _to_source_pixels(box, window, orig_size):
    """The documented mapping from output-normalised to source-pixel coordinates."""
    box, window = np.asarray(box, np.float64), np.asarray(window, np.float64)
    size = np.tile(window[2:] - window[:2], 2)
    return (box - np.tile(window[:2], 2)) / size * np.tile(np.asarray(orig_size, np.float64), 2)


def test_decode_detection_schema():
    raw = _raw(20, 30, [(2, 3, 10, 12), (5, 5, 15, 25)], labels=[4, 7])
    raw["objects"]["is_crowd"] = np.array([False, True])
    out = _run("decode_detection", raw)
    assert "objects" not in out
    np.testing.assert_allclose(out["boxes"], [[0.1, 0.1, 0.5, 0.4], [0.25, 1 / 6, 0.75, 25 / 30]])
    assert out["boxes"].dtype == np.float32
    assert out["labels"].dtype == np.int32 and out["labels"].tolist() == [4, 7]
    assert out["box_ignore"].tolist() == [False, True]
    assert out["orig_size"].tolist() == [20, 30] and out["orig_size"].dtype == np.int32
    assert out["image_window"].tolist() == [0, 0, 1, 1]
    assert int(out["num_dropped_boxes"]) == 0


def test_decode_detection_accepts_flat_tfds_lists_and_difficult():
    raw = {
        "image": np.zeros((4, 4, 3), np.uint8),
        "objects": {
            "bbox": [0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 1.0, 1.0],  # Flat, as data_source may return.
            "label": [1, 2],
            "is_difficult": [True, False],
        },
    }
    out = _run("decode_detection", raw)
    assert out["boxes"].shape == (2, 4)
    assert out["box_ignore"].tolist() == [True, False]


def test_degenerate_and_outside_boxes_dropped_and_counted():
    boxes = np.array(
        [
            [0.2, 0.2, 0.6, 0.6],  # Fine.
            [0.5, 0.5, 0.5, 0.9],  # Zero height.
            [0.7, 0.1, 0.3, 0.4],  # Negative height.
            [1.2, 0.1, 1.5, 0.4],  # Entirely below the image: zero height after clipping.
            [-0.5, -0.5, 0.5, 0.5],  # Partly outside: clipped to the image.
            [np.nan, 0.1, 0.5, 0.5],  # NaN.
        ],
        np.float32,
    )
    raw = {"image": np.zeros((10, 10, 3), np.uint8), "objects": {"bbox": boxes, "label": range(6)}}
    out = _run("decode_detection|pad_boxes(8)", raw)
    assert int(out["num_dropped_boxes"]) == 4
    assert out["labels"].tolist() == [0, 4, -1, -1, -1, -1, -1, -1]
    np.testing.assert_allclose(out["boxes"][:2], [[0.2, 0.2, 0.6, 0.6], [0.0, 0.0, 0.5, 0.5]])
    assert np.isfinite(out["boxes"]).all()
    assert out["box_mask"].tolist() == [True, True] + [False] * 6


def test_flip_lr_moves_boxes_with_the_pixels():
    raw = _raw(16, 20, [(2, 1, 9, 7)])
    out = _run("decode_detection|flip_lr(1.0)", raw)
    measured = _measured_box(out["image"])
    np.testing.assert_allclose(_pixels(out["boxes"][0], out["image"]), measured, atol=1e-4)
    np.testing.assert_allclose(measured, [2, 13, 9, 19])  # x: 20 - 7 .. 20 - 1.
    assert out["image_window"].tolist() == [0, 0, 1, 1]


def test_flip_lr_single_bbox_and_mask():
    image = np.zeros((6, 8, 3), np.uint8)
    image[1:4, 0:2] = 255
    mask = np.zeros((6, 8, 1), np.uint8)
    mask[1:4, 0:2] = 3
    example = {
        "image": image,
        "bbox": np.array([1 / 6, 0, 4 / 6, 2 / 8]),
        "segmentation_mask": mask,
    }
    out = _run("flip_lr(1.0)", example)
    np.testing.assert_allclose(out["bbox"], [1 / 6, 6 / 8, 4 / 6, 1.0], rtol=1e-6)
    np.testing.assert_array_equal(out["segmentation_mask"][..., 0] == 3, out["image"][..., 0] > 0)
    np.testing.assert_allclose(_pixels(out["bbox"], image), _measured_box(out["image"]))


def test_flip_twice_is_identity():
    raw = _raw(12, 15, [(1, 2, 5, 9), (3, 3, 11, 14)])
    once = _run("decode_detection|flip_lr(1.0)", raw)
    twice = _run("flip_lr(1.0)", once)
    np.testing.assert_allclose(twice["boxes"], _run("decode_detection", raw)["boxes"], atol=1e-6)


@pytest.mark.parametrize("seed", range(12))
def test_random_resized_crop_boxes_match_rendered_rectangle(seed):
    raw = _raw(60, 80, [(10, 15, 45, 60)])
    spec = "decode_detection|random_resized_crop(48, scale=(0.3, 1.0), min_visible=0.0)"
    out = _run(spec, raw, seed)
    measured = _measured_box(out["image"])
    dropped = int(out["num_dropped_boxes"])
    if measured is None:  # Cropped away entirely (or a sliver thinner than half a pixel).
        assert len(out["boxes"]) + dropped == 1
        return
    assert dropped == 0 and len(out["boxes"]) == 1
    np.testing.assert_allclose(
        _pixels(out["boxes"][0], out["image"]), measured, atol=EDGE_TOLERANCE_PX * 48 / 20
    )


@pytest.mark.parametrize("seed", range(10))
def test_scale_jitter_boxes_match_rendered_rectangle(seed):
    raw = _raw(50, 70, [(8, 12, 40, 50)])
    out = _run("decode_detection|scale_jitter(64, 0.3, 2.0, min_visible=0.0)", raw, seed)
    assert out["image"].shape == (64, 64, 3)
    measured = _measured_box(out["image"])
    if measured is None:
        assert len(out["boxes"]) + int(out["num_dropped_boxes"]) == 1
        return
    scale = max(64 / 70 * 0.3, 1.0)  # Output pixels per source pixel, at least 1.
    np.testing.assert_allclose(
        _pixels(out["boxes"][0], out["image"]), measured, atol=EDGE_TOLERANCE_PX + scale
    )


@pytest.mark.parametrize("seed", range(10))
def test_scale_jitter_window_maps_back_to_source(seed):
    raw = _raw(50, 70, [(8, 12, 40, 50)])
    out = _run("decode_detection|scale_jitter(64, 0.5, 1.5)", raw, seed)
    if len(out["boxes"]) == 0:
        return
    box = out["boxes"][0]
    inside = (box > 0) & (box < 1)  # Coordinates not clipped by the crop.
    back = _to_source_pixels(box, out["image_window"], out["orig_size"])
    np.testing.assert_allclose(back[inside], np.array([8, 12, 40, 50])[inside], atol=1e-3)


def test_scale_jitter_pads_with_fill_when_small():
    raw = _raw(40, 80, [])
    raw["image"][:] = 200
    out = _run("decode_detection|scale_jitter(100, 0.5, 0.5)", raw)
    # Longer side 80 -> 50, shorter 40 -> 25: the image sits in the top-left corner.
    assert (out["image"][:25, :50] == 200).all()
    assert (out["image"][25:] == detection_ops.SCALE_JITTER_FILL).all()
    assert (out["image"][:, 50:] == 0).all()
    np.testing.assert_allclose(out["image_window"], [0, 0, 0.25, 0.5])


@pytest.mark.parametrize(("h", "w"), [(30, 60), (64, 20), (40, 40), (100, 37)])
def test_letterbox_boxes_window_and_bars(h, w):
    rect = (h // 5, w // 4, h - h // 5, w - w // 6)
    raw = _raw(h, w, [rect])
    out = _run("decode_detection|letterbox(64)|pad_boxes(3)", raw)
    image = out["image"]
    assert image.shape == (64, 64, 3)
    measured = _measured_box(image)
    np.testing.assert_allclose(_pixels(out["boxes"][0], image), measured, atol=EDGE_TOLERANCE_PX)
    # The window is the non-bar area: centred, aspect kept, longer side filling the output.
    window = out["image_window"]
    scale = 64 / max(h, w)
    wh = np.array([h * scale, w * scale]) / 64
    np.testing.assert_allclose(window[2:] - window[:2], wh, atol=1 / 64)
    np.testing.assert_allclose((window[2:] + window[:2]) / 2, [0.5, 0.5], atol=1 / 64)
    y0, x0, y1, x1 = np.round(window * 64).astype(int)
    outside = np.ones((64, 64), bool)
    outside[y0:y1, x0:x1] = False
    assert (image[outside] == detection_ops.LETTERBOX_FILL).all()
    # Predictions map back to the original pixels through image_window and orig_size.
    back = _to_source_pixels(out["boxes"][0], window, out["orig_size"])
    np.testing.assert_allclose(back, rect, atol=1e-3)
    assert out["orig_size"].tolist() == [h, w]


def test_letterbox_is_deterministic():
    raw = _raw(30, 50, [(3, 4, 20, 30)])
    a, b = (
        _run("decode_detection|letterbox(32)", raw, 0),
        _run("decode_detection|letterbox(32)", raw, 9),
    )
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["boxes"], b["boxes"])


def test_resize_keeps_boxes_and_window():
    raw = _raw(30, 50, [(3, 5, 21, 30)])
    out = _run("decode_detection|resize(60, 25)", raw)
    assert out["image"].shape == (60, 25, 3)
    np.testing.assert_allclose(
        _pixels(out["boxes"][0], out["image"]), _measured_box(out["image"]), atol=EDGE_TOLERANCE_PX
    )
    assert out["image_window"].tolist() == [0, 0, 1, 1]


def test_center_crop_and_pad_random_crop_move_boxes():
    raw = _raw(20, 20, [(6, 7, 14, 15)])
    out = _run("decode_detection|center_crop(10)", raw)
    np.testing.assert_allclose(_pixels(out["boxes"][0], out["image"]), [1, 2, 9, 10], atol=1e-5)
    for seed in range(5):
        out = _run("decode_detection|pad_random_crop(20, 4)", raw, seed)
        np.testing.assert_allclose(
            _pixels(out["boxes"][0], out["image"]), _measured_box(out["image"]), atol=1e-4
        )


def test_crop_moves_segmentation_mask_with_image():
    image = np.zeros((40, 40, 3), np.uint8)
    image[5:30, 10:35] = 255
    mask = (image[..., :1] > 0).astype(np.uint8) * 2  # [40, 40, 1]
    spec = "random_resized_crop(24)|flip_lr"
    for seed in range(5):
        out = _run(spec, {"image": image, "segmentation_mask": mask}, seed)
        assert out["segmentation_mask"].shape == (24, 24, 1)
        agree = (out["segmentation_mask"][..., 0] == 2) == (out["image"][..., 0] > 127)
        assert agree.mean() > 0.9


def test_zero_object_image_through_every_op():
    raw = {
        "image": np.full((30, 40, 3), 9, np.uint8),
        "objects": {"bbox": np.zeros((0,), np.float64), "label": np.zeros((0,), np.float64)},
    }
    spec = (
        "decode_detection|random_resized_crop(32)|scale_jitter(32)|flip_lr(1.0)|"
        "letterbox(24)|pad_boxes(5)"
    )
    out = _run(spec, raw)
    assert out["boxes"].shape == (5, 4) and not out["boxes"].any()
    assert out["labels"].tolist() == [-1] * 5
    assert not out["box_mask"].any() and not out["box_ignore"].any()
    assert int(out["num_dropped_boxes"]) == 0
    assert out["image"].shape == (24, 24, 3)


def test_pad_boxes_shapes_dtypes_and_truncation():
    rects = [(i, i, i + 5, i + 5) for i in range(7)]
    raw = _raw(20, 20, rects, labels=[3, 1, 4, 1, 5, 9, 2])
    raw["objects"]["is_crowd"] = np.array([0, 1, 0, 0, 0, 0, 1], bool)
    out = _run("decode_detection|pad_boxes(4)", raw)
    expected = {
        "boxes": ((4, 4), np.float32),
        "labels": ((4,), np.int32),
        "box_mask": ((4,), np.bool_),
        "box_ignore": ((4,), np.bool_),
        "orig_size": ((2,), np.int32),
        "image_window": ((4,), np.float32),
        "num_dropped_boxes": ((), np.int32),
    }
    for key, (shape, dtype) in expected.items():
        value = np.asarray(out[key])
        assert value.shape == shape and value.dtype == dtype, key
    assert out["labels"].tolist() == [3, 1, 4, 1]
    assert out["box_ignore"].tolist() == [False, True, False, False]
    assert out["box_mask"].all()
    assert int(out["num_dropped_boxes"]) == 3  # Truncated.
    padded = _run("decode_detection|pad_boxes(9)", raw)
    assert padded["box_mask"].tolist() == [True] * 7 + [False] * 2
    assert padded["labels"][7:].tolist() == [-1, -1] and not padded["boxes"][7:].any()


def test_geometric_op_after_pad_boxes_raises():
    raw = _raw(20, 20, [(1, 1, 9, 9)])
    with pytest.raises(ValueError, match="before pad_boxes"):
        _run("decode_detection|pad_boxes(3)|flip_lr(1.0)", raw)


def test_pad_boxes_without_decode_raises():
    with pytest.raises(ValueError, match="decode_detection"):
        _run("pad_boxes(3)", {"image": np.zeros((4, 4, 3), np.uint8)})


@pytest.mark.parametrize(
    "spec", ["scale_jitter(0)", "scale_jitter(8, 2.0, 1.0)", "letterbox(0)", "pad_boxes(0)"]
)
def test_bad_arguments_raise(spec):
    with pytest.raises(ValueError):
        preprocess.build(spec)


def test_random_detection_ops_deterministic_per_seed():
    raw = _raw(40, 50, [(5, 5, 30, 30), (20, 25, 38, 48)])
    spec = "decode_detection|scale_jitter(32)|random_resized_crop(32)|flip_lr|pad_boxes(4)"
    outs = [_run(spec, raw, seed) for seed in (3, 3, 4)]
    for key in ("image", "boxes", "labels", "image_window"):
        np.testing.assert_array_equal(outs[0][key], outs[1][key])
    assert not np.array_equal(outs[0]["image"], outs[2]["image"])
