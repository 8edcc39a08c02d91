"""The pure train and eval steps every task shares, and their compiled forms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax
from jax.sharding import Mesh

from jaxvision.engine import mesh as mesh_lib
from jaxvision.engine.train_state import TrainState
from jaxvision.tasks.base import Batch, Metrics, Task


def train_step(
    state: TrainState,
    batch: Batch,
    rng: jax.Array,
    *,
    task: Task,
    tx: optax.GradientTransformation,
    schedule: optax.Schedule,
    accumulation_steps: int = 1,
) -> tuple[TrainState, Metrics]:
    """One optimizer micro-step: ``(state, batch, rng) -> (state, metrics)``.

    Args:
      state: the current state.
      batch: a global batch (sharded over ``data``).
      rng: this step's key (``fold_in(seed_key, step)``: independent of restarts).
      task: supplies the loss.
      tx: the optimizer.
      schedule: the learning-rate schedule (for the ``learning_rate`` metric).
      accumulation_steps: micro-steps per optimizer update (the schedule's clock).

    Returns:
      The new state and scalar metrics: the task's, ``loss``, ``grad_norm`` and
      ``learning_rate``.
    """

    def loss_fn(params):
        return task.loss(params, state.model_state, batch, rng)

    (loss, (model_state, metrics)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {
        **metrics,
        "loss": loss,
        "grad_norm": optax.global_norm(grads),
        "learning_rate": schedule(state.step // accumulation_steps),
    }
    new_state = state.replace(
        step=state.step + 1, params=params, model_state=model_state, opt_state=opt_state
    )
    return new_state, metrics


def compile_train_step(
    task: Task,
    tx: optax.GradientTransformation,
    schedule: optax.Schedule,
    mesh: Mesh,
    accumulation_steps: int = 1,
) -> Callable[[TrainState, Batch, jax.Array], tuple[TrainState, Metrics]]:
    """``train_step`` under ``jax.jit``: state replicated and donated, batch sharded."""
    replicated = mesh_lib.replicated(mesh)

    def step(state, batch, rng):
        return train_step(
            state,
            batch,
            rng,
            task=task,
            tx=tx,
            schedule=schedule,
            accumulation_steps=accumulation_steps,
        )

    return jax.jit(
        step,
        in_shardings=(replicated, mesh_lib.batch_sharding(mesh), replicated),
        out_shardings=(replicated, replicated),
        donate_argnums=(0,),
    )


def compile_eval_step(task: Task, mesh: Mesh) -> Callable[[dict[str, Any], Batch], Metrics]:
    """``task.eval_sums`` under ``jax.jit``: sums come back replicated."""
    replicated = mesh_lib.replicated(mesh)
    return jax.jit(
        task.eval_sums,
        in_shardings=(replicated, mesh_lib.batch_sharding(mesh)),
        out_shardings=replicated,
    )


def compile_predict(task: Task, mesh: Mesh) -> Callable[[dict[str, Any], jax.Array], Any]:
    """``task.predict`` under ``jax.jit`` over a sharded batch of images."""
    return jax.jit(
        task.predict,
        in_shardings=(mesh_lib.replicated(mesh), mesh_lib.batch_sharding(mesh)),
    )
