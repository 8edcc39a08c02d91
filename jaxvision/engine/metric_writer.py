"""Writes metrics to ``metrics.jsonl`` (one JSON object a line) and TensorBoard."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping

import jax

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


class MetricWriter:
    """Appends ``{"step": s, "split": name, **metrics}`` lines; only process 0 writes.

    Example:
      >>> import tempfile
      >>> workdir = tempfile.mkdtemp()
      >>> w = MetricWriter(workdir)
      >>> w.write(100, "train", {"loss": 0.3})
      >>> w.close()
      >>> print(open(w.path).read().strip())  # metrics.jsonl
      {"step": 100, "split": "train", "loss": 0.3}
    """

    def __init__(self, workdir: str, enabled: bool | None = None):
        self.enabled = jax.process_index() == 0 if enabled is None else enabled
        self.path = os.path.join(workdir, METRICS_FILE)
        self._tb = None
        if self.enabled:
            from tensorboardX import SummaryWriter

            os.makedirs(workdir, exist_ok=True)
            self._tb = SummaryWriter(os.path.join(workdir, TENSORBOARD_DIR))

    def truncate_after(self, step: int) -> None:
        """Drops lines logged after ``step`` (a resumed run repeats those steps)."""
        if not self.enabled or not os.path.exists(self.path):
            return
        with open(self.path) as f:
            lines = [line for line in f if line.strip() and json.loads(line)["step"] <= step]
        with open(self.path, "w") as f:
            f.writelines(lines)

    def write(self, step: int, split: str, metrics: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        record = {"step": int(step), "split": split}
        for k, v in metrics.items():
            v = float(v)
            record[k] = v if math.isfinite(v) else str(v)
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        for k, v in metrics.items():
            self._tb.add_scalar(f"{split}/{k}", float(v), int(step))
        self._tb.flush()

    def write_image(self, step: int, tag: str, image) -> None:
        if self.enabled:
            import numpy as np

            self._tb.add_image(tag, np.asarray(image), int(step), dataformats="HWC")

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
