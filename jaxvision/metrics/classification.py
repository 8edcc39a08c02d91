"""Classification metrics as mask-weighted sums (exact over padded eval batches)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def topk_correct(logits: jax.Array, labels: jax.Array, k: int) -> jax.Array:
    """Whether the label is among the k highest logits.

    Args:
      logits: [b, n] scores.
      labels: [b] integer labels.
      k: how many top classes count (k >= 1; k > n counts every class).

    Returns:
      [b] float32, 1.0 where correct.

    Example:
      >>> topk_correct(jnp.array([[0.1, 0.9, 0.0]]), jnp.array([0]), k=2)
      Array([1.], dtype=float32)
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    k = min(k, logits.shape[-1])
    label_logit = jnp.take_along_axis(logits, labels[:, None], axis=-1)  # [b, 1]
    # Rank = number of classes scoring strictly higher than the label; ties favour the label.
    rank = jnp.sum(logits > label_logit, axis=-1)  # [b]
    return (rank < k).astype(jnp.float32)


def masked_sums(values: dict[str, jax.Array], mask: jax.Array) -> dict[str, jax.Array]:
    """Mask-weighted sums of per-example values, plus ``count`` (the mask's sum).

    Args:
      values: name -> [b] per-example values.
      mask: [b] 1.0 for real examples, 0.0 for padding.

    Returns:
      name -> scalar sum over real examples, and ``"count"``.
    """
    mask = mask.astype(jnp.float32)
    sums = {name: jnp.sum(v.astype(jnp.float32) * mask) for name, v in values.items()}
    sums["count"] = jnp.sum(mask)
    return sums


def means_from_sums(sums: dict[str, Any]) -> dict[str, float]:
    """Per-example means from ``masked_sums`` accumulated over a split, plus ``num_examples``.

    Raises:
      ValueError: when the split had no (real) example.

    Example:
      >>> means_from_sums({"accuracy": 3.0, "count": 4.0})
      {'accuracy': 0.75, 'num_examples': 4.0}
    """
    count = float(sums["count"])
    if count == 0:
        raise ValueError("the eval split has no examples")
    out = {k: float(v) / count for k, v in sums.items() if k != "count"}
    out["num_examples"] = count
    return out
