"""The face detector through the shared engine: train, evaluate, predict with landmarks.

A tiny run (a few steps of a narrow RetinaFace on a tiny ``jaxvision_faces_scene``) checks
the plumbing end to end: the eval line carries ``AP50`` and ``landmark_nme``, the workdir
gets its picture, and ``python -m train.predict`` writes each face's box and five landmarks
as JSON and a picture. Quality (AP50 >= 0.9, NME <= 0.08 after full training) is measured by
the command in train/configs/face_detector_small.py.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from PIL import Image

from tests.engine import runs
from tests.test_e2e_detection import _predict
from train.configs import face_detector_small

pytestmark = pytest.mark.slow

TINY = {
    "total_steps": 4,
    "batch_size": 8,
    "eval_batch_size": 8,
    "log_every": 2,
    "checkpoint_every": 4,
    "optimizer.warmup_steps": 1,
    "model.backbone_kwargs.num_filters": 8,
    "model.kwargs.fpn_features": 16,
    "model.kwargs.head_convs": 1,
    # Untrained scores are ~0.01: keep every candidate, so that predict has faces to write.
    "detection.score_threshold": 0.0,
    "detection.max_detections": 5,
}


@pytest.fixture(scope="module")
def faces_data(tmp_path_factory) -> tuple[str, str]:
    """(data_dir, dataset name) of a tiny ``jaxvision_faces_scene`` variant."""
    from jaxvision.data.builders import faces_scene

    data_dir = str(tmp_path_factory.mktemp("tfds_faces"))
    builder = faces_scene.prepare_faces_scene(data_dir, num_train=32, num_test=12)
    return data_dir, f"jaxvision_faces_scene/{builder.builder_config.name}"


def _config(overrides: dict):
    config = face_detector_small.get_config()
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = config
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return config


def test_face_detector_trains_evaluates_and_predicts_landmarks(faces_data, tmp_path):
    data_dir, name = faces_data
    workdir = str(tmp_path / "run")
    config = _config({**TINY, "dataset.name": name, "dataset.data_dir": data_dir})
    metrics = runs.train_in_process(config, workdir)

    (line,) = runs.read_metrics(workdir, "eval")
    assert {"AP50", "AP", "landmark_nme", "landmark_faces"} <= set(line)
    assert line["num_examples"] == 12  # the whole test split, the padded batch masked
    assert line["AP50"] == metrics["AP50"] and 0.0 <= line["AP50"] <= 1.0
    assert line["landmark_faces"] > 0 and math.isfinite(line["landmark_nme"])
    train_lines = runs.read_metrics(workdir, "train")
    assert {"cls_loss", "box_loss", "landmark_loss", "loss"} <= set(train_lines[-1])
    assert all(np.isfinite(t["loss"]) and t["landmark_loss"] > 0 for t in train_lines)
    assert Image.open(os.path.join(workdir, "predictions.png")).size[0] > 128

    # A user's image of another size: boxes and landmarks come back in its own pixels.
    image_path = str(tmp_path / "photo.png")
    Image.fromarray(np.full((90, 150, 3), 200, np.uint8)).save(image_path)
    out_dir = str(tmp_path / "predict")
    assert image_path in _predict(workdir, [image_path], out_dir)
    with open(os.path.join(out_dir, "photo.json")) as f:
        record = json.load(f)
    assert len(record["detections"]) == TINY["detection.max_detections"]
    for det in record["detections"]:
        assert det["class_name"] == "face"
        points = np.asarray(det["landmarks"])
        assert points.shape == (5, 2)
        assert np.all((points >= 0) & (points <= [150, 90]))
    assert Image.open(os.path.join(out_dir, "photo.png")).size == (150, 90)
