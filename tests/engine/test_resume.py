"""A run stopped at step k (SIGTERM or killed) and resumed ends bit-identical to an unbroken run."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.engine import runs

pytestmark = pytest.mark.slow


def stop_after(
    workdir, command, step: int, sig: int, after_checkpoint: int | None = None, x64: bool = False
):
    """Starts ``command`` (a run in ``workdir``), sends ``sig`` once metrics.jsonl reaches
    ``step`` (and, if given, the checkpoint of step ``after_checkpoint`` is on disk); returns
    the exit code and stderr."""
    checkpoint = os.path.join(workdir, "checkpoints", str(after_checkpoint))
    proc = subprocess.Popen(
        command,
        cwd=runs.REPO,
        env=runs.child_env(x64=x64),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics = os.path.join(workdir, "metrics.jsonl")
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        saved = after_checkpoint is None or os.path.isdir(checkpoint)
        if (
            saved
            and os.path.exists(metrics)
            and any(line["step"] >= step for line in runs.read_metrics(workdir))
        ):
            proc.send_signal(sig)
            break
        time.sleep(0.05)
    _, stderr = proc.communicate(timeout=240)
    assert proc.returncode is not None
    return proc.returncode, stderr


@pytest.fixture(scope="module")
def reference(tmp_path_factory, shapes_data_dir):
    workdir = tmp_path_factory.mktemp("unbroken")
    runs.run_train(workdir, shapes_data_dir)
    return workdir


def test_sigterm_saves_and_resume_is_bit_exact(tmp_path, shapes_data_dir, reference):
    command = runs.train_command(str(tmp_path), shapes_data_dir)
    code, stderr = stop_after(tmp_path, command, step=5, sig=signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, stderr[-2000:]
    stopped_at, _ = runs.latest_params(tmp_path)
    assert 5 <= stopped_at < runs.TINY["total_steps"]  # saved where it stopped
    runs.run_train(tmp_path, shapes_data_dir)
    step_a, params_a = runs.latest_params(reference)
    step_b, params_b = runs.latest_params(tmp_path)
    assert step_a == step_b == runs.TINY["total_steps"]
    runs.assert_trees_equal(params_a, params_b)
    # The resumed run's metrics continue the file without repeated steps.
    steps = [line["step"] for line in runs.read_metrics(tmp_path)]
    assert steps == list(range(1, runs.TINY["total_steps"] + 1))
    losses = [line["loss"] for line in runs.read_metrics(tmp_path)]
    assert losses == [line["loss"] for line in runs.read_metrics(reference)]


def test_crash_resumes_from_last_checkpoint_bit_exact(tmp_path, shapes_data_dir, reference):
    command = runs.train_command(str(tmp_path), shapes_data_dir)
    code, _ = stop_after(tmp_path, command, step=6, sig=signal.SIGKILL, after_checkpoint=4)
    assert code == -signal.SIGKILL
    crashed_at, _ = runs.latest_params(tmp_path)
    assert crashed_at in (4, 8)  # checkpoint_every=4: whatever was saved before the kill
    runs.run_train(tmp_path, shapes_data_dir)
    runs.assert_trees_equal(runs.latest_params(reference)[1], runs.latest_params(tmp_path)[1])
    loss_ref = [m["loss"] for m in runs.read_metrics(reference)]
    loss_resumed = [m["loss"] for m in runs.read_metrics(tmp_path)]
    assert loss_resumed == loss_ref
