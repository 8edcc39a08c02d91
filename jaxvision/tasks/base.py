"""The interface every task implements; the engine knows tasks only through it.

A task is its networks, its train step, its evaluators and its preprocessing:

- ``networks`` names the trained networks (each gets its own optimizer, from
  ``config.optimizers.<name>`` or else ``config.optimizer``, and optionally an EMA,
  ``config.ema.<name>``); ``frozen_networks`` names networks that are never trained.
  ``init_variables`` initialises all of them.
- ``train_step(state, batch, rng) -> (state, metrics)`` is pure, written with the
  engine's helpers (``jaxvision.engine.updates``); the engine jits, shards, checkpoints and
  logs it.
- ``evaluators()`` returns ``jaxvision.evaluators`` objects, fed with ``eval_forward``'s
  outputs batch by batch over the whole eval split.
- ``predict(variables, images)`` is the inference function; pictures and JSON of its
  outputs are the task family's ``jaxvision.visualize`` module's business, not the task's.

``SingleNetworkTask`` is the base of the supervised tasks with one network named
``"model"``: they supply its module (``registry_model`` builds a registered one) and a loss
(``apply_train`` runs the module in training mode), and inherit the train step.
"""

from __future__ import annotations

import abc
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxvision import models
from jaxvision.data.sources import DatasetMeta
from jaxvision.engine import updates
from jaxvision.engine.train_state import TrainState
from jaxvision.evaluators import Evaluator
from jaxvision.ops.image import normalize

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]
Variables = dict[str, Any]
# The network of a single-network task.
MODEL = "model"
COMPUTE_DTYPES = {
    "float32": jnp.float32,
    "bfloat16": jnp.bfloat16,
    "float16": jnp.float16,
    "float64": jnp.float64,
}


def compute_dtype(name: str) -> jnp.dtype:
    """A compute dtype name -> the jnp dtype (ValueError otherwise).

    ``"float64"`` (a numerics-debugging mode) needs ``JAX_ENABLE_X64=1``.

    Example:
      >>> compute_dtype("bfloat16")
      <class 'jax.numpy.bfloat16'>
    """
    if name not in COMPUTE_DTYPES:
        raise ValueError(f"unknown dtype {name!r}; valid: {sorted(COMPUTE_DTYPES)}")
    if name == "float64" and not jax.config.jax_enable_x64:
        raise ValueError("dtype float64 needs 64-bit JAX: set JAX_ENABLE_X64=1")
    return COMPUTE_DTYPES[name]


def registry_model(config: ml_collections.ConfigDict, num_classes: int) -> nn.Module:
    """The registered model ``config.model.name`` (``jaxvision.models.MODELS``) with
    ``num_classes`` outputs, computing in ``config.model.dtype``, with ``config.model.kwargs``.

    Args:
      config: a run's config (``model.name``, ``model.dtype``, optional ``model.kwargs``).
      num_classes: the dataset's classes.

    Returns:
      The flax module.

    Example:
      >>> from train.configs import demo
      >>> type(registry_model(demo.get_config(), num_classes=3)).__name__
      'ResNet'
    """
    cfg = config.model
    return models.get_model(
        cfg.name,
        num_classes=num_classes,
        dtype=compute_dtype(cfg.dtype),
        **cfg.get("kwargs", {}),
    )


class Task(abc.ABC):
    """A task: its networks, train step, evaluators, prediction and preprocessing.

    Attributes:
      config: the run's full config.
      meta: the training split's ``DatasetMeta``.
      networks: names of the trained networks.
      frozen_networks: names of networks whose variables are never trained.
      train_keys: feature keys a training batch carries to the device.
      eval_keys: feature keys an eval batch carries (``mask`` is added).
      task_collections: collections the task keeps in a network's variables beside the
        network's own (label counts, checkpointed with it), which ``module.apply`` must not
        see: ``network_variables`` drops them.
    """

    networks: tuple[str, ...] = (MODEL,)
    frozen_networks: tuple[str, ...] = ()
    train_keys: tuple[str, ...] = ()
    eval_keys: tuple[str, ...] = ()
    task_collections: tuple[str, ...] = ()

    def __init__(self, config: ml_collections.ConfigDict, meta: DatasetMeta):
        self.config = config
        self.meta = meta

    def network_variables(self, variables: Variables) -> Variables:
        """A network's ``variables`` without the ``task_collections`` (for ``apply``)."""
        return {k: v for k, v in variables.items() if k not in self.task_collections}

    # -- networks ------------------------------------------------------------------
    @abc.abstractmethod
    def init_variables(self, rng: jax.Array, batch: Batch) -> dict[str, Variables]:
        """name -> ``init`` variables of every network (trained and frozen), for a batch
        shaped like the training batches."""

    def updates_per_step(self, network: str) -> int:
        """Optimizer updates a train step makes to ``network`` (its schedule's length is
        ``total_steps`` times this)."""
        del network
        return 1

    # -- training ------------------------------------------------------------------
    @abc.abstractmethod
    def train_step(
        self, state: TrainState, batch: Batch, rng: jax.Array
    ) -> tuple[TrainState, Metrics]:
        """One train step, pure: ``(state, batch, rng) -> (state, metrics)``.

        ``rng`` is this step's key (``fold_in(seed key, step)``: independent of restarts).
        Metrics are scalars; ``loss`` and ``*_loss`` are checked for NaN/Inf by the engine.
        """

    # -- evaluation ----------------------------------------------------------------
    def eval_forward(self, variables: dict[str, Variables], batch: Batch) -> Any:
        """The outputs every evaluator's ``update`` reads, for one eval batch (default:
        ``predict`` on its images)."""
        return self.predict(variables, batch["image"])

    @abc.abstractmethod
    def evaluators(self) -> list[Evaluator]:
        """Every evaluator the task offers (``config.evaluators`` may select some)."""

    # -- inference -----------------------------------------------------------------
    @abc.abstractmethod
    def predict(self, variables: dict[str, Variables], images: jax.Array) -> Any:
        """Inference outputs for uint8 images [b, h, w, 3]; ``variables`` maps network
        names to their variables (EMA parameters where kept)."""

    # -- preprocessing -------------------------------------------------------------
    @property
    def train_pp(self) -> str:
        """Preprocessing spec of training examples."""
        return self.config.dataset.train_pp

    @property
    def eval_pp(self) -> str:
        """Preprocessing spec of eval examples."""
        return self.config.dataset.eval_pp

    @property
    def max_boxes(self) -> int | None:
        """Boxes an example's detection targets are padded to by the input pipeline (None:
        the task has no box targets)."""
        return None

    def predict_pp(self, input_shape: tuple[int, ...]) -> str:
        """Preprocessing of a user's image for ``predict``: the eval spec, then a resize
        to the training input [h, w] (a no-op when the eval spec already gives it)."""
        resize = f"resize({input_shape[0]}, {input_shape[1]})"
        return "|".join(p for p in (self.eval_pp, resize) if p)

    def predict_features(self, image: np.ndarray) -> dict[str, Any]:
        """The feature dict ``predict_pp`` runs on, for an RGB uint8 image [h, w, 3]."""
        return {"image": image}


class SingleNetworkTask(Task):
    """A task with one trained network, ``"model"``, trained on a differentiable loss.

    Subclasses supply ``model`` and ``loss``; the train step is ``loss``'s gradient and one
    optimizer update (loss scaling, NaN guard and EMA included). ``apply_model`` leaves the
    ``task_collections`` out.
    """

    @property
    @abc.abstractmethod
    def model(self) -> nn.Module:
        """The flax module."""

    @abc.abstractmethod
    def loss(
        self, params: Any, model_state: Any, batch: Batch, rng: jax.Array
    ) -> tuple[jax.Array, tuple[Any, Metrics]]:
        """Training loss: ``(loss, (new_model_state, metrics))``, differentiable in params."""

    def init_variables(self, rng: jax.Array, batch: Batch) -> dict[str, Variables]:
        """``model.init`` on normalised images, in inference mode, with a dropout rng."""
        params_rng, dropout_rng = jax.random.split(rng)
        rngs = {"params": params_rng, "dropout": dropout_rng}
        return {MODEL: self.model.init(rngs, normalize(batch["image"]), train=False)}

    def apply_model(
        self, variables: Variables, images: jax.Array, train: bool, **kwargs: Any
    ) -> Any:
        """The model on uint8 images [b, h, w, 3], normalised in ``model.dtype``; ``kwargs``
        go to ``model.apply`` (e.g. ``mutable``). The ``task_collections`` are left out of
        ``variables`` and ``mutable``."""
        x = normalize(images, dtype=compute_dtype(self.config.model.dtype))  # [b, h, w, 3]
        if "mutable" in kwargs:
            kwargs["mutable"] = [k for k in kwargs["mutable"] if k not in self.task_collections]
        return self.model.apply(self.network_variables(variables), x, train=train, **kwargs)

    def apply_train(
        self, params: Any, model_state: Any, images: jax.Array, rng: jax.Array
    ) -> tuple[Any, Any]:
        """The model in training mode on uint8 images [b, h, w, 3], with ``model_state``'s
        collections (BatchNorm statistics) mutable and ``rng`` as the dropout key:
        ``(outputs, new_model_state)``."""
        return self.apply_model(
            {"params": params, **model_state},
            images,
            train=True,
            mutable=list(model_state),
            rngs={"dropout": rng},
        )

    def train_step(
        self, state: TrainState, batch: Batch, rng: jax.Array
    ) -> tuple[TrainState, Metrics]:
        model_state = state.networks[MODEL].model_state
        (loss, (new_model_state, metrics)), grads = updates.value_and_grad(
            self.loss, state, MODEL, model_state, batch, rng
        )
        state, update_metrics = updates.apply_gradients(state, MODEL, grads, new_model_state)
        return state.next_step(), {**metrics, **update_metrics, "loss": loss}
