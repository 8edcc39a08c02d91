"""Localization and detection through the shared engine: train, evaluate, predict.

Tiny runs (a few steps of narrow models) check the plumbing end to end: the eval lines
carry the names other tools rely on, the workdir gets its picture, a COCO-schema dataset
trains, and ``python -m train.predict`` writes boxes as pictures and JSON. Quality
(AP50 >= 0.9 after full training) is measured by the commands in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from jaxvision.engine import loop
from tests.data.mock_detection import mock_detection_data
from tests.engine import runs
from train.configs import detection_common

pytestmark = pytest.mark.slow

TINY = {
    "total_steps": 4,
    "batch_size": 8,
    "eval_batch_size": 32,
    "log_every": 2,
    "checkpoint_every": 4,
    "optimizer.warmup_steps": 1,
    "model.backbone_kwargs.num_filters": 8,
}
DETECTOR_TINY = {"model.kwargs.fpn_features": 16, "model.kwargs.head_convs": 1}
DETECTION_EVAL_KEYS = {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR100", "VOC_AP50"}


def _config(name: str, overrides: dict):
    config = importlib.import_module(f"train.configs.{name}").get_config()
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = config
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return config


def _predict(workdir: str, images: list[str], output_dir: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "train.predict", f"--workdir={workdir}"]
        + [f"--output_dir={output_dir}"]
        + images,
        cwd=runs.REPO,
        env=runs.child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.parametrize("config_name", ["retinanet_small", "fcos_small"])
def test_detector_trains_evaluates_and_predicts(config_name, detection_data, tmp_path):
    data_dir, name = detection_data
    workdir = str(tmp_path / "run")
    config = _config(
        config_name,
        {**TINY, **DETECTOR_TINY, "dataset.name": name, "dataset.data_dir": data_dir},
    )
    metrics = runs.train_in_process(config, workdir)

    (line,) = runs.read_metrics(workdir, "eval")
    assert set(line) >= DETECTION_EVAL_KEYS
    assert line["num_examples"] == 48  # the whole test split, padded batch masked
    assert line["AP50"] == metrics["AP50"] and 0.0 <= line["AP50"] <= 1.0
    train_lines = runs.read_metrics(workdir, "train")
    assert {"cls_loss", "box_loss", "loss"} <= set(train_lines[-1])
    assert all(np.isfinite(t["loss"]) for t in train_lines)
    assert Image.open(os.path.join(workdir, "predictions.png")).size[0] > 128

    # A user's image of another size: boxes come back in its own pixels.
    image_path = str(tmp_path / "photo.png")
    Image.fromarray(np.full((90, 150, 3), 200, np.uint8)).save(image_path)
    out_dir = str(tmp_path / "predict")
    stdout = _predict(workdir, [image_path], out_dir)
    assert image_path in stdout
    with open(os.path.join(out_dir, "photo.json")) as f:
        record = json.load(f)
    assert record["image"] == image_path
    for det in record["detections"]:
        x1, y1, x2, y2 = det["box"]
        assert 0 <= x1 <= x2 <= 150 and 0 <= y1 <= y2 <= 90
        assert det["class_name"] in metrics_class_names(workdir)
    assert Image.open(os.path.join(out_dir, "photo.png")).size == (150, 90)


def metrics_class_names(workdir: str) -> list[str]:
    with open(os.path.join(workdir, loop.DATASET_META_FILE)) as f:
        return json.load(f)["class_names"]


def test_retinanet_trains_on_coco_2017_schema_data(tmp_path):
    with mock_detection_data(str(tmp_path / "tfds"), num_examples=8) as data_dir:
        train_pp, eval_pp = detection_common.coco_pp(64)
        config = _config(
            "retinanet_small",
            {
                **TINY,
                **DETECTOR_TINY,
                "total_steps": 2,
                "dataset.name": "coco/2017",
                "dataset.data_dir": data_dir,
                "dataset.eval_split": "validation",
                "dataset.train_pp": train_pp,
                "dataset.eval_pp": eval_pp,
                "detection.max_boxes": 8,
            },
        )
        workdir = str(tmp_path / "run")
        metrics = runs.train_in_process(config, workdir)
    assert metrics["num_examples"] == 8
    assert set(metrics) >= DETECTION_EVAL_KEYS
    assert len(metrics_class_names(workdir)) == 80  # COCO's label map


def test_localization_trains_evaluates_and_predicts(localization_data, tmp_path):
    data_dir, name = localization_data
    workdir = str(tmp_path / "run")
    config = _config(
        "localization_small", {**TINY, "dataset.name": name, "dataset.data_dir": data_dir}
    )
    metrics = runs.train_in_process(config, workdir)
    (line,) = runs.read_metrics(workdir, "eval")
    assert {"accuracy", "mean_iou", "correct_iou50"} <= set(line)
    assert 0.0 <= line["correct_iou50"] <= line["accuracy"] <= 1.0
    assert 0.0 <= metrics["mean_iou"] <= 1.0

    image_path = str(tmp_path / "shape.png")
    Image.fromarray(np.zeros((128, 128, 3), np.uint8)).save(image_path)
    out_dir = str(tmp_path / "predict")
    _predict(workdir, [image_path], out_dir)
    with open(os.path.join(out_dir, "shape.json")) as f:
        (det,) = json.load(f)["detections"]
    x1, y1, x2, y2 = det["box"]
    assert 0 <= x1 < x2 <= 128 and 0 <= y1 < y2 <= 128  # in the 128 px image's pixels
