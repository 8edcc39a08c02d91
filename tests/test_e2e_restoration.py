"""Restoration through the shared engine: train, evaluate against the baseline, predict.

Tiny runs (a few steps of narrow models on the built-in photos) check the plumbing: eval lines
carry ``psnr``, ``ssim`` and ``baseline_psnr``, the workdir gets its picture, SRGAN starts
from an SRResNet run, a perceptual loss without VGG19 weights is refused at start, and
``python -m train.predict`` restores images of any size. Quality (the bars of issue 15) is
measured by the commands in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

from jaxvision.data.sources import DatasetMeta
from jaxvision.engine import build, init_from
from jaxvision.engine import mesh as mesh_lib
from jaxvision.engine.errors import ConfigError
from tests.engine import runs

pytestmark = pytest.mark.slow

TINY = {
    "total_steps": 3,
    "batch_size": 4,
    "log_every": 1,
    "checkpoint_every": 3,
    "optimizer.warmup_steps": 1,
    "dataset.train_pp": "random_crop(32)|flip_lr",
}
MODEL_TINY = {
    "denoise_small": {"model.kwargs.features": (8, 16, 16)},
    "srresnet_small": {"model.kwargs.num_blocks": 1, "model.kwargs.features": 8},
    "srgan_small": {
        "model.kwargs.num_blocks": 1,
        "model.kwargs.features": 8,
        "discriminator.kwargs.features": 8,
        "discriminator.kwargs.hidden": 16,
    },
    "deblurgan_small": {
        "model.kwargs.features": 8,
        "model.kwargs.num_blocks": 1,
        "discriminator.kwargs.features": 8,
        "init_from.workdir": "",
    },
}
EVAL_KEYS = {"psnr", "ssim", "baseline_psnr", "num_examples"}


def _config(name: str, data_dir: str, **overrides):
    values = {**TINY, **MODEL_TINY[name], "dataset.data_dir": data_dir, **overrides}
    return runs.named_config(name, values)


@pytest.fixture(scope="module")
def srresnet_run(tmp_path_factory, photos_data_dir):
    workdir = tmp_path_factory.mktemp("srresnet")
    metrics = runs.train_in_process(_config("srresnet_small", photos_data_dir), workdir)
    return str(workdir), metrics


# The GAN configs train end to end too: srgan_small below, deblurgan_small in
# tests/tasks/test_restoration_gan.py (its resume test runs it through the engine).
def test_denoiser_trains_and_evaluates_against_its_baseline(tmp_path, photos_data_dir):
    metrics = runs.train_in_process(_config("denoise_small", photos_data_dir), tmp_path)
    assert set(metrics) >= EVAL_KEYS
    assert metrics["num_examples"] == 3  # astronaut, coffee and chelsea, whole
    assert 5.0 < metrics["baseline_psnr"] < 60.0 and 0.0 < metrics["ssim"] <= 1.0
    assert metrics["baseline_sigma"] in _config("denoise_small", "").restoration.baseline_sigmas
    assert os.path.exists(tmp_path / "predictions.png")


def test_srresnet_runs_and_predicts_any_size_at_four_times(srresnet_run, tmp_path):
    workdir, metrics = srresnet_run
    assert set(metrics) >= EVAL_KEYS
    gray = tmp_path / "gray.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (21, 34), np.uint8)).save(gray)
    rgba = tmp_path / "rgba.png"
    Image.fromarray(np.full((16, 9, 4), 128, np.uint8)).save(rgba)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "train.predict", f"--workdir={workdir}", f"--output_dir={out}"]
        + ["--self_ensemble=8", str(gray), str(rgba)],  # transposes of odd sizes too
        cwd=runs.REPO,
        env=runs.child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for stem, (h, w) in (("gray", (21, 34)), ("rgba", (16, 9))):
        restored = Image.open(out / f"{stem}.png")
        assert restored.size == (4 * w, 4 * h) and restored.mode == "RGB"
        compare = Image.open(out / f"{stem}_compare.png")
        assert compare.size == (2 * 4 * w, 4 * h)  # input (upsampled) | restored
        with open(out / f"{stem}.json") as f:
            record = json.load(f)
        assert record["input_size"] == [h, w] and record["output_size"] == [4 * h, 4 * w]


def test_predict_can_average_flips_and_transposes_of_each_image(srresnet_run):
    from jaxvision.engine import inference

    workdir, _ = srresnet_run
    image = np.random.default_rng(1).integers(0, 255, (1, 9, 7, 3), np.uint8)
    plain = inference.load_run(workdir).predict(image)["restored"]
    run = inference.load_run(workdir, overrides={"restoration.self_ensemble": 8})
    assert run.task.ensemble_transforms == 8
    ensembled = run.predict(image)["restored"]
    assert ensembled.shape == plain.shape == (1, 36, 28, 3)  # x4, the transposes mapped back
    assert not np.array_equal(ensembled, plain)
    with pytest.raises(ValueError, match="no section 'segmentation'"):
        inference.load_run(workdir, overrides={"segmentation.dice_weight": 1.0})


def test_srgan_starts_from_the_srresnet_run(srresnet_run, photos_data_dir, tmp_path):
    workdir, _ = srresnet_run
    config = _config("srgan_small", photos_data_dir, **{"init_from.workdir": workdir})
    meta = DatasetMeta("jaxvision_photos", (), 1)
    setup = build.build(config, meta, mesh_lib.make_mesh())
    batch = {"image": np.zeros((2, 32, 32, 3), np.uint8)}
    state = build.init_state(setup, mesh_lib.global_batch(batch, setup.mesh), jax.random.key(0))
    started = init_from.init_from_run(state, config)
    source = runs.latest_params(workdir)[1]
    generator = started.networks["generator"]
    runs.assert_trees_equal(jax.device_get(generator.params), source)
    runs.assert_trees_equal(jax.device_get(generator.ema_params), source)
    # The discriminator is left as initialised.
    runs.assert_trees_equal(
        jax.device_get(started.networks["discriminator"].params),
        jax.device_get(state.networks["discriminator"].params),
    )
    # Trains from there: params and EMA are separate buffers the step can donate.
    metrics = runs.train_in_process(config, tmp_path / "srgan")
    assert set(metrics) >= EVAL_KEYS
    assert {"d_loss", "g_loss"} <= set(runs.read_metrics(tmp_path / "srgan")[-1])
    config.init_from.workdir = workdir + "_missing"
    with pytest.raises(ConfigError, match="holds no trained run"):
        init_from.init_from_run(state, config)


def test_a_perceptual_loss_without_vgg_weights_is_refused_at_start(tmp_path, photos_data_dir):
    config = _config("deblurgan_small", photos_data_dir, **{"restoration.perceptual_weight": 0.1})
    with pytest.raises(ConfigError, match="vgg19-dcbb9e9d.pth"):
        runs.train_in_process(config, tmp_path)
