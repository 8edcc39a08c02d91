"""Classification losses."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def softmax_cross_entropy(
    logits: jax.Array, labels: jax.Array, label_smoothing: float = 0.0
) -> jax.Array:
    """Per-example softmax cross-entropy with integer labels and optional smoothing.

    Args:
      logits: [b, k] unnormalised scores (computed in float32).
      labels: [b] integer class ids in [0, k).
      label_smoothing: epsilon of Szegedy et al. (2016): the target puts
        ``1 - eps + eps / k`` on the label and ``eps / k`` elsewhere.

    Returns:
      [b] losses.

    Example:
      >>> softmax_cross_entropy(jnp.zeros((2, 4)), jnp.array([0, 3]))
      Array([1.3862944, 1.3862944], dtype=float32)
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    num_classes = logits.shape[-1]
    targets = jax.nn.one_hot(labels, num_classes)  # [b, k]
    if label_smoothing:
        targets = optax.smooth_labels(targets, label_smoothing)
    return optax.softmax_cross_entropy(logits.astype(jnp.float32), targets)  # [b]
