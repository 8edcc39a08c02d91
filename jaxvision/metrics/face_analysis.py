"""Face-crop metrics, per example (for mask-weighted means): attribute accuracy, landmark NME.

The landmark NME of a crop is the mean over its five points of the distance between the
predicted and the true point, divided by the inter-ocular distance (between the true eye
centres), the normaliser of CelebA / 300W landmark benchmarks on crops; distances are in
pixels of the crop, so a non-square crop weighs x and y alike. (The face detector's NME,
``jaxvision.metrics.landmarks``, divides by the box diagonal instead.)

Example:
  >>> true = jnp.array([[[20.0, 30.0], [40.0, 30.0], [30.0, 40.0], [22.0, 50.0], [38.0, 50.0]]])
  >>> interocular_nme(true + jnp.array([2.0, 0.0]), true).tolist()  # 2 px off, eyes 20 apart
  [0.10000000149011612]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

LEFT_EYE, RIGHT_EYE = 0, 1
# Floor of the inter-ocular distance, in the points' units (pixels): a face whose two eyes
# share a pixel still gets a finite error.
MIN_INTEROCULAR = 1.0


def interocular_nme(pred: jax.Array, true: jax.Array) -> jax.Array:
    """Per-face normalised mean error of 5-point landmarks, by the inter-ocular distance.

    Args:
      pred: [b, 5, 2] predicted (x, y) points.
      true: [b, 5, 2] true points, in the same units (pixels).

    Returns:
      float32 [b] errors.
    """
    if pred.shape != true.shape or pred.ndim != 3 or pred.shape[-1] != 2:
        raise ValueError(f"pred and true must both be [b, k, 2], got {pred.shape}, {true.shape}")
    pred, true = pred.astype(jnp.float32), true.astype(jnp.float32)
    distance = jnp.linalg.norm(pred - true, axis=-1)  # [b, k]
    interocular = jnp.linalg.norm(true[:, RIGHT_EYE] - true[:, LEFT_EYE], axis=-1)  # [b]
    return jnp.mean(distance, axis=-1) / jnp.maximum(interocular, MIN_INTEROCULAR)


def attribute_correct(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Whether each binary attribute is predicted right (logit > 0 iff the target is 1).

    Args:
      logits: [b, a] attribute logits.
      targets: [b, a] 0/1 (bool or float) true values.

    Returns:
      float32 [b, a], 1.0 where right.

    Example:
      >>> attribute_correct(jnp.array([[2.0, -1.0]]), jnp.array([[1.0, 1.0]])).tolist()
      [[1.0, 0.0]]
    """
    if logits.shape != targets.shape:
        raise ValueError(f"logits {logits.shape} and targets {targets.shape} must match")
    return ((logits > 0) == (targets > 0.5)).astype(jnp.float32)
