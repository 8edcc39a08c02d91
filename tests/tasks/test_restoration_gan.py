"""The restoration GAN's step: both networks move, it is deterministic, 1 and 4 devices agree,
and a run resumes bit-exactly (``jaxvision.tasks.gan`` through the engine)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.engine import runs
from tests.tasks import gan_steps

pytestmark = pytest.mark.slow

# float32 on 4 devices sums the batch in another order: the losses drift by rounding only.
DEVICE_RTOL = 1e-4


@pytest.fixture(scope="module")
def one_device():
    return gan_steps.run()


def test_the_step_moves_both_networks_and_is_deterministic(one_device):
    assert one_device["moved"] == {"discriminator": True, "generator": True}
    # Two discriminator updates a step, one generator update.
    assert one_device["updates"] == {"discriminator": 2 * gan_steps.STEPS, "generator": 3}
    assert np.all(np.isfinite(one_device["losses"]))
    assert gan_steps.run() == one_device


def test_four_devices_give_the_one_device_losses(one_device):
    proc = subprocess.run(
        [sys.executable, "-m", "tests.tasks.gan_steps"],
        cwd=runs.REPO,
        env=runs.child_env(4),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    four = json.loads(proc.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(four["losses"], one_device["losses"], rtol=DEVICE_RTOL)
    assert four["moved"] == one_device["moved"]


# LSGAN trains in every other test here (deblurgan_small's loss) and the non-saturating loss
# in tests/test_e2e_restoration.py (srgan_small's); WGAN-GP adds the gradient penalty's path
# (hinge differs only in the loss values: tests/losses).
@pytest.mark.parametrize("loss", ["wgan"])
def test_every_adversarial_loss_trains(loss):
    result = gan_steps.run(**{"gan.loss": loss, "gan.gp_weight": 10.0 if loss == "wgan" else 0.0})
    assert np.all(np.isfinite(result["losses"])), result
    assert result["moved"] == {"discriminator": True, "generator": True}


def test_a_run_resumes_bit_exactly(tmp_path, photos_data_dir):
    overrides = {
        **{k: v for k, v in gan_steps.TINY.items() if k != "total_steps"},
        "batch_size": 4,
        "log_every": 1,
        "checkpoint_every": 2,
        "dataset.train_pp": "random_crop(32)|flip_lr",
        "dataset.data_dir": photos_data_dir,
        # chelsea (300 x 451), the smallest held-out photo, on a canvas just its size.
        "dataset.eval_split": "test[1:2]",
        "dataset.eval_pp": "pad_to_canvas(304, 456)",
        "eval_batch_size": 1,
        # A schedule that does not depend on total_steps: the two-part run is then an
        # interrupted one, resumed.
        "optimizers.generator.schedule": "constant",
        "optimizers.generator.warmup_steps": 0,
    }
    whole = gan_steps.config(**overrides, total_steps=4)
    runs.train_in_process(whole, tmp_path / "whole")
    runs.train_in_process(gan_steps.config(**overrides, total_steps=2), tmp_path / "split")
    runs.train_in_process(gan_steps.config(**overrides, total_steps=4), tmp_path / "split")
    _, whole_state = _state(tmp_path / "whole")
    _, split_state = _state(tmp_path / "split")
    runs.assert_trees_equal(whole_state["networks"], split_state["networks"])
    losses = lambda d: [(m["d_loss"], m["g_loss"]) for m in runs.read_metrics(d)]  # noqa: E731
    assert losses(tmp_path / "split") == losses(tmp_path / "whole")


def _state(workdir):
    import os

    import orbax.checkpoint as ocp

    directory = os.path.join(workdir, "checkpoints")
    step = max(int(d) for d in os.listdir(directory) if d.isdigit())
    return step, ocp.PyTreeCheckpointer().restore(os.path.join(directory, str(step), "state"))
