"""Losses of image restoration: pixel losses and a perceptual loss on network features.

Example:
  >>> pred, target = jnp.zeros((1, 4, 4, 3)), jnp.full((1, 4, 4, 3), 0.5)
  >>> float(pixel_loss("l1", pred, target)), float(pixel_loss("l2", pred, target))
  (0.5, 0.25)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp

PIXEL_LOSSES = ("l1", "l2", "charbonnier")
# Charbonnier's epsilon (LapSRN's value, in [0, 1] intensity units).
CHARBONNIER_EPS = 1e-3


def pixel_loss(kind: str, pred: jax.Array, target: jax.Array) -> jax.Array:
    """A per-pixel loss, mean over every element.

    Args:
      kind: "l1" (mean absolute error), "l2" (mean squared error) or "charbonnier"
        (sqrt(d^2 + eps^2), a smooth L1).
      pred: [b, h, w, c] restored images.
      target: [b, h, w, c] ground truth.

    Returns:
      The scalar loss (float32).
    """
    d = pred.astype(jnp.float32) - target.astype(jnp.float32)  # [b, h, w, c]
    if kind == "l1":
        return jnp.mean(jnp.abs(d))
    if kind == "l2":
        return jnp.mean(d**2)
    if kind == "charbonnier":
        return jnp.mean(jnp.sqrt(d**2 + CHARBONNIER_EPS**2))
    raise ValueError(f"unknown pixel loss {kind!r}; valid: {', '.join(PIXEL_LOSSES)}")


def frequency_loss(pred: jax.Array, target: jax.Array) -> jax.Array:
    """The L1 distance between the 2-D spectra of the prediction and the target.

    After MIMO-UNet's frequency reconstruction loss (Cho et al., 2021; it weighs an
    unnormalised spectrum by 0.1, so its weights do not carry over), which deblurring
    networks add to a pixel loss: blur removes high frequencies, whose few pixels weigh
    little in a pixel loss but as much as any other frequency here. The spectrum is ``rfft2`` over
    height and width, orthonormal (so a white error has the same scale as in pixels), and
    the distance the mean of ``|re| + |im|`` of its difference.

    Args:
      pred: [b, h, w, c] restored images.
      target: [b, h, w, c] ground truth.

    Returns:
      The scalar loss (float32).

    Example:
      >>> x = jnp.zeros((1, 4, 4, 1))
      >>> # pred - target is -4 at one pixel: every orthonormal bin is -1 + 0j
      >>> float(frequency_loss(x, x.at[0, 0, 0, 0].set(4.0)))
      1.0
    """
    d = pred.astype(jnp.float32) - target.astype(jnp.float32)  # [b, h, w, c]
    spectrum = jnp.fft.rfft2(d, axes=(1, 2), norm="ortho")  # [b, h, w // 2 + 1, c]
    return jnp.mean(jnp.abs(spectrum.real) + jnp.abs(spectrum.imag))


def perceptual_loss(
    features: Callable[[jax.Array], Mapping[str, jax.Array]],
    pred: jax.Array,
    target: jax.Array,
    layer_weights: Mapping[str, float],
    kind: str = "l1",
) -> jax.Array:
    """The weighted distance between network features of the prediction and the target.

    Johnson et al. (2016) and SRGAN's VGG loss: ``sum_l w_l * dist(phi_l(pred), phi_l(target))``
    with ``phi`` a frozen pretrained network (``jaxvision.models.vgg``); the target's features
    carry no gradient.

    Args:
      features: images [b, h, w, 3] in [0, 1] -> {layer name: activations}; it must return
        every layer of ``layer_weights``.
      pred: [b, h, w, 3] restored images.
      target: [b, h, w, 3] ground truth.
      layer_weights: layer name -> weight.
      kind: the distance on the activations ("l1" or "l2", a mean each layer).

    Returns:
      The scalar loss (float32).

    Example:
      >>> features = lambda x: {"double": 2.0 * x}
      >>> pred, target = jnp.zeros((1, 2, 2, 3)), jnp.ones((1, 2, 2, 3))
      >>> float(perceptual_loss(features, pred, target, {"double": 0.5}))
      1.0
    """
    if not layer_weights:
        raise ValueError("a perceptual loss needs at least one layer")
    both = features(jnp.concatenate([pred, jax.lax.stop_gradient(target)], axis=0))
    b = pred.shape[0]
    total = jnp.zeros((), jnp.float32)
    for name, weight in layer_weights.items():
        if name not in both:
            raise KeyError(f"the feature network returned no layer {name!r}; got {sorted(both)}")
        act = both[name]
        total += weight * pixel_loss(kind, act[:b], jax.lax.stop_gradient(act[b:]))
    return total
