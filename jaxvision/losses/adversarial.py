"""GAN losses: non-saturating, least-squares, hinge and Wasserstein, and WGAN-GP's penalty.

Each loss takes the discriminator's raw outputs (logits or critic values, any shape
[b, ...]: one a image, or a PatchGAN map) and returns a scalar mean.

- ``non_saturating`` (Goodfellow et al. 2014): D minimises softplus(-D(x)) + softplus(D(G(z))),
  G minimises softplus(-D(G(z))).
- ``lsgan`` (Mao et al. 2017): D minimises (D(x) - 1)^2 + D(G(z))^2, G (D(G(z)) - 1)^2, halved.
- ``hinge`` (Lim and Ye 2017, Miyato et al. 2018): D minimises relu(1 - D(x)) + relu(1 +
  D(G(z))), G minimises -D(G(z)).
- ``wgan`` (Arjovsky et al. 2017): the critic minimises D(G(z)) - D(x), G minimises -D(G(z));
  with ``gradient_penalty`` (Gulrajani et al. 2017) it is WGAN-GP.

Example:
  >>> real, fake = jnp.array([3.0, 2.0]), jnp.array([-2.0, -1.0])
  >>> round(float(discriminator_loss("hinge", real, fake)), 3)
  0.0
  >>> round(float(generator_loss("lsgan", fake)), 3)
  3.25
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

LOSSES = ("non_saturating", "lsgan", "hinge", "wgan")
# The norm WGAN-GP pulls the critic's input gradient to.
GP_TARGET_NORM = 1.0


def _check(kind: str) -> None:
    if kind not in LOSSES:
        raise ValueError(f"unknown adversarial loss {kind!r}; valid: {', '.join(LOSSES)}")


def discriminator_loss(kind: str, real: jax.Array, fake: jax.Array) -> jax.Array:
    """The discriminator's (critic's) loss on real and generated samples.

    Args:
      kind: one of ``LOSSES``.
      real: D's outputs on real samples [b, ...].
      fake: D's outputs on generated samples [b, ...].

    Returns:
      The scalar loss (float32), a mean over samples and map positions.
    """
    _check(kind)
    real, fake = real.astype(jnp.float32), fake.astype(jnp.float32)
    if kind == "non_saturating":
        return jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))
    if kind == "lsgan":
        return 0.5 * (jnp.mean((real - 1.0) ** 2) + jnp.mean(fake**2))
    if kind == "hinge":
        return jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake))
    return jnp.mean(fake) - jnp.mean(real)


def generator_loss(kind: str, fake: jax.Array) -> jax.Array:
    """The generator's adversarial loss: D's outputs on its samples [b, ...] -> scalar."""
    _check(kind)
    fake = fake.astype(jnp.float32)
    if kind == "non_saturating":
        return jnp.mean(jax.nn.softplus(-fake))
    if kind == "lsgan":
        return 0.5 * jnp.mean((fake - 1.0) ** 2)
    return -jnp.mean(fake)


def gradient_penalty(
    critic: Callable[[jax.Array], jax.Array], real: jax.Array, fake: jax.Array, key: jax.Array
) -> jax.Array:
    """WGAN-GP's penalty: the mean of (|grad critic(x_hat)| - 1)^2 over random interpolates.

    Args:
      critic: images [b, h, w, c] -> outputs [b, ...] (summed per sample for the gradient).
      real: real samples [b, h, w, c].
      fake: generated samples [b, h, w, c] (gradients are stopped through them).
      key: draws one interpolation weight a sample.

    Returns:
      The scalar penalty (float32).

    Example:
      >>> critic = lambda x: 3.0 * jnp.sum(x, axis=(1, 2, 3))  # gradient norm 3 * sqrt(n)
      >>> x = jnp.zeros((2, 1, 1, 1))
      >>> float(gradient_penalty(critic, x, x + 1.0, jax.random.key(0)))
      4.0
    """
    real = real.astype(jnp.float32)
    fake = jax.lax.stop_gradient(fake).astype(jnp.float32)
    shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    eps = jax.random.uniform(key, shape)  # [b, 1, 1, 1]
    mixed = eps * real + (1.0 - eps) * fake  # [b, h, w, c]

    def per_sample_sum(x):
        out = critic(x).astype(jnp.float32)
        return jnp.sum(out.reshape(out.shape[0], -1))

    grads = jax.grad(per_sample_sum)(mixed)  # [b, h, w, c]
    norms = jnp.sqrt(jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, axis=-1) + 1e-12)  # [b]
    return jnp.mean((norms - GP_TARGET_NORM) ** 2)
