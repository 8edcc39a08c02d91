"""Tests of the pictures and JSON written for a person to look at."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxvision.visualize.draw import (
    BOX_LINE_WIDTH,
    CAPTION_TEXT_COLOR,
    class_colors,
    detections_to_json,
    draw_detections,
    image_grid,
)

CLASSES = ("cat", "dog", "bird")
BACKGROUND = (40, 40, 40)
# Room the caption above a box may take (Pillow's default font is about 11 px high).
CAPTION_MARGIN = 24
# Every channel of the (white) caption text's core pixels is above this; class colours have a
# channel below it.
TEXT_LEVEL = 200


def _canvas(h=120, w=160):
    return np.full((h, w, 3), BACKGROUND, np.uint8)


def _far_from(boxes, h, w, margin=CAPTION_MARGIN):
    """[h, w] bool: pixels farther than ``margin`` from every box."""
    ys, xs = np.mgrid[:h, :w]
    far = np.ones((h, w), bool)
    for x1, y1, x2, y2 in boxes:
        near = (xs >= x1 - margin) & (xs <= x2 + margin)
        near &= (ys >= y1 - margin) & (ys <= y2 + margin)
        far &= ~near
    return far


def _text_pixels(pixels):
    """How many of the [n, 3] pixels are near-white caption text (antialiased edges vary)."""
    assert min(CAPTION_TEXT_COLOR) > TEXT_LEVEL  # Text is near-white, class colours are not.
    return int(np.all(pixels > TEXT_LEVEL, axis=-1).sum())


def test_draw_detections_marks_box_edges_and_nothing_far_away():
    image = _canvas()
    before = image.copy()
    boxes = np.array([[30.0, 40.0, 70.0, 90.0], [100.0, 50.0, 140.0, 100.0]])
    labels = np.array([0, 2])
    picture = draw_detections(image, boxes, labels, np.array([0.97, 0.5]), CLASSES)
    assert picture.size == (160, 120) and picture.mode == "RGB"
    out = np.asarray(picture)
    colors = class_colors(len(CLASSES))
    for (x1, y1, x2, y2), label in zip(boxes.astype(int), labels, strict=True):
        mid_y, mid_x = (y1 + y2) // 2, (x1 + x2) // 2
        for y, x in [(mid_y, x1), (mid_y, x2), (y2, mid_x)]:  # Left, right, bottom edges.
            assert tuple(out[y, x]) == colors[label], (x, y)
        assert tuple(out[mid_y, mid_x]) == BACKGROUND  # The inside stays visible.
    far = _far_from(boxes, 120, 160)
    assert far.sum() > 1000  # The check below covers a real area.
    np.testing.assert_array_equal(out[far], before[far])
    np.testing.assert_array_equal(image, before)  # The input is not drawn on.


def test_draw_detections_caption_has_class_colour_and_text():
    box = np.array([[40.0, 60.0, 120.0, 110.0]])
    out = np.asarray(draw_detections(_canvas(), box, np.array([1]), np.array([0.97]), CLASSES))
    caption = out[60 - CAPTION_MARGIN : 60, 40:120].reshape(-1, 3)  # Above the box.
    color = class_colors(len(CLASSES))[1]
    assert np.all(caption == color, axis=-1).sum() > 50  # The caption's background.
    assert _text_pixels(caption) > 10  # Its text.
    # The score changes the caption's text.
    other = np.asarray(draw_detections(_canvas(), box, np.array([1]), np.array([0.12]), CLASSES))
    assert not np.array_equal(other, out)


def test_draw_detections_caption_stays_inside_for_a_box_at_the_top():
    box = np.array([[10.0, 0.0, 90.0, 60.0]])
    out = np.asarray(draw_detections(_canvas(), box, np.array([0]), np.array([0.9]), CLASSES))
    inside = out[BOX_LINE_WIDTH : BOX_LINE_WIDTH + 14, 10:90].reshape(-1, 3)
    assert _text_pixels(inside) > 10


def test_draw_detections_threshold_colors_and_no_scores():
    boxes = np.array([[20.0, 30.0, 60.0, 80.0], [90.0, 30.0, 140.0, 80.0]])
    labels = np.array([0, 1])
    out = np.asarray(
        draw_detections(
            _canvas(),
            boxes,
            labels,
            np.array([0.9, 0.2]),
            CLASSES,
            score_threshold=0.5,
            colors=[(255, 0, 0), (0, 255, 0), (0, 0, 255)],
        )
    )
    assert tuple(out[55, 20]) == (255, 0, 0)  # Left edge of the kept box, custom colour.
    assert tuple(out[55, 90]) == BACKGROUND  # Left edge of the box under the threshold.
    # Without scores every box is drawn.
    out = np.asarray(draw_detections(_canvas(), boxes, labels, None, CLASSES, score_threshold=0.5))
    assert tuple(out[55, 90]) == class_colors(len(CLASSES))[1]


def test_draw_detections_no_boxes_returns_the_image():
    image = _canvas()
    out = draw_detections(image, np.zeros((0, 4)), np.zeros(0, int), np.zeros(0), CLASSES)
    np.testing.assert_array_equal(np.asarray(out), image)


def test_draw_detections_bad_inputs():
    box, score = np.array([[0.0, 0, 10, 10]]), np.array([0.5])
    with pytest.raises(ValueError, match="label 3"):
        draw_detections(_canvas(), box, np.array([3]), score, CLASSES)
    with pytest.raises(ValueError, match="uint8"):
        draw_detections(_canvas().astype(np.float32), box, np.array([0]), score, CLASSES)
    with pytest.raises(ValueError, match="colors"):
        draw_detections(_canvas(), box, np.array([0]), score, CLASSES, colors=[(0, 0, 0)])


def test_class_colors_are_distinct():
    colors = class_colors(20)
    assert len(set(colors)) == 20
    assert all(0 <= v <= 255 for color in colors for v in color)


def test_detections_to_json_round_trip():
    boxes = np.array([[1.5, 2.0, 30.25, 40.0], [5.0, 6.0, 7.0, 8.0]], np.float32)
    labels = np.array([2, 0], np.int32)
    scores = np.array([0.75, 0.125], np.float32)
    loaded = json.loads(json.dumps(detections_to_json(boxes, labels, scores, CLASSES)))
    assert [d["class_name"] for d in loaded] == ["bird", "cat"]
    assert all(isinstance(d["label"], int) and isinstance(d["score"], float) for d in loaded)
    np.testing.assert_array_equal([d["box"] for d in loaded], boxes)
    np.testing.assert_array_equal([d["label"] for d in loaded], labels)
    np.testing.assert_array_equal([d["score"] for d in loaded], scores)
    assert detections_to_json(np.zeros((0, 4)), np.zeros(0), np.zeros(0), CLASSES) == []
    with pytest.raises(ValueError, match="label -1"):
        detections_to_json(boxes, np.array([-1, 0]), scores, CLASSES)


def test_image_grid_size_and_captions():
    grid = image_grid(np.zeros((3, 32, 32, 3), np.uint8), ["a", "b", "c"], columns=2)
    assert grid.size == (2 * 96, 2 * (96 + 30))
    with pytest.raises(ValueError, match="captions"):
        image_grid(np.zeros((2, 32, 32, 3), np.uint8), ["a"])
