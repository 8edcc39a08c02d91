"""Semantic segmentation through the shared engine: train, evaluate, predict.

Tiny runs (a few steps of narrow models on a slice of the built-in shapes, and on a generated
segmentation_folder) check the plumbing: eval lines carry ``mIoU``, ``pixel_accuracy`` and
per-class IoU, and ``python -m train.predict`` writes the
blended picture and the label PNG at the input's size. Quality (mIoU >= 0.85 after the small
configs' full training) is measured by the commands in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.engine import runs
from tests.tasks import test_maskrcnn_task as maskrcnn_task_test

pytestmark = pytest.mark.slow

TINY = {
    "total_steps": 4,
    "batch_size": 4,
    "eval_batch_size": 8,
    "log_every": 1,
    "checkpoint_every": 2,
    "optimizer.warmup_steps": 1,
    "dataset.train_pp": "scale_jitter(32, 0.75, 1.25)|flip_lr",
    "dataset.eval_pp": "letterbox(32)",
}
MODEL_TINY = {
    "unet_small": {
        "model.kwargs.backbone": "resnet_tiny",
        "model.kwargs.backbone_kwargs": {"num_filters": 8},
        "model.kwargs.decoder_features": (8, 8, 8, 4, 4),
    },
    "deeplabv3plus_small": {
        "model.kwargs.backbone": "resnet_tiny",
        "model.kwargs.backbone_kwargs": {"num_filters": 8},
        "model.kwargs.aspp_features": 8,
        "model.kwargs.low_level_features": 4,
        "model.kwargs.decoder_features": 8,
    },
}
SHAPES_CLASSES = 9  # background and the 8 shapes


@pytest.fixture(scope="module")
def segmentation_data(tmp_path_factory) -> tuple[str, str]:
    """(data_dir, dataset name) of a small ``jaxvision_shapes/segmentation`` variant."""
    from jaxvision.data.builders import shapes

    data_dir = str(tmp_path_factory.mktemp("tfds_segmentation"))
    builder = shapes.prepare_shapes(data_dir, "segmentation", num_train=32, num_test=12)
    return data_dir, f"jaxvision_shapes/{builder.builder_config.name}"


def _config(name: str, data_dir: str, dataset: str, **overrides):
    values = {**TINY, **MODEL_TINY[name], "dataset.name": dataset, "dataset.data_dir": data_dir}
    return runs.named_config(name, {**values, **overrides})


def _predict(workdir: str, images: list[str], output_dir: str) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "train.predict",
            f"--workdir={workdir}",
            f"--output_dir={output_dir}",
        ]
        + images,
        cwd=runs.REPO,
        env=runs.child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_deeplab_trains_and_evaluates_on_the_shapes(segmentation_data, tmp_path):
    data_dir, dataset = segmentation_data
    workdir = str(tmp_path / "run")
    config = _config("deeplabv3plus_small", data_dir, dataset, total_steps=2)
    metrics = runs.train_in_process(config, workdir)
    (line,) = runs.read_metrics(workdir, "eval")
    assert {"mIoU", "pixel_accuracy", "mean_class_accuracy", "iou/background"} <= set(line)
    assert 0.0 <= line["mIoU"] <= 1.0 and line["pixel_accuracy"] == metrics["pixel_accuracy"]
    assert len([k for k in line if k.startswith("iou/")]) == SHAPES_CLASSES
    assert "iou/star" in metrics
    train = runs.read_metrics(workdir, "train")
    assert {"ce_loss", "loss", "pixel_accuracy"} <= set(train[-1])
    assert all(np.isfinite(t["loss"]) for t in train)
    assert os.path.exists(os.path.join(workdir, "predictions.png"))


def test_unet_trains_on_a_segmentation_folder_and_predicts_its_encoding(tmp_path):
    """Train, evaluate, then ``train.predict`` on a test image (its label PNG matches the
    training masks' size and encoding) and on a photo of another size."""
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("test", 3)):
        for i in range(count):
            h, w = rng.integers(24, 48, 2)
            mask = np.zeros((h, w), np.uint8)
            mask[h // 4 :, : w // 2] = 1 + i % 2
            mask[0] = 255
            image = np.stack([mask * 90, mask * 30, 255 - mask * 60], -1).astype(np.uint8)
            for sub, array in (("images", image), ("masks", mask)):
                os.makedirs(root / split / sub, exist_ok=True)
                Image.fromarray(array).save(root / split / sub / f"{i}.png")
    (root / "classes.txt").write_text("sky\nroad\ncar\n")
    workdir = str(tmp_path / "run")
    config = _config("unet_small", str(root), "segmentation_folder", total_steps=2, batch_size=2)
    metrics = runs.train_in_process(config, workdir)
    assert {"iou/sky", "iou/road", "iou/car"} <= set(metrics)
    out = tmp_path / "predict"
    _predict(workdir, [str(root / "test" / "images" / "0.png")], str(out))
    mask = np.asarray(Image.open(out / "0_mask.png"))
    assert mask.shape == np.asarray(Image.open(root / "test" / "masks" / "0.png")).shape
    assert mask.max() < 3
    photo = str(tmp_path / "photo.jpg")
    Image.fromarray(np.full((45, 70, 3), 200, np.uint8)).save(photo)
    _predict(workdir, [photo], str(out))
    mask = Image.open(out / "photo_mask.png")
    assert mask.size == (70, 45) and mask.mode == "L"
    picture = Image.open(out / "photo.png")
    assert picture.size[0] > 70 and picture.size[1] >= 45  # the image and its legend
    with open(out / "photo.json") as f:
        record = json.load(f)
    assert sum(c["fraction"] for c in record["classes"]) == pytest.approx(1.0)
    assert {c["class_name"] for c in record["classes"]} <= {"sky", "road", "car"}


# Mask R-CNN: the task test's tiny network and sample budgets.
MASKRCNN_TINY = {k: v for k, v in maskrcnn_task_test.TINY.items() if k.startswith("model.")}


def test_maskrcnn_trains_evaluates_and_predicts(segmentation_data, tmp_path):
    data_dir, dataset = segmentation_data
    values = {**TINY, **MASKRCNN_TINY, "total_steps": 2, "batch_size": 2}
    values.pop("dataset.train_pp"), values.pop("dataset.eval_pp")  # the config's letterboxes
    config = runs.named_config(
        "maskrcnn_small", {**values, "dataset.name": dataset, "dataset.data_dir": data_dir}
    )
    workdir = str(tmp_path / "run")
    metrics = runs.train_in_process(config, workdir)
    for key in ("mask_AP", "mask_AP50", "AP50"):
        assert -1.0 <= metrics[key] <= 1.0  # pycocotools' -1: nothing to match
    photo = str(tmp_path / "photo.jpg")
    Image.fromarray(np.full((45, 70, 3), 200, np.uint8)).save(photo)
    out = tmp_path / "predict"
    _predict(workdir, [photo], str(out))
    assert Image.open(out / "photo.png").size == (70, 45)
    with open(out / "photo.json") as f:
        record = json.load(f)
    assert isinstance(record["detections"], list)
    for detection in record["detections"]:
        assert {"box", "class_name", "score", "mask"} <= set(detection)
