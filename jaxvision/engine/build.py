"""From a config to a task, its optimizers and its step-0 state (training and inference alike).

Config keys read here (``train/configs/common.py`` documents them):

- ``task``: ``jaxvision.tasks.get_task``'s name or ``"module:Class"``.
- ``optimizer``: the optimizer sub-tree (``jaxvision.optim.default_config``) of every trained
  network that has none of its own in ``optimizers``.
- ``optimizers.<network>``: a network's own optimizer sub-tree (a GAN's generator and
  discriminator).
- ``ema.<network>``: decay of an exponential moving average of that network's parameters
  (evaluation and prediction use it).
- ``evaluators``: the names of the evaluators to run (empty: all the task offers).

A name in ``optimizers``, ``ema`` or ``evaluators`` that the task does not have is an error
that lists the valid ones.

Example:
  >>> from jaxvision.data.sources import DatasetMeta
  >>> from jaxvision.engine import mesh as mesh_lib
  >>> from train.configs import demo
  >>> config, mesh = demo.get_config(), mesh_lib.make_mesh()
  >>> meta = DatasetMeta("shapes", class_names=("circle", "square"), num_examples=8)
  >>> setup = build(config, meta, mesh)
  >>> sorted(setup.optimizers), [ev.name for ev in setup.evaluators]
  (['model'], ['classification'])
  >>> batch = mesh_lib.global_batch({"image": np.zeros((8, 32, 32, 3), np.uint8)}, mesh)
  >>> state = init_state(setup, batch, jax.random.key(0))
  >>> int(state.step), list(state.networks)
  (0, ['model'])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import ml_collections
import optax
from jax.sharding import Mesh

from jaxvision import optim, tasks
from jaxvision.data.sources import DatasetMeta
from jaxvision.engine import loss_scale
from jaxvision.engine import sharding as sharding_lib
from jaxvision.engine.errors import ConfigError
from jaxvision.engine.train_state import TrainState, create_network
from jaxvision.evaluators import Evaluator
from jaxvision.tasks.base import Task

OPTIMIZER_KEY = "optimizer"
OPTIMIZERS_KEY = "optimizers"
EMA_KEY = "ema"
EVALUATORS_KEY = "evaluators"

__all__ = ["ConfigError", "Optimizer", "Setup", "build", "init_state", "make_optimizers"]


@dataclasses.dataclass(frozen=True)
class Optimizer:
    """One trained network's optimizer.

    Attributes:
      tx: the transformation (``jaxvision.optim.make_optimizer``).
      schedule: its learning rate by optimizer update.
      accumulation_steps: micro-steps per update.
      ema_decay: decay of the network's parameter EMA (0: none).
    """

    tx: optax.GradientTransformation
    schedule: optax.Schedule
    accumulation_steps: int = 1
    ema_decay: float = 0.0


@dataclasses.dataclass
class Setup:
    """What a run builds before its first step (shared by training and inference).

    Attributes:
      config: the run's config.
      mesh: the device mesh.
      task: the task.
      optimizers: trained network name -> its ``Optimizer``.
      evaluators: the evaluators the config selects.
    """

    config: ml_collections.ConfigDict
    mesh: Mesh
    task: Task
    optimizers: dict[str, Optimizer]
    evaluators: list[Evaluator]


def _names(config: ml_collections.ConfigDict, key: str) -> list[str]:
    value = config.get(key)
    if value is None:
        return []
    return (
        list(value.keys())
        if isinstance(value, Mapping | ml_collections.ConfigDict)
        else list(value)
    )


def _check_names(kind: str, given: list[str], valid: tuple[str, ...], task: Task) -> None:
    unknown = [name for name in given if name not in valid]
    if unknown:
        raise ConfigError(
            f"config {kind} names {unknown}, which task {type(task).__name__} does not have; "
            f"valid: {list(valid)}"
        )


def optimizer_config(config: ml_collections.ConfigDict, network: str) -> Any:
    """A network's optimizer sub-tree: ``optimizers.<network>``, or else ``optimizer``."""
    own = config.get(OPTIMIZERS_KEY) or {}
    return own[network] if network in own else config[OPTIMIZER_KEY]


def make_optimizers(config: ml_collections.ConfigDict, task: Task) -> dict[str, Optimizer]:
    """Every trained network's optimizer, each from its own config sub-tree.

    A network updated k times a step (``task.updates_per_step``) gets a schedule k times as
    long; ``total_steps`` counts train steps.

    Raises:
      ConfigError: ``optimizers`` or ``ema`` names a network the task does not train.
    """
    _check_names(f"'{OPTIMIZERS_KEY}'", _names(config, OPTIMIZERS_KEY), task.networks, task)
    _check_names(f"'{EMA_KEY}'", _names(config, EMA_KEY), task.networks, task)
    ema = config.get(EMA_KEY) or {}
    optimizers = {}
    for name in task.networks:
        cfg = optimizer_config(config, name)
        accumulation = int(cfg.get("accumulation_steps", optim.DEFAULT_ACCUMULATION_STEPS))
        updates = config.total_steps * task.updates_per_step(name) // accumulation
        tx, schedule = optim.make_optimizer(cfg, max(1, updates))
        optimizers[name] = Optimizer(tx, schedule, accumulation, float(ema.get(name, 0.0)))
    return optimizers


def select_evaluators(config: ml_collections.ConfigDict, task: Task) -> list[Evaluator]:
    """The task's evaluators that ``config.evaluators`` names (all of them when empty).

    Raises:
      ConfigError: an unknown evaluator name, or two evaluators with one name.
    """
    offered = task.evaluators()
    names = [ev.name for ev in offered]
    if len(set(names)) != len(names):
        raise ConfigError(f"task {type(task).__name__} offers evaluators with one name: {names}")
    wanted = _names(config, EVALUATORS_KEY)
    _check_names(f"'{EVALUATORS_KEY}'", wanted, tuple(names), task)
    return [ev for ev in offered if not wanted or ev.name in wanted]


def build(config: ml_collections.ConfigDict, meta: DatasetMeta, mesh: Mesh) -> Setup:
    """The ``Setup`` of a config: its task, optimizers and evaluators on ``mesh``.

    Raises:
      ConfigError: an unknown task, or a name in ``optimizers``, ``ema`` or ``evaluators``
        that the task does not have.
    """
    try:
        task_cls = tasks.get_task(config.task)
    except ValueError as e:
        raise ConfigError(str(e)) from e
    task = task_cls(config, meta)
    return Setup(config, mesh, task, make_optimizers(config, task), select_evaluators(config, task))


def new_state(setup: Setup, variables: Mapping[str, Any]) -> TrainState:
    """A step-0 ``TrainState`` from every network's initialised variables.

    Raises:
      ValueError: ``variables`` lacks a network of the task, or holds one it does not have.
    """
    task = setup.task
    expected = (*task.networks, *task.frozen_networks)
    if sorted(variables) != sorted(expected):
        raise ValueError(
            f"{type(task).__name__}.init_variables returned networks {sorted(variables)}; "
            f"the task declares {sorted(expected)}"
        )
    networks = {
        name: create_network(
            variables[name], opt.tx, opt.schedule, opt.accumulation_steps, opt.ema_decay
        )
        for name, opt in setup.optimizers.items()
    }
    frozen = {name: variables[name] for name in task.frozen_networks}
    return TrainState.create(networks, frozen, loss_scale.from_config(setup.config))


def abstract_state(setup: Setup, sample_batch: Any, rng: jax.Array) -> TrainState:
    """The state's shapes and dtypes (``jax.eval_shape``), with the config's shardings."""

    def init(rng, batch):
        return new_state(setup, setup.task.init_variables(rng, batch))

    abstract = jax.eval_shape(init, rng, sample_batch)
    shardings = sharding_lib.from_config(abstract, setup.mesh, setup.config)
    return jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), abstract, shardings
    )


def init_state(
    setup: Setup,
    sample_batch: Any,
    rng: jax.Array,
    compiler_options: dict[str, Any] | None = None,
) -> TrainState:
    """The step-0 ``TrainState``, initialised under ``jit`` straight into its shardings.

    The shardings follow ``config.sharding`` (``jaxvision.engine.sharding``: replicated, or
    FSDP over ``data``); the train step and checkpoint restores take them from the state.
    A float16 model gets a loss scale (``jaxvision.engine.loss_scale.from_config``).
    ``compiler_options`` are XLA options of the one-off init program (None: JAX's defaults;
    ``python -m train`` passes its host's, ``train/host_tuning.py``).
    """
    return jitted_init(setup, sample_batch, rng, compiler_options)(rng, sample_batch)


def jitted_init(
    setup: Setup,
    sample_batch: Any,
    rng: jax.Array,
    compiler_options: dict[str, Any] | None = None,
) -> Any:
    """``init_state``'s program, jitted but not yet called: ``(rng, batch) -> TrainState``."""

    def init(rng, batch):
        return new_state(setup, setup.task.init_variables(rng, batch))

    shardings = jax.tree.map(lambda x: x.sharding, abstract_state(setup, sample_batch, rng))
    options = dict(compiler_options or {})
    return jax.jit(init, out_shardings=shardings, compiler_options=options)
