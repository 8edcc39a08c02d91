"""The interface every task implements; the engine knows tasks only through it."""

from __future__ import annotations

import abc
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxvision.data.sources import DatasetMeta
from jaxvision.ops.image import normalize

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


def compute_dtype(name: str) -> jnp.dtype:
    """A compute dtype name -> the jnp dtype (ValueError otherwise).

    ``"float64"`` (a numerics-debugging mode) needs ``JAX_ENABLE_X64=1``.
    """
    valid = {
        "float32": jnp.float32,
        "bfloat16": jnp.bfloat16,
        "float16": jnp.float16,
        "float64": jnp.float64,
    }
    if name not in valid:
        raise ValueError(f"unknown dtype {name!r}; valid: {sorted(valid)}")
    if name == "float64" and not jax.config.jax_enable_x64:
        raise ValueError("dtype float64 needs 64-bit JAX: set JAX_ENABLE_X64=1")
    return valid[name]


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
    # How the engine evaluates: "sums" (eval_sums -> summarize_eval, mask-weighted sums
    # added over batches) or "outputs" (eval_outputs per example, gathered over the whole
    # split -> summarize_eval_outputs; for metrics like COCO AP that are not sums).
    eval_mode: str = "sums"

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

    def init_variables(self, rng: jax.Array, batch: Batch) -> dict[str, Any]:
        """``model.init`` on a batch shaped like the training batches (normalised images,
        inference mode); a task whose model needs more rngs overrides it."""
        return self.model.init(rng, normalize(batch["image"]), train=False)

    def apply_model(
        self, variables: dict[str, Any], images: jax.Array, train: bool, **kwargs: Any
    ) -> Any:
        """The model on uint8 images [b, h, w, 3], normalised in ``model.dtype``; ``kwargs``
        go to ``model.apply`` (e.g. ``mutable``)."""
        x = normalize(images, dtype=compute_dtype(self.config.model.dtype))  # [b, h, w, 3]
        return self.model.apply(variables, x, train=train, **kwargs)

    @abc.abstractmethod
    def loss(
        self, params: Any, model_state: Any, batch: Batch, rng: jax.Array
    ) -> tuple[jax.Array, tuple[Any, Metrics]]:
        """Training loss: ``(loss, (new_model_state, metrics))``, differentiable in params."""

    def eval_sums(self, variables: dict[str, Any], batch: Batch) -> Metrics:
        """Mask-weighted metric sums over one eval batch (padding has ``mask == 0``).

        Used when ``eval_mode == "sums"``.
        """
        raise NotImplementedError(f"{type(self).__name__} has eval_mode={self.eval_mode!r}")

    def summarize_eval(self, sums: dict[str, np.ndarray]) -> dict[str, float]:
        """Final eval metrics from the sums accumulated over the whole split."""
        raise NotImplementedError(f"{type(self).__name__} has eval_mode={self.eval_mode!r}")

    def eval_outputs(self, variables: dict[str, Any], batch: Batch) -> dict[str, jax.Array]:
        """Per-example eval outputs ``[b, ...]`` of one batch, including ``batch["mask"]``.

        Used when ``eval_mode == "outputs"``: the engine gathers them over the whole
        split, drops the padding rows (``mask == 0``) and calls ``summarize_eval_outputs``.
        Return only what the metric needs (not the images): it is copied to every host.
        """
        raise NotImplementedError(f"{type(self).__name__} has eval_mode={self.eval_mode!r}")

    def summarize_eval_outputs(self, outputs: dict[str, np.ndarray]) -> dict[str, float]:
        """Final eval metrics from the outputs of every real example of the split."""
        raise NotImplementedError(f"{type(self).__name__} has eval_mode={self.eval_mode!r}")

    @abc.abstractmethod
    def predict(self, variables: dict[str, Any], images: jax.Array) -> Any:
        """Inference outputs for uint8 images [b, h, w, 3]."""

    def predict_pp(self, input_shape: tuple[int, ...]) -> str:
        """Preprocessing of a user's image for ``predict``: the eval spec, then a resize
        to the training input [h, w] (a no-op when the eval spec already gives it)."""
        resize = f"resize({input_shape[0]}, {input_shape[1]})"
        return "|".join(p for p in (self.eval_pp, resize) if p)

    def predict_features(self, image: np.ndarray) -> dict[str, Any]:
        """The feature dict ``predict_pp`` runs on, for an RGB uint8 image [h, w, 3]."""
        return {"image": image}

    def describe_predictions(
        self, images: list[np.ndarray], features: list[dict[str, np.ndarray]], outputs: Any
    ) -> list[dict[str, Any]]:
        """One JSON-able record an image from ``predict``'s (host) outputs.

        Args:
          images: the source images, RGB uint8 [h, w, 3] each.
          features: each image's preprocessed features (``predict_pp`` applied).
          outputs: ``predict`` on the stacked images.
        """
        raise NotImplementedError(f"{type(self).__name__} does not describe predictions")

    def draw_prediction(self, image: np.ndarray, record: dict[str, Any]) -> Any:
        """A PIL picture of one record on the source image, or None."""
        del image, record
        return None

    def render_predictions(self, batch: dict[str, np.ndarray], outputs: Any) -> Any:
        """A PIL image showing predictions on a batch, or None when the task has none."""
        del batch, outputs
        return None
