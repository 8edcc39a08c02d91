"""Tests of the op registry, the spec-string parser, ``build`` and the package's imports."""

import subprocess
import sys

import numpy as np
import pytest

from jaxvision.data import preprocess
from jaxvision.data.preprocess import registry
from tests.data.preprocess.images import apply_op, coords, noise

ALL_OPS = {
    "resize",
    "resize_small",
    "center_crop",
    "resize_center_crop",
    "flip_lr",
    "pad_random_crop",
    "random_resized_crop",
    "decode_detection",
    "scale_jitter",
    "letterbox",
    "pad_boxes",
}


def _raw_detection(num_objects, height=20, width=30):
    """A raw TFDS-style detection example with ``num_objects`` boxes."""
    boxes = np.array([[0.1 * i, 0.1, 0.1 * i + 0.3, 0.6] for i in range(num_objects)])
    return {
        "image": np.zeros((height, width, 3), np.uint8),
        "objects": {"bbox": boxes.reshape(-1, 4), "label": list(range(num_objects))},
    }


def test_registered_ops():
    expected = {
        "resize",
        "resize_small",
        "center_crop",
        "resize_center_crop",
        "flip_lr",
        "pad_random_crop",
        "random_resized_crop",
    }
    assert expected <= set(preprocess.registered_ops())
    assert preprocess.registered_ops() == sorted(preprocess.registered_ops())


def test_register_twice_raises():
    with pytest.raises(ValueError, match="registered twice"):
        preprocess.register("resize")(lambda: None)


def test_spec_parsing_args_and_kwargs():
    image = noise(30, 30)
    out = apply_op(preprocess.build("resize(8, width=6)"), image)["image"]
    assert out.shape == (8, 6, 3)
    out = apply_op(preprocess.build("resize(height=5)"), image)["image"]
    assert out.shape == (5, 5, 3)
    out = apply_op(preprocess.build("pad_random_crop(size=20, pad=0)"), image)["image"]
    assert out.shape == (20, 20, 3)
    # Tuples and floats as literal arguments.
    out = apply_op(
        preprocess.build("random_resized_crop(7, scale=(0.5, 1.0), ratio=(1.0, 1.0))"), image
    )
    assert out["image"].shape == (7, 7, 3)


def test_spec_composes_left_to_right_and_ignores_whitespace():
    image = coords(10, 12)
    out = apply_op(preprocess.build("  center_crop(4, 6) |  flip_lr(1.0)  "), image)["image"]
    np.testing.assert_array_equal(out, image[3:7, 3:9][:, ::-1])
    out = apply_op(preprocess.build("flip_lr(probability=1.0)|center_crop(4, 5)"), image)["image"]
    # Flipped first: columns 11..0, then the centre (left = (12 - 5) // 2 = 3): 8, 7, 6, 5, 4.
    assert out[0, :, 1].tolist() == [8, 7, 6, 5, 4]


@pytest.mark.parametrize("spec", ["", "   ", "|", " | "])
def test_empty_spec_is_identity(spec):
    image = noise(5, 5)
    out = apply_op(preprocess.build(spec), image, label=1)
    np.testing.assert_array_equal(out["image"], image)
    assert out["label"] == 1


def test_unknown_op_lists_registered_ops():
    with pytest.raises(ValueError, match="unknown preprocessing op 'rotate'") as info:
        preprocess.build("resize(8)|rotate(30)")
    message = str(info.value)
    for name in preprocess.registered_ops():
        assert repr(name) in message


@pytest.mark.parametrize(
    "spec",
    [
        "resize(8",
        "resize(8))",
        "resize 8",
        "resize(8)(2)",
        "np.flip(1)",
        "1 + 2",
        "resize(height)",
        "resize([8][0])",
    ],
)
def test_bad_syntax_raises_value_error(spec):
    with pytest.raises(ValueError):
        preprocess.build(spec)


def test_built_op_has_no_hidden_state():
    # One built op used on many examples gives the same result as building it afresh.
    op = preprocess.build("random_resized_crop(6)|flip_lr")
    image = noise(20, 20)
    first = [apply_op(op, image, seed)["image"] for seed in range(3)]
    second = [
        apply_op(preprocess.build("random_resized_crop(6)|flip_lr"), image, s)["image"]
        for s in range(3)
    ]
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_detection_ops_registered():
    assert {"decode_detection", "scale_jitter", "letterbox", "pad_boxes"} <= set(
        preprocess.registered_ops()
    )


@pytest.mark.parametrize(
    "modules",
    [
        ("jaxvision.data.preprocess.detection_ops",),
        ("jaxvision.data.preprocess.image_ops",),
        ("jaxvision.data.preprocess.geometry",),
        ("jaxvision.data.preprocess.registry", "jaxvision.data.preprocess.detection_ops"),
        ("jaxvision.data.pipeline",),
    ],
)
def test_any_first_import_registers_every_op(modules):
    """A fresh interpreter: whichever module comes first, no cycle and every op registered."""
    code = "; ".join(
        [*(f"import {m}" for m in modules)]
        + [
            "from jaxvision.data.preprocess import registry",
            f"missing = {sorted(ALL_OPS)!r}",
            "missing = sorted(set(missing) - set(registry.registered_ops()))",
            "assert not missing, missing",
        ]
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_package_reexports_the_public_names():
    from jaxvision.data.preprocess import detection_ops, geometry, image_ops

    assert preprocess.build is registry.build and preprocess.register is registry.register
    assert preprocess.registered_ops is registry.registered_ops
    assert preprocess.Op is registry.Op and preprocess.Features is registry.Features
    assert preprocess.resize_features is geometry.resize_features
    assert preprocess.crop_features is geometry.crop_features
    assert preprocess.flip_features is geometry.flip_features
    assert preprocess.sample_crop_window is image_ops.sample_crop_window
    assert preprocess.pad_boxes is detection_ops.pad_boxes
    assert preprocess.DROPPED_KEY == "num_dropped_boxes"
    assert preprocess.PER_BOX_KEYS == ("boxes", "labels", "box_ignore")
    assert preprocess.MIN_VISIBLE_FRACTION == geometry.MIN_VISIBLE_FRACTION
    assert set(preprocess.__all__) <= set(dir(preprocess))


def test_parse_call():
    assert registry.parse_call(" flip_lr ") == ("flip_lr", (), {})
    assert registry.parse_call("resize(8, width=6)") == ("resize", (8,), {"width": 6})
    assert registry.parse_call("random_resized_crop(7, scale=(0.5, 1.0))") == (
        "random_resized_crop",
        (7,),
        {"scale": (0.5, 1.0)},
    )


@pytest.mark.parametrize("num_objects", [0, 2, 5])
def test_build_with_max_boxes_pads_the_targets(num_objects):
    max_boxes = 3
    out = preprocess.build("decode_detection|letterbox(16)", max_boxes=max_boxes)(
        _raw_detection(num_objects), np.random.default_rng(0)
    )
    kept = min(num_objects, max_boxes)
    assert out["boxes"].shape == (max_boxes, 4) and out["boxes"].dtype == np.float32
    assert out["labels"].shape == (max_boxes,) and out["labels"].dtype == np.int32
    assert out["box_mask"].tolist() == [True] * kept + [False] * (max_boxes - kept)
    assert out["labels"].tolist() == list(range(kept)) + [-1] * (max_boxes - kept)
    assert int(out["num_dropped_boxes"]) == num_objects - kept
    # The same as writing pad_boxes at the end of the spec by hand.
    by_hand = preprocess.build(f"decode_detection|letterbox(16)|pad_boxes({max_boxes})")(
        _raw_detection(num_objects), np.random.default_rng(0)
    )
    assert out.keys() == by_hand.keys()
    for key in out:
        np.testing.assert_array_equal(out[key], by_hand[key])


def test_build_with_max_boxes_pads_after_every_op():
    # Padding last: the random geometric ops still see unpadded boxes.
    spec = "decode_detection|scale_jitter(16)|random_resized_crop(16)|flip_lr(1.0)"
    out = preprocess.build(spec, max_boxes=4)(_raw_detection(2), np.random.default_rng(1))
    assert out["boxes"].shape == (4, 4) and out["box_mask"].shape == (4,)
    assert not out["box_mask"][2:].any()


@pytest.mark.parametrize(
    "spec", ["decode_detection|letterbox(16)|pad_boxes(3)", " pad_boxes ( 7 ) | flip_lr"]
)
def test_build_refuses_pad_boxes_in_the_spec_with_max_boxes(spec):
    with pytest.raises(ValueError, match=r"detection\.max_boxes.*must not contain pad_boxes"):
        preprocess.build(spec, max_boxes=3)


def test_build_with_bad_max_boxes_raises():
    with pytest.raises(ValueError, match="max_boxes > 0"):
        preprocess.build("decode_detection", max_boxes=0)


def test_build_with_max_boxes_needs_detection_features():
    with pytest.raises(ValueError, match="decode_detection"):
        preprocess.build("resize(4)", max_boxes=2)(
            {"image": np.zeros((8, 8, 3), np.uint8)}, np.random.default_rng(0)
        )


def test_build_without_max_boxes_adds_no_padding():
    out = preprocess.build("decode_detection")(_raw_detection(2), np.random.default_rng(0))
    assert out["boxes"].shape == (2, 4) and "box_mask" not in out
