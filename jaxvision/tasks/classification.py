"""Image classification: softmax cross-entropy, top-1/top-5 accuracy, top-k prediction."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxvision import models, visualization
from jaxvision.losses.classification import softmax_cross_entropy
from jaxvision.metrics.classification import masked_sums, means_from_sums, topk_correct
from jaxvision.ops.image import normalize
from jaxvision.tasks.base import Batch, Metrics, Task, compute_dtype

TOP_K = 5
# Images shown in the workdir's predictions.png.
NUM_PICTURE_IMAGES = 32


class ClassificationTask(Task):
    """Single-label image classification.

    Config keys read: ``model.name``, ``model.dtype``, ``model.kwargs``,
    ``label_smoothing``, ``dataset.train_pp`` / ``eval_pp``.
    Eval metrics: ``accuracy`` (top-1), ``top5_accuracy``, ``loss``.
    """

    train_keys = ("image", "label")
    eval_keys = ("image", "label")

    @property
    def model(self) -> nn.Module:
        cfg = self.config.model
        return models.get_model(
            cfg.name,
            num_classes=self.meta.num_classes,
            dtype=compute_dtype(cfg.dtype),
            **cfg.get("kwargs", {}),
        )

    def init_variables(self, rng: jax.Array, batch: Batch) -> dict[str, Any]:
        x = normalize(batch["image"])
        params_rng, dropout_rng = jax.random.split(rng)
        return self.model.init({"params": params_rng, "dropout": dropout_rng}, x, train=False)

    def loss(
        self, params: Any, model_state: Any, batch: Batch, rng: jax.Array
    ) -> tuple[jax.Array, tuple[Any, Metrics]]:
        variables = {"params": params, **model_state}
        logits, new_state = self.apply_model(
            variables,
            batch["image"],
            train=True,
            mutable=list(model_state),
            rngs={"dropout": rng},
        )  # [b, k]
        losses = softmax_cross_entropy(logits, batch["label"], self.config.label_smoothing)
        accuracy = jnp.mean(topk_correct(logits, batch["label"], 1))
        return jnp.mean(losses), (new_state, {"accuracy": accuracy})

    def eval_sums(self, variables: dict[str, Any], batch: Batch) -> Metrics:
        logits = self.apply_model(variables, batch["image"], train=False)  # [b, k]
        labels = batch["label"]  # [b]
        values = {
            "accuracy": topk_correct(logits, labels, 1),
            "top5_accuracy": topk_correct(logits, labels, TOP_K),
            "loss": softmax_cross_entropy(logits, labels),
        }
        return masked_sums(values, batch["mask"])

    def summarize_eval(self, sums: dict[str, np.ndarray]) -> dict[str, float]:
        return means_from_sums(sums)

    def predict(self, variables: dict[str, Any], images: jax.Array) -> dict[str, jax.Array]:
        """Top-5 classes and probabilities for uint8 images [b, h, w, 3]."""
        logits = self.apply_model(variables, images, train=False)  # [b, k]
        probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)  # [b, k]
        top_probs, top_classes = jax.lax.top_k(probs, min(TOP_K, probs.shape[-1]))  # [b, 5]
        return {"classes": top_classes, "probabilities": top_probs}

    def describe_predictions(
        self, images: list[np.ndarray], features: list[dict[str, np.ndarray]], outputs: Any
    ) -> list[dict[str, Any]]:
        """Each image's top-5: ``{"top5": [{"label", "class_name", "probability"}]}``."""
        names = self.meta.class_names
        return [
            {
                "top5": [
                    {"label": int(c), "class_name": names[int(c)], "probability": float(p)}
                    for c, p in zip(outputs["classes"][i], outputs["probabilities"][i], strict=True)
                ]
            }
            for i in range(len(features))
        ]

    def render_predictions(self, batch: dict[str, np.ndarray], outputs: Any) -> Any:
        names = self.meta.class_names
        n = min(NUM_PICTURE_IMAGES, len(batch["image"]))
        predicted = np.asarray(outputs["classes"])[:n, 0]
        prob = np.asarray(outputs["probabilities"])[:n, 0]
        labels = np.asarray(batch["label"])[:n]
        captions = [
            f"{names[p]} {q:.0%}\ntrue: {names[t]}"
            for p, q, t in zip(predicted, prob, labels, strict=True)
        ]
        return visualization.image_grid(
            np.asarray(batch["image"])[:n], captions, predicted == labels
        )
