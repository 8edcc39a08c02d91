"""A tiny GAN task for the engine's tests: what the restoration and colorization GANs need.

Two trained networks (a generator and a discriminator) with two optimizers, several
discriminator updates a step, an EMA of the generator, and a frozen feature network inside
the generator's loss (a feature-matching term, as a perceptual loss runs a frozen VGG). It
trains on 16 px images of the built-in shapes dataset through ``python -m train`` with
``tests/engine/tiny_gan_config.py``. ``gan.nan_at_step`` makes one step's generator loss NaN
(the NaN guard's test).

Its evaluators cover the three kinds: the discriminator's accuracy on real and generated
images (mask-weighted means), the mean pixel of generated images (per-example rows
gathered over the split) and a confusion matrix of "real" against "generated".
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxvision.engine import updates
from jaxvision.evaluators import ConfusionMatrixEvaluator, GatherEvaluator, MeanEvaluator
from jaxvision.tasks.base import Task, compute_dtype

GENERATOR, DISCRIMINATOR, FEATURES = "generator", "discriminator", "features"
IMAGE_SIZE = 16
# Seed of the fixed latents that evaluation and prediction generate from.
EVAL_LATENT_SEED = 1234


class Generator(nn.Module):
    """Latent [b, d] -> image [b, 16, 16, 3] in [-1, 1]."""

    width: int = 16
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        x = nn.Dense(4 * 4 * self.width, dtype=self.dtype)(z).reshape(-1, 4, 4, self.width)
        x = nn.relu(nn.ConvTranspose(self.width, (4, 4), (2, 2), dtype=self.dtype)(x))
        x = nn.ConvTranspose(3, (4, 4), (2, 2), dtype=self.dtype)(x)  # [b, 16, 16, 3]
        return jnp.tanh(x)


class Discriminator(nn.Module):
    """Image [b, 16, 16, 3] in [-1, 1] -> realness logit [b]."""

    width: int = 16
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.leaky_relu(nn.Conv(self.width, (3, 3), 2, dtype=self.dtype)(x), 0.2)
        x = nn.leaky_relu(nn.Conv(2 * self.width, (3, 3), 2, dtype=self.dtype)(x), 0.2)
        return nn.Dense(1, dtype=self.dtype)(x.reshape(x.shape[0], -1))[:, 0]


class Features(nn.Module):
    """A fixed random conv feature map, pooled: image [b, 16, 16, 3] -> [b, 8]."""

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return jnp.mean(nn.relu(nn.Conv(8, (3, 3), dtype=self.dtype)(x)), axis=(1, 2))


def to_unit_range(images: jax.Array, dtype: Any) -> jax.Array:
    """uint8 [0, 255] -> [-1, 1]."""
    return images.astype(dtype) / 127.5 - 1.0


class TinyGANTask(Task):
    """A non-saturating GAN with feature matching through a frozen network."""

    networks = (GENERATOR, DISCRIMINATOR)
    frozen_networks = (FEATURES,)
    train_keys = ("image",)
    eval_keys = ("image",)

    @property
    def dtype(self) -> Any:
        return compute_dtype(self.config.model.dtype)

    @property
    def modules(self) -> dict[str, nn.Module]:
        return {
            GENERATOR: Generator(dtype=self.dtype),
            DISCRIMINATOR: Discriminator(dtype=self.dtype),
            FEATURES: Features(dtype=self.dtype),
        }

    def init_variables(self, rng: jax.Array, batch: dict[str, jax.Array]) -> dict[str, Any]:
        rngs = dict(zip(self.modules, jax.random.split(rng, 3), strict=True))
        images = to_unit_range(batch["image"], jnp.float32)
        z = jnp.zeros((1, self.config.gan.latent_dim))
        return {
            GENERATOR: self.modules[GENERATOR].init(rngs[GENERATOR], z),
            DISCRIMINATOR: self.modules[DISCRIMINATOR].init(rngs[DISCRIMINATOR], images),
            FEATURES: self.modules[FEATURES].init(rngs[FEATURES], images),
        }

    def updates_per_step(self, network: str) -> int:
        return int(self.config.gan.d_steps) if network == DISCRIMINATOR else 1

    def _latents(self, rng: jax.Array, n: int) -> jax.Array:
        return jax.random.normal(rng, (n, self.config.gan.latent_dim), self.dtype)

    def _d_step(self, state, real, rng):
        gen = state.networks[GENERATOR].variables()
        fake = jax.lax.stop_gradient(
            self.modules[GENERATOR].apply(gen, self._latents(rng, len(real)))
        )
        disc = self.modules[DISCRIMINATOR]

        def d_loss_fn(params):
            logits_real = disc.apply({"params": params}, real)
            logits_fake = disc.apply({"params": params}, fake)
            loss = jnp.mean(jax.nn.softplus(-logits_real) + jax.nn.softplus(logits_fake))
            return loss, jnp.mean(jax.nn.sigmoid(logits_real))

        (loss, d_real), grads = updates.value_and_grad(d_loss_fn, state, DISCRIMINATOR)
        state, metrics = updates.apply_gradients(state, DISCRIMINATOR, grads)
        return state, {"d_loss": loss, "d_real": d_real, **updates.prefixed(metrics, "d")}

    def _g_step(self, state, real, rng):
        disc = state.networks[DISCRIMINATOR].variables()
        features = state.frozen[FEATURES]
        z = self._latents(rng, len(real))
        target = self.modules[FEATURES].apply(features, real)  # [b, 8]
        nan_at = self.config.gan.nan_at_step
        poison = jnp.where((state.step + 1 == nan_at) & (nan_at > 0), jnp.nan, 1.0)

        def g_loss_fn(params):
            fake = self.modules[GENERATOR].apply({"params": params}, z)
            adversarial = jnp.mean(jax.nn.softplus(-self.modules[DISCRIMINATOR].apply(disc, fake)))
            matched = self.modules[FEATURES].apply(features, fake)  # [b, 8]
            matching = jnp.mean((jnp.mean(matched, 0) - jnp.mean(target, 0)) ** 2)
            return (adversarial + self.config.gan.feature_weight * matching) * poison, matching

        (loss, matching), grads = updates.value_and_grad(g_loss_fn, state, GENERATOR)
        state, metrics = updates.apply_gradients(state, GENERATOR, grads)
        return state, {"g_loss": loss, "matching": matching, **updates.prefixed(metrics, "g")}

    def train_step(self, state, batch, rng):
        real = to_unit_range(batch["image"], self.dtype)
        rngs = jax.random.split(rng, self.config.gan.d_steps + 1)
        metrics = {}
        for i in range(self.config.gan.d_steps):
            state, metrics = self._d_step(state, real, rngs[i])
        state, g_metrics = self._g_step(state, real, rngs[-1])
        return state.next_step(), {**metrics, **g_metrics}

    def eval_forward(self, variables, batch):
        real = to_unit_range(batch["image"], self.dtype)
        z = self._latents(jax.random.key(EVAL_LATENT_SEED), len(real))
        fake = self.modules[GENERATOR].apply(variables[GENERATOR], z)
        disc = self.modules[DISCRIMINATOR]
        return {
            "real": disc.apply(variables[DISCRIMINATOR], real),  # [b]
            "fake": disc.apply(variables[DISCRIMINATOR], fake),  # [b]
            "fake_mean": jnp.mean(fake, axis=(1, 2, 3)),  # [b]
        }

    def evaluators(self):
        def accuracies(out, batch):
            return {"d_real_accuracy": out["real"] > 0, "d_fake_accuracy": out["fake"] < 0}

        def realness(out, batch):
            pred = jnp.stack([out["real"] > 0, out["fake"] > 0], axis=1)  # [b, 2]
            true = jnp.broadcast_to(jnp.asarray([1, 0]), pred.shape)  # [b, 2]
            return pred, true

        return [
            MeanEvaluator("discriminator", accuracies),
            GatherEvaluator(
                "samples",
                lambda out, batch: {"fake_mean": out["fake_mean"]},
                lambda rows: {"fake_pixel_mean": float(np.mean(rows["fake_mean"]))},
            ),
            ConfusionMatrixEvaluator("realness", realness, ("generated", "real")),
        ]

    def predict(self, variables, images):
        """Generated images (uint8, one per input image) and the inputs' realness logits."""
        z = self._latents(jax.random.key(EVAL_LATENT_SEED), len(images))
        fake = self.modules[GENERATOR].apply(variables[GENERATOR], z)
        pixels = jnp.clip(jnp.round((fake + 1.0) * 127.5), 0, 255).astype(jnp.uint8)
        real = to_unit_range(images, self.dtype)
        return {
            "generated": pixels,
            "realness": self.modules[DISCRIMINATOR].apply(variables[DISCRIMINATOR], real),
        }
