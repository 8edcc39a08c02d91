"""Image classification: softmax cross-entropy, top-1/top-5 accuracy, top-k prediction."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.evaluators import Evaluator, MeanEvaluator
from jaxvision.losses.classification import softmax_cross_entropy
from jaxvision.metrics.classification import topk_correct
from jaxvision.tasks.base import MODEL, Batch, Metrics, SingleNetworkTask, Variables, registry_model

TOP_K = 5


class ClassificationTask(SingleNetworkTask):
    """Single-label image classification.

    Config keys read: ``model.name``, ``model.dtype``, ``model.kwargs``,
    ``label_smoothing``, ``dataset.train_pp`` / ``eval_pp``.
    Evaluator ``classification``: ``accuracy`` (top-1), ``top5_accuracy``, ``loss``,
    ``num_examples``.
    """

    train_keys = ("image", "label")
    eval_keys = ("image", "label")

    @property
    def model(self) -> nn.Module:
        return registry_model(self.config, self.meta.num_classes)

    def loss(
        self, params: Any, model_state: Any, batch: Batch, rng: jax.Array
    ) -> tuple[jax.Array, tuple[Any, Metrics]]:
        logits, new_state = self.apply_train(params, model_state, batch["image"], rng)  # [b, k]
        losses = softmax_cross_entropy(logits, batch["label"], self.config.label_smoothing)
        accuracy = jnp.mean(topk_correct(logits, batch["label"], 1))
        return jnp.mean(losses), (new_state, {"accuracy": accuracy})

    def eval_forward(self, variables: dict[str, Variables], batch: Batch) -> jax.Array:
        """Logits [b, k] of the eval images."""
        return self.apply_model(variables[MODEL], batch["image"], train=False)

    def evaluators(self) -> list[Evaluator]:
        def values(logits: jax.Array, batch: Batch) -> dict[str, jax.Array]:
            labels = batch["label"]  # [b]
            return {
                "accuracy": topk_correct(logits, labels, 1),
                "top5_accuracy": topk_correct(logits, labels, TOP_K),
                "loss": softmax_cross_entropy(logits, labels),
            }

        return [MeanEvaluator("classification", values)]

    def predict(self, variables: dict[str, Variables], images: jax.Array) -> dict[str, jax.Array]:
        """Top-5 classes and probabilities for uint8 images [b, h, w, 3]."""
        logits = self.apply_model(variables[MODEL], images, train=False)  # [b, k]
        probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)  # [b, k]
        top_probs, top_classes = jax.lax.top_k(probs, min(TOP_K, probs.shape[-1]))  # [b, 5]
        return {"classes": top_classes, "probabilities": top_probs}
