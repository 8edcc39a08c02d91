"""SIGTERM handling: finish the step, save a checkpoint, then exit."""

from __future__ import annotations

import signal
import threading

import jax
import numpy as np
from jax.experimental import multihost_utils

# Exit status of a run stopped by SIGTERM after saving (128 + SIGTERM, as a shell reports it).
EXIT_PREEMPTED = 128 + signal.SIGTERM


class Preempted(SystemExit):
    """Raised after the checkpoint of a SIGTERM-stopped run is on disk."""

    def __init__(self, step: int):
        super().__init__(EXIT_PREEMPTED)
        self.step = step


class PreemptionGuard:
    """Turns SIGTERM into a flag the train loop polls between steps.

    In a multi-process run the processes agree (an all-gather of the flag) so
    that all of them stop at the same step and save one consistent checkpoint;
    that costs a host sync, so it is done only every ``sync_every`` steps.

    Example:
      >>> import os
      >>> import signal
      >>> with PreemptionGuard() as guard:
      ...     for step in range(100):
      ...         if step == 3:  # the scheduler preempts the job
      ...             os.kill(os.getpid(), signal.SIGTERM)
      ...         if guard.should_stop(step):
      ...             break  # save a checkpoint, then exit
      >>> step
      3
    """

    def __init__(self, sync_every: int = 1):
        self.sync_every = max(1, sync_every)
        self._requested = False
        self._previous = None

    def _handler(self, signum, frame) -> None:
        del signum, frame
        self._requested = True

    def __enter__(self) -> PreemptionGuard:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    def should_stop(self, step: int) -> bool:
        """Whether to stop after ``step`` (every process gets the same answer)."""
        if jax.process_count() == 1:
            return self._requested
        if step % self.sync_every:
            return False
        flags = multihost_utils.process_allgather(np.int32(self._requested))
        return bool(np.any(flags))
