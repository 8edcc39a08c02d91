"""Feed-forward style transfer (Johnson et al., 2016): one network, trained for one style.

The model (``model.name``: ``transform_net``, ``jaxvision.models.transform_net``) maps a
content image to a styled one in one forward pass. It is trained over a content dataset (any
colour image dataset; the built-in one is ``jaxvision_photos``' patches) for the one style
image of ``style.image``, on the perceptual losses through the frozen VGG-19
(``jaxvision.tasks.style_base``):

  ``content_weight * content + style_weight * style + tv_weight * tv``

with ``content`` the mean squared VGG feature distance of the styled image to its content
image at ``style.content_layers`` (Johnson's: ``relu2_2``), ``style`` the Gram-matrix
distance to the style image at ``style.style_layers`` (Johnson's: ``relu1_2``, ``relu2_2``,
``relu3_3``, ``relu4_3``) and ``tv`` the squared total variation of the styled image
(``jaxvision.losses.style``). Training crops must be multiples of 4; prediction takes any
size (reflect-padded to a multiple of 4 and cropped back).

Example:
  python -m train --config=train/configs/fast_style_small.py --workdir=runs/fast_style
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxvision.losses import style as losses
from jaxvision.models.transform_net import SIZE_MULTIPLE
from jaxvision.tasks.style_base import StyleTask


class FastStyleTask(StyleTask):
    """A transformation network trained for the style of ``style.image``."""

    size_multiple = SIZE_MULTIPLE

    def stylize(self, model_variables, x: jax.Array, frozen) -> jax.Array:
        return self.model.apply(model_variables, x)

    def style_distance(self, features, frozen) -> jax.Array:
        layers = self.config.style.style_layers
        grams = {k: losses.gram_matrix(v) for k, v in self.style_features(frozen, layers).items()}
        return losses.style_loss(features, grams, layers)

    def loss(self, variables, batch, rng, frozen):
        del rng
        cfg = self.config.style
        x = self.train_images(batch)  # [b, h, w, 3]
        styled = self.model.apply(variables, x)  # [b, h, w, 3]
        layers = [*cfg.content_layers, *cfg.style_layers]
        both = self.features(frozen, jnp.concatenate([styled, x]), layers)
        b = x.shape[0]
        mine = {k: v[:b] for k, v in both.items()}
        content = losses.content_loss(mine, {k: v[b:] for k, v in both.items()}, cfg.content_layers)
        style = self.style_distance(mine, frozen)
        return self.weighted_total(content, style, losses.total_variation_loss(styled))
