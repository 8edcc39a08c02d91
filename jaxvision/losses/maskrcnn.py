"""Mask R-CNN losses (Detectron2's defaults): RPN objectness + box, Fast R-CNN class + box,
and the per-pixel mask loss on the ground-truth class's mask.

Each takes the fixed-size sampled buffers of ``jaxvision.models.maskrcnn.MaskRCNN
.train_outputs`` (a validity mask on padding, positives flagged) and returns a float32
scalar:

  * RPN: binary cross-entropy of the sampled anchors' objectness and L1 (smooth L1 with
    ``beta``) on the positives' deltas, both summed and divided by the number of anchor
    slots (``images * rpn_samples``: Detectron2 divides by the sampling budget).
  * Fast R-CNN: softmax cross-entropy over K + 1 classes, averaged over the valid RoIs;
    L1 on the positives' deltas of their own class, summed and divided by the valid RoIs.
  * mask: binary cross-entropy of each positive RoI's M x M logits of its gt class,
    averaged over those pixels.

Example:
  >>> float(mask_loss(jnp.zeros((1, 2, 4, 4)), jnp.ones((1, 2, 4, 4)), jnp.array([[True, False]])))
  0.6931...
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxvision.losses.detection import smooth_l1_loss

# Detectron2's smooth-L1 beta of the RPN and box heads (0: plain L1).
DEFAULT_BETA = 0.0


def _f32(x: jax.Array) -> jax.Array:
    return jnp.asarray(x, jnp.float32)


def rpn_loss(
    logits: jax.Array,
    deltas: jax.Array,
    box_targets: jax.Array,
    valid: jax.Array,
    positive: jax.Array,
    beta: float = DEFAULT_BETA,
) -> tuple[jax.Array, jax.Array]:
    """RPN objectness and box losses over sampled anchors.

    Args:
      logits: [b, s] objectness logits of the sampled anchors.
      deltas: [b, s, 4] their predicted deltas.
      box_targets: [b, s, 4] encoded targets (read on positives).
      valid: [b, s] bool, real samples.
      positive: [b, s] bool, positive samples (the rest of the valid ones are negatives).
      beta: smooth-L1 beta (0: L1).

    Returns:
      (objectness loss, box loss) scalars, each divided by ``b * s``.

    Example:
      >>> rpn_loss(jnp.zeros((1, 2)), jnp.zeros((1, 2, 4)), jnp.ones((1, 2, 4)),
      ...          jnp.array([[True, True]]), jnp.array([[True, False]]))
      (Array(0.6931472, dtype=float32), Array(2., dtype=float32))
    """
    normalizer = float(logits.size)
    bce = optax.sigmoid_binary_cross_entropy(_f32(logits), _f32(positive))  # [b, s]
    objectness = jnp.sum(jnp.where(valid, bce, 0.0)) / normalizer
    l1 = jnp.sum(smooth_l1_loss(deltas, box_targets, beta), axis=-1)  # [b, s]
    box = jnp.sum(jnp.where(valid & positive, l1, 0.0)) / normalizer
    return objectness, box


def fast_rcnn_loss(
    logits: jax.Array,
    labels: jax.Array,
    deltas: jax.Array,
    box_targets: jax.Array,
    valid: jax.Array,
    positive: jax.Array,
    beta: float = DEFAULT_BETA,
) -> tuple[jax.Array, jax.Array]:
    """Box-head classification and regression losses over sampled RoIs.

    Args:
      logits: [b, s, K + 1] class logits (background last).
      labels: [b, s] int classes in [0, K] (K: background).
      deltas: [b, s, 4] predicted deltas of each RoI's own class.
      box_targets: [b, s, 4] encoded targets (read on positives).
      valid: [b, s] bool, real samples.
      positive: [b, s] bool, positive samples.
      beta: smooth-L1 beta (0: L1).

    Returns:
      (classification loss, box loss) scalars, divided by the number of valid RoIs.

    Example:
      >>> fast_rcnn_loss(jnp.zeros((1, 1, 2)), jnp.array([[1]]), jnp.zeros((1, 1, 4)),
      ...                jnp.zeros((1, 1, 4)), jnp.array([[True]]), jnp.array([[False]]))
      (Array(0.6931472, dtype=float32), Array(0., dtype=float32))
    """
    num_valid = jnp.maximum(jnp.sum(valid), 1).astype(jnp.float32)
    ce = optax.softmax_cross_entropy_with_integer_labels(_f32(logits), labels)  # [b, s]
    classification = jnp.sum(jnp.where(valid, ce, 0.0)) / num_valid
    l1 = jnp.sum(smooth_l1_loss(deltas, box_targets, beta), axis=-1)  # [b, s]
    box = jnp.sum(jnp.where(valid & positive, l1, 0.0)) / num_valid
    return classification, box


def mask_loss(logits: jax.Array, targets: jax.Array, valid: jax.Array) -> jax.Array:
    """Mean per-pixel binary cross-entropy over the valid (positive) RoIs' masks.

    Args:
      logits: [b, p, m, m] mask logits of each RoI's gt class.
      targets: [b, p, m, m] targets in {0, 1}.
      valid: [b, p] bool, the positive RoIs.

    Returns:
      Scalar; 0 when no RoI is valid.
    """
    bce = optax.sigmoid_binary_cross_entropy(_f32(logits), _f32(targets))  # [b, p, m, m]
    pixels = logits.shape[-2] * logits.shape[-1]
    total = jnp.sum(jnp.where(valid[..., None, None], bce, 0.0))
    return total / (jnp.maximum(jnp.sum(valid), 1).astype(jnp.float32) * pixels)


def maskrcnn_losses(outputs: dict[str, jax.Array], beta: float = DEFAULT_BETA) -> dict:
    """Every Mask R-CNN loss term of ``MaskRCNN.train_outputs``' dict.

    Args:
      outputs: the ``rpn_*``, ``roi_*`` and ``mask_*`` arrays of ``train_outputs``.
      beta: smooth-L1 beta of the box losses.

    Returns:
      ``rpn_cls_loss``, ``rpn_box_loss``, ``cls_loss``, ``box_loss``, ``mask_loss`` scalars.
    """
    rpn_cls, rpn_box = rpn_loss(
        outputs["rpn_logits"],
        outputs["rpn_deltas"],
        outputs["rpn_box_targets"],
        outputs["rpn_valid"],
        outputs["rpn_positive"],
        beta,
    )
    cls, box = fast_rcnn_loss(
        outputs["roi_logits"],
        outputs["roi_labels"],
        outputs["roi_deltas"],
        outputs["roi_box_targets"],
        outputs["roi_valid"],
        outputs["roi_positive"],
        beta,
    )
    mask = mask_loss(outputs["mask_logits"], outputs["mask_targets"], outputs["mask_valid"])
    return {
        "rpn_cls_loss": rpn_cls,
        "rpn_box_loss": rpn_box,
        "cls_loss": cls,
        "box_loss": box,
        "mask_loss": mask,
    }
