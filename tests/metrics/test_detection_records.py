"""Tests of the per-image detection record: conversion, validation and the -1 convention."""

from __future__ import annotations

import numpy as np
import pytest

from jaxvision.metrics.detection_records import UNDEFINED, image_record, mean_defined

CLASSES = ("cat", "dog", "bird")


def _inputs(**overrides):
    inputs = dict(
        image_id=4,
        height=30,
        width=40,
        gt_boxes=[[0, 0, 10, 10], [5, 5, 20, 25]],
        gt_labels=[0, 2],
        gt_ignore=None,
        boxes=[[1, 1, 9, 9]],
        scores=[0.5],
        labels=[1],
        class_names=CLASSES,
    )
    return {**inputs, **overrides}


def test_record_dtypes_and_shapes():
    record = image_record(**_inputs(image_id=np.int32(4), height=np.int64(30)))
    assert (record.image_id, record.height, record.width) == (4, 30, 40)
    assert type(record.image_id) is int and type(record.height) is int
    assert record.gt_boxes.dtype == np.float64 and record.gt_boxes.shape == (2, 4)
    assert record.gt_labels.dtype == np.int64
    np.testing.assert_array_equal(record.gt_ignore, [False, False])  # None: nothing ignored.
    assert record.boxes.dtype == np.float64 and record.boxes.shape == (1, 4)
    assert record.scores.dtype == np.float64
    assert record.labels.dtype == np.int64


def test_empty_inputs_of_any_shape_give_empty_arrays():
    record = image_record(**_inputs(gt_boxes=[], gt_labels=[], boxes=np.zeros((0,)), scores=[],
                                    labels=np.zeros((0, 1))))  # fmt: skip
    assert record.gt_boxes.shape == record.boxes.shape == (0, 4)
    assert record.gt_labels.shape == record.gt_ignore.shape == record.scores.shape == (0,)
    assert record.labels.shape == (0,) and record.labels.dtype == np.int64


def test_whole_float_labels_are_accepted():
    record = image_record(**_inputs(labels=np.array([2.0])))
    np.testing.assert_array_equal(record.labels, [2])


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (dict(height=0), "height and width must be > 0"),
        (dict(width=-1), "height and width must be > 0"),
        (dict(gt_boxes=np.zeros((2, 5))), r"image 4: gt_boxes must have shape \[n, 4\]"),
        (dict(boxes=[[0, 0, np.inf, 1]]), "image 4: boxes must be finite"),
        (dict(boxes=[[0, 5, 1, 4]]), "x2 >= x1 and y2 >= y1"),
        (dict(gt_labels=[0]), r"image 4: gt_labels must have shape \(2,\), got \(1,\)"),
        (dict(gt_ignore=[True]), r"image 4: gt_ignore must have shape \(2,\)"),
        (dict(scores=[np.nan]), "image 4: scores must be finite"),
        (dict(labels=[0.5]), "image 4: labels must be integers"),
        (dict(labels=[3]), r"image 4: labels: label 3 is outside \[0, 3\) \(classes \('cat'"),
        (dict(gt_labels=[0, -1]), "image 4: gt_labels: label -1 is outside"),
    ],
)
def test_bad_inputs_are_named(overrides, match):
    with pytest.raises(ValueError, match=match):
        image_record(**_inputs(**overrides))


def test_mean_defined_skips_undefined():
    assert mean_defined(np.array([0.25, UNDEFINED, 0.75])) == 0.5
    assert mean_defined(np.array([UNDEFINED, UNDEFINED])) == UNDEFINED
    assert mean_defined(np.zeros(0)) == UNDEFINED
