"""Arbitrary style transfer with AdaIN (Huang & Belongie, 2017): a decoder trained so that one
model serves any style image.

The encoder is the frozen VGG-19 up to ``relu4_1`` (``ENCODER_LAYER``); AdaIN
(``jaxvision.ops.adain``) gives the content's ``relu4_1`` features the style's channel means
and standard deviations, ``t``; the model (``model.name``: ``adain_decoder``,
``jaxvision.models.adain``) decodes ``t`` into the styled image. The loss, as the paper's:

  ``content_weight * content + style_weight * style + tv_weight * tv``

with ``content`` the mean squared distance of the styled image's ``relu4_1`` to ``t``,
``style`` the distance of its channel means and standard deviations to the style image's at
``style.style_layers`` (``relu1_1`` ... ``relu4_1``; ``jaxvision.losses.style.mean_std_loss``)
and ``tv`` the squared total variation (0 in the paper).

Style images in training: the built-in photo patches hold both the content and the styles.
Each content image's style is its neighbour in the shuffled batch (the batch rolled by one,
so another patch, mostly of another photograph), with its colour channels randomly permuted
and each scaled by a random gain in ``style.style_gain_range``: most patches are of grey
photographs or of few hues, and the jitter turns them into styles of many colours and
contrasts. A dataset of paintings (an image folder) can be used instead for the styles only
with a task of your own; the rule here needs nothing but the content data.

Evaluation and ``predict`` style with ``style.image`` (``jaxvision.tasks.style_base``), at the
content-style trade-off ``style.alpha`` (1: all style; AdaIN's ``alpha t + (1 - alpha) f(c)``);
``stylize`` serves any style image.

Example:
  python -m train --config=train/configs/adain_small.py --workdir=runs/adain
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.engine.errors import ConfigError
from jaxvision.losses import style as losses
from jaxvision.models.adain import SIZE_MULTIPLE
from jaxvision.ops.adain import adain
from jaxvision.tasks.style_base import STYLE, StyleTask

ENCODER_LAYER = "relu4_1"
RGB = 3


def stylize(
    decoder: nn.Module,
    decoder_variables,
    encode: Callable[[jax.Array, list[str]], dict[str, jax.Array]],
    content: jax.Array,
    style: jax.Array,
    alpha: float = 1.0,
) -> jax.Array:
    """Styles content images with a style image through AdaIN and a trained decoder.

    Args:
      decoder: the decoder module (``jaxvision.models.adain.AdaINDecoder``).
      decoder_variables: its variables.
      encode: ``(images, layer names) -> {layer: features}`` (VGG-19).
      content: [b, h, w, 3] in [0, 1], h and w multiples of 8.
      style: [b or 1, h', w', 3] in [0, 1], any size of at least 8 pixels a side.
      alpha: content-style trade-off in [0, 1] (1: all style).

    Returns:
      float32 [b, h, w, 3], unclipped.

    Example:
      >>> from jaxvision.models.adain import AdaINDecoder
      >>> encode = lambda x, layers: {ENCODER_LAYER: jnp.ones((x.shape[0], 2, 2, 512)) * x.mean()}
      >>> decoder = AdaINDecoder(widths=(8, 8, 8))
      >>> variables = jax.jit(decoder.init)(jax.random.key(0, impl="rbg"), jnp.ones((1, 2, 2, 512)))
      >>> content, style = jnp.ones((1, 16, 16, 3)), jnp.ones((1, 8, 8, 3))
      >>> stylize(decoder, variables, encode, content, style).shape
      (1, 16, 16, 3)
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    c = encode(content, [ENCODER_LAYER])[ENCODER_LAYER]  # [b, h/8, w/8, 512]
    s = encode(style, [ENCODER_LAYER])[ENCODER_LAYER]  # [b | 1, h'/8, w'/8, 512]
    t = alpha * adain(c, s) + (1.0 - alpha) * c
    return decoder.apply(decoder_variables, t)


def style_batch(rng: jax.Array, content: jax.Array, gain_range) -> jax.Array:
    """The training styles of a batch (the module's rule): each image's neighbour, with its
    channels permuted and scaled by random gains in ``gain_range``, clipped to [0, 1].

    Args:
      rng: the key of this batch's jitter.
      content: [b, h, w, 3] in [0, 1], b >= 2.
      gain_range: (low, high) of the per-channel gains.

    Returns:
      [b, h, w, 3] style images.

    Example:
      >>> content = jnp.stack([jnp.zeros((4, 4, 3)), jnp.full((4, 4, 3), 0.5)])
      >>> styles = style_batch(jax.random.key(0), content, (1.0, 1.0))  # no gain jitter
      >>> float(styles[0].mean()), float(styles[1].mean())  # each the other image
      (0.5, 0.0)
    """
    low, high = gain_range
    keys = jax.random.split(rng, content.shape[0])

    def jitter(key, image):  # [h, w, 3]
        perm_key, gain_key = jax.random.split(key)
        gains = jax.random.uniform(gain_key, (RGB,), minval=low, maxval=high)
        return jnp.clip(image[..., jax.random.permutation(perm_key, RGB)] * gains, 0.0, 1.0)

    return jax.vmap(jitter)(keys, jnp.roll(content, 1, axis=0))


class AdaINTask(StyleTask):
    """An AdaIN decoder trained on content images and styles drawn from the same batches."""

    size_multiple = SIZE_MULTIPLE
    extra_vgg_layers = (ENCODER_LAYER,)

    def __init__(self, config, meta):
        super().__init__(config, meta)
        if int(config.batch_size) < 2:
            raise ConfigError("adain takes each image's style from another one: batch_size >= 2")
        low, high = config.style.style_gain_range
        if not 0 < low <= high:
            raise ConfigError(f"style.style_gain_range must be 0 < low <= high, got {low, high}")

    def encode(self, frozen) -> Callable[[jax.Array, list[str]], dict[str, jax.Array]]:
        return lambda x, layers: self.features(frozen, x, layers)

    def init_model(self, rng, x, frozen):
        return self.model.init(rng, self.features(frozen, x, [ENCODER_LAYER])[ENCODER_LAYER])

    def stylize(self, model_variables, x, frozen):
        style = frozen[STYLE]["image"]  # [1, h', w', 3]
        encode = self.encode(frozen)
        return stylize(self.model, model_variables, encode, x, style, self.config.style.alpha)

    def style_distance(self, features, frozen):
        cfg = self.config.style
        style_features = self.style_features(frozen, cfg.style_layers)
        return losses.mean_std_loss(features, style_features, cfg.style_layers)

    def loss(self, variables, batch, rng, frozen):
        cfg = self.config.style
        x = self.train_images(batch)  # [b, h, w, 3]
        styles = style_batch(rng, x, cfg.style_gain_range)  # [b, h, w, 3]
        layers = [*cfg.style_layers, ENCODER_LAYER]
        both = self.features(frozen, jnp.concatenate([x, styles]), layers)
        b = x.shape[0]
        t = adain(both[ENCODER_LAYER][:b], both[ENCODER_LAYER][b:])  # [b, h/8, w/8, 512]
        styled = self.model.apply(variables, t)  # [b, h, w, 3]
        mine = self.features(frozen, styled, layers)
        content = losses.content_loss(mine, {ENCODER_LAYER: t}, {ENCODER_LAYER: 1.0})
        style_features = {k: v[b:] for k, v in both.items()}
        style = losses.mean_std_loss(mine, style_features, cfg.style_layers)
        return self.weighted_total(content, style, losses.total_variation_loss(styled))
