"""Pure image array ops that run on the device."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

# Per-channel statistics of ImageNet's training set, in [0, 255] units.
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


def normalize(
    images: jax.Array,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    dtype: jnp.dtype = jnp.float32,
) -> jax.Array:
    """Maps uint8 (or float, [0, 255]) images to ``(x - mean) / std`` in ``dtype``.

    Args:
      images: [..., h, w, c] pixel values in [0, 255].
      mean: per-channel mean, length c.
      std: per-channel standard deviation, length c.
      dtype: output dtype.

    Returns:
      [..., h, w, c] normalised images.

    Example:
      >>> normalize(jnp.zeros((1, 2, 2, 3), jnp.uint8)).shape
      (1, 2, 2, 3)
    """
    if len(mean) != images.shape[-1] or len(std) != images.shape[-1]:
        raise ValueError(
            f"mean/std have {len(mean)}/{len(std)} channels, images have {images.shape[-1]}"
        )
    mean = jnp.asarray(mean, jnp.float32)  # [c]
    inv_std = 1.0 / jnp.asarray(std, jnp.float32)  # [c]
    return ((images.astype(jnp.float32) - mean) * inv_std).astype(dtype)
