"""Colorization with a conditional GAN: the Pix2Pix-style colorizer of Nazeri et al. (2018,
"Image Colorization using Generative Adversarial Networks").

The generator (``jaxvision.models.colorizer.Colorizer`` in regression mode around a U-Net,
``model.*``) predicts ab from L; the discriminator (``discriminator.name``: ``patchgan``)
scores patches of ab given L (``gan.conditional``: the lightness is its ``condition``). The
generator's loss is ``colorization.loss`` (L1 in the paper) on ab plus
``gan.adversarial_weight`` times the adversarial loss (the paper's 100 : 1 is a weight of
0.01); the step is ``jaxvision.tasks.gan``'s. Evaluation and prediction are the
autoencoder's (``jaxvision.tasks.colorization``), on the generator's EMA when
``ema.generator`` is set. A regression run can be the starting point (``init_from.workdir``,
``init_from.networks = {"generator": "model"}``).

Example:
  python -m train --config=train/configs/colorize_gan_small.py --workdir=runs/colorize_gan
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision import models
from jaxvision.losses.restoration import pixel_loss
from jaxvision.models.colorizer import Colorizer
from jaxvision.tasks import colorization_data as data
from jaxvision.tasks.base import Batch, Metrics, Variables, compute_dtype
from jaxvision.tasks.colorization import ColorizationMixin
from jaxvision.tasks.gan import DISCRIMINATOR, GENERATOR, GANTask


class ColorizationGANTask(ColorizationMixin, GANTask):
    """A regression colorizer trained against a PatchGAN conditioned on L."""

    colorizing_network = GENERATOR

    def __init__(self, config, meta):
        super().__init__(config, meta)
        if config.colorization.mode != "regression":
            raise ValueError(
                "the colorization GAN regresses ab: colorization.mode must be 'regression', "
                f"got {config.colorization.mode!r}"
            )
        self._colorization_setup()

    @property
    def generator(self) -> Colorizer:
        return self.colorizer("regression")

    @property
    def discriminator(self) -> nn.Module:
        cfg = self.config.discriminator
        dtype = compute_dtype(self.config.model.dtype)
        return models.get_model(cfg.name, dtype=dtype, **cfg.get("kwargs", {}))

    @property
    def colorizing_module(self) -> Colorizer:
        return self.generator

    def init_variables(self, rng: jax.Array, batch: Batch) -> dict[str, Variables]:
        g_rng, d_rng = jax.random.split(rng)
        lightness, ab = data.split_lab(batch["image"])
        condition = lightness if self.config.gan.get("conditional", False) else None
        return {
            GENERATOR: self.generator.init(g_rng, lightness, train=False),
            DISCRIMINATOR: self.discriminator.init(
                d_rng, jnp.zeros_like(ab), condition, train=False
            ),
        }

    def gan_batch(self, batch: Batch, rng: jax.Array, train: bool) -> tuple[Any, Any, Any]:
        del rng, train
        lightness, ab = data.split_lab(batch["image"])  # [b, h, w, 1], [b, h, w, 2]
        return lightness, ab, lightness

    def content_loss(self, fake, real, frozen) -> tuple[jax.Array, Metrics]:
        del frozen
        loss = pixel_loss(self.config.colorization.loss, fake, real)
        return loss, {"pixel_loss": loss}
