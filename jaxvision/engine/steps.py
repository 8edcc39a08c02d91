"""The compiled forms of a task's train step, eval step and predict function.

Each is a pure function of the task under ``jax.jit`` over the mesh: batches sharded over
``data``, the state (or the variables) with the shardings it was built with, results
replicated. ``compiler_options`` are XLA options of the executable (the entry points pass
their host's tuning, ``train/host_tuning.py``); None compiles with JAX's defaults.

Example:
  >>> from jaxvision.data.sources import DatasetMeta
  >>> from jaxvision.engine import build
  >>> from jaxvision.engine import mesh as mesh_lib
  >>> from jaxvision.engine.sharding import shardings_of
  >>> from train.configs import demo
  >>> config, mesh = demo.get_config(), mesh_lib.make_mesh()  # resnet_tiny, SGD
  >>> meta = DatasetMeta("shapes", class_names=("circle", "square"), num_examples=8)
  >>> setup = build.build(config, meta, mesh)
  >>> local = {"image": np.zeros((8, 32, 32, 3), np.uint8), "label": np.zeros(8, np.int32)}
  >>> batch = mesh_lib.global_batch(local, mesh)
  >>> state = build.init_state(setup, batch, jax.random.key(0))
  >>> step = compile_train_step(setup.task, mesh, shardings_of(state))
  >>> state, metrics = step(state, batch, jax.random.key(1))
  >>> int(state.step), sorted(metrics)
  (1, ['accuracy', 'grad_norm', 'learning_rate', 'loss'])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
from jax.sharding import Mesh

from jaxvision.engine import mesh as mesh_lib
from jaxvision.engine.train_state import TrainState
from jaxvision.evaluators import Evaluator
from jaxvision.tasks.base import Batch, Metrics, Task

TrainStep = Callable[[TrainState, Batch, jax.Array], tuple[TrainState, Metrics]]


def compile_train_step(
    task: Task,
    mesh: Mesh,
    state_sharding: Any = None,
    compiler_options: dict[str, Any] | None = None,
) -> TrainStep:
    """``task.train_step`` under ``jax.jit``: state donated, batch sharded over ``data``.

    Args:
      task: supplies the pure step ``(state, batch, rng) -> (state, metrics)``.
      mesh: the device mesh.
      state_sharding: the state's shardings, a pytree of ``NamedSharding`` (read off an
        initialised state with ``jaxvision.engine.sharding.shardings_of``); the new state
        comes back with the same ones. None: replicated.
      compiler_options: XLA options of the executable (None: JAX's defaults).

    Returns:
      The compiled step; its metrics come back replicated.
    """
    replicated = mesh_lib.replicated(mesh)
    return jax.jit(
        task.train_step,
        in_shardings=(
            replicated if state_sharding is None else state_sharding,
            mesh_lib.batch_sharding(mesh),
            replicated,
        ),
        out_shardings=(replicated if state_sharding is None else state_sharding, replicated),
        donate_argnums=(0,),
        compiler_options=dict(compiler_options or {}),
    )


def compile_eval_step(
    task: Task,
    evaluators: Sequence[Evaluator],
    mesh: Mesh,
    compiler_options: dict[str, Any] | None = None,
) -> Callable[[dict[str, Any], Batch], dict[str, Any]]:
    """One executable per eval batch: the task's forward pass and every evaluator's update.

    Args:
      task: supplies ``eval_forward(variables, batch)``.
      evaluators: the evaluators whose ``update`` reads its outputs.
      mesh: the device mesh.
      compiler_options: XLA options of the executable (None: JAX's defaults).

    Returns:
      ``(variables, batch) -> {evaluator name: update}``, replicated on every device and host
      (sums reduced and rows gathered by XLA over the global batch).
    """
    replicated = mesh_lib.replicated(mesh)

    def step(variables, batch):
        outputs = task.eval_forward(variables, batch)
        return {ev.name: ev.update(outputs, batch) for ev in evaluators}

    return jax.jit(
        step,
        in_shardings=(replicated, mesh_lib.batch_sharding(mesh)),
        out_shardings=replicated,
        compiler_options=dict(compiler_options or {}),
    )


def compile_predict(
    task: Task, mesh: Mesh, compiler_options: dict[str, Any] | None = None
) -> Callable[[dict[str, Any], jax.Array], Any]:
    """``task.predict`` under ``jax.jit`` over a sharded batch of images."""
    return jax.jit(
        task.predict,
        in_shardings=(mesh_lib.replicated(mesh), mesh_lib.batch_sharding(mesh)),
        compiler_options=dict(compiler_options or {}),
    )
