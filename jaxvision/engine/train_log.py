"""Train metrics: collected on the device every step, fetched, checked and written in bulk."""

from __future__ import annotations

import math
import time
from typing import Any

import jax
import numpy as np

from jaxvision.engine.metric_writer import MetricWriter
from jaxvision.engine.updates import is_loss_metric

# Metrics whose last value, not their mean, is logged.
LAST_VALUE_SUFFIX = "learning_rate"


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or Inf; the last good checkpoint is kept."""


class TrainLog:
    """Collects per-step metrics on the device; fetches, checks and writes them in bulk.

    Fetching every step would stall the device pipeline; instead the loop flushes at log and
    checkpoint steps. Every step's ``loss`` and ``*_loss`` metrics are checked for NaN/Inf
    (the NaN guard).

    Args:
      writer: where train lines go.
      global_batch_size: examples a step, for ``images_per_sec``.
    """

    def __init__(self, writer: MetricWriter, global_batch_size: int):
        self.writer = writer
        self.global_batch_size = global_batch_size
        self.pending: list[tuple[int, Any]] = []
        self.last_time = time.perf_counter()
        self.last: dict[str, float] = {}

    def add(self, step: int, metrics: Any) -> None:
        self.pending.append((step, metrics))

    def flush(self, last_good_checkpoint: int | None, write: bool = True) -> dict[str, float]:
        """Fetches the pending steps' metrics, checks their losses, writes their means.

        Raises:
          NonFiniteLossError: a loss metric of some step is NaN or Inf; the message names the
            step, the metric and the checkpoint that is kept.
        """
        if not self.pending:
            return self.last
        fetched = jax.device_get([m for _, m in self.pending])
        for (step, _), metrics in zip(self.pending, fetched, strict=True):
            _check_losses(step, metrics, last_good_checkpoint)
        now = time.perf_counter()
        means = {
            k: float(fetched[-1][k])
            if k.endswith(LAST_VALUE_SUFFIX)
            else float(np.mean([m[k] for m in fetched]))
            for k in fetched[0]
        }
        means["steps_per_sec"] = len(self.pending) / max(now - self.last_time, 1e-9)
        means["images_per_sec"] = means["steps_per_sec"] * self.global_batch_size
        if write:
            self.writer.write(self.pending[-1][0], "train", means)
        self.pending.clear()
        self.last_time = now
        self.last = means
        return means


def _check_losses(step: int, metrics: dict[str, Any], last_good_checkpoint: int | None) -> None:
    for name, value in metrics.items():
        if is_loss_metric(name) and not math.isfinite(float(value)):
            kept = (
                f"the last good checkpoint (step {last_good_checkpoint}) is kept"
                if last_good_checkpoint is not None
                else "no checkpoint had been saved yet"
            )
            raise NonFiniteLossError(
                f"{name} is {float(value)} at step {step}; stopping the run: {kept}."
            )


def progress_postfix(means: dict[str, float]) -> dict[str, str]:
    """The progress bar's figures: the losses and images a second."""
    shown = {k: f"{v:.4f}" for k, v in means.items() if is_loss_metric(k) and "/" not in k}
    shown = dict(list(shown.items())[:3])
    shown["img_s"] = f"{means.get('images_per_sec', 0.0):.0f}"
    return shown
