"""Losses of neural style transfer: Gram matrices, style, content and total variation.

Conventions (those of PyTorch's neural-style tutorial and its fast-neural-style example,
which use the same ImageNet-normalised VGG input as ``jaxvision.models.vgg``, so that their
weights carry over):

- ``gram_matrix(F) = F^T F / (h w c)`` for features F [h w, c] of one image: the mean over
  positions of the outer product of the channel vectors, divided by the channels. Being a
  mean over positions, it does not depend on the image size: a style image of another size
  gives targets on the same scale.
- ``style_loss``: for each layer the mean squared difference of the Gram matrices (a mean
  over the c x c entries), weighted and summed over the layers.
- ``content_loss``: for each layer the mean squared difference of the features, weighted
  and summed.
- ``total_variation_loss``: the mean squared difference of vertically and of horizontally
  neighbouring pixels, summed (an anisotropic, squared TV that penalises noise).
- ``mean_std_loss``: AdaIN's style loss, the mean squared difference of the channel means
  plus that of the channel standard deviations, summed over the layers.

Every loss returns a scalar: the mean over the batch as well.

Example:
  >>> features = {"relu1_1": jnp.ones((1, 4, 4, 2))}
  >>> targets = {"relu1_1": gram_matrix(jnp.zeros((1, 4, 4, 2)))}
  >>> float(style_loss(features, targets, {"relu1_1": 1.0}))  # every entry 1/2 off
  0.25
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp

from jaxvision.ops.adain import channel_mean_std


def gram_matrix(features: jax.Array) -> jax.Array:
    """Gram matrices of feature maps, normalised by positions and channels.

    Args:
      features: [b, h, w, c].

    Returns:
      [b, c, c] float32: ``G[i, j] = sum_p F[p, i] F[p, j] / (h w c)``.

    Raises:
      ValueError: for an input that is not rank 4 or has no positions.

    Example:
      >>> gram_matrix(jnp.full((1, 2, 2, 3), 2.0))[0, 0]  # 2 * 2 / 3 each
      Array([1.3333334, 1.3333334, 1.3333334], dtype=float32)
    """
    if features.ndim != 4 or features.shape[1] * features.shape[2] == 0:
        raise ValueError(f"expected features [b, h, w, c] with h, w > 0, got {features.shape}")
    b, h, w, c = features.shape
    f = features.reshape(b, h * w, c).astype(jnp.float32)  # [b, hw, c]
    return jnp.einsum("bpi,bpj->bij", f, f) / (h * w * c)  # [b, c, c]


def _check_layers(kind: str, layer_weights: Mapping[str, float], *trees: Mapping) -> None:
    if not layer_weights:
        raise ValueError(f"a {kind} loss needs at least one layer")
    for tree in trees:
        missing = sorted(set(layer_weights) - set(tree))
        if missing:
            raise KeyError(f"{kind} loss: no layers {missing}; got {sorted(tree)}")


def style_loss(
    features: Mapping[str, jax.Array],
    target_grams: Mapping[str, jax.Array],
    layer_weights: Mapping[str, float],
) -> jax.Array:
    """The weighted Gram-matrix distance of features to a style's.

    Args:
      features: layer name -> [b, h, w, c] features of the images being styled.
      target_grams: layer name -> [b or 1, c, c] Gram matrices of the style image(s)
        (``gram_matrix``), treated as constants; a batch of 1 serves every image.
      layer_weights: layer name -> weight.

    Returns:
      The scalar loss: ``sum_l w_l mean((G_l - A_l)^2)``, the mean over the batch too.

    Raises:
      ValueError: without layers. KeyError: a layer missing from the inputs.
    """
    _check_layers("style", layer_weights, features, target_grams)
    total = jnp.zeros((), jnp.float32)
    for name, weight in layer_weights.items():
        target = jax.lax.stop_gradient(target_grams[name]).astype(jnp.float32)  # [b | 1, c, c]
        total += weight * jnp.mean(jnp.square(gram_matrix(features[name]) - target))
    return total


def content_loss(
    features: Mapping[str, jax.Array],
    targets: Mapping[str, jax.Array],
    layer_weights: Mapping[str, float],
) -> jax.Array:
    """The weighted mean squared distance of features to the content's.

    Args:
      features: layer name -> [b, h, w, c] features of the images being styled.
      targets: layer name -> [b, h, w, c] features of the content images (constants).
      layer_weights: layer name -> weight.

    Returns:
      The scalar loss ``sum_l w_l mean((F_l - P_l)^2)``.

    Raises:
      ValueError: without layers. KeyError: a layer missing from the inputs.

    Example:
      >>> float(content_loss({"a": jnp.ones((1, 2, 2, 1))}, {"a": jnp.zeros((1, 2, 2, 1))},
      ...                    {"a": 2.0}))
      2.0
    """
    _check_layers("content", layer_weights, features, targets)
    total = jnp.zeros((), jnp.float32)
    for name, weight in layer_weights.items():
        target = jax.lax.stop_gradient(targets[name]).astype(jnp.float32)
        total += weight * jnp.mean(jnp.square(features[name].astype(jnp.float32) - target))
    return total


def total_variation_loss(images: jax.Array) -> jax.Array:
    """Squared total variation: mean squared vertical plus horizontal neighbour differences.

    Args:
      images: [b, h, w, c], h and w at least 2.

    Returns:
      The scalar loss.

    Raises:
      ValueError: for an input that is not rank 4 or smaller than 2 x 2.

    Example:
      >>> stripes = jnp.tile(jnp.array([0.0, 1.0]), 2).reshape(1, 1, 4, 1) * jnp.ones((1, 2, 1, 1))
      >>> float(total_variation_loss(stripes))  # rows equal, every column step 1
      1.0
    """
    if images.ndim != 4 or min(images.shape[1:3]) < 2:
        raise ValueError(f"expected images [b, h, w, c] with h, w >= 2, got {images.shape}")
    x = images.astype(jnp.float32)
    dy = x[:, 1:] - x[:, :-1]  # [b, h - 1, w, c]
    dx = x[:, :, 1:] - x[:, :, :-1]  # [b, h, w - 1, c]
    return jnp.mean(jnp.square(dy)) + jnp.mean(jnp.square(dx))


def mean_std_loss(
    features: Mapping[str, jax.Array],
    style_features: Mapping[str, jax.Array],
    layer_weights: Mapping[str, float],
) -> jax.Array:
    """AdaIN's style loss: matching channel means and standard deviations.

    Args:
      features: layer name -> [b, h, w, c] features of the images being styled.
      style_features: layer name -> [b or 1, h', w', c] features of their style images
        (constants).
      layer_weights: layer name -> weight.

    Returns:
      The scalar loss ``sum_l w_l (mean((mu_l - mu_s)^2) + mean((sigma_l - sigma_s)^2))``.

    Raises:
      ValueError: without layers. KeyError: a layer missing from the inputs.

    Example:
      >>> x, s = jnp.zeros((1, 2, 2, 1)), jnp.full((1, 2, 2, 1), 3.0)
      >>> float(mean_std_loss({"a": x}, {"a": s}, {"a": 1.0}))  # means 3 apart, stds equal
      9.0
    """
    _check_layers("mean-std style", layer_weights, features, style_features)
    total = jnp.zeros((), jnp.float32)
    for name, weight in layer_weights.items():
        mean, std = channel_mean_std(features[name])  # [b, c]
        s_mean, s_std = channel_mean_std(jax.lax.stop_gradient(style_features[name]))
        total += weight * (jnp.mean(jnp.square(mean - s_mean)) + jnp.mean(jnp.square(std - s_std)))
    return total
