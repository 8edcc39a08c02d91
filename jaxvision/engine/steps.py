"""The pure train and eval steps every task shares, and their compiled forms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from jaxvision.engine import compiler_options as compiler_options_lib
from jaxvision.engine import loss_scale
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

    With a loss scale in the state (float16 compute), the scaled loss is
    differentiated and the gradients unscaled; a step whose gradients are not all
    finite leaves params, optimizer and model state unchanged (the step still
    counts) and halves the scale (``jaxvision.engine.loss_scale``).

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
      ``learning_rate``; with loss scaling also ``loss_scale`` (the scale this step
      used) and ``grads_finite`` (1 for an applied step, 0 for a skipped one).
    """
    scaler = state.loss_scale

    def loss_fn(params):
        return task.loss(params, state.model_state, batch, rng)

    if scaler is None:
        (loss, (model_state, metrics)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params
        )
    else:

        def scaled_loss_fn(params):
            loss, aux = loss_fn(params)
            return scaler.scale_loss(loss), (loss, aux)

        (_, (loss, (model_state, metrics))), scaled_grads = jax.value_and_grad(
            scaled_loss_fn, has_aux=True
        )(state.params)
        grads = scaler.unscale(scaled_grads)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {
        **metrics,
        "loss": loss,
        "grad_norm": optax.global_norm(grads),
        "learning_rate": schedule(state.step // accumulation_steps),
    }
    new_scaler = None
    if scaler is not None:
        finite = loss_scale.all_finite(grads)
        params, opt_state, model_state = loss_scale.select_tree(
            finite,
            (params, opt_state, model_state),
            (state.params, state.opt_state, state.model_state),
        )
        new_scaler = scaler.adjust(finite)
        metrics["loss_scale"] = scaler.scale
        metrics["grads_finite"] = finite.astype(jnp.float32)
    new_state = state.replace(
        step=state.step + 1,
        params=params,
        model_state=model_state,
        opt_state=opt_state,
        loss_scale=new_scaler,
    )
    return new_state, metrics


def compile_train_step(
    task: Task,
    tx: optax.GradientTransformation,
    schedule: optax.Schedule,
    mesh: Mesh,
    accumulation_steps: int = 1,
    state_sharding: Any = None,
    compiler_options: dict[str, Any] | None = None,
) -> Callable[[TrainState, Batch, jax.Array], tuple[TrainState, Metrics]]:
    """``train_step`` under ``jax.jit``: state donated, batch sharded over ``data``.

    Args:
      task: supplies the loss.
      tx: the optimizer.
      schedule: the learning-rate schedule.
      mesh: the device mesh.
      accumulation_steps: micro-steps per optimizer update.
      state_sharding: the state's shardings, a pytree of ``NamedSharding`` (e.g.
        ``jaxvision.engine.sharding.state_shardings``, or read off an initialised state
        with ``sharding.shardings_of``); the new state comes back with the same ones.
        None: replicated.
      compiler_options: XLA options of the executable; None:
        ``jaxvision.engine.compiler_options.for_backend()``.

    Returns:
      The compiled ``(state, batch, rng) -> (state, metrics)``; metrics replicated.

    Example:
      >>> from jaxvision.data.sources import DatasetMeta
      >>> from jaxvision.engine import loop
      >>> from jaxvision.engine import mesh as mesh_lib
      >>> from jaxvision.engine.sharding import shardings_of
      >>> from train.configs import demo
      >>> config, mesh = demo.get_config(), mesh_lib.make_mesh()  # resnet_tiny, SGD
      >>> meta = DatasetMeta("shapes", class_names=("circle", "square"), num_examples=8)
      >>> task, tx, schedule = loop.build_task(config, meta)
      >>> setup = loop.Setup(config=config, mesh=mesh, task=task, tx=tx, schedule=schedule)
      >>> local = {"image": np.zeros((8, 32, 32, 3), np.uint8), "label": np.zeros(8, np.int32)}
      >>> batch = mesh_lib.global_batch(local, mesh)
      >>> state = loop.init_state(setup, batch, jax.random.key(0))
      >>> step = compile_train_step(task, tx, schedule, mesh, state_sharding=shardings_of(state))
      >>> state, metrics = step(state, batch, jax.random.key(1))
      >>> int(state.step), sorted(metrics)
      (1, ['accuracy', 'grad_norm', 'learning_rate', 'loss'])
    """
    replicated = mesh_lib.replicated(mesh)
    state_sharding = replicated if state_sharding is None else state_sharding

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
        in_shardings=(state_sharding, mesh_lib.batch_sharding(mesh), replicated),
        out_shardings=(state_sharding, replicated),
        donate_argnums=(0,),
        compiler_options=_options(compiler_options),
    )


def _options(compiler_options: dict[str, Any] | None, inference: bool = False) -> dict[str, Any]:
    """The given compiler options, or the backend's defaults (train or inference) for None."""
    if compiler_options is None:
        return compiler_options_lib.for_backend(inference=inference)
    return dict(compiler_options)


def compile_eval_step(
    task: Task, mesh: Mesh, compiler_options: dict[str, Any] | None = None
) -> Callable[[dict[str, Any], Batch], Metrics]:
    """The task's eval function under ``jax.jit``; its results come back replicated.

    ``task.eval_sums`` (sums over the global batch) or, for ``eval_mode == "outputs"``,
    ``task.eval_outputs`` (per-example rows of the global batch, on every host).
    ``compiler_options`` as for ``compile_train_step``; None gives the backend's inference
    options (``for_backend(inference=True)``).
    """
    replicated = mesh_lib.replicated(mesh)
    fn = task.eval_outputs if task.eval_mode == "outputs" else task.eval_sums
    return jax.jit(
        fn,
        in_shardings=(replicated, mesh_lib.batch_sharding(mesh)),
        out_shardings=replicated,
        compiler_options=_options(compiler_options, inference=True),
    )


def compile_predict(
    task: Task, mesh: Mesh, compiler_options: dict[str, Any] | None = None
) -> Callable[[dict[str, Any], jax.Array], Any]:
    """``task.predict`` under ``jax.jit`` over a sharded batch of images.

    ``compiler_options`` as for ``compile_train_step``; None gives the backend's inference
    options (``for_backend(inference=True)``).
    """
    return jax.jit(
        task.predict,
        in_shardings=(mesh_lib.replicated(mesh), mesh_lib.batch_sharding(mesh)),
        compiler_options=_options(compiler_options, inference=True),
    )
