"""A streaming confusion matrix over the whole split: mIoU, per-class IoU, pixel accuracy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxvision.evaluators.base import MASK_KEY, Batch, Evaluator
from jaxvision.metrics.segmentation import (
    IGNORE_LABEL,
    confusion_matrix,
    per_class_iou,
    scores_from_confusion,
)

LabelsFn = Callable[[Any, Batch], tuple[jax.Array, jax.Array]]
# Metric key of one class's IoU: "iou/<class name>".
CLASS_IOU_KEY = "iou/{}"


class ConfusionMatrixEvaluator(Evaluator):
    """Sums a [k, k] confusion matrix over every labelled pixel of the split.

    Args:
      name: the evaluator's name.
      labels_fn: ``(outputs, batch) -> (pred [b, ...], true [b, ...])`` class ids (jittable);
        the leading axis is the example, the rest pixels (or nothing, for classification).
      class_names: the k class names, in id order.
      ignore_label: true label of pixels that count nowhere.

    Writes ``mIoU``, ``pixel_accuracy``, ``mean_class_accuracy`` and ``iou/<class name>``
    for each class (NaN for a class absent from predictions and ground truth).

    Example:
      >>> ev = ConfusionMatrixEvaluator("seg", lambda out, b: (out, b["labels"]), ("bg", "cat"))
      >>> batch = {"labels": jnp.array([[0, 1], [1, 1]]), "mask": jnp.array([1.0, 0.0])}
      >>> acc = ev.merge(ev.init(), jax.device_get(ev.update(jnp.array([[0, 1], [0, 0]]), batch)))
      >>> ev.result(acc)["mIoU"], ev.result(acc)["iou/cat"]
      (1.0, 1.0)
    """

    def __init__(
        self,
        name: str,
        labels_fn: LabelsFn,
        class_names: Sequence[str],
        ignore_label: int = IGNORE_LABEL,
    ):
        super().__init__(name)
        if not class_names:
            raise ValueError(f"evaluator {name!r} needs at least one class")
        self.labels_fn = labels_fn
        self.class_names = tuple(class_names)
        self.ignore_label = ignore_label

    def update(self, outputs: Any, batch: Batch) -> jax.Array:
        pred, true = self.labels_fn(outputs, batch)
        mask = batch[MASK_KEY].reshape((-1,) + (1,) * (true.ndim - 1))  # [b, 1, ...]
        return confusion_matrix(
            pred, true, len(self.class_names), mask=mask, ignore_label=self.ignore_label
        )  # [k, k]

    def merge(self, accumulator: Any, update: Any) -> np.ndarray:
        update = np.asarray(update, np.int64)
        return update if accumulator is None else accumulator + update

    def result(self, accumulator: Any) -> dict[str, float]:
        if accumulator is None:
            raise ValueError(f"evaluator {self.name!r} saw no batch")
        metrics = scores_from_confusion(accumulator)
        for name, iou in zip(self.class_names, per_class_iou(accumulator), strict=True):
            metrics[CLASS_IOU_KEY.format(name)] = float(iou)
        return metrics


def argmax_labels(logits_key: str, labels_key: str) -> LabelsFn:
    """A ``labels_fn``: argmax of ``outputs[logits_key]`` [b, ..., k] against
    ``batch[labels_key]`` [b, ...]."""

    def labels_fn(outputs: Any, batch: Batch) -> tuple[jax.Array, jax.Array]:
        return jnp.argmax(outputs[logits_key], axis=-1), batch[labels_key]

    return labels_fn
