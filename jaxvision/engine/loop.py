"""The one training loop: every task trains, evaluates, checkpoints and resumes through it."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging
from tqdm import tqdm

from jaxvision import visualize
from jaxvision.data import pipeline, sources
from jaxvision.engine import build, steps
from jaxvision.engine import mesh as mesh_lib
from jaxvision.engine import sharding as sharding_lib
from jaxvision.engine.checkpoint import Checkpointer
from jaxvision.engine.evaluate import evaluate, gather_to_host, loader_options
from jaxvision.engine.init_from import init_from_run
from jaxvision.engine.metric_writer import MetricWriter
from jaxvision.engine.preemption import Preempted, PreemptionGuard
from jaxvision.engine.train_log import NonFiniteLossError, TrainLog, progress_postfix
from jaxvision.engine.train_state import TrainState

CONFIG_FILE = "config.json"
DATASET_META_FILE = "dataset_meta.json"
CHECKPOINT_DIR = "checkpoints"
PREDICTIONS_FILE = "predictions.png"

__all__ = ["NonFiniteLossError", "train_and_evaluate"]


@dataclasses.dataclass(frozen=True)
class CompilerOptions:
    """XLA options of the compiled steps (the entry point's host tuning; empty: JAX's).

    Attributes:
      train: options of the train step.
      inference: options of the eval step and predict.
      init: options of the one-off program that initialises the state.
    """

    train: dict[str, Any] = dataclasses.field(default_factory=dict)
    inference: dict[str, Any] = dataclasses.field(default_factory=dict)
    init: dict[str, Any] = dataclasses.field(default_factory=dict)


def _is_chief() -> bool:
    return jax.process_index() == 0


def _write_json(path: str, value: Any) -> None:
    if _is_chief():
        with open(path, "w") as f:
            json.dump(value, f, indent=2, sort_keys=True)


def _prepare_workdir(config: ml_collections.ConfigDict, workdir: str) -> None:
    if _is_chief():
        os.makedirs(workdir, exist_ok=True)
        path = os.path.join(workdir, CONFIG_FILE)
        if os.path.exists(path):
            with open(path) as f:
                previous = json.load(f)
            if previous != json.loads(config.to_json()):
                logging.warning("the config differs from the one saved in %s", path)
        _write_json(path, json.loads(config.to_json()))


def _train_data(setup: build.Setup, train_source: Any) -> Any:
    config, task = setup.config, setup.task
    return pipeline.train_dataset(
        train_source,
        task.train_pp,
        task.train_keys,
        global_batch_size=config.batch_size,
        seed=config.seed,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
        options=loader_options(config),
        max_boxes=task.max_boxes,
    )


def _start_state(setup, train_data, workdir, checkpointer, writer, init_options):
    """The step-0 state, or the latest checkpoint's (and the data iterator it restores)."""
    meta = setup.task.meta
    init_rng, train_rng = jax.random.split(jax.random.key(setup.config.seed))
    sample = mesh_lib.global_batch(next(iter(train_data)), setup.mesh)
    state = build.init_state(setup, sample, init_rng, init_options)
    if checkpointer.latest_step() is None:
        state = init_from_run(state, setup.config)
    run_meta = {**dataclasses.asdict(meta), "input_shape": list(sample["image"].shape[1:])}
    _write_json(os.path.join(workdir, DATASET_META_FILE), run_meta)
    train_iter = iter(train_data)
    restored = checkpointer.restore_latest(state, train_iter)
    if restored is not None:
        state = restored
        writer.truncate_after(int(state.step))
        logging.info("resumed from step %d", int(state.step))
    return state, train_iter, train_rng


def _picture(setup: build.Setup, predict: Any, variables: Any) -> tuple[list, Any]:
    """A callback drawing the first eval batch's predictions, and the box it fills."""
    drawn = []
    visualizer = visualize.for_task(setup.task)
    forward = jax.jit(setup.task.eval_forward) if visualizer.uses_eval_forward else None

    def on_first_batch(batch):
        if forward is not None:
            outputs = gather_to_host(forward(variables, batch))
        else:
            outputs = gather_to_host(predict(variables, batch["image"]))
        drawn.append(visualizer.render_batch(gather_to_host(batch), outputs))

    return drawn, on_first_batch


@dataclasses.dataclass
class _Run:
    """What the train loop uses, built once by ``train_and_evaluate``."""

    config: ml_collections.ConfigDict
    mesh: Any
    rng: jax.Array
    train_iter: Any
    train_step: Any
    evaluate: Any
    checkpointer: Checkpointer
    writer: MetricWriter
    log: TrainLog
    bar: Any


def _train_loop(run: _Run, state: TrainState, start: int) -> TrainState:
    """Steps ``start`` .. ``total_steps``: logs, checkpoints, evaluates, stops on SIGTERM."""
    config, checkpointer, log = run.config, run.checkpointer, run.log
    last_saved = checkpointer.latest_step()
    with PreemptionGuard(sync_every=config.log_every) as guard:
        for step in range(start, config.total_steps):
            batch = mesh_lib.global_batch(next(run.train_iter), run.mesh)
            state, metrics = run.train_step(state, batch, jax.random.fold_in(run.rng, step))
            done = step + 1
            log.add(done, metrics)
            run.bar.update(1)
            final = done == config.total_steps
            if done % config.log_every == 0 or final:
                run.bar.set_postfix(progress_postfix(log.flush(last_saved)))
            stop = guard.should_stop(done)
            if done % config.checkpoint_every == 0 or final or stop:
                log.flush(last_saved, write=not final)
                checkpointer.save(done, state, run.train_iter)
                last_saved = done
            if stop:
                checkpointer.wait()
                logging.warning("SIGTERM: saved a checkpoint at step %d; exiting", done)
                raise Preempted(done)
            if config.eval_every and done % config.eval_every == 0 and not final:
                run.writer.write(done, "eval", run.evaluate(state))
    return state


def _final_eval(run: _Run, setup: build.Setup, state: TrainState, eval_source, options, workdir):
    """The final eval over the whole split, and the picture of the first batch's predictions."""
    predict = steps.compile_predict(setup.task, setup.mesh, options.inference)
    variables = sharding_lib.replicate(state.eval_variables(), setup.mesh)
    drawn, on_first_batch = _picture(setup, predict, variables)
    metrics = run.evaluate(state, variables=variables, on_first_batch=on_first_batch)
    run.writer.write(int(state.step), "eval", metrics)
    if drawn and drawn[0] is not None and _is_chief():
        drawn[0].save(os.path.join(workdir, PREDICTIONS_FILE))
        run.writer.write_image(int(state.step), "predictions", np.asarray(drawn[0]))
    return metrics


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str,
    compiler_options: CompilerOptions | None = None,
) -> dict[str, float]:
    """Trains ``config.task`` on ``config.dataset``; evaluates, checkpoints, resumes.

    Args:
      config: a config from ``train/configs`` (see ``train/configs/common.py``).
      workdir: output folder: ``config.json``, ``metrics.jsonl``, TensorBoard events,
        ``checkpoints/`` and ``predictions.png``. A workdir holding checkpoints is
        resumed from the latest one.
      compiler_options: XLA options of the steps (``python -m train`` passes its host's,
        ``train/host_tuning.py``); None: JAX's defaults.

    Returns:
      The final eval metrics.

    Raises:
      NonFiniteLossError: a loss became NaN/Inf (the last good checkpoint stays).
      CheckpointError: the workdir's checkpoint does not fit this run.
      Preempted: SIGTERM arrived; a checkpoint was saved first.
    """
    options = compiler_options or CompilerOptions()
    _prepare_workdir(config, workdir)
    mesh = mesh_lib.make_mesh()
    ds = config.dataset
    train_source, meta = sources.open_split(ds.name, ds.train_split, ds.data_dir)
    eval_source, _ = sources.open_split(
        ds.name, ds.eval_split, ds.data_dir, class_names=meta.class_names
    )
    setup = build.build(config, meta, mesh)
    logging.info("devices: %d (%d processes); %s", jax.device_count(), jax.process_count(), meta)
    checkpointer = Checkpointer(os.path.join(workdir, CHECKPOINT_DIR), config.keep_checkpoints)
    writer = MetricWriter(workdir)
    try:
        return _train(setup, train_source, eval_source, options, workdir, checkpointer, writer)
    finally:
        checkpointer.close()
        writer.close()


def _train(setup, train_source, eval_source, options, workdir, checkpointer, writer):
    """The body of ``train_and_evaluate`` once its checkpointer and writer are open."""
    config, mesh = setup.config, setup.mesh
    state, train_iter, rng = _start_state(
        setup, _train_data(setup, train_source), workdir, checkpointer, writer, options.init
    )
    start = int(state.step)
    eval_step = steps.compile_eval_step(setup.task, setup.evaluators, mesh, options.inference)

    def run_eval(state, variables=None, on_first_batch=None):
        variables = state.eval_variables() if variables is None else variables
        return evaluate(setup, variables, eval_source, eval_step, on_first_batch)

    run = _Run(
        config=config,
        mesh=mesh,
        rng=rng,
        train_iter=train_iter,
        train_step=steps.compile_train_step(
            setup.task, mesh, sharding_lib.shardings_of(state), options.train
        ),
        evaluate=run_eval,
        checkpointer=checkpointer,
        writer=writer,
        log=TrainLog(writer, config.batch_size),
        bar=tqdm(total=config.total_steps, initial=start, disable=not _is_chief(), unit="step"),
    )
    try:
        state = _train_loop(run, state, start)
        return _final_eval(run, setup, state, eval_source, options, workdir)
    finally:
        run.bar.close()
