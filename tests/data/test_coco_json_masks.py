"""Instance masks of the COCO-format JSON source: polygons and RLE on small generated folders,
the dropped short polygons, and the masks through ``decode_detection`` and the Mask R-CNN
train pipeline."""

import json
import logging

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from jaxvision.data import coco_json, pipeline, preprocess
from jaxvision.data.sources import open_split
from tests.data.test_coco_json import _ann, _write

H, W = 20, 30
JSON_NAME = "instances_train.json"  # the official layout's file for split "train"


def _rect(y0, x0, y1, x1):
    """The pixels [y0:y1, x0:x1] of an H x W image, as a bool mask."""
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def _rect_polygon(y0, x0, y1, x1):
    """A COCO polygon part around the pixels [y0:y1, x0:x1] (pycocotools fills exactly them)."""
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def _uncompressed_rle(mask):
    """COCO's uncompressed RLE of a bool mask, computed here: run lengths of the column-major
    pixels, the first run background."""
    flat = np.asarray(mask, np.uint8).ravel(order="F")
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    return {"counts": ([0] if flat[0] else []) + runs, "size": list(mask.shape)}


def _with_seg(ann_id, segmentation, bbox=(0, 0, 5, 5), category_id=7, iscrowd=0):
    return {**_ann(ann_id, 10, category_id, list(bbox), iscrowd), "segmentation": segmentation}


def _disk():
    yy, xx = np.mgrid[:H, :W]
    return (yy - 12) ** 2 + (xx - 22) ** 2 <= 16


def _write_masks(root, anns):
    """An official-layout folder: a.png (H x W, id 10) with ``anns``, b.png (id 20) with none."""
    images = {"a.png": np.zeros((H, W, 3), np.uint8), "b.png": np.zeros((8, 8, 3), np.uint8)}
    _write(str(root), "train", images, anns)


def _four_kinds():
    """A polygon, a two-part polygon, an uncompressed (crowd) and a compressed RLE; the first
    and third overlap. Returns (annotations, the expected masks [4, H, W])."""
    compressed = mask_utils.encode(np.asfortranarray(_disk().astype(np.uint8)))
    compressed["counts"] = compressed["counts"].decode("ascii")  # as JSON holds it
    crowd = _rect(5, 8, 15, 18)
    anns = [
        _with_seg(1, [_rect_polygon(2, 3, 9, 13)], bbox=(3, 2, 10, 7)),
        _with_seg(
            2, [_rect_polygon(2, 16, 6, 20), _rect_polygon(10, 22, 15, 27)], (16, 2, 11, 13), 2
        ),
        _with_seg(3, _uncompressed_rle(crowd), bbox=(8, 5, 10, 10), iscrowd=1),
        _with_seg(4, compressed, bbox=(18, 8, 9, 9), category_id=11),
    ]
    expected = np.stack(
        [_rect(2, 3, 9, 13), _rect(2, 16, 6, 20) | _rect(10, 22, 15, 27), crowd, _disk()]
    )
    return anns, expected


def test_polygons_and_rles_decode_to_their_pixels(tmp_path):
    anns, expected = _four_kinds()
    _write_masks(tmp_path, anns)
    source = coco_json.CocoJsonSource(str(tmp_path), "train")
    objects = source[0]["objects"]
    masks = objects["mask"]
    assert masks.dtype == bool and masks.shape == (4, H, W)
    np.testing.assert_array_equal(masks, expected)
    # The polygons agree with pycocotools' own rasterisation of the raw annotations.
    for i in (0, 1):
        rle = mask_utils.merge(mask_utils.frPyObjects(anns[i]["segmentation"], H, W))
        np.testing.assert_array_equal(masks[i], mask_utils.decode(rle) > 0)
    assert (masks[0] & masks[2]).sum() == 4 * 5  # each overlapping object keeps the overlap
    assert objects["label"].tolist() == [1, 0, 1, 2] and objects["is_crowd"][2]
    assert source[1]["objects"]["mask"].shape == (0, 8, 8)  # no objects
    assert source.dropped_polygons == source.dropped_objects == 0


def test_short_polygons_are_dropped_and_counted(tmp_path, caplog):
    anns = [
        _with_seg(1, [_rect_polygon(2, 3, 9, 13), [1, 1, 2, 2]]),  # one part of two dropped
        _with_seg(2, [[1, 1, 2, 2]]),  # its only part dropped: the object goes
        _with_seg(3, [[0, 0, 4, 0], [1, 1]]),  # two parts, both dropped
        _with_seg(4, []),  # no segmentation in a file with segmentations
        _with_seg(5, [[0, 0, 4, 0, 4, 4]], category_id=2),  # a triangle: 3 points are enough
    ]
    _write_masks(tmp_path, anns)
    with caplog.at_level(logging.WARNING):
        source = coco_json.CocoJsonSource(str(tmp_path), "train")
    assert source.dropped_polygons == 4 and source.dropped_objects == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert JSON_NAME in warnings[0] and "dropped 4 COCO polygon parts" in warnings[0]
    objects = source[0]["objects"]
    assert objects["id"].tolist() == [1, 5] and objects["label"].tolist() == [1, 0]
    np.testing.assert_array_equal(objects["mask"][0], _rect(2, 3, 9, 13))
    assert objects["mask"][1].any()


def test_file_without_segmentations_keeps_its_output(tmp_path, caplog):
    anns = [
        {**_ann(i, 10, 7, [3, 2, 10, 7]), "segmentation": seg} for i, seg in ((1, []), (2, [[]]))
    ]
    _write_masks(tmp_path, anns)
    with caplog.at_level(logging.WARNING):
        source = coco_json.CocoJsonSource(str(tmp_path), "train")
    assert not caplog.records
    objects = source[0]["objects"]
    assert set(objects) == {"bbox", "label", "is_crowd", "area", "id"}
    assert objects["id"].tolist() == [1, 2]  # nothing dropped
    assert source.dropped_polygons == source.dropped_objects == 0


def test_rle_of_another_size_names_file_and_annotation(tmp_path):
    rle = _uncompressed_rle(np.ones((10, 10), bool))
    _write_masks(tmp_path, [_with_seg(7, rle)])
    with pytest.raises(ValueError, match=rf"{JSON_NAME}: annotation 7 .*size \[10, 10\]"):
        coco_json.CocoJsonSource(str(tmp_path), "train")
    # Without height / width in the JSON the decoded image's size is checked on access.
    json_path = tmp_path / "annotations" / JSON_NAME
    data = json.loads(json_path.read_text())
    for image in data["images"]:
        del image["height"], image["width"]
    json_path.write_text(json.dumps(data))
    source = coco_json.CocoJsonSource(str(tmp_path), "train")
    with pytest.raises(ValueError, match=rf"{JSON_NAME}: annotation 7 .*size \[10, 10\]"):
        source[0]


@pytest.mark.parametrize(
    "segmentation, message",
    [
        ([[0, 0, 4, 0, 4]], "5 coordinates"),
        ([[0, 0, "x", 0, 4, 4]], "polygon part must be"),
        ([0, 0, 4, 0, 4, 4], "polygon part must be"),  # not nested in a list of parts
        ({"counts": [1, 2]}, "without 'counts' and 'size'"),
        ({"counts": [1, 2], "size": [H, W]}, "counts sum to 3"),
    ],
)
def test_malformed_segmentation_names_annotation(tmp_path, segmentation, message):
    _write_masks(tmp_path, [_with_seg(9, segmentation)])
    with pytest.raises(ValueError, match=f"{JSON_NAME}: annotation 9.*{message}"):
        coco_json.CocoJsonSource(str(tmp_path), "train")


def test_masks_through_decode_detection_flip_and_padding(tmp_path):
    anns, expected = _four_kinds()
    # A polygon under a box without width: decode_detection drops the box and its mask.
    anns.append(_with_seg(5, [_rect_polygon(0, 0, 4, 4)], bbox=(0, 0, 0, 4)))
    _write_masks(tmp_path, anns)
    source, _ = open_split("coco_json", "train", data_dir=str(tmp_path))
    fn = preprocess.build("decode_detection|flip_lr(1.0)", max_boxes=6)
    out = fn(source[0], np.random.default_rng(0))
    masks = out["instance_masks"]  # [6, H, W]
    assert masks.shape == (6, H, W) and masks.dtype == bool
    np.testing.assert_array_equal(masks[:4], expected[:, :, ::-1])
    assert not masks[4:].any() and out["box_mask"].tolist() == [True] * 4 + [False] * 2
    assert int(out["num_dropped_boxes"]) == 1
    # Each flipped mask lies inside its flipped box (normalised ymin, xmin, ymax, xmax).
    for box, mask in zip(out["boxes"][:4], masks[:4], strict=True):
        ys, xs = np.nonzero(mask)
        y0, x0, y1, x1 = np.rint(box * [H, W, H, W])  # pixel edges
        assert y0 <= ys.min() and ys.max() < y1 and x0 <= xs.min() and xs.max() < x1


def test_maskrcnn_train_pipeline_accepts_the_source(tmp_path):
    from jaxvision.engine import build
    from jaxvision.engine import mesh as mesh_lib
    from tests.engine import runs

    anns, _ = _four_kinds()
    _write_masks(tmp_path, anns)
    overrides = {"dataset.name": "coco_json", "dataset.data_dir": str(tmp_path)}
    config = runs.named_config("maskrcnn_small", overrides)
    source, meta = open_split("coco_json", "train", data_dir=str(tmp_path))
    task = build.build(config, meta, mesh_lib.make_mesh()).task
    data = pipeline.train_dataset(
        source,
        task.train_pp,
        task.train_keys,
        global_batch_size=2,
        seed=0,
        max_boxes=task.max_boxes,
    )
    batch = next(iter(data))
    size, m = batch["image"].shape[1], task.max_boxes
    assert set(task.train_keys) <= set(batch)
    assert batch["instance_masks"].shape == (2, m, size, size)
    real = batch["box_mask"]  # [2, m]
    assert sorted(real.sum(axis=1).tolist()) == [0, 4]  # a.png's four objects; b.png none
    pixels = batch["instance_masks"].sum(axis=(2, 3))  # [2, m]
    assert np.all(pixels[real] > 0) and np.all(pixels[~real] == 0)
