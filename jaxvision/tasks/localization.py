"""Classification + localization: one object an image, its class and its box.

Loss: softmax cross-entropy on the class, plus ``localization.l1_weight`` x L1 and
``localization.giou_weight`` x GIoU loss on the normalised box (DETR's pair of box
losses). Evaluator ``localization``: ``accuracy``, ``mean_iou`` (IoU of the predicted and true box),
``correct_iou50`` (the fraction of images with the right class AND IoU >= 0.5, the
ILSVRC localization criterion), ``cls_loss`` (cross-entropy).

Batches carry ``image``, ``label`` and ``bbox`` (normalised (ymin, xmin, ymax, xmax),
TFDS's ``BBoxFeature``).

Config keys (besides the engine's): ``model.dtype``, ``model.backbone``,
``model.backbone_kwargs``, ``model.kwargs`` (``Localizer`` fields),
``localization.l1_weight``, ``localization.giou_weight``, ``label_smoothing``.

Example:
  python -m train --config=train/configs/localization_small.py --workdir=/tmp/loc
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.evaluators import Evaluator, MeanEvaluator
from jaxvision.losses import detection as det_losses
from jaxvision.losses.classification import softmax_cross_entropy
from jaxvision.metrics.classification import topk_correct
from jaxvision.models.localizer import Localizer
from jaxvision.ops import boxes as box_ops
from jaxvision.tasks.backbones import build_backbone
from jaxvision.tasks.base import MODEL, Batch, Metrics, SingleNetworkTask, Variables

# IoU at which a localization counts as correct (ILSVRC, PASCAL).
CORRECT_IOU = 0.5


class LocalizationTask(SingleNetworkTask):
    """Single-object classification and localization."""

    train_keys = ("image", "label", "bbox")
    eval_keys = ("image", "label", "bbox")

    @property
    def model(self) -> nn.Module:
        cfg = self.config.model
        return Localizer(build_backbone(cfg), num_classes=self.meta.num_classes, **cfg.kwargs)

    @staticmethod
    def _pred_boxes(outputs: dict[str, jax.Array]) -> jax.Array:
        """The model's normalised (cx, cy, w, h) -> normalised xyxy [b, 4]."""
        return box_ops.convert_format(outputs["box"], "cxcywh", "xyxy")

    @staticmethod
    def _true_boxes(batch: Batch) -> jax.Array:
        return box_ops.convert_format(batch["bbox"], "yxyx", "xyxy")  # [b, 4]

    def loss(
        self, params: Any, model_state: Any, batch: Batch, rng: jax.Array
    ) -> tuple[jax.Array, tuple[Any, Metrics]]:
        del rng
        cfg = self.config.localization
        variables = {"params": params, **model_state}
        outputs, new_state = self.apply_model(
            variables, batch["image"], train=True, mutable=list(model_state)
        )
        pred, true = self._pred_boxes(outputs), self._true_boxes(batch)  # [b, 4]
        cls_loss = jnp.mean(
            softmax_cross_entropy(outputs["logits"], batch["label"], self.config.label_smoothing)
        )
        l1 = jnp.mean(jnp.sum(det_losses.l1_loss(pred, true), axis=-1))
        giou = jnp.mean(det_losses.giou_loss(pred, true))
        loss = cls_loss + cfg.l1_weight * l1 + cfg.giou_weight * giou
        metrics = {
            "cls_loss": cls_loss,
            "l1_loss": l1,
            "giou_loss": giou,
            "accuracy": jnp.mean(topk_correct(outputs["logits"], batch["label"], 1)),
        }
        return loss, (new_state, metrics)

    def eval_forward(self, variables: dict[str, Variables], batch: Batch) -> dict[str, jax.Array]:
        """The localizer's raw outputs (``logits`` [b, k], ``box`` [b, 4]) on the eval images."""
        return self.apply_model(variables[MODEL], batch["image"], train=False)

    def evaluators(self) -> list[Evaluator]:
        def values(outputs: dict[str, jax.Array], batch: Batch) -> dict[str, jax.Array]:
            iou = box_ops.iou(self._pred_boxes(outputs), self._true_boxes(batch))  # [b]
            correct = topk_correct(outputs["logits"], batch["label"], 1)  # [b]
            return {
                "accuracy": correct,
                "mean_iou": iou,
                "correct_iou50": correct * (iou >= CORRECT_IOU),
                "cls_loss": softmax_cross_entropy(outputs["logits"], batch["label"]),
            }

        return [MeanEvaluator("localization", values)]

    def predict(self, variables: dict[str, Variables], images: jax.Array) -> dict[str, jax.Array]:
        """Class, probability and box (xyxy pixels of the input) for uint8 images [b, h, w, 3]."""
        outputs = self.apply_model(variables[MODEL], images, train=False)
        probs = jax.nn.softmax(outputs["logits"], axis=-1)  # [b, k]
        h, w = images.shape[1:3]
        return {
            "classes": jnp.argmax(probs, axis=-1),  # [b]
            "probabilities": jnp.max(probs, axis=-1),  # [b]
            "boxes": box_ops.clip(box_ops.scale(self._pred_boxes(outputs), h, w), h, w),  # [b, 4]
        }
