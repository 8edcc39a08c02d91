"""The training loop in-process: its outputs, resume, and what bad input gets."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from jaxvision.engine import loop
from jaxvision.engine.checkpoint import CheckpointError
from tests.engine import runs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shapes_data_dir):
    """A finished tiny run: (workdir, its final eval metrics)."""
    workdir = str(tmp_path_factory.mktemp("trained"))
    metrics = runs.train_in_process(runs.tiny_config(shapes_data_dir), workdir)
    return workdir, metrics


def test_workdir_holds_config_metrics_events_checkpoints_and_picture(trained):
    workdir, metrics = trained
    for name in ("config.json", "metrics.jsonl", "dataset_meta.json", "predictions.png"):
        assert os.path.exists(os.path.join(workdir, name)), name
    assert os.listdir(os.path.join(workdir, "tensorboard"))
    # checkpoint_every=4 over 12 steps, keep the last 3.
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["12", "4", "8"]
    with open(os.path.join(workdir, "config.json")) as f:
        assert json.load(f)["total_steps"] == runs.TINY["total_steps"]
    train_lines = runs.read_metrics(workdir, "train")
    assert [line["step"] for line in train_lines] == list(range(1, 13))
    for line in train_lines:
        assert {"loss", "accuracy", "learning_rate", "images_per_sec"} <= set(line)
    (eval_line,) = runs.read_metrics(workdir, "eval")
    assert eval_line["step"] == 12
    # 100 examples in batches of 64: the padded 28 are masked out, none dropped.
    assert eval_line["num_examples"] == 100
    assert eval_line["accuracy"] == metrics["accuracy"]
    assert 0.0 <= eval_line["accuracy"] <= eval_line["top5_accuracy"] <= 1.0
    assert eval_line["accuracy"] * 100 == pytest.approx(round(eval_line["accuracy"] * 100))
    picture = Image.open(os.path.join(workdir, "predictions.png"))
    assert picture.size[0] >= 8 * 96


def test_finished_run_resumes_without_training_again(trained, tmp_path, shapes_data_dir):
    workdir, metrics = trained
    copy = str(tmp_path / "copy")
    shutil.copytree(workdir, copy)
    again = runs.train_in_process(runs.tiny_config(shapes_data_dir), copy)
    assert again["accuracy"] == metrics["accuracy"]
    assert len(runs.read_metrics(copy, "train")) == 12  # no step was repeated


def test_incompatible_checkpoint_is_refused_and_kept(trained, tmp_path, shapes_data_dir):
    workdir, _ = trained
    copy = str(tmp_path / "copy")
    shutil.copytree(workdir, copy)
    before = sorted(os.listdir(os.path.join(copy, "checkpoints")))
    config = runs.tiny_config(shapes_data_dir, **{"model.kwargs.num_filters": 8})
    with pytest.raises(CheckpointError, match="does not fit"):
        runs.train_in_process(config, copy)
    assert sorted(os.listdir(os.path.join(copy, "checkpoints"))) == before


def test_corrupt_checkpoint_is_refused_and_kept(trained, tmp_path, shapes_data_dir):
    workdir, _ = trained
    copy = str(tmp_path / "copy")
    shutil.copytree(workdir, copy)
    state_dir = os.path.join(copy, "checkpoints", "12", "state")
    corrupted = []
    for root, _, files in os.walk(state_dir):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "wb") as f:
                f.write(b"\x00garbage")
            corrupted.append(path)
    assert corrupted
    with pytest.raises(CheckpointError):
        runs.train_in_process(runs.tiny_config(shapes_data_dir), copy)
    assert all(os.path.exists(p) for p in corrupted)


def test_nan_loss_stops_with_the_step_and_keeps_last_good_checkpoint(tmp_path, shapes_data_dir):
    config = runs.tiny_config(
        shapes_data_dir,
        **{
            "optimizer.learning_rate": 1e30,
            "optimizer.schedule": "constant",
            "optimizer.warmup_steps": 0,
            "checkpoint_every": 1,
        },
    )
    with pytest.raises(loop.NonFiniteLossError, match=r"at step (\d+)") as info:
        runs.train_in_process(config, str(tmp_path))
    bad_step = int(re.search(r"at step (\d+)", str(info.value)).group(1))
    assert bad_step >= 2  # step 1 starts from finite initial weights
    saved = sorted(int(d) for d in os.listdir(tmp_path / "checkpoints") if d.isdigit())
    assert saved and saved[-1] == bad_step - 1
    assert f"step {bad_step - 1}" in str(info.value)


def test_predict_cli_prints_top5(trained):
    workdir, _ = trained
    image_path = os.path.join(workdir, "one.png")
    Image.fromarray(np.full((40, 50, 3), 200, np.uint8)).save(image_path)
    proc = subprocess.run(
        [sys.executable, "-m", "train.predict", f"--workdir={workdir}", image_path, image_path],
        cwd=runs.REPO,
        env=runs.child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == f"{image_path}:" and len(lines) == 12
    probs = [float(line.split()[-1]) for line in lines[1:6]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-5
    with open(os.path.join(workdir, "dataset_meta.json")) as f:
        names = set(json.load(f)["class_names"])
    assert all(line.split()[0] in names for line in lines[1:6])


def test_predict_cli_names_an_unreadable_image(trained):
    workdir, _ = trained
    bad = os.path.join(workdir, "bad.jpg")
    with open(bad, "w") as f:
        f.write("not an image")
    proc = subprocess.run(
        [sys.executable, "-m", "train.predict", f"--workdir={workdir}", bad],
        cwd=runs.REPO,
        env=runs.child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and bad in proc.stderr


def test_unknown_config_key_names_the_valid_keys(tmp_path):
    proc = subprocess.run(
        [*runs.train_command(str(tmp_path), "unused"), "--config.total_stepz=3"],
        cwd=runs.REPO,
        env=runs.child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "total_stepz" in proc.stderr
    assert "total_steps" in proc.stderr and "dataset.data_dir" in proc.stderr


def test_missing_dataset_names_data_dir_and_command(tmp_path):
    config = runs.tiny_config(str(tmp_path / "empty"), **{"dataset.name": "cifar10"})
    with pytest.raises(FileNotFoundError, match="tfds build cifar10") as info:
        runs.train_in_process(config, str(tmp_path / "run"))
    assert str(tmp_path / "empty") in str(info.value)


@pytest.mark.parametrize(
    "name, eval_split, pp", [("cifar10", "test", ""), ("imagenet2012", "validation", "resize(32)")]
)
def test_trains_on_mock_tfds_datasets(tmp_path, name, eval_split, pp):
    import tensorflow_datasets as tfds

    config = runs.tiny_config(
        str(tmp_path / "tfds"),
        **{
            "dataset.name": name,
            "dataset.train_split": "train",
            "dataset.eval_split": eval_split,
            "dataset.train_pp": f"{pp}|flip_lr" if pp else "flip_lr",
            "dataset.eval_pp": pp,
            "total_steps": 3,
            "checkpoint_every": 3,
        },
    )
    with tfds.testing.mock_data(num_examples=40, policy=tfds.testing.MockPolicy.USE_CODE):
        metrics = runs.train_in_process(config, str(tmp_path / "run"))
    assert metrics["num_examples"] == 40
    with open(tmp_path / "run" / "dataset_meta.json") as f:
        assert len(json.load(f)["class_names"]) == {"cifar10": 10, "imagenet2012": 1000}[name]


def _image_folder(root, bad: str | None = None) -> None:
    rng = np.random.default_rng(0)
    for split, count in (("train", 24), ("test", 6)):
        for label, color in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(count):
                image = np.clip(rng.normal(color, 20, (40, 36, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(image).save(folder / f"{i}.png")
    if bad:
        (root / "train" / "red" / bad).write_bytes(b"this is not a png")


def test_trains_on_an_image_folder(tmp_path):
    _image_folder(tmp_path / "images")
    config = runs.tiny_config(
        str(tmp_path / "images"),
        **{
            "dataset.name": "image_folder",
            "dataset.train_split": "train",
            "dataset.eval_split": "test",
            "total_steps": 20,
            "checkpoint_every": 20,
        },
    )
    metrics = runs.train_in_process(config, str(tmp_path / "run"))
    assert metrics["num_examples"] == 12
    assert metrics["accuracy"] >= 0.9  # red vs blue is easy
    with open(tmp_path / "run" / "dataset_meta.json") as f:
        assert json.load(f)["class_names"] == ["blue", "red"]


def test_unreadable_image_in_folder_is_named(tmp_path):
    _image_folder(tmp_path / "images", bad="broken.png")
    config = runs.tiny_config(
        str(tmp_path / "images"),
        **{
            "dataset.name": "image_folder",
            "dataset.train_split": "train",
            "dataset.eval_split": "test",
            "total_steps": 30,
        },
    )
    with pytest.raises(Exception, match="broken.png"):
        runs.train_in_process(config, str(tmp_path / "run"))
