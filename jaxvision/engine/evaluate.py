"""Running a task's evaluators over a whole eval split (padded, masked, on every host)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import ml_collections
from jax.experimental import multihost_utils

from jaxvision.data import pipeline
from jaxvision.engine import mesh as mesh_lib
from jaxvision.engine import sharding as sharding_lib
from jaxvision.evaluators import Evaluator


def loader_options(config: ml_collections.ConfigDict) -> pipeline.LoaderOptions:
    """The config's ``dataset`` loader settings (workers, read threads, prefetch)."""
    ds = config.dataset
    return pipeline.LoaderOptions(
        worker_count=ds.worker_count,
        read_threads=ds.read_threads,
        prefetch_buffer_size=ds.prefetch_buffer_size,
    )


def eval_batches(setup: Any, eval_source: Any) -> Any:
    """The eval split as local batches: every example once, padded with masked copies."""
    config, task = setup.config, setup.task
    dataset, _ = pipeline.eval_dataset(
        eval_source,
        task.eval_pp,
        task.eval_keys,
        global_batch_size=config.eval_batch_size,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
        options=loader_options(config),
        max_boxes=task.max_boxes,
    )
    return dataset


def merge_results(
    evaluators: Sequence[Evaluator], accumulators: dict[str, Any]
) -> dict[str, float]:
    """Every evaluator's result, in one dict.

    Raises:
      ValueError: two evaluators write the same metric key.
    """
    metrics: dict[str, float] = {}
    owner: dict[str, str] = {}
    for ev in evaluators:
        for key, value in ev.result(accumulators[ev.name]).items():
            if key in metrics:
                raise ValueError(
                    f"evaluators {owner[key]!r} and {ev.name!r} both write the metric {key!r}"
                )
            metrics[key], owner[key] = value, ev.name
    return metrics


def evaluate(
    setup: Any,
    variables: dict[str, Any],
    eval_source: Any,
    eval_step: Callable[[dict[str, Any], Any], dict[str, Any]],
    on_first_batch: Callable[[Any], None] | None = None,
) -> dict[str, float]:
    """The metrics of ``setup.evaluators`` over the whole eval split.

    Args:
      setup: the run's ``jaxvision.engine.build.Setup``.
      variables: network name -> variables (``TrainState.eval_variables()``).
      eval_source: the eval split's random-access source.
      eval_step: ``jaxvision.engine.steps.compile_eval_step``'s function.
      on_first_batch: called with the first global batch (e.g. to draw predictions).

    Returns:
      Every evaluator's metrics.

    Raises:
      ValueError: the split yielded no batch, or two evaluators write one key.
    """
    # Eval is compiled for replicated variables: gather FSDP shards once.
    variables = sharding_lib.replicate(variables, setup.mesh)
    evaluators = setup.evaluators
    accumulators = {ev.name: ev.init() for ev in evaluators}
    seen = False
    for local in eval_batches(setup, eval_source):
        batch = mesh_lib.global_batch(local, setup.mesh)
        updates = jax.device_get(eval_step(variables, batch))
        for ev in evaluators:
            accumulators[ev.name] = ev.merge(accumulators[ev.name], updates[ev.name])
        if on_first_batch is not None and not seen:
            on_first_batch(batch)
        seen = True
    if not seen:
        raise ValueError(f"the eval split {setup.config.dataset.eval_split!r} yielded no batch")
    return merge_results(evaluators, accumulators)


def gather_to_host(tree: Any) -> Any:
    """A pytree of global arrays (sharded over processes) as NumPy on every host."""
    return multihost_utils.process_allgather(tree, tiled=True)
