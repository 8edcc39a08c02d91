"""Colorization through the shared engine: train, evaluate against the grayscale baseline,
resume, predict (``jaxvision.tasks.colorization`` and ``colorization_gan``).

Tiny runs (a few steps of a narrow U-Net on the built-in photos) check the plumbing; quality
is measured by the commands in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

from tests.engine import runs
from tests.tasks.test_restoration_gan import _state

pytestmark = pytest.mark.slow

TINY = {
    "total_steps": 3,
    "batch_size": 2,
    "log_every": 1,
    "checkpoint_every": 3,
    "optimizer.warmup_steps": 1,
    "model.kwargs.features": (8, 16),
    "colorization.size_multiple": 2,
    "dataset.train_pp": "random_crop(32)|flip_lr",
    # chelsea (300 x 451), the smallest held-out photo, on a canvas just its size.
    "dataset.eval_split": "test[1:2]",
    "dataset.eval_pp": "pad_to_canvas(304, 456)",
    "eval_batch_size": 1,
}
EVAL_KEYS = {"psnr", "ssim", "baseline_psnr", "colorfulness", "colorfulness_ratio"}


def _config(name: str, data_dir: str, **overrides):
    extra = {"discriminator.kwargs.features": 8, "init_from.workdir": ""} if "gan" in name else {}
    return runs.named_config(name, {**TINY, **extra, "dataset.data_dir": data_dir, **overrides})


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory, photos_data_dir):
    workdir = tmp_path_factory.mktemp("colorize_ae")
    metrics = runs.train_in_process(_config("colorize_ae_small", photos_data_dir), workdir)
    return str(workdir), metrics


def test_autoencoder_evaluates_against_grayscale(ae_run):
    workdir, metrics = ae_run
    assert set(metrics) >= EVAL_KEYS and metrics["num_examples"] == 1
    assert 10.0 < metrics["baseline_psnr"] < 50.0 and metrics["colorfulness_ratio"] >= 0.0
    assert os.path.exists(os.path.join(workdir, "predictions.png"))


def test_predict_colorizes_colour_and_grey_images_at_their_size(ae_run, tmp_path):
    workdir, _ = ae_run
    rng = np.random.default_rng(0)
    colour, grey = tmp_path / "colour.png", tmp_path / "grey.png"
    Image.fromarray(rng.integers(0, 255, (21, 34, 3), np.uint8)).save(colour)
    Image.fromarray(rng.integers(0, 255, (16, 9), np.uint8)).save(grey)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "train.predict", f"--workdir={workdir}", f"--output_dir={out}"]
        + [str(colour), str(grey)],
        cwd=runs.REPO,
        env=runs.child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for stem, (h, w) in (("colour", (21, 34)), ("grey", (16, 9))):
        colorized = Image.open(out / f"{stem}.png")
        assert colorized.size == (w, h) and colorized.mode == "RGB"
        assert Image.open(out / f"{stem}_compare.png").size == (3 * w, h)


def test_classification_counts_the_bin_prior_and_resumes(tmp_path, photos_data_dir):
    overrides = {"colorization.mode": "classification", "optimizer.schedule": "constant"}
    whole = _config("colorize_ae_small", photos_data_dir, **overrides, total_steps=2)
    metrics = runs.train_in_process(whole, tmp_path / "whole")
    assert set(metrics) >= EVAL_KEYS
    split = dict(overrides, checkpoint_every=1)
    for steps in (1, 2):
        config = _config("colorize_ae_small", photos_data_dir, **split, total_steps=steps)
        runs.train_in_process(config, tmp_path / "split")
    _, whole_state = _state(tmp_path / "whole")
    _, split_state = _state(tmp_path / "split")
    runs.assert_trees_equal(whole_state["networks"], split_state["networks"])
    counts = whole_state["networks"]["model"]["model_state"]["ab_prior"]["counts"]
    assert np.sum(counts) == 2 * 2 * 32 * 32  # every pixel of every training patch


def test_gan_moves_both_networks_and_resumes(tmp_path, photos_data_dir):
    # Bit-exact resumption of a GAN run is tests/tasks/test_restoration_gan.py's; here the
    # colorization GAN's two networks train, checkpoint and go on from the checkpoint.
    overrides = {"checkpoint_every": 2}
    runs.train_in_process(
        _config("colorize_gan_small", photos_data_dir, **overrides, total_steps=2), tmp_path
    )
    first_step, first = _state(tmp_path)
    metrics = runs.train_in_process(
        _config("colorize_gan_small", photos_data_dir, **overrides, total_steps=3), tmp_path
    )
    assert set(metrics) >= EVAL_KEYS
    last_step, resumed = _state(tmp_path)
    assert (first_step, last_step) == (2, 3)
    assert [m["step"] for m in runs.read_metrics(tmp_path)] == [1, 2, 3]
    for name in ("generator", "discriminator"):
        moved = jax.tree.map(
            lambda a, b: not np.array_equal(a, b),
            first["networks"][name]["params"],
            resumed["networks"][name]["params"],
        )
        assert any(jax.tree.leaves(moved)), name
    assert {"d_loss", "g_loss", "pixel_loss"} <= set(runs.read_metrics(tmp_path)[-1])
