"""Trains a model: ``python -m train --config=train/configs/<name>.py --workdir=DIR``.

Overrides: ``--config.key=value`` (e.g. ``--config.total_steps=100``,
``--config.dataset.data_dir=PATH``). Several processes (hosts): start the same
command once per process with ``--coordinator_address=HOST:PORT
--num_processes=N --process_id=I``; on Slurm or a TPU pod ``--distributed_auto``
lets JAX find the layout itself.
"""

from __future__ import annotations

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from train import config_flags as jv_config_flags
from train import host_tuning

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder (resumed when it has checkpoints).")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "HOST:PORT of process 0.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Number of processes.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index.")
_AUTO = flags.DEFINE_bool(
    "distributed_auto", False, "jax.distributed.initialize() with cluster auto-detection."
)
flags.mark_flags_as_required(["config", "workdir"])
# Final eval metrics printed to stdout (those a run has).
HEADLINE_METRICS = ("accuracy", "top5_accuracy", "correct_iou50", "AP", "AP50", "mIoU", "psnr")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not any(a.startswith(("--verbosity", "-v")) for a in sys.argv):
        logging.set_verbosity(logging.WARNING)  # Orbax and Grain log a lot at INFO
    from jaxvision.engine import distributed

    if _AUTO.value:
        distributed.initialize_auto()
    else:
        distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)

    from jaxvision.data.sources import DatasetNotFoundError
    from jaxvision.engine import loop
    from jaxvision.engine.build import ConfigError
    from jaxvision.engine.checkpoint import CheckpointError

    config = _CONFIG.value
    try:
        metrics = loop.train_and_evaluate(
            config, _WORKDIR.value, host_tuning.compiler_options(config)
        )
    except (DatasetNotFoundError, CheckpointError, ConfigError, loop.NonFiniteLossError) as e:
        sys.exit(f"error: {e}")
    logging.info("final eval: %s", metrics)
    import jax

    if jax.process_index() == 0:
        for name in HEADLINE_METRICS:
            if name in metrics:
                print(f"{name}: {metrics[name]:.4f}", flush=True)


if __name__ == "__main__":
    host_tuning.reexec_with_tuned_malloc("train", sys.argv[1:])
    jv_config_flags.check_overrides(sys.argv)
    app.run(main)
