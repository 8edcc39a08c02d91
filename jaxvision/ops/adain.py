"""Adaptive instance normalisation (Huang & Belongie, 2017, "Arbitrary Style Transfer in
Real-time with Adaptive Instance Normalization").

``adain(x, y) = sigma(y) * (x - mu(x)) / sigma(x) + mu(y)``: each channel of the content
features ``x`` is normalised over its spatial positions and given the mean and standard
deviation of the same channel of the style features ``y``. ``sigma`` is
``sqrt(var + eps)`` (the variance over positions, biased, as torch's ``var(unbiased=False)``
with the epsilon inside the square root, as the authors' code).

Example:
  >>> content = jnp.arange(8.0).reshape(1, 2, 2, 2)  # [b, h, w, c]
  >>> style = jnp.array([[[[1.0, 0.0], [3.0, 2.0]], [[1.0, 4.0], [3.0, 6.0]]]])  # [1, 2, 2, 2]
  >>> mean, std = channel_mean_std(adain(content, style))  # the style's statistics
  >>> np.round(np.asarray(mean), 3), np.round(np.asarray(std), 3)
  (array([[2., 3.]], dtype=float32), array([[1.   , 2.236]], dtype=float32))
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# The variance's epsilon (the authors' code's).
ADAIN_EPSILON = 1e-5


def channel_mean_std(
    features: jax.Array, eps: float = ADAIN_EPSILON
) -> tuple[jax.Array, jax.Array]:
    """Per-example, per-channel mean and standard deviation over the spatial positions.

    Args:
      features: [b, h, w, c].
      eps: added to the (biased) variance before the square root.

    Returns:
      ``(mean [b, c], std [b, c])``, float32.

    Raises:
      ValueError: for an input that is not rank 4.

    Example:
      >>> mean, std = channel_mean_std(jnp.array([1.0, 3.0]).reshape(1, 1, 2, 1), eps=0.0)
      >>> float(mean[0, 0]), float(std[0, 0])
      (2.0, 1.0)
    """
    if features.ndim != 4:
        raise ValueError(f"expected features [b, h, w, c], got shape {features.shape}")
    x = features.astype(jnp.float32)  # [b, h, w, c]
    mean = jnp.mean(x, axis=(1, 2))  # [b, c]
    var = jnp.mean(jnp.square(x - mean[:, None, None]), axis=(1, 2))  # [b, c]
    return mean, jnp.sqrt(var + eps)


def adain(content: jax.Array, style: jax.Array, eps: float = ADAIN_EPSILON) -> jax.Array:
    """Content features re-normalised to the style features' channel statistics.

    Args:
      content: [b, h, w, c] content features.
      style: [b, h', w', c] style features (any spatial size; a batch of 1 serves every
        content example).
      eps: the variance's epsilon (see the module docstring).

    Returns:
      [b, h, w, c] float32 features.

    Raises:
      ValueError: for inputs that are not rank 4, or whose channels or batches differ.

    Example:
      >>> x = jnp.arange(256.0).reshape(2, 4, 4, 8)  # [b, h, w, c]
      >>> adain(x, jnp.ones((1, 3, 3, 8))).shape
      (2, 4, 4, 8)
    """
    if content.ndim != 4 or style.ndim != 4 or content.shape[-1] != style.shape[-1]:
        raise ValueError(
            f"adain needs content [b, h, w, c] and style [b, h', w', c] features, got "
            f"{content.shape} and {style.shape}"
        )
    if style.shape[0] not in (1, content.shape[0]):
        raise ValueError(
            f"style batch {style.shape[0]} must be 1 or the content's, {content.shape[0]}"
        )
    c_mean, c_std = channel_mean_std(content, eps)  # [b, c]
    s_mean, s_std = channel_mean_std(style, eps)  # [b or 1, c]
    normalized = (content.astype(jnp.float32) - c_mean[:, None, None]) / c_std[:, None, None]
    return normalized * s_std[:, None, None] + s_mean[:, None, None]  # [b, h, w, c]
