"""The engine runs a task of several networks: the tiny GAN of ``tests/engine/tiny_gan.py``.

Through ``python -m train``: a generator and a discriminator with two optimizers (the
discriminator updated twice a step), an EMA generator and a frozen feature network; it
resumes bit-exactly after SIGTERM, 4 devices with ``sharding=fsdp`` give the 1-device
losses, and a NaN stops it with the step named. The runs compute in float64 for the device
comparisons (see ``tests/engine/test_distributed.py``).
"""

from __future__ import annotations

import os
import re
import signal

import numpy as np
import orbax.checkpoint as ocp
import pytest

from tests.engine import runs
from tests.engine.test_resume import stop_after

pytestmark = pytest.mark.slow

GAN_CONFIG = os.path.join(runs.REPO, "tests", "engine", "tiny_gan_config.py")
STEPS = 12
FLOAT64 = {"model.dtype": "float64"}
RELATIVE_TOLERANCE = 1e-7
LOSSES = ("d_loss", "g_loss")


def _run(workdir, data_dir, overrides=None, num_devices=1, check=True):
    return runs.run_train(
        workdir,
        data_dir,
        {**FLOAT64, **(overrides or {})},
        num_devices=num_devices,
        x64=True,
        check=check,
        config=GAN_CONFIG,
        tiny=False,
    )


def _losses(workdir) -> np.ndarray:
    lines = runs.read_metrics(workdir)
    assert [line["step"] for line in lines] == list(range(1, STEPS + 1))
    return np.array([[line[k] for k in LOSSES] for line in lines])


def _state(workdir) -> tuple[int, dict]:
    directory = os.path.join(workdir, "checkpoints")
    steps = sorted(int(d) for d in os.listdir(directory) if d.isdigit())
    restored = ocp.PyTreeCheckpointer().restore(os.path.join(directory, str(steps[-1]), "state"))
    return steps[-1], restored


@pytest.fixture(scope="module")
def reference(tmp_path_factory, shapes_data_dir):
    workdir = tmp_path_factory.mktemp("gan_reference")
    _run(workdir, shapes_data_dir)
    return workdir


def test_two_networks_train_with_their_own_optimizers_and_an_ema(reference):
    lines = runs.read_metrics(reference)
    first = lines[0]
    # Two optimizers: each logs its own learning rate (constant, as configured).
    assert first["d_learning_rate"] == pytest.approx(1e-3)
    assert first["g_learning_rate"] == pytest.approx(2e-3)
    assert all(np.isfinite(line[k]) for line in lines for k in LOSSES)
    step, state = _state(reference)
    assert step == STEPS
    networks = state["networks"]
    assert sorted(networks) == ["discriminator", "generator"]
    # The discriminator takes 2 updates a step, the generator 1.
    assert int(networks["discriminator"]["step"]) == 2 * STEPS
    assert int(networks["generator"]["step"]) == STEPS
    # The generator keeps an EMA that lags its parameters; the discriminator none.
    ema, params = networks["generator"]["ema_params"], networks["generator"]["params"]
    kernel = ema["Dense_0"]["kernel"]
    assert kernel.shape == params["Dense_0"]["kernel"].shape
    assert not np.allclose(kernel, params["Dense_0"]["kernel"])
    assert networks["discriminator"].get("ema_params") is None
    # The frozen feature network is not in the checkpoint.
    assert not state.get("frozen")
    (eval_line,) = runs.read_metrics(reference, "eval")
    for key in ("d_real_accuracy", "fake_pixel_mean", "mIoU", "iou/real", "num_examples"):
        assert key in eval_line, key
    assert eval_line["num_examples"] == 50
    assert 0.0 <= eval_line["d_real_accuracy"] <= 1.0


def test_sigterm_then_resume_is_bit_exact(tmp_path, shapes_data_dir, reference):
    command = runs.train_command(
        str(tmp_path), shapes_data_dir, FLOAT64, config=GAN_CONFIG, tiny=False
    )
    code, stderr = stop_after(tmp_path, command, step=5, sig=signal.SIGTERM, x64=True)
    assert code == 128 + signal.SIGTERM, stderr[-2000:]
    stopped_at, _ = _state(tmp_path)
    assert 5 <= stopped_at < STEPS
    _run(tmp_path, shapes_data_dir)
    runs.assert_trees_equal(_state(reference)[1], _state(tmp_path)[1])
    np.testing.assert_array_equal(_losses(tmp_path), _losses(reference))


def test_four_devices_with_fsdp_give_the_one_device_losses(tmp_path, shapes_data_dir, reference):
    # FSDP computes as the replicated run does, on a quarter of the batch a device, and adds
    # the sharded state of both networks and both optimizers (replicated runs on 4 devices:
    # tests/engine/test_distributed.py, tests/tasks/test_restoration_gan.py).
    fsdp = {"sharding": "fsdp", "fsdp_min_size": 256}
    _run(tmp_path, shapes_data_dir, fsdp, num_devices=4)
    np.testing.assert_allclose(_losses(tmp_path), _losses(reference), rtol=RELATIVE_TOLERANCE)


def test_a_nan_stops_the_run_naming_the_step_and_keeps_the_last_checkpoint(
    tmp_path, shapes_data_dir
):
    proc = _run(tmp_path, shapes_data_dir, {"gan.nan_at_step": 6}, check=False)
    assert proc.returncode != 0
    assert re.search(r"g_loss is nan at step 6\b", proc.stderr), proc.stderr[-2000:]
    assert "last good checkpoint (step 4) is kept" in proc.stderr
    saved = sorted(int(d) for d in os.listdir(tmp_path / "checkpoints") if d.isdigit())
    assert saved[-1] == 4


def test_a_checkpoint_of_other_networks_is_refused_with_both_lists(
    tmp_path, shapes_data_dir, reference
):
    demo = tmp_path / "demo"
    runs.run_train(demo, shapes_data_dir, {"total_steps": 4, "checkpoint_every": 4})
    before = sorted(os.listdir(demo / "checkpoints"))
    proc = _run(demo, shapes_data_dir, check=False)
    assert proc.returncode != 0
    assert "holds networks ['model']" in proc.stderr
    assert "['discriminator', 'generator']" in proc.stderr
    assert sorted(os.listdir(demo / "checkpoints")) == before
