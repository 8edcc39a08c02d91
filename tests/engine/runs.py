"""Helpers to run ``python -m train`` in a subprocess and read what a run wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import orbax.checkpoint as ocp

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_CONFIG = os.path.join(REPO, "train", "configs", "demo.py")

# A few-second run of the demo config: small batches of a slice of the dataset.
TINY = {
    "batch_size": 16,
    "eval_batch_size": 64,
    "total_steps": 12,
    "log_every": 1,
    "checkpoint_every": 4,
    "optimizer.warmup_steps": 2,
    "dataset.train_split": "train[:1024]",
    "dataset.eval_split": "test[:100]",
}


def train_command(
    workdir: str,
    data_dir: str,
    overrides: dict | None = None,
    config: str = DEMO_CONFIG,
    tiny: bool = True,
) -> list[str]:
    """The ``python -m train`` command line of a run of ``config`` (``TINY`` applied when
    ``tiny``)."""
    values = {**(TINY if tiny else {}), "dataset.data_dir": data_dir, **(overrides or {})}
    return [
        sys.executable,
        "-m",
        "train",
        f"--config={config}",
        f"--workdir={workdir}",
        *(f"--config.{k}={v}" for k, v in values.items()),
    ]


def child_env(num_devices: int = 1, x64: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    env["JAX_ENABLE_X64"] = "1" if x64 else "0"
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={num_devices}"
    env["JAX_PLATFORMS"] = "cpu"
    return env


def run_train(
    workdir,
    data_dir,
    overrides=None,
    num_devices=1,
    timeout=300,
    check=True,
    x64=False,
    config=DEMO_CONFIG,
    tiny=True,
):
    proc = subprocess.run(
        train_command(str(workdir), data_dir, overrides, config=config, tiny=tiny),
        cwd=REPO,
        env=child_env(num_devices, x64),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"train failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


def read_metrics(workdir, split: str = "train") -> list[dict]:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    return [line for line in lines if line["split"] == split]


def latest_params(workdir) -> tuple[int, dict]:
    """The step and the params (NumPy) of a workdir's latest checkpoint."""
    directory = os.path.join(workdir, "checkpoints")
    steps = sorted(int(d) for d in os.listdir(directory) if d.isdigit())
    restored = ocp.PyTreeCheckpointer().restore(os.path.join(directory, str(steps[-1]), "state"))
    return steps[-1], restored["networks"]["model"]["params"]


def assert_trees_equal(a, b) -> None:
    import jax

    leaves_a, tree_a = jax.tree.flatten(a)
    leaves_b, tree_b = jax.tree.flatten(b)
    assert tree_a == tree_b
    for x, y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def train_in_process(config, workdir):
    """``loop.train_and_evaluate`` in this process, compiled as ``python -m train`` compiles
    (the host's compiler options of ``train/host_tuning.py``)."""
    from jaxvision.engine import loop
    from train import host_tuning

    return loop.train_and_evaluate(config, str(workdir), host_tuning.compiler_options(config))


def tiny_config(data_dir: str, **overrides):
    """The demo config with ``TINY`` applied, for runs inside the test process."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo_config", DEMO_CONFIG)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return with_overrides(module.get_config(), {**TINY, "dataset.data_dir": data_dir, **overrides})


def with_overrides(config, overrides: dict):
    """``config`` with dotted keys set (``{"model.kwargs.features": 8}``), new keys allowed."""
    with config.unlocked():
        for key, value in overrides.items():
            *parents, leaf = key.split(".")
            node = config
            for parent in parents:
                node = node[parent]
            node[leaf] = value
    return config


def named_config(name: str, overrides: dict):
    """``train/configs/<name>.py``'s config with ``overrides`` (see ``with_overrides``)."""
    import importlib

    return with_overrides(importlib.import_module(f"train.configs.{name}").get_config(), overrides)
