"""Class maps and instance masks stay aligned with the image through every geometric op;
decode_segmentation maps each dataset's raw ids."""

from __future__ import annotations

import numpy as np
import pytest

from jaxvision.data import preprocess
from jaxvision.data.preprocess.geometry import SEGMENTATION_IGNORE, resize_nearest

H, W = 40, 52
# (label, row slice, col slice) of the rectangles, and the disc's label, centre and radius.
RECTS = ((2, slice(4, 16), slice(5, 21)), (5, slice(20, 36), slice(30, 49)))
DISC = (0, (28, 12), 7)
MARGIN = 2  # pixels a blended (bilinear) image edge may spread to


def _colour(class_id):
    return 30 * (class_id + 1)  # background (class 0) is 30; padding stays 0


def _scene():
    """A raw detection + segmentation example whose channel 0 says each pixel's class."""
    seg = np.zeros((H, W), np.uint8)
    ids = np.zeros((H, W), np.uint8)
    for i, (label, rows, cols) in enumerate(RECTS):
        seg[rows, cols], ids[rows, cols] = label + 1, i + 1
    label, (cy, cx), r = DISC
    yy, xx = np.mgrid[:H, :W]
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    seg[disc], ids[disc] = label + 1, len(RECTS) + 1
    masks = [ids == i + 1 for i in range(len(RECTS) + 1)]
    boxes = []
    for m in masks:
        r_, c_ = np.nonzero(m)
        boxes.append([r_.min() / H, c_.min() / W, (r_.max() + 1) / H, (c_.max() + 1) / W])
    image = np.stack([_colour(seg), np.full_like(seg, 90), 255 - 20 * ids], -1).astype(np.uint8)
    objects = {"bbox": np.array(boxes, np.float32), "label": [2, 5, 0]}
    return {"image": image, "objects": objects, "segmentation_mask": seg[..., None],
            "instance_map": ids[..., None]}  # fmt: skip


def _interior(labels, margin=MARGIN):
    """[h, w] bool: pixels whose (2 margin + 1)^2 neighbourhood holds one label."""
    h, w = labels.shape
    same = np.zeros((h, w), bool)
    padded = np.pad(labels.astype(np.int64), margin, constant_values=-1)
    same[:] = True
    for dy in range(2 * margin + 1):
        for dx in range(2 * margin + 1):
            same &= padded[dy : dy + h, dx : dx + w] == labels
    return same


def _check_class_map_follows_the_pixels(out):
    seg = out["segmentation_mask"][..., 0]
    assert seg.shape == out["image"].shape[:2] and seg.dtype == np.uint8
    inside = _interior(seg)
    red = out["image"][..., 0].astype(np.int64)
    labelled = inside & (seg != SEGMENTATION_IGNORE)
    np.testing.assert_allclose(red[labelled], _colour(seg[labelled].astype(np.int64)), atol=3)
    padded = inside & (seg == SEGMENTATION_IGNORE)
    assert np.all(red[padded] == 0)  # padding: image fill 0, label 255
    return seg


SPECS = (
    "decode_detection|flip_lr|scale_jitter(48, 0.5, 1.5)",
    "decode_detection|random_resized_crop(40, (0.3, 1.0))|flip_lr",
    "decode_detection|letterbox(64, fill=0)",
    "decode_detection|random_crop_pad(30, 60)|resize(45, 37)",
    "decode_detection|pad_random_crop(40, 8)|center_crop(32)",
)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_masks_and_boxes_move_with_the_image(spec, seed):
    out = preprocess.build(spec, max_boxes=5)(_scene(), np.random.default_rng(seed))
    seg = _check_class_map_follows_the_pixels(out)
    masks, real = out["instance_masks"], out["box_mask"]
    assert masks.shape == (5, *seg.shape) and masks.dtype == bool
    assert not masks[~real].any()  # padding rows hold no pixel
    h, w = seg.shape
    for mask, label, box in zip(masks[real], out["labels"][real], out["boxes"][real], strict=True):
        # Each object's mask is exactly where the class map shows its class ...
        assert np.all(seg[mask] == label + 1)
        # ... and its box is the tight box around it (to a resampled pixel).
        if mask.any():
            rows, cols = np.nonzero(mask)
            tight = [rows.min() / h, cols.min() / w, (rows.max() + 1) / h, (cols.max() + 1) / w]
            scale = max(1.0, H / h, W / w)
            np.testing.assert_allclose(box, tight, atol=1.5 * scale / min(h, w))
    dropped = int(out["num_dropped_boxes"])
    assert int(real.sum()) + dropped == 3


def test_semantic_only_examples_through_decode_segmentation():
    raw = _scene()
    del raw["objects"], raw["instance_map"]
    spec = "decode_segmentation('jaxvision_shapes')|scale_jitter(32, 0.6, 1.4)|flip_lr"
    for seed in range(4):
        out = preprocess.build(spec)(dict(raw), np.random.default_rng(seed))
        assert out["image"].shape == (32, 32, 3)
        _check_class_map_follows_the_pixels(out)


def test_decode_segmentation_maps_each_schema_and_refuses_bad_maps():
    ids = np.array([[0, 1, 2, 3]], np.uint8)
    image = np.zeros((1, 4, 3), np.uint8)

    def run(schema, **raw):
        return preprocess.build(f"decode_segmentation({schema!r})")(raw, None)["segmentation_mask"]

    pet = run("oxford_iiit_pet", image=image, segmentation_mask=ids[..., None], file_name="x.jpg")
    assert pet[..., 0].tolist() == [[255, 1, 0, 255]]  # 1 pet, 2 background, 3 border
    city = run("cityscapes", image_left=image, segmentation_label=np.array([[7, 24, 33, 4]]))
    assert city[..., 0].tolist() == [[0, 11, 18, 255]]  # road, person, bicycle, static
    ade = run("scene_parse150", image=image, annotation=np.repeat(ids[..., None], 3, -1))
    assert ade[..., 0].tolist() == [[255, 0, 1, 2]]
    with pytest.raises(ValueError, match="label 9 is outside the 9 classes"):
        run("jaxvision_shapes", image=image, segmentation_mask=np.array([[0, 9, 255, 1]]))
    with pytest.raises(ValueError, match="differs from its image.*x.jpg"):
        run("oxford_iiit_pet", image=image[:, :3], segmentation_mask=ids, file_name="x.jpg")
    with pytest.raises(ValueError, match="unknown segmentation schema"):
        preprocess.build("decode_segmentation('voc')")


def test_resize_nearest_takes_the_pixel_under_each_centre():
    labels = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(resize_nearest(labels, 3, 4), labels)
    assert resize_nearest(labels, 6, 2).tolist() == [[1, 3], [1, 3], [5, 7], [5, 7], [9, 11]] + [
        [9, 11]
    ]
    masks = np.stack([labels == 5, labels == 6])  # [n, h, w] along axes 1, 2
    assert resize_nearest(masks, 6, 8, axes=(1, 2)).sum(axis=(1, 2)).tolist() == [4, 4]
