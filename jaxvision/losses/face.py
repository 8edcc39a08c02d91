"""Face analysis losses: ArcFace's additive angular margin, multi-label attributes, landmarks.

ArcFace (Deng et al., 2019, "ArcFace: Additive Angular Margin Loss for Deep Face
Recognition"): the logits are ``s cos(theta_j)``, the cosines between an L2-normalised
embedding and L2-normalised class centres, except the label's, which becomes
``s cos(theta_y + m)``. As in the reference implementation (insightface's ``ArcMarginProduct``
/ ``combined_margin``), ``cos(theta + m)`` is computed as ``cos cos m - sin sin m``, and past
``theta + m = pi``, where it would stop decreasing in ``theta``:

* ``easy_margin=False`` (the default): the target logit is ``s (cos theta - m sin m)``
  (a linear continuation) wherever ``cos theta <= cos(pi - m)``;
* ``easy_margin=True``: no margin where ``cos theta <= 0``.

Example:
  >>> cosine = jnp.array([[0.8, 0.1, -0.3]])
  >>> logits = arcface_logits(cosine, jnp.array([0]), scale=10.0, margin=0.5)
  >>> [round(float(v), 3) for v in logits[0]]  # 10 cos(arccos(0.8) + 0.5), 10 cos ...
  [4.144, 1.0, -3.0]
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax

# Floor of 1 - cos^2 under the square root: keeps sin's gradient finite at cos = +-1.
SIN_SQUARED_FLOOR = 1e-7


def _check_labels(cosine: jax.Array, labels: jax.Array) -> None:
    if cosine.ndim != 2 or labels.shape != cosine.shape[:1]:
        raise ValueError(
            f"cosine must be [b, k] and labels [b], got {cosine.shape} and {labels.shape}"
        )


def arcface_logits(
    cosine: jax.Array,
    labels: jax.Array,
    scale: float = 64.0,
    margin: float = 0.5,
    easy_margin: bool = False,
) -> jax.Array:
    """ArcFace logits: every cosine times ``scale``, the label's with the angular margin.

    Args:
      cosine: [b, k] cosines between normalised embeddings and normalised class centres.
      labels: [b] integer class ids in [0, k).
      scale: ``s``, the radius of the hypersphere (64 in the paper).
      margin: ``m``, the additive angular margin in radians (0.5 in the paper).
      easy_margin: apply the margin only where ``cos theta > 0`` (see the module doc).

    Returns:
      float32 [b, k] logits.

    Raises:
      ValueError: bad shapes, ``scale <= 0`` or ``margin`` outside [0, pi/2).
    """
    _check_labels(cosine, labels)
    if scale <= 0 or not 0 <= margin < math.pi / 2:
        raise ValueError(f"need scale > 0 and 0 <= margin < pi/2, got {scale}, {margin}")
    cosine = jnp.clip(cosine.astype(jnp.float32), -1.0, 1.0)  # [b, k]
    target = jnp.take_along_axis(cosine, labels[:, None], axis=-1)[:, 0]  # [b]
    sine = jnp.sqrt(jnp.maximum(1.0 - target**2, SIN_SQUARED_FLOOR))  # [b]
    with_margin = target * math.cos(margin) - sine * math.sin(margin)  # cos(theta + m)
    if easy_margin:
        with_margin = jnp.where(target > 0, with_margin, target)
    else:
        # theta + m > pi past this cosine: continue linearly instead.
        threshold = math.cos(math.pi - margin)
        with_margin = jnp.where(target > threshold, with_margin, target - margin * math.sin(margin))
    one_hot = jax.nn.one_hot(labels, cosine.shape[-1], dtype=jnp.bool_)  # [b, k]
    return scale * jnp.where(one_hot, with_margin[:, None], cosine)  # [b, k]


def arcface_loss(
    cosine: jax.Array,
    labels: jax.Array,
    scale: float = 64.0,
    margin: float = 0.5,
    easy_margin: bool = False,
) -> jax.Array:
    """Per-example ArcFace loss: softmax cross-entropy of ``arcface_logits``.

    Args:
      cosine: [b, k] cosines between normalised embeddings and normalised class centres.
      labels: [b] integer class ids in [0, k).
      scale: ``s``.
      margin: ``m`` (radians).
      easy_margin: see ``arcface_logits``.

    Returns:
      float32 [b] losses.

    Example:
      >>> loss = arcface_loss(jnp.eye(3), jnp.arange(3), scale=16.0, margin=0.0)
      >>> bool(jnp.all(loss < 1e-6))
      True
    """
    logits = arcface_logits(cosine, labels, scale, margin, easy_margin)  # [b, k]
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)  # [b]


def multilabel_sigmoid_loss(
    logits: jax.Array, targets: jax.Array, mask: jax.Array | None = None
) -> jax.Array:
    """Per-example binary cross-entropy of independent labels (face attributes).

    Args:
      logits: [b, a] one logit per attribute.
      targets: [b, a] 0/1 (bool or float) true values.
      mask: optional [b, a] weights (0 where an attribute is unknown).

    Returns:
      float32 [b]: the mean over the (weighted) attributes of each example.

    Example:
      >>> loss = multilabel_sigmoid_loss(jnp.zeros((1, 2)), jnp.array([[1, 0]]))  # log 2 each
      >>> round(float(loss[0]), 4)
      0.6931
    """
    if logits.shape != targets.shape:
        raise ValueError(f"logits {logits.shape} and targets {targets.shape} must match")
    losses = optax.sigmoid_binary_cross_entropy(
        logits.astype(jnp.float32), targets.astype(jnp.float32)
    )  # [b, a]
    if mask is None:
        return jnp.mean(losses, axis=-1)
    mask = mask.astype(jnp.float32)
    return jnp.sum(losses * mask, axis=-1) / jnp.maximum(jnp.sum(mask, axis=-1), 1.0)


def landmark_l1_loss(pred: jax.Array, true: jax.Array) -> jax.Array:
    """Per-example mean absolute error of [b, n, 2] landmark coordinates.

    Example:
      >>> landmark_l1_loss(jnp.zeros((1, 5, 2)), jnp.full((1, 5, 2), 0.5)).tolist()
      [0.5]
    """
    if pred.shape != true.shape:
        raise ValueError(f"pred {pred.shape} and true {true.shape} landmarks must match")
    return jnp.mean(jnp.abs(pred.astype(jnp.float32) - true.astype(jnp.float32)), axis=(-2, -1))
