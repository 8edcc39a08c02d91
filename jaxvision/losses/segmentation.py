"""Semantic segmentation losses: per-pixel cross entropy with an ignore label, soft Dice.

Labels are class ids [b, h, w]; pixels labelled ``ignore_label`` (255, as in VOC and
Cityscapes: unlabelled pixels, object borders, padding) count nowhere. Class weights, when
given, weight each pixel by the weight of its true class, as ``torch.nn.CrossEntropyLoss``'s
``weight`` does: the mean is over the weights, not the pixel count.

Example:
  >>> logits = jnp.zeros((1, 2, 2, 3))  # uniform over 3 classes
  >>> labels = jnp.array([[[0, 1], [2, 255]]])
  >>> round(float(pixel_cross_entropy(logits, labels)), 4)  # log(3), mean over 3 pixels
  1.0986
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

# Label of pixels that count nowhere (``jaxvision.metrics.segmentation.IGNORE_LABEL``).
IGNORE_LABEL = 255
# Laplace smoothing of the soft Dice ratio: keeps it defined for empty classes.
DICE_SMOOTH = 1.0
# Cap of a median-frequency balancing weight: a class seen a handful of times must not
# dominate the loss.
MAX_BALANCED_WEIGHT = 10.0


def _pixel_weights(
    labels: jax.Array, num_classes: int, ignore_label: int, class_weights: Sequence[float] | None
) -> tuple[jax.Array, jax.Array]:
    """(valid [b, h, w] bool, weight [b, h, w] float32) of each pixel."""
    valid = (labels != ignore_label) & (labels >= 0) & (labels < num_classes)  # [b, h, w]
    if class_weights is None:
        return valid, valid.astype(jnp.float32)
    weights = jnp.asarray(class_weights, jnp.float32)  # [k]
    if weights.shape != (num_classes,):
        raise ValueError(f"class_weights must have {num_classes} entries, got {weights.shape}")
    safe = jnp.where(valid, labels, 0)  # [b, h, w]
    return valid, jnp.where(valid, weights[safe], 0.0)  # [b, h, w]


def pixel_cross_entropy(
    logits: jax.Array,
    labels: jax.Array,
    ignore_label: int = IGNORE_LABEL,
    class_weights: Sequence[float] | None = None,
) -> jax.Array:
    """Softmax cross entropy averaged over the pixels that count.

    Args:
      logits: [b, h, w, k] unnormalised scores (computed in float32).
      labels: [b, h, w] integer class ids; ``ignore_label`` (and ids outside [0, k)) count
        nowhere.
      ignore_label: the label of ignored pixels.
      class_weights: optional k weights; a pixel weighs its true class's weight and the
        result is ``sum(w * ce) / sum(w)``.

    Returns:
      A scalar; 0 when no pixel counts.

    Example:
      >>> logits = jnp.array([[[[2.0, 0.0], [0.0, 2.0]]]])  # [1, 1, 2, 2]
      >>> labels = jnp.array([[[0, 1]]])  # the second pixel weighs 3 times the first
      >>> round(float(pixel_cross_entropy(logits, labels, class_weights=[1.0, 3.0])), 4)
      0.1269
    """
    num_classes = logits.shape[-1]
    valid, weights = _pixel_weights(labels, num_classes, ignore_label, class_weights)
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)  # [b, h, w, k]
    safe = jnp.where(valid, labels, 0).astype(jnp.int32)  # [b, h, w]
    nll = -jnp.take_along_axis(log_probs, safe[..., None], axis=-1)[..., 0]  # [b, h, w]
    return jnp.sum(nll * weights) / jnp.maximum(jnp.sum(weights), 1e-12)


def soft_dice_loss(
    logits: jax.Array,
    labels: jax.Array,
    ignore_label: int = IGNORE_LABEL,
    class_weights: Sequence[float] | None = None,
    smooth: float = DICE_SMOOTH,
) -> jax.Array:
    """Multi-class soft Dice loss (Milletari et al., 2016) over the pixels that count.

    Per class c, over every counted pixel of the batch: ``dice_c = (2 sum(p_c t_c) + s) /
    (sum(p_c) + sum(t_c) + s)`` with ``p`` the softmax probabilities and ``t`` the one-hot
    labels. The loss is the mean of ``1 - dice_c`` over the classes present in the batch's
    labels (a class absent from them has nothing to overlap; as segmentation_models_pytorch's
    ``DiceLoss``), weighted by ``class_weights`` when given.

    Args:
      logits: [b, h, w, k] unnormalised scores (computed in float32).
      labels: [b, h, w] integer class ids; ``ignore_label`` counts nowhere.
      ignore_label: the label of ignored pixels.
      class_weights: optional k weights of the per-class terms.
      smooth: the smoothing ``s``.

    Returns:
      A scalar in [0, 1]; 0 when no pixel counts.

    Example:
      >>> labels = jnp.array([[[0, 1]]])
      >>> perfect = 50.0 * jax.nn.one_hot(labels, 2)  # [1, 1, 2, 2]
      >>> round(float(soft_dice_loss(perfect, labels, smooth=0.0)), 4)
      0.0
    """
    num_classes = logits.shape[-1]
    valid, _ = _pixel_weights(labels, num_classes, ignore_label, None)
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)  # [b, h, w, k]
    probs = probs * valid[..., None]
    targets = jax.nn.one_hot(jnp.where(valid, labels, 0), num_classes) * valid[..., None]
    axes = tuple(range(labels.ndim))
    intersection = jnp.sum(probs * targets, axis=axes)  # [k]
    target_sum = jnp.sum(targets, axis=axes)  # [k]
    denominator = jnp.sum(probs, axis=axes) + target_sum + smooth  # [k]
    dice = (2.0 * intersection + smooth) / jnp.maximum(denominator, 1e-12)  # [k]
    present = (target_sum > 0).astype(jnp.float32)  # [k]
    if class_weights is not None:
        weights = jnp.asarray(class_weights, jnp.float32)  # [k]
        if weights.shape != (num_classes,):
            raise ValueError(f"class_weights must have {num_classes} entries, got {weights.shape}")
        present = present * weights
    return jnp.sum((1.0 - dice) * present) / jnp.maximum(jnp.sum(present), 1e-12)


def class_pixel_counts(labels: jax.Array, num_classes: int, ignore_label: int = IGNORE_LABEL):
    """Pixels of each class in a batch of class maps, ignored pixels left out.

    Args:
      labels: [b, h, w] integer class ids.
      num_classes: k.
      ignore_label: the label of ignored pixels (ids outside [0, k) count nowhere too).

    Returns:
      float32 [k] counts.

    Example:
      >>> class_pixel_counts(jnp.array([[[0, 1], [1, 255]]]), 3).tolist()
      [1.0, 2.0, 0.0]
    """
    valid = (labels != ignore_label) & (labels >= 0) & (labels < num_classes)  # [b, h, w]
    safe = jnp.where(valid, labels, 0).ravel()  # [b h w]
    return jnp.zeros((num_classes,), jnp.float32).at[safe].add(valid.ravel().astype(jnp.float32))


def balanced_class_weights(
    counts: jax.Array, power: float = 0.5, max_weight: float = MAX_BALANCED_WEIGHT
) -> jax.Array:
    """Median-frequency balancing (Eigen & Fergus; SegNet), softened by ``power``.

    ``w_c = (median(f) / f_c) ** power`` over the class frequencies ``f`` of ``counts`` (each
    count + 1, so an unseen class gets a finite weight), capped at ``max_weight``: power 1 is
    median-frequency balancing, 0.5 its square root (rare classes lifted, the background not
    silenced), 0 no weighting.

    Args:
      counts: [k] pixels seen of each class.
      power: the exponent.
      max_weight: the cap of any weight.

    Returns:
      float32 [k] weights; the class at the median frequency weighs 1.

    Example:
      >>> weights = balanced_class_weights(jnp.array([900.0, 99.0, 9.0]), power=1.0)
      >>> [round(float(w), 2) for w in weights]
      [0.11, 1.0, 10.0]
    """
    freq = (counts.astype(jnp.float32) + 1.0) / jnp.sum(counts + 1.0)  # [k]
    weights = (jnp.median(freq) / freq) ** power  # [k]
    return jnp.minimum(weights, max_weight)
