"""GAN losses against their formulas, and WGAN-GP's penalty against a critic with a known
gradient."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.losses import adversarial

REAL = np.array([[2.0, -0.5], [1.0, 3.0]], np.float32)  # a PatchGAN-like [b, positions] map
FAKE = np.array([[-1.0, 0.25], [0.5, -2.0]], np.float32)


def softplus(x):
    return np.log1p(np.exp(x))


@pytest.mark.parametrize(
    "kind, d_expected, g_expected",
    [
        ("non_saturating", softplus(-REAL).mean() + softplus(FAKE).mean(), softplus(-FAKE).mean()),
        (
            "lsgan",
            0.5 * (((REAL - 1) ** 2).mean() + (FAKE**2).mean()),
            0.5 * ((FAKE - 1) ** 2).mean(),
        ),
        (
            "hinge",
            np.maximum(0, 1 - REAL).mean() + np.maximum(0, 1 + FAKE).mean(),
            -FAKE.mean(),
        ),
        ("wgan", FAKE.mean() - REAL.mean(), -FAKE.mean()),
    ],
)
def test_losses_match_their_formulas(kind, d_expected, g_expected):
    d = adversarial.discriminator_loss(kind, jnp.asarray(REAL), jnp.asarray(FAKE))
    g = adversarial.generator_loss(kind, jnp.asarray(FAKE))
    assert float(d) == pytest.approx(float(d_expected), rel=1e-6)
    assert float(g) == pytest.approx(float(g_expected), rel=1e-6)


@pytest.mark.parametrize("kind", adversarial.LOSSES)
def test_the_discriminator_loss_falls_as_it_separates_real_from_fake(kind):
    # LSGAN's targets are 1 (real) and 0 (fake); the others separate by sign.
    real, fake = (1.0, 0.0) if kind == "lsgan" else (3.0, -3.0)
    far = adversarial.discriminator_loss(kind, jnp.full(4, real), jnp.full(4, fake))
    near = adversarial.discriminator_loss(kind, jnp.full(4, 0.1), jnp.full(4, -0.1))
    assert float(far) < float(near)
    # The generator's gradient pushes its samples' scores up.
    grad = jax.grad(lambda f: adversarial.generator_loss(kind, f))(jnp.full(4, -1.0))
    assert np.all(np.asarray(grad) < 0)


def test_gradient_penalty_of_a_linear_critic():
    w = jnp.asarray(np.random.default_rng(0).normal(size=(1, 4, 4, 3)), jnp.float32)
    critic = lambda x: jnp.sum(x * w, axis=(1, 2, 3))  # noqa: E731  gradient w everywhere
    real = jnp.zeros((5, 4, 4, 3))
    fake = jnp.ones((5, 4, 4, 3))
    norm = float(jnp.sqrt(jnp.sum(w**2)))
    penalty = adversarial.gradient_penalty(critic, real, fake, jax.random.key(0))
    assert float(penalty) == pytest.approx((norm - 1.0) ** 2, rel=1e-5)
    # The penalty is differentiable in the critic's parameters (what WGAN-GP trains on).
    grad = jax.grad(
        lambda v: adversarial.gradient_penalty(
            lambda x: jnp.sum(x * v, axis=(1, 2, 3)), real, fake, jax.random.key(0)
        )
    )(w)
    assert np.all(np.isfinite(np.asarray(grad))) and float(jnp.abs(grad).sum()) > 0


def test_unknown_loss_names_the_valid_ones():
    with pytest.raises(ValueError, match="non_saturating, lsgan, hinge, wgan"):
        adversarial.discriminator_loss("relativistic", jnp.zeros(1), jnp.zeros(1))
