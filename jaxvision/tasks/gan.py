"""The GAN step every adversarial task shares: a generator and a discriminator, one jitted step.

A subclass supplies the two modules, its (generator input, real image, condition) triple from
a batch, and a content loss (pixel, perceptual); this base makes the step:

1. the generator's samples from its inputs (training mode);
2. ``gan.d_steps`` discriminator updates on real and generated samples (the same samples each
   time), with ``gan.loss`` (``jaxvision.losses.adversarial``: non_saturating, lsgan, hinge,
   wgan) and, with ``gan.gp_weight`` > 0, WGAN-GP's gradient penalty;
3. one generator update on ``content + gan.adversarial_weight * adversarial`` (its batch
   statistics, if any, from this forward pass).

A conditional discriminator (``gan.conditional``: PatchGAN on L for colorization) gets the
condition as its ``condition`` argument. The generator's EMA (``ema.generator``) and a
pre-training phase (``init_from``) are the engine's. Metrics: ``d_loss``, ``g_loss``,
``adversarial_loss``, ``content_loss``, ``d_real`` / ``d_fake`` (mean discriminator outputs),
``d_*`` / ``g_*`` update metrics, and ``gradient_penalty``. A NaN in either loss stops the run
(the engine's NaN guard).
"""

from __future__ import annotations

import abc
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.engine import updates
from jaxvision.losses import adversarial
from jaxvision.tasks.base import Batch, Metrics, Task

GENERATOR = "generator"
DISCRIMINATOR = "discriminator"


class GANTask(Task):
    """A generator trained against a discriminator (config sub-tree ``gan``).

    ``gan`` keys: ``loss`` (``adversarial.LOSSES``), ``d_steps`` (discriminator updates a
    step), ``adversarial_weight``, ``gp_weight`` (WGAN-GP; 0: no penalty), ``conditional``
    (the discriminator sees the condition).
    """

    networks = (GENERATOR, DISCRIMINATOR)

    def __init__(self, config, meta):
        super().__init__(config, meta)
        if config.gan.loss not in adversarial.LOSSES:
            raise ValueError(
                f"unknown gan.loss {config.gan.loss!r}; valid: {', '.join(adversarial.LOSSES)}"
            )
        if int(config.gan.d_steps) < 1:
            raise ValueError(f"gan.d_steps must be >= 1, got {config.gan.d_steps}")

    # -- what a GAN task supplies --------------------------------------------------
    @property
    @abc.abstractmethod
    def generator(self) -> nn.Module:
        """The generator module: ``apply(variables, inputs, train=...)``."""

    @property
    @abc.abstractmethod
    def discriminator(self) -> nn.Module:
        """The discriminator: ``apply(variables, images, train=...)`` -> logits [b, ...]."""

    @abc.abstractmethod
    def gan_batch(self, batch: Batch, rng: jax.Array, train: bool) -> tuple[Any, Any, Any]:
        """``(generator inputs, real images [b, h, w, c], condition or None)``."""

    @abc.abstractmethod
    def content_loss(
        self, fake: jax.Array, real: jax.Array, frozen: dict[str, Any]
    ) -> tuple[jax.Array, Metrics]:
        """The generator's non-adversarial loss, and its metrics."""

    # -- the step --------------------------------------------------------------------
    def updates_per_step(self, network: str) -> int:
        return int(self.config.gan.d_steps) if network == DISCRIMINATOR else 1

    def _discriminate(self, variables, images, condition):
        """D's outputs in training mode, and its updated collections (batch statistics)."""
        kwargs = {"train": True}
        if self.config.gan.get("conditional", False):
            kwargs["condition"] = condition
        mutable = [k for k in variables if k != "params"]
        if mutable:
            return self.discriminator.apply(variables, images, mutable=mutable, **kwargs)
        return self.discriminator.apply(variables, images, **kwargs), {}

    def _d_update(self, state, real, fake, condition, rng):
        net = state.networks[DISCRIMINATOR]
        cfg = self.config.gan

        def d_loss_fn(params, model_state):
            variables = {"params": params, **model_state}
            both = jnp.concatenate([real, fake], axis=0)  # [2b, ...]
            cond = None if condition is None else jnp.concatenate([condition, condition], 0)
            logits, new_state = self._discriminate(variables, both, cond)
            real_out, fake_out = jnp.split(logits, 2, axis=0)
            loss = adversarial.discriminator_loss(cfg.loss, real_out, fake_out)
            metrics = {"d_real": jnp.mean(real_out), "d_fake": jnp.mean(fake_out)}
            if cfg.gp_weight > 0:
                critic = lambda x: self._discriminate(variables, x, condition)[0]  # noqa: E731
                penalty = adversarial.gradient_penalty(critic, real, fake, rng)
                loss = loss + cfg.gp_weight * penalty
                metrics["gradient_penalty"] = penalty
            return loss, (new_state, metrics)

        (loss, (new_state, metrics)), grads = updates.value_and_grad(
            d_loss_fn, state, DISCRIMINATOR, net.model_state
        )
        state, update_metrics = updates.apply_gradients(state, DISCRIMINATOR, grads, new_state)
        return state, {"d_loss": loss, **metrics, **updates.prefixed(update_metrics, "d")}

    def _generate(self, params, model_state, inputs):
        variables = {"params": params, **model_state}
        if model_state:
            return self.generator.apply(variables, inputs, train=True, mutable=list(model_state))
        return self.generator.apply(variables, inputs, train=True), model_state

    def _g_update(self, state, inputs, real, condition):
        net = state.networks[GENERATOR]
        disc = state.networks[DISCRIMINATOR].variables()
        cfg = self.config.gan

        def g_loss_fn(params, model_state):
            fake, new_state = self._generate(params, model_state, inputs)
            content, metrics = self.content_loss(fake, real, state.frozen)
            logits, _ = self._discriminate(disc, fake, condition)  # D's statistics: not kept
            adv = adversarial.generator_loss(cfg.loss, logits)
            metrics = {**metrics, "content_loss": content, "adversarial_loss": adv}
            return content + cfg.adversarial_weight * adv, (new_state, metrics)

        (loss, (new_state, metrics)), grads = updates.value_and_grad(
            g_loss_fn, state, GENERATOR, net.model_state
        )
        state, update_metrics = updates.apply_gradients(state, GENERATOR, grads, new_state)
        return state, {"g_loss": loss, **metrics, **updates.prefixed(update_metrics, "g")}

    def train_step(self, state, batch: Batch, rng: jax.Array):
        data_rng, *d_rngs = jax.random.split(rng, int(self.config.gan.d_steps) + 1)
        inputs, real, condition = self.gan_batch(batch, data_rng, train=True)
        net = state.networks[GENERATOR]
        # The samples the discriminator learns from; G's statistics are kept from its update.
        fake = jax.lax.stop_gradient(self._generate(net.params, net.model_state, inputs)[0])
        metrics: Metrics = {}
        for key in d_rngs:
            state, metrics = self._d_update(state, real, fake, condition, key)
        state, g_metrics = self._g_update(state, inputs, real, condition)
        return state.next_step(), {**metrics, **g_metrics}
