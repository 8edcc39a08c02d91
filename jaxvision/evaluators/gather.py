"""Per-example outputs gathered over the whole split, then summarised once (COCO AP)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from jaxvision.evaluators.base import MASK_KEY, Batch, Evaluator

RowsFn = Callable[[Any, Batch], dict[str, jax.Array]]
SummarizeFn = Callable[[dict[str, np.ndarray]], dict[str, float]]


class GatherEvaluator(Evaluator):
    """Collects per-example rows of every real example, then computes metrics from all of them.

    For metrics that are not sums over examples (COCO AP ranks every detection of the split).
    Return only what the metric needs (not images): the rows are copied to every host.

    Args:
      name: the evaluator's name.
      rows_fn: ``(outputs, batch) -> {key: [b, ...] per-example rows}`` (jittable).
      summarize_fn: ``{key: [n, ...] rows of the n real examples, in split order} -> metrics``
        (host, NumPy).

    Example:
      >>> ev = GatherEvaluator("median", lambda out, batch: {"value": out},
      ...                      lambda rows: {"median": float(np.median(rows["value"]))})
      >>> batch = {"mask": jnp.array([1.0, 1.0, 1.0, 0.0])}
      >>> acc = ev.merge(ev.init(), jax.device_get(ev.update(jnp.array([5., 1., 2., 99.]), batch)))
      >>> ev.result(acc)
      {'median': 2.0}
    """

    def __init__(self, name: str, rows_fn: RowsFn, summarize_fn: SummarizeFn):
        super().__init__(name)
        self.rows_fn = rows_fn
        self.summarize_fn = summarize_fn

    def update(self, outputs: Any, batch: Batch) -> dict[str, jax.Array]:
        rows = dict(self.rows_fn(outputs, batch))
        if MASK_KEY in rows:
            raise ValueError(f"evaluator {self.name!r}: rows_fn must not return {MASK_KEY!r}")
        rows[MASK_KEY] = batch[MASK_KEY]
        return rows

    def init(self) -> list[dict[str, np.ndarray]]:
        return []

    def merge(self, accumulator: Any, update: Any) -> list[dict[str, np.ndarray]]:
        real = np.asarray(update[MASK_KEY]) > 0  # [b]
        kept = {k: np.asarray(v)[real] for k, v in update.items() if k != MASK_KEY}
        return [*accumulator, kept]

    def result(self, accumulator: Any) -> dict[str, float]:
        if not accumulator:
            raise ValueError(f"evaluator {self.name!r} saw no batch")
        rows = {k: np.concatenate([part[k] for part in accumulator]) for k in accumulator[0]}
        return self.summarize_fn(rows)
