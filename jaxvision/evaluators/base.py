"""What an evaluator is: an update on the device, a merge over batches, a result on the host.

A task returns its evaluators (``Task.evaluators()``); the engine runs them over the whole
eval split (``jaxvision.engine.evaluate``). For each batch it compiles ONE function that
runs the task's forward pass (``Task.eval_forward``) and every evaluator's ``update`` on
its outputs, with the results replicated: inside that function XLA reduces sums and
gathers rows over every device and host, so each host holds the whole global batch's
update. On the host, ``merge`` folds the batches together and ``result`` turns the
accumulator into metrics, which go to ``metrics.jsonl`` under the evaluator's own keys.

Padding: the eval pipeline pads the split to whole global batches with copies marked
``batch["mask"] == 0``; every evaluator must give those rows no weight.

Example:
  >>> from jaxvision.evaluators import MeanEvaluator
  >>> ev = MeanEvaluator("error", lambda outputs, batch: {"abs_error": jnp.abs(outputs)})
  >>> acc = ev.merge(ev.init(), ev.update(jnp.array([1.0, -3.0, 9.0]),
  ...                                     {"mask": jnp.array([1.0, 1.0, 0.0])}))
  >>> ev.result(acc)
  {'abs_error': 2.0, 'num_examples': 2.0}
"""

from __future__ import annotations

import abc
from typing import Any

import jax

Batch = dict[str, jax.Array]
MASK_KEY = "mask"


class Evaluator(abc.ABC):
    """Computes metrics over a whole eval split, batch by batch.

    Attributes:
      name: the evaluator's name (what ``config.evaluators`` selects by).
    """

    def __init__(self, name: str):
        self.name = name

    @abc.abstractmethod
    def update(self, outputs: Any, batch: Batch) -> Any:
        """This batch's contribution, computed on the device inside ``jit`` (pure).

        Args:
          outputs: ``Task.eval_forward``'s outputs for the batch.
          batch: the global eval batch, with ``mask`` [b] (0 on padding rows).

        Returns:
          A pytree of arrays (sums, per-example rows, counts ...).
        """

    def init(self) -> Any:
        """The empty accumulator (host)."""
        return None

    @abc.abstractmethod
    def merge(self, accumulator: Any, update: Any) -> Any:
        """The accumulator with one batch's (host) ``update`` folded in."""

    @abc.abstractmethod
    def result(self, accumulator: Any) -> dict[str, float]:
        """The metrics of the whole split, from the accumulator of every batch."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
