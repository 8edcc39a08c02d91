"""``python -m benchmarks.deblur_detect``: a detector on sharp, blurred and deblurred images.

A tiny detector and a tiny deblurrer, each trained a few steps on the built-in detection
scenes, check the plumbing: three states measured on the same images, the blur fixed by the
image's index, and the picture of the three states. The AP50 ordering the issue asks for is
measured by the command in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from benchmarks import deblur_detect
from tests.engine import runs

pytestmark = pytest.mark.slow

TINY = {
    "total_steps": 2,
    "batch_size": 4,
    "log_every": 1,
    "checkpoint_every": 2,
    "dataset.eval_split": "test[:8]",
}
DETECTOR = {
    "eval_batch_size": 16,
    "optimizer.warmup_steps": 1,
    "model.backbone_kwargs.num_filters": 8,
    "model.kwargs.fpn_features": 16,
    "model.kwargs.head_convs": 1,
}
DEBLURRER = {
    "eval_batch_size": 16,
    "optimizer.warmup_steps": 1,
    "model.kwargs.features": 8,
    "model.kwargs.num_blocks": 1,
    "dataset.train_pp": "random_crop(32)|flip_lr",
    "dataset.eval_pp": "pad_to_canvas(128, 128)",
}


def test_blur_depends_on_the_image_index_only():
    images = np.random.default_rng(0).integers(0, 255, (3, 24, 24, 3), np.uint8)
    once = np.asarray(deblur_detect.blur_batch(images, np.arange(3), 7))
    alone = np.asarray(deblur_detect.blur_batch(images[1:2], np.array([1]), 7))
    np.testing.assert_array_equal(once[1], alone[0])
    assert once.dtype == np.uint8 and not np.array_equal(once, images)


def test_deblur_then_detect_measures_three_states(detection_data, tmp_path):
    data_dir, name = detection_data
    data = {"dataset.name": name, "dataset.data_dir": data_dir}
    detector, deblurrer = tmp_path / "detector", tmp_path / "deblurrer"
    for name, overrides, workdir in (
        ("retinanet_small", DETECTOR, detector),
        ("deblur_small", DEBLURRER, deblurrer),
    ):
        runs.train_in_process(runs.named_config(name, {**TINY, **overrides, **data}), workdir)
    out, picture = tmp_path / "deblur_detect.json", tmp_path / "deblur_detect.png"
    metrics = deblur_detect.main(
        [f"--detector={detector}", f"--deblurrer={deblurrer}", "--num_images=6"]
        + ["--batch_size=4", f"--json={out}", f"--picture={picture}"]
    )
    assert set(metrics) == set(deblur_detect.STATES)
    for state in deblur_detect.STATES:
        assert metrics[state]["num_examples"] == 6
        assert 0.0 <= metrics[state]["AP50"] <= 1.0
    with open(out) as f:
        assert json.load(f)["metrics"] == json.loads(json.dumps(metrics))
    width, height = Image.open(picture).size
    assert height >= 3 * 64 and width >= 64  # a row of images for each state
