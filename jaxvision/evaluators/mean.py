"""Means of per-example values over a split, from mask-weighted sums (accuracy, IoU, loss)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from jaxvision.evaluators.base import MASK_KEY, Batch, Evaluator
from jaxvision.metrics.classification import masked_sums, means_from_sums

ValuesFn = Callable[[Any, Batch], dict[str, jax.Array]]


class MeanEvaluator(Evaluator):
    """The mean of each per-example value over the real examples of the split.

    Args:
      name: the evaluator's name.
      values_fn: ``(outputs, batch) -> {metric name: [b] per-example values}`` (jittable).

    Writes each metric's mean and ``num_examples``.

    Example:
      >>> ev = MeanEvaluator("cls", lambda out, batch: {"accuracy": out == batch["label"]})
      >>> acc = ev.init()
      >>> for out, label, mask in (([1, 2], [1, 0], [1, 1]), ([3, 0], [3, 9], [1, 0])):
      ...     batch = {"label": jnp.array(label), "mask": jnp.array(mask, jnp.float32)}
      ...     acc = ev.merge(acc, jax.device_get(ev.update(jnp.array(out), batch)))
      >>> ev.result(acc)
      {'accuracy': 0.6666666666666666, 'num_examples': 3.0}
    """

    def __init__(self, name: str, values_fn: ValuesFn):
        super().__init__(name)
        self.values_fn = values_fn

    def update(self, outputs: Any, batch: Batch) -> dict[str, jax.Array]:
        return masked_sums(self.values_fn(outputs, batch), batch[MASK_KEY])

    def merge(self, accumulator: Any, update: Any) -> dict[str, np.ndarray]:
        # float64 on the host: exact sums of float32 batch sums over any split size.
        update = {k: np.asarray(v, np.float64) for k, v in update.items()}
        if accumulator is None:
            return update
        return {k: accumulator[k] + update[k] for k in accumulator}

    def result(self, accumulator: Any) -> dict[str, float]:
        if accumulator is None:
            raise ValueError(f"evaluator {self.name!r} saw no batch")
        return means_from_sums(accumulator)
