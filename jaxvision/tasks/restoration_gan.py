"""Image restoration with a GAN: SRGAN super-resolution and DeblurGAN deblurring.

The generator (``model.name``: ``srresnet``, ``deblurgan_generator``) restores degraded
images as in ``jaxvision.tasks.restoration``; the discriminator (``discriminator.name``:
``srgan_discriminator``, ``patchgan``) tells its outputs from clean images; the step is
``jaxvision.tasks.gan``'s. The generator's loss is the restoration content loss
(``restoration.loss`` pixel loss, plus the frequency and VGG perceptual losses when
configured) plus ``gan.adversarial_weight`` times the adversarial loss. A PSNR-oriented run
can be the starting point (``init_from.workdir`` and ``init_from.networks = {"generator":
"model"}``), and an EMA of the generator (``ema.generator``) is what evaluation and
prediction use.

Example:
  python -m train --config=train/configs/srgan_small.py --workdir=runs/srgan
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.tasks import restoration_data as data
from jaxvision.tasks.base import Batch, Metrics, Variables
from jaxvision.tasks.gan import DISCRIMINATOR, GENERATOR, GANTask
from jaxvision.tasks.restoration import RestorationMixin


class RestorationGANTask(RestorationMixin, GANTask):
    """A restoring generator trained against a discriminator."""

    restoring_network = GENERATOR

    def __init__(self, config, meta):
        super().__init__(config, meta)
        self._restoration_setup()

    @property
    def generator(self) -> nn.Module:
        return self.restoration_model(self.config.model.name, self.config.model.get("kwargs"))

    @property
    def discriminator(self) -> nn.Module:
        cfg = self.config.discriminator
        return self.restoration_model(cfg.name, cfg.get("kwargs"))

    @property
    def restoring_module(self) -> nn.Module:
        return self.generator

    def init_variables(self, rng: jax.Array, batch: Batch) -> dict[str, Variables]:
        g_rng, d_rng = jax.random.split(rng)
        images = batch["input"] if "input" in batch else batch["image"]
        inputs = data.to_unit(images)  # [b, h, w, c]
        fake = self.generator.init_with_output(g_rng, inputs, train=False)
        outputs, g_variables = fake
        d_variables = self.discriminator.init(d_rng, jnp.zeros_like(outputs), train=False)
        variables = {GENERATOR: g_variables, DISCRIMINATOR: d_variables}
        return {**variables, **self.perceptual.init_variables()}

    def gan_batch(self, batch: Batch, rng: jax.Array, train: bool) -> tuple[Any, Any, Any]:
        inputs, targets = data.pair(self.config.degradation, batch, rng, train=train)
        return inputs, targets, None

    def content_loss(self, fake, real, frozen) -> tuple[jax.Array, Metrics]:
        return self.content(fake, real, frozen)
