"""Semantic segmentation metrics from a confusion matrix: IoU per class, mIoU, pixel accuracy.

The confusion matrix is a sum over pixels, so it accumulates exactly over batches and hosts;
the metrics are computed once from the whole split's matrix (as mmsegmentation and the
Cityscapes scripts do), not averaged over batches.

Example:
  >>> pred = jnp.array([[0, 1], [1, 1]])
  >>> true = jnp.array([[0, 1], [0, 255]])  # 255: ignored
  >>> conf = confusion_matrix(pred, true, num_classes=2)
  >>> conf
  Array([[1, 1],
         [0, 1]], dtype=int32)
  >>> {k: round(float(v), 3) for k, v in scores_from_confusion(np.asarray(conf)).items()}
  {'mIoU': 0.5, 'pixel_accuracy': 0.667, 'mean_class_accuracy': 0.75}
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# Label of pixels that count nowhere (unlabelled, object borders): the VOC / Cityscapes value.
IGNORE_LABEL = 255


def confusion_matrix(
    pred: jax.Array,
    true: jax.Array,
    num_classes: int,
    mask: jax.Array | None = None,
    ignore_label: int = IGNORE_LABEL,
) -> jax.Array:
    """Counts of (true class, predicted class) pairs over the pixels that count.

    Args:
      pred: [...] predicted class ids.
      true: [...] true class ids; ``ignore_label`` (and anything outside [0, num_classes))
        counts nowhere.
      num_classes: k.
      mask: optional weights broadcastable to ``true`` (0 for padding examples).
      ignore_label: the label of ignored pixels.

    Returns:
      [k, k] int32, rows true classes, columns predicted ones.
    """
    true = true.astype(jnp.int32)
    pred = jnp.clip(pred.astype(jnp.int32), 0, num_classes - 1)
    valid = (true != ignore_label) & (true >= 0) & (true < num_classes)  # [...]
    if mask is not None:
        valid &= jnp.broadcast_to(mask, true.shape) > 0
    index = jnp.where(valid, true * num_classes + pred, 0).reshape(-1)  # [n]
    weights = valid.reshape(-1).astype(jnp.int32)  # [n]
    counts = jnp.zeros(num_classes * num_classes, jnp.int32).at[index].add(weights)
    return counts.reshape(num_classes, num_classes)


def per_class_iou(conf: np.ndarray) -> np.ndarray:
    """IoU of each class from a [k, k] confusion matrix; NaN for a class absent from both the
    predictions and the ground truth (it has no IoU)."""
    conf = np.asarray(conf, np.float64)
    tp = np.diag(conf)  # [k]
    union = conf.sum(0) + conf.sum(1) - tp  # [k]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def scores_from_confusion(conf: np.ndarray) -> dict[str, float]:
    """mIoU (mean over classes that have an IoU), pixel accuracy and mean class accuracy.

    Args:
      conf: [k, k] confusion matrix (rows true, columns predicted).

    Returns:
      ``mIoU``, ``pixel_accuracy`` and ``mean_class_accuracy`` (over classes present in the
      ground truth).

    Raises:
      ValueError: when the matrix counts no pixel.
    """
    conf = np.asarray(conf, np.float64)
    total = conf.sum()
    if total == 0:
        raise ValueError("the confusion matrix counts no pixel: no labelled pixel was evaluated")
    iou = per_class_iou(conf)
    present = conf.sum(1) > 0  # [k] classes with ground-truth pixels
    recall = np.diag(conf)[present] / conf.sum(1)[present]
    return {
        "mIoU": float(np.nanmean(iou)) if np.any(~np.isnan(iou)) else float("nan"),
        "pixel_accuracy": float(np.trace(conf) / total),
        "mean_class_accuracy": float(np.mean(recall)),
    }
