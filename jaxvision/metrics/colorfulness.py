"""Colourfulness of images (Hasler and Suesstrunk, 2003, "Measuring colourfulness in natural
images"), the number colorization reports beside PSNR: a colorizer that plays safe with
greyish outputs keeps a good PSNR and a low colourfulness.

``M = sqrt(std(rg)^2 + std(yb)^2) + 0.3 * sqrt(mean(rg)^2 + mean(yb)^2)`` with
``rg = R - G`` and ``yb = (R + G) / 2 - B`` over the image's pixels, RGB in [0, 255].

Example:
  >>> grey = jnp.full((1, 8, 8, 3), 0.5)
  >>> float(colorfulness(grey)[0])
  0.0
  >>> red = jnp.zeros((1, 8, 8, 3)).at[..., 0].set(1.0)  # rg = 255, yb = 127.5
  >>> round(float(colorfulness(red)[0]), 2)  # 0.3 * sqrt(255^2 + 127.5^2)
  85.53
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxvision.metrics.restoration import valid_mask

# Weight of the mean opponent-colour term (the paper's fitted value).
MEAN_WEIGHT = 0.3
PIXEL_MAX = 255.0


def colorfulness(images: jax.Array, valid_hw: jax.Array | None = None) -> jax.Array:
    """Per-image colourfulness [b] of RGB images in [0, 1].

    Args:
      images: [b, h, w, 3] RGB in [0, 1].
      valid_hw: optional [b, 2] sizes of the real images at the top-left of a padded canvas;
        only their pixels count.

    Returns:
      float32 [b] colourfulness (0 for grey images; about 100 for very colourful ones).

    Raises:
      ValueError: for images that are not [b, h, w, 3].
    """
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be [b, h, w, 3], got shape {images.shape}")
    x = images.astype(jnp.float32) * PIXEL_MAX  # [b, h, w, 3]
    rg = x[..., 0] - x[..., 1]  # [b, h, w]
    yb = 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]  # [b, h, w]
    if valid_hw is None:
        mask = jnp.ones(rg.shape, jnp.float32)
    else:
        mask = valid_mask(valid_hw, *rg.shape).astype(jnp.float32)  # [b, h, w]
    count = jnp.maximum(jnp.sum(mask, axis=(1, 2)), 1.0)  # [b]

    def mean_and_var(v: jax.Array) -> tuple[jax.Array, jax.Array]:
        mean = jnp.sum(v * mask, axis=(1, 2)) / count  # [b]
        var = jnp.sum(jnp.square(v - mean[:, None, None]) * mask, axis=(1, 2)) / count
        return mean, var

    rg_mean, rg_var = mean_and_var(rg)
    yb_mean, yb_var = mean_and_var(yb)
    spread = jnp.sqrt(rg_var + yb_var)
    return spread + MEAN_WEIGHT * jnp.sqrt(jnp.square(rg_mean) + jnp.square(yb_mean))
