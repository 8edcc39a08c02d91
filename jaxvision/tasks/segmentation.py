"""Semantic segmentation: a class for every pixel (U-Net, DeepLabV3+ ...).

Loss: per-pixel softmax cross entropy over the pixels that count (label 255 is ignored),
weighted by ``segmentation.class_weights`` when set, plus ``segmentation.dice_weight`` x the
soft Dice loss (``jaxvision.losses.segmentation``). Evaluator ``segmentation``: a confusion
matrix summed over every pixel of the eval split (``ConfusionMatrixEvaluator``), giving
``mIoU``, ``pixel_accuracy``, ``mean_class_accuracy`` and ``iou/<class name>`` per class.
``predict`` returns the class map [b, h, w] and the winning class's probability.

Data: the task picks the dataset's schema (``jaxvision.data.segmentation_schemas``: which
features hold the image and the label map, and how raw ids become training ids) from
``dataset.name`` (or ``segmentation.schema``), and puts ``decode_segmentation(schema)`` in
front of ``dataset.train_pp`` / ``eval_pp``; batches carry ``image`` uint8 [b, h, w, 3] and
``segmentation_mask`` uint8 [b, h, w, 1]. The classes are the schema's (the built-in shapes:
background + 8 shapes), or the dataset's own (``segmentation_folder``: ``classes.txt`` or the
largest id).

Config keys (besides the engine's): ``model.name``, ``model.dtype``, ``model.kwargs``;
``segmentation.schema`` ("": from ``dataset.name``), ``segmentation.class_weights`` (() or
one weight a class), ``segmentation.balance_classes`` (0, or the power of median-frequency
balancing weights counted from the training labels seen so far, in place of fixed
``class_weights``: 0.5 lifts rare classes without silencing the background),
``segmentation.dice_weight``.

Example:
  python -m train --config=train/configs/unet_small.py --workdir=/tmp/unet
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxvision.data import segmentation_schemas
from jaxvision.data.sources import DatasetMeta
from jaxvision.evaluators import ConfusionMatrixEvaluator, Evaluator
from jaxvision.losses.segmentation import (
    IGNORE_LABEL,
    balanced_class_weights,
    class_pixel_counts,
    pixel_cross_entropy,
    soft_dice_loss,
)
from jaxvision.tasks.base import MODEL, Batch, Metrics, SingleNetworkTask, Variables, registry_model

LABELS_KEY = "segmentation_mask"
# Collection of the class pixel counts of the training labels seen so far (with
# ``segmentation.balance_classes``), checkpointed with the model.
CLASS_COUNTS = "class_counts"
# Normalised (ymin, xmin, ymax, xmax) of the whole image.
FULL_WINDOW = (0.0, 0.0, 1.0, 1.0)


def _labels(batch: Batch) -> jax.Array:
    """The batch's class map [b, h, w] (int32) from ``segmentation_mask`` [b, h, w, 1]."""
    return batch[LABELS_KEY][..., 0].astype(jnp.int32)


class SegmentationTask(SingleNetworkTask):
    """Semantic segmentation with one network giving logits [b, h, w, k] at input size."""

    train_keys = ("image", LABELS_KEY)
    eval_keys = ("image", LABELS_KEY)
    task_collections = (CLASS_COUNTS,)  # the label counts of `balance_classes`

    def __init__(self, config: ml_collections.ConfigDict, meta: DatasetMeta):
        seg = config.get("segmentation", ml_collections.ConfigDict())
        name = seg.get("schema", "") or config.dataset.name
        self.schema = segmentation_schemas.schema_for(name)
        class_names = self.schema.class_names or meta.class_names
        if not class_names:
            raise ValueError(
                f"dataset {meta.name!r} names no classes: a segmentation_folder needs "
                "classes.txt or labelled masks"
            )
        super().__init__(config, dataclasses.replace(meta, class_names=tuple(class_names)))
        weights = tuple(seg.get("class_weights", ()))
        if weights and len(weights) != self.meta.num_classes:
            raise ValueError(
                f"segmentation.class_weights has {len(weights)} entries for "
                f"{self.meta.num_classes} classes {self.meta.class_names}"
            )
        self.class_weights = weights or None
        self.balance_power = float(seg.get("balance_classes", 0.0))
        if self.balance_power and self.class_weights:
            raise ValueError(
                "segmentation.class_weights and segmentation.balance_classes both weight the "
                "classes: set one"
            )
        self.dice_weight = float(seg.get("dice_weight", 0.0))

    # -- data ----------------------------------------------------------------------
    def _decode(self) -> str:
        """The spec of the schema's decoding (checked ids when the schema has no table)."""
        if self.schema.id_map is None:
            k = self.meta.num_classes
            return f"decode_segmentation({self.schema.name!r}, num_classes={k})"
        return f"decode_segmentation({self.schema.name!r})"

    @property
    def train_pp(self) -> str:
        return "|".join(p for p in (self._decode(), self.config.dataset.train_pp) if p)

    @property
    def eval_pp(self) -> str:
        return "|".join(p for p in (self._decode(), self.config.dataset.eval_pp) if p)

    def predict_pp(self, input_shape: tuple[int, ...]) -> str:
        """``dataset.eval_pp`` (without the decoding: a user's image has no label map), then
        a resize to the training input."""
        resize = f"resize({input_shape[0]}, {input_shape[1]})"
        return "|".join(p for p in (self.config.dataset.eval_pp, resize) if p)

    def predict_features(self, image: np.ndarray) -> dict[str, Any]:
        """The image and its ``image_window`` (the whole input), which a letterbox in
        ``dataset.eval_pp`` maps, so the class map can be cut back to the image."""
        return {"image": image, "image_window": np.array(FULL_WINDOW, np.float32)}

    # -- model and loss ------------------------------------------------------------
    @property
    def model(self) -> nn.Module:
        return registry_model(self.config, self.meta.num_classes)

    def init_variables(self, rng: jax.Array, batch: Batch) -> dict[str, Variables]:
        """The model's variables, plus zero class pixel counts when the classes are balanced
        from the labels (``segmentation.balance_classes``)."""
        variables = super().init_variables(rng, batch)
        if self.balance_power:
            counts = jnp.zeros((self.meta.num_classes,), jnp.float32)  # [k]
            variables[MODEL] = {**variables[MODEL], CLASS_COUNTS: {"counts": counts}}
        return variables

    def _class_weights(self, model_state: Any, labels: jax.Array) -> tuple[Any, Any]:
        """The classes' loss weights (the config's, or balanced from the counts updated with
        this batch's labels) and the state's updated count collection ({} without)."""
        if not self.balance_power:
            return self.class_weights, {}
        counts = model_state[CLASS_COUNTS]["counts"]  # [k]
        counts = counts + class_pixel_counts(labels, self.meta.num_classes, IGNORE_LABEL)
        counts = jax.lax.stop_gradient(counts)
        weights = balanced_class_weights(counts, self.balance_power)  # [k]
        return weights, {CLASS_COUNTS: {"counts": counts}}

    def loss(
        self, params: Any, model_state: Any, batch: Batch, rng: jax.Array
    ) -> tuple[jax.Array, tuple[Any, Metrics]]:
        logits, new_state = self.apply_train(
            params, model_state, batch["image"], rng
        )  # [b, h, w, k]
        labels = _labels(batch)  # [b, h, w]
        weights, counts = self._class_weights(model_state, labels)
        terms = {"ce_loss": pixel_cross_entropy(logits, labels, IGNORE_LABEL, weights)}
        if self.dice_weight:
            dice = soft_dice_loss(logits, labels, IGNORE_LABEL, weights)
            terms["dice_loss"] = self.dice_weight * dice
        valid = labels != IGNORE_LABEL  # [b, h, w]
        correct = (jnp.argmax(logits, axis=-1) == labels) & valid
        accuracy = jnp.sum(correct) / jnp.maximum(jnp.sum(valid), 1)
        metrics = {**terms, "pixel_accuracy": accuracy}
        return sum(terms.values()), ({**dict(new_state), **counts}, metrics)

    # -- evaluation and inference --------------------------------------------------
    def eval_forward(self, variables: dict[str, Variables], batch: Batch) -> jax.Array:
        """The predicted class map [b, h, w] of the eval images."""
        logits = self.apply_model(variables[MODEL], batch["image"], train=False)
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)  # [b, h, w]

    def evaluators(self) -> list[Evaluator]:
        return [
            ConfusionMatrixEvaluator(
                "segmentation",
                lambda classes, batch: (classes, _labels(batch)),
                self.meta.class_names,
                ignore_label=IGNORE_LABEL,
            )
        ]

    def predict(self, variables: dict[str, Variables], images: jax.Array) -> dict[str, jax.Array]:
        """Class maps of uint8 images [b, h, w, 3].

        Returns:
          ``classes`` int32 [b, h, w] (the argmax) and ``scores`` float32 [b, h, w] (its
          softmax probability).
        """
        logits = self.apply_model(variables[MODEL], images, train=False)  # [b, h, w, k]
        probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)  # [b, h, w, k]
        return {
            "classes": jnp.argmax(probs, axis=-1).astype(jnp.int32),  # [b, h, w]
            "scores": jnp.max(probs, axis=-1),  # [b, h, w]
        }
