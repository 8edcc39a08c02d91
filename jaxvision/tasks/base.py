"""The interface every task implements; the engine knows tasks only through it."""

from __future__ import annotations

import abc
from typing import Any

import flax.linen as nn
import jax
import ml_collections
import numpy as np

from jaxvision.data.sources import DatasetMeta

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


class Task(abc.ABC):
    """A task: its model, loss, evaluation sums, prediction and data preprocessing.

    The shared engine (``jaxvision.engine.loop``) builds the train and eval steps
    from these pure pieces; a new task adds a subclass, a model and a config, not
    a new training loop.

    Attributes:
      config: the run's full config.
      meta: the training split's ``DatasetMeta``.
      train_keys: feature keys a training batch carries to the device.
      eval_keys: feature keys an eval batch carries (``mask`` is added).
    """

    train_keys: tuple[str, ...] = ()
    eval_keys: tuple[str, ...] = ()

    def __init__(self, config: ml_collections.ConfigDict, meta: DatasetMeta):
        self.config = config
        self.meta = meta

    @property
    @abc.abstractmethod
    def model(self) -> nn.Module:
        """The flax module."""

    @property
    def train_pp(self) -> str:
        """Preprocessing spec of training examples."""
        return self.config.dataset.train_pp

    @property
    def eval_pp(self) -> str:
        """Preprocessing spec of eval examples."""
        return self.config.dataset.eval_pp

    @abc.abstractmethod
    def init_variables(self, rng: jax.Array, batch: Batch) -> dict[str, Any]:
        """``model.init`` on a batch shaped like the training batches."""

    @abc.abstractmethod
    def loss(
        self, params: Any, model_state: Any, batch: Batch, rng: jax.Array
    ) -> tuple[jax.Array, tuple[Any, Metrics]]:
        """Training loss: ``(loss, (new_model_state, metrics))``, differentiable in params."""

    @abc.abstractmethod
    def eval_sums(self, variables: dict[str, Any], batch: Batch) -> Metrics:
        """Mask-weighted metric sums over one eval batch (padding has ``mask == 0``)."""

    @abc.abstractmethod
    def summarize_eval(self, sums: dict[str, np.ndarray]) -> dict[str, float]:
        """Final eval metrics from the sums accumulated over the whole split."""

    @abc.abstractmethod
    def predict(self, variables: dict[str, Any], images: jax.Array) -> Any:
        """Inference outputs for uint8 images [b, h, w, 3]."""

    def render_predictions(self, batch: dict[str, np.ndarray], outputs: Any) -> Any:
        """A PIL image showing predictions on a batch, or None when the task has none."""
        del batch, outputs
        return None
