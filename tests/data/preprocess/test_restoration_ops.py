"""Tests of the restoration ops: to_rgb, random crops of images and pairs, rot90, canvases."""

import numpy as np
import pytest

from jaxvision.data import preprocess
from jaxvision.data.preprocess import restoration_ops
from tests.data.preprocess.images import apply_op, coords, noise

SEEDS = range(40)


def _downsample(target, scale):
    """The block mean of ``target``: an input that corresponds pixel for pixel at ``scale``."""
    h, w, c = target.shape
    blocks = target.reshape(h // scale, scale, w // scale, scale, c).astype(np.float64)
    return blocks.mean(axis=(1, 3))  # [h / scale, w / scale, c]


def _pair(height, width, scale, seed=0):
    """A float64 target [height, width, 3] (row, column, noise) and its exact input.

    The input is the block mean of the target cut down to a multiple of ``scale``, so
    input pixel (i, j) shows the same place as target pixels (i * scale .. + scale - 1,
    j * scale .. + scale - 1).
    """
    target = coords(height, width).astype(np.float64)
    target[..., 2] = noise(height, width, seed)[..., 0]
    cut = target[: height // scale * scale, : width // scale * scale]
    return {"input": _downsample(cut, scale), "target": target}


def _run(spec, features, seed=0):
    return preprocess.build(spec)(dict(features), np.random.default_rng(seed))


def test_ops_are_registered_and_exported():
    names = {"to_rgb", "random_crop", "paired_random_crop", "rot90", "pad_to_canvas", "rename"}
    assert names <= set(preprocess.registered_ops())
    for name in names:
        assert getattr(preprocess, name) is getattr(restoration_ops, name)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((4, 5), (4, 5, 3)), ((4, 5, 1), (4, 5, 3)), ((4, 5, 3), (4, 5, 3)), ((4, 5, 4), (4, 5, 3))],
)
def test_to_rgb_shapes(shape, expected):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = _run("to_rgb", {"image": image, "label": 2})
    assert out["image"].shape == expected and out["image"].dtype == np.uint8
    assert out["label"] == 2
    grey = image.reshape(4, 5, -1)
    if grey.shape[-1] == 1:
        assert (out["image"] == grey).all()  # Repeated over the channels.
    else:
        np.testing.assert_array_equal(out["image"], grey[..., :3])  # Alpha dropped.


def test_to_rgb_converts_a_pair_and_rejects_other_shapes():
    pair = {"input": np.zeros((2, 3), np.uint8), "target": np.zeros((4, 6, 4), np.uint8)}
    out = _run("to_rgb", pair)
    assert out["input"].shape == (2, 3, 3) and out["target"].shape == (4, 6, 3)
    with pytest.raises(ValueError, match=r"\(2, 3, 2\)"):
        _run("to_rgb", {"image": np.zeros((2, 3, 2), np.uint8)})


def test_random_crop_takes_a_window():
    image = coords(40, 50)
    corners = set()
    for seed in SEEDS:
        out = _run("random_crop(16)", {"image": image, "name": "x"}, seed)
        patch = out["image"]
        assert patch.shape == (16, 16, 3) and out["name"] == "x"
        top, left = int(patch[0, 0, 0]), int(patch[0, 0, 1])
        np.testing.assert_array_equal(patch, image[top : top + 16, left : left + 16])
        corners.add((top, left))
    assert len(corners) > 10  # Random places.
    again = _run("random_crop(16)", {"image": image}, 3)["image"]
    np.testing.assert_array_equal(again, _run("random_crop(16)", {"image": image}, 3)["image"])


def test_random_crop_reflect_pads_a_small_image():
    image = coords(3, 9)
    out = _run("random_crop(5)", {"image": image}, 0)["image"]
    assert out.shape == (5, 5, 3)
    # Rows 3 and 4 reflect rows 1 and 0 (the edge row is not repeated).
    assert out[:, 0, 0].tolist() == [0, 1, 2, 1, 0]
    left = int(out[0, 0, 1])
    assert out[0, :, 1].tolist() == list(range(left, left + 5))


def test_random_crop_refuses_pairs_and_boxes():
    with pytest.raises(ValueError, match="paired_random_crop|input"):
        _run("random_crop(4)", {"image": noise(8, 8), "input": noise(8, 8)})
    with pytest.raises(ValueError, match="boxes"):
        _run("random_crop(4)", {"image": noise(8, 8), "boxes": np.zeros((0, 4))})
    with pytest.raises(ValueError, match="size"):
        restoration_ops.random_crop(0)


@pytest.mark.parametrize(("scale", "height", "width"), [(1, 30, 40), (2, 30, 40), (4, 34, 51)])
def test_paired_random_crop_patches_correspond(scale, height, width):
    pair = _pair(height, width, scale)
    corners = set()
    for seed in SEEDS:
        out = _run(f"paired_random_crop(16, scale={scale})", pair, seed)
        assert out["target"].shape == (16, 16, 3)
        assert out["input"].shape == (16 // scale, 16 // scale, 3)
        np.testing.assert_allclose(out["input"], _downsample(out["target"], scale))
        # The target patch is a window of the cropped-down target, on the scale grid.
        top, left = int(out["target"][0, 0, 0]), int(out["target"][0, 0, 1])
        assert top % scale == 0 and left % scale == 0
        assert top + 16 <= height // scale * scale and left + 16 <= width // scale * scale
        np.testing.assert_array_equal(
            out["target"], pair["target"][top : top + 16, left : left + 16]
        )
        corners.add((top, left))
    assert len(corners) > 10


def test_paired_random_crop_errors_name_the_shapes():
    pair = {"input": np.zeros((10, 10, 3)), "target": np.zeros((40, 44, 3))}
    with pytest.raises(ValueError, match=r"\(10, 10, 3\).*\(40, 44, 3\)"):
        _run("paired_random_crop(8, scale=4)", pair)
    small = {"input": np.zeros((3, 8, 3)), "target": np.zeros((12, 32, 3))}
    with pytest.raises(ValueError, match="smaller"):
        _run("paired_random_crop(16, scale=4)", small)
    with pytest.raises(ValueError, match="lacks"):
        _run("paired_random_crop(8)", {"target": np.zeros((8, 8, 3))})
    with pytest.raises(ValueError, match="multiple of scale"):
        restoration_ops.paired_random_crop(10, scale=4)


def test_flip_and_rot90_keep_pairs_aligned():
    for seed in SEEDS:
        out = _run("paired_random_crop(16, scale=4)|flip_lr|rot90", _pair(32, 48, 4), seed)
        np.testing.assert_allclose(out["input"], _downsample(out["target"], 4))
    # A crop of the whole target: the only randomness left is the 8 symmetries.
    variants = set()
    for seed in range(80):
        out = _run("paired_random_crop(16, scale=4)|flip_lr|rot90", _pair(16, 16, 4), seed)
        np.testing.assert_allclose(out["input"], _downsample(out["target"], 4))
        variants.add(out["target"].tobytes())
    assert len(variants) == 8


def test_flip_lr_moves_input_and_target():
    pair = {"input": coords(2, 3), "target": coords(4, 6), "name": "a"}
    out = _run("flip_lr(1.0)", pair)
    np.testing.assert_array_equal(out["input"], pair["input"][:, ::-1])
    np.testing.assert_array_equal(out["target"], pair["target"][:, ::-1])
    assert "image" not in out and out["name"] == "a"
    with_image = _run("flip_lr(1.0)", {**pair, "image": coords(3, 3)})
    np.testing.assert_array_equal(with_image["image"], coords(3, 3)[:, ::-1])


def test_rot90():
    image = coords(4, 6)
    for k in range(4):
        out = apply_op(restoration_ops.rot90(k), image, name="n")
        np.testing.assert_array_equal(out["image"], np.rot90(image, k))
        assert out["name"] == "n"
    drawn = {_run("rot90", {"image": image}, seed)["image"].tobytes() for seed in SEEDS}
    assert drawn == {np.ascontiguousarray(np.rot90(image, k)).tobytes() for k in range(4)}
    pair = _run("rot90(3)", {"input": coords(2, 3), "target": coords(4, 6)})
    np.testing.assert_array_equal(pair["input"], np.rot90(coords(2, 3), 3))
    np.testing.assert_array_equal(pair["target"], np.rot90(coords(4, 6), 3))
    with pytest.raises(ValueError, match="bbox"):
        _run("rot90(1)", {"image": image, "bbox": np.zeros(4)})


def test_pad_to_canvas_image():
    image = noise(5, 7)
    out = _run("pad_to_canvas(8, 10)", {"image": image, "index": 3})
    assert out["image"].shape == (8, 10, 3) and out["image"].dtype == np.uint8
    assert out["image_size"].dtype == np.int32 and out["image_size"].tolist() == [5, 7]
    np.testing.assert_array_equal(out["image"][:5, :7], image)
    np.testing.assert_array_equal(out["image"][5:8, :7], image[3:0:-1])  # Reflected rows.
    np.testing.assert_array_equal(out["image"][:5, 7:10], image[:, 5:2:-1])
    assert out["index"] == 3
    same = _run("pad_to_canvas(5, 7)", {"image": image})
    np.testing.assert_array_equal(same["image"], image)
    tiny = _run("pad_to_canvas(6)", {"image": noise(1, 2)})
    assert tiny["image"].shape == (6, 6, 3) and tiny["image_size"].tolist() == [1, 2]


def test_pad_to_canvas_image_with_scale_crops_down():
    out = _run("pad_to_canvas(16, 16, scale=4)", {"image": noise(10, 15)})
    assert out["image_size"].tolist() == [8, 12]
    np.testing.assert_array_equal(out["image"][:8, :12], noise(10, 15)[:8, :12])


def test_pad_to_canvas_pair():
    pair = _pair(34, 51, 4)  # The target is cropped down to 32 x 48.
    out = _run("pad_to_canvas(40, 64, scale=4)", pair)
    assert out["target"].shape == (40, 64, 3) and out["input"].shape == (10, 16, 3)
    assert out["image_size"].tolist() == [32, 48]
    np.testing.assert_array_equal(out["target"][:32, :48], pair["target"][:32, :48])
    np.testing.assert_array_equal(out["input"][:8, :12], pair["input"])
    np.testing.assert_array_equal(out["input"][8:, :12], pair["input"][6:4:-1])  # Reflected.


def test_pad_to_canvas_errors():
    with pytest.raises(ValueError, match=r"\(9, 7\).*\(8, 10\)"):
        _run("pad_to_canvas(8, 10)", {"image": noise(9, 7)})
    with pytest.raises(ValueError, match=r"\(64, 32\).*\(32, 64\)"):
        _run("pad_to_canvas(32, 64, scale=4)", _pair(64, 32, 4))
    with pytest.raises(ValueError, match="match"):
        _run("pad_to_canvas(64, scale=2)", {"input": noise(4, 4), "target": noise(16, 16)})
    with pytest.raises(ValueError, match="multiple of scale"):
        restoration_ops.pad_to_canvas(30, 32, scale=4)


def test_rename():
    fn = preprocess.build("rename(lr='input', hr='target')|paired_random_crop(8, scale=2)")
    out = fn({"lr": noise(8, 8), "hr": noise(16, 16), "id": 1}, np.random.default_rng(0))
    assert sorted(out) == ["id", "input", "target"]
    swapped = _run("rename(a='b', b='a')", {"a": 1, "b": 2})
    assert swapped == {"a": 2, "b": 1}
    with pytest.raises(ValueError, match=r"\['lr'\].*\['hr'\]"):
        _run("rename(lr='input')", {"hr": 1})
    with pytest.raises(ValueError, match="exist already"):
        _run("rename(lr='input')", {"lr": 1, "input": 2})
    with pytest.raises(ValueError, match="distinct"):
        restoration_ops.rename(a="x", b="x")
    with pytest.raises(ValueError, match="distinct"):
        restoration_ops.rename()
