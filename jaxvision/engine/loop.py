"""The one training loop: every task trains, evaluates, checkpoints and resumes through it."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging
from jax.experimental import multihost_utils
from tqdm import tqdm

from jaxvision import optim, tasks
from jaxvision.data import pipeline, sources
from jaxvision.engine import compiler_options, loss_scale, steps, train_state
from jaxvision.engine import mesh as mesh_lib
from jaxvision.engine import sharding as sharding_lib
from jaxvision.engine.checkpoint import Checkpointer
from jaxvision.engine.metric_writer import MetricWriter
from jaxvision.engine.preemption import Preempted, PreemptionGuard
from jaxvision.engine.train_state import TrainState
from jaxvision.tasks.base import Task

CONFIG_FILE = "config.json"
DATASET_META_FILE = "dataset_meta.json"
CHECKPOINT_DIR = "checkpoints"
PREDICTIONS_FILE = "predictions.png"


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or Inf; the last good checkpoint is kept."""


def _is_chief() -> bool:
    return jax.process_index() == 0


def _write_json(path: str, value: Any) -> None:
    if _is_chief():
        with open(path, "w") as f:
            json.dump(value, f, indent=2, sort_keys=True)


def _loader_options(config: ml_collections.ConfigDict) -> pipeline.LoaderOptions:
    ds = config.dataset
    return pipeline.LoaderOptions(
        worker_count=ds.worker_count,
        read_threads=ds.read_threads,
        prefetch_buffer_size=ds.prefetch_buffer_size,
    )


@dataclasses.dataclass
class Setup:
    """What a run builds before its first step (shared by training and inference)."""

    config: ml_collections.ConfigDict
    mesh: Any
    task: Task
    tx: Any
    schedule: Any


def build_task(
    config: ml_collections.ConfigDict, meta: sources.DatasetMeta
) -> tuple[Task, Any, Any]:
    """The task and its optimizer (``tx``, ``schedule``) for a config."""
    task = tasks.get_task(config.task)(config, meta)
    accumulation = config.optimizer.accumulation_steps
    tx, schedule = optim.make_optimizer(config.optimizer, config.total_steps // accumulation)
    return task, tx, schedule


def init_state(setup: Setup, sample_batch: Any, rng: jax.Array) -> TrainState:
    """The step-0 ``TrainState``, initialised under ``jit`` straight into its shardings.

    The shardings follow ``config.sharding`` (``jaxvision.engine.sharding``: replicated, or
    FSDP over ``data``), computed once from the abstract state; the train step and the
    checkpoint restore take them from the returned state. A float16 model gets a loss
    scale (``jaxvision.engine.loss_scale.from_config``).
    """

    def init(rng, batch):
        variables = setup.task.init_variables(rng, batch)
        return train_state.create(variables, setup.tx, loss_scale.from_config(setup.config))

    abstract = jax.eval_shape(init, rng, sample_batch)
    shardings = sharding_lib.from_config(abstract, setup.mesh, setup.config)
    return jax.jit(init, out_shardings=shardings)(rng, sample_batch)


def evaluate(
    setup: Setup,
    variables: dict[str, Any],
    eval_source: Any,
    eval_step: Any,
    predict: Any | None = None,
) -> tuple[dict[str, float], Any]:
    """Metrics over the whole eval split (padded, masked), and the first batch's predictions.

    Returns:
      ``(metrics, picture)``; ``picture`` is the task's rendering of the first
      batch (or None when ``predict`` is None or the task draws none).
    """
    config = setup.config
    # Eval and predict are compiled for replicated variables: gather FSDP shards once.
    variables = sharding_lib.replicate(variables, setup.mesh)
    dataset, _ = pipeline.eval_dataset(
        eval_source,
        setup.task.eval_pp,
        setup.task.eval_keys,
        global_batch_size=config.eval_batch_size,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
        options=_loader_options(config),
    )
    task = setup.task
    sums, outputs, picture = None, [], None
    for local in dataset:
        batch = mesh_lib.global_batch(local, setup.mesh)
        result = jax.device_get(eval_step(variables, batch))
        if task.eval_mode == "outputs":
            outputs.append(result)
        else:
            sums = result if sums is None else jax.tree.map(np.add, sums, result)
        if predict is not None and picture is None:
            predicted = multihost_utils.process_allgather(
                predict(variables, batch["image"]), tiled=True
            )
            full = multihost_utils.process_allgather(batch, tiled=True)
            picture = task.render_predictions(full, predicted)
    if sums is None and not outputs:
        raise ValueError(f"the eval split {config.dataset.eval_split!r} yielded no batch")
    if task.eval_mode == "outputs":
        return task.summarize_eval_outputs(_concat_real(outputs)), picture
    return task.summarize_eval(sums), picture


def _concat_real(outputs: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenates per-batch eval outputs and keeps the real (``mask == 1``) rows."""
    joined = {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]}
    if pipeline.MASK_KEY not in joined:
        raise KeyError(f"eval_outputs must return the batch's {pipeline.MASK_KEY!r}")
    real = joined[pipeline.MASK_KEY] > 0
    return {k: v[real] for k, v in joined.items()}


class _TrainLog:
    """Collects per-step metrics on the device; fetches, checks and writes them in bulk.

    Fetching every step would stall the device pipeline; instead the loop flushes
    at log and checkpoint steps, and every step's loss is checked for NaN/Inf.
    """

    def __init__(self, writer: MetricWriter, global_batch_size: int):
        self.writer = writer
        self.global_batch_size = global_batch_size
        self.pending: list[tuple[int, Any]] = []
        self.last_time = time.perf_counter()
        self.last = {}

    def add(self, step: int, metrics: Any) -> None:
        self.pending.append((step, metrics))

    def flush(self, last_good_checkpoint: int | None, write: bool = True) -> dict[str, float]:
        if not self.pending:
            return self.last
        fetched = jax.device_get([m for _, m in self.pending])
        for (step, _), metrics in zip(self.pending, fetched, strict=True):
            if not math.isfinite(float(metrics["loss"])):
                kept = (
                    f"the last good checkpoint (step {last_good_checkpoint}) is kept"
                    if last_good_checkpoint is not None
                    else "no checkpoint had been saved yet"
                )
                raise NonFiniteLossError(
                    f"loss is {float(metrics['loss'])} at step {step}; stopping the run: {kept}."
                )
        now = time.perf_counter()
        steps_done = len(self.pending)
        means = {k: float(np.mean([m[k] for m in fetched])) for k in fetched[0]}
        means["learning_rate"] = float(fetched[-1]["learning_rate"])
        means["steps_per_sec"] = steps_done / max(now - self.last_time, 1e-9)
        means["images_per_sec"] = means["steps_per_sec"] * self.global_batch_size
        if write:
            self.writer.write(self.pending[-1][0], "train", means)
        self.pending.clear()
        self.last_time = now
        self.last = means
        return means


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


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Trains ``config.task`` on ``config.dataset``; evaluates, checkpoints, resumes.

    Args:
      config: a config from ``train/configs`` (see ``train/configs/demo.py``).
      workdir: output folder: ``config.json``, ``metrics.jsonl``, TensorBoard events,
        ``checkpoints/`` and ``predictions.png``. A workdir holding checkpoints is
        resumed from the latest one.

    Returns:
      The final eval metrics.

    Raises:
      NonFiniteLossError: the loss became NaN/Inf (the last good checkpoint stays).
      CheckpointError: the workdir's checkpoint does not fit this run.
      Preempted: SIGTERM arrived; a checkpoint was saved first.
    """
    _prepare_workdir(config, workdir)
    mesh = mesh_lib.make_mesh()
    ds = config.dataset
    train_source, meta = sources.open_split(ds.name, ds.train_split, ds.data_dir)
    eval_source, _ = sources.open_split(
        ds.name, ds.eval_split, ds.data_dir, class_names=meta.class_names
    )
    task, tx, schedule = build_task(config, meta)
    setup = Setup(config=config, mesh=mesh, task=task, tx=tx, schedule=schedule)
    logging.info("devices: %d (%d processes); %s", jax.device_count(), jax.process_count(), meta)

    train_data = pipeline.train_dataset(
        train_source,
        task.train_pp,
        task.train_keys,
        global_batch_size=config.batch_size,
        seed=config.seed,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
        options=_loader_options(config),
    )
    init_rng, train_rng = jax.random.split(jax.random.key(config.seed))
    sample = mesh_lib.global_batch(next(iter(train_data)), mesh)
    state = init_state(setup, sample, init_rng)
    run_meta = {**dataclasses.asdict(meta), "input_shape": list(sample["image"].shape[1:])}
    _write_json(os.path.join(workdir, DATASET_META_FILE), run_meta)
    train_iter = iter(train_data)

    checkpointer = Checkpointer(os.path.join(workdir, CHECKPOINT_DIR), config.keep_checkpoints)
    writer = MetricWriter(workdir)
    restored = checkpointer.restore_latest(state, train_iter)
    if restored is not None:
        state = restored
        writer.truncate_after(int(state.step))
        logging.info("resumed from step %d", int(state.step))
    start = int(state.step)

    overrides = config.get("compiler_options")
    options = compiler_options.for_backend(overrides=overrides)
    inference_options = compiler_options.for_backend(overrides=overrides, inference=True)
    train_step = steps.compile_train_step(
        task,
        tx,
        schedule,
        mesh,
        config.optimizer.accumulation_steps,
        state_sharding=sharding_lib.shardings_of(state),
        compiler_options=options,
    )
    eval_step = steps.compile_eval_step(task, mesh, compiler_options=inference_options)
    predict = steps.compile_predict(task, mesh, compiler_options=inference_options)
    log = _TrainLog(writer, config.batch_size)
    last_saved = checkpointer.latest_step()
    bar = tqdm(
        total=config.total_steps, initial=start, disable=not _is_chief(), unit="step", smoothing=0.1
    )
    try:
        with PreemptionGuard(sync_every=config.log_every) as guard:
            for step in range(start, config.total_steps):
                batch = mesh_lib.global_batch(next(train_iter), mesh)
                state, metrics = train_step(state, batch, jax.random.fold_in(train_rng, step))
                done = step + 1
                log.add(done, metrics)
                bar.update(1)
                final = done == config.total_steps
                if done % config.log_every == 0 or final:
                    means = log.flush(last_saved)
                    bar.set_postfix(
                        loss=f"{means['loss']:.4f}", img_s=f"{means['images_per_sec']:.0f}"
                    )
                stop = guard.should_stop(done)
                if done % config.checkpoint_every == 0 or final or stop:
                    log.flush(last_saved, write=not final)
                    checkpointer.save(done, state, train_iter)
                    last_saved = done
                if stop:
                    checkpointer.wait()
                    logging.warning("SIGTERM: saved a checkpoint at step %d; exiting", done)
                    raise Preempted(done)
                if config.eval_every and done % config.eval_every == 0 and not final:
                    metrics, _ = evaluate(setup, state.variables, eval_source, eval_step)
                    writer.write(done, "eval", metrics)
        metrics, picture = evaluate(setup, state.variables, eval_source, eval_step, predict)
        writer.write(int(state.step), "eval", metrics)
        if picture is not None and _is_chief():
            picture.save(os.path.join(workdir, PREDICTIONS_FILE))
            writer.write_image(int(state.step), "predictions", np.asarray(picture))
        return metrics
    finally:
        bar.close()
        checkpointer.close()
        writer.close()
