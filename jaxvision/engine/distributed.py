"""Starting JAX across several processes (hosts), and describing the process layout."""

from __future__ import annotations

import jax
from absl import logging


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """Calls ``jax.distributed.initialize`` when the run spans several processes.

    With no arguments this is a single-process run and nothing happens. (On a
    cluster whose layout JAX detects by itself, Slurm or a Cloud TPU pod, use
    ``initialize_auto`` instead: the ``--distributed_auto`` flag of ``train``.)

    On the CPU the collectives go through gloo, so several local processes can
    stand in for several hosts (``127.0.0.1:PORT``).

    Args:
      coordinator_address: ``HOST:PORT`` of process 0.
      num_processes: the number of processes.
      process_id: this process's index in ``[0, num_processes)``.

    Raises:
      ValueError: only some of the three arguments are given.
    """
    given = [coordinator_address is not None, num_processes is not None, process_id is not None]
    if not any(given):
        return
    if not all(given):
        raise ValueError(
            "a multi-process run needs all of --coordinator_address, --num_processes and "
            "--process_id"
        )
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
    )
    logging.info(
        "process %d of %d, %d local and %d global devices",
        jax.process_index(),
        jax.process_count(),
        jax.local_device_count(),
        jax.device_count(),
    )


def initialize_auto() -> None:
    """``jax.distributed.initialize()`` with cluster auto-detection (Slurm, TPU pods)."""
    jax.distributed.initialize()
