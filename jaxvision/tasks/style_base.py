"""What the trained style-transfer tasks share (feed-forward, AdaIN): the frozen VGG-19, the
style image, the train step, evaluation and prediction.

One trained network, ``"model"`` (the transformation network or the decoder); two frozen
ones: ``VGG`` (VGG-19, the loss network) and ``STYLE`` (the style image of the config, [1, h,
w, 3] in [0, 1]). The style image is
``style.image`` (``jaxvision.style.images.load_style_image``: ``skimage:NAME``,
``texture:NAME`` or a file), resized so that its longer side is ``style.image_size`` pixels
(the rule of ``jaxvision.style.images``: the style's longer side is the content's, here the
training crops').

Config keys (``style.*``):
  vgg_weights: torchvision's VGG-19 state-dict file (``vgg19-dcbb9e9d.pth``), or
    ``"random"``: He-normal random weights seeded by ``vgg_seed``, for tests and smoke runs
    only (``jaxvision.style.vgg_weights``). A missing file is refused at start, with a message
    naming the file and where it comes from.
  vgg_seed: the seed of random VGG weights.
  pool: VGG-19's pooling, "max" or "avg".
  image, image_size: the style image and its longer side.
  content_layers, style_layers: VGG-19 layer -> weight.
  content_weight, style_weight, tv_weight: the weights of the loss's terms.

Evaluation (evaluator ``style``): over the eval images, each styled with ``STYLE``'s image,
the mean ``content_loss`` (styled against the content image at ``content_layers``),
``style_loss`` (the task's style distance to the style image) and ``baseline_style_loss``
(the same distance for the unstyled content image: what styling must lower).
"""

from __future__ import annotations

import abc
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from absl import logging

from jaxvision import models
from jaxvision.engine import updates
from jaxvision.engine.errors import ConfigError
from jaxvision.evaluators import Evaluator, MeanEvaluator
from jaxvision.losses import style as losses
from jaxvision.models.vgg import VGG19, VGG19_BLOCK_SIZES, layer_names
from jaxvision.style import images as images_lib
from jaxvision.style import vgg_weights
from jaxvision.tasks.base import MODEL, Batch, Metrics, Task, Variables, compute_dtype
from jaxvision.tasks.perceptual import VGG
from jaxvision.tasks.restoration import pad_to_multiple
from jaxvision.tasks.restoration_data import to_uint8, to_unit

# The frozen "network" holding the style image.
STYLE = "style"
EVAL_LOSSES = ("content_loss", "style_loss", "baseline_style_loss")


def per_example(loss_fn, *trees):
    """A batch-mean loss ``loss_fn(*trees)`` as per-example values [b] (vmapped)."""
    return jax.vmap(lambda *t: loss_fn(*jax.tree.map(lambda x: x[None], t)))(*trees)


class StyleTask(Task):
    """The base of the style tasks: subclasses supply the model, its loss and ``stylize``."""

    frozen_networks = (VGG, STYLE)
    train_keys = ("image",)
    eval_keys = ("image",)
    # Inputs of ``model`` must be multiples of this (reflect-padded by ``stylize_any``).
    size_multiple: int = 1
    # VGG-19 layers the task reads besides ``style.content_layers`` and ``style.style_layers``.
    extra_vgg_layers: tuple[str, ...] = ()

    def __init__(self, config, meta):
        super().__init__(config, meta)
        cfg = config.style
        valid = layer_names(VGG19_BLOCK_SIZES)
        for key in ("content_layers", "style_layers"):
            unknown = sorted(set(cfg[key]) - set(valid))
            if unknown or not cfg[key]:
                raise ConfigError(f"style.{key} {dict(cfg[key])}: unknown {unknown}; valid {valid}")
        weights = str(cfg.vgg_weights or "")
        if weights == vgg_weights.RANDOM_WEIGHTS:
            logging.warning(
                "style.vgg_weights='random': the losses use a random VGG-19 (smoke runs "
                "only); pass torchvision's vgg19-dcbb9e9d.pth for real style transfer"
            )
        elif not (weights and os.path.isfile(weights)):
            raise ConfigError(f"style.vgg_weights: {vgg_weights.missing_weights_message(weights)}")

    # -- what a style task supplies ------------------------------------------------------
    @abc.abstractmethod
    def loss(self, variables, batch: Batch, rng: jax.Array, frozen) -> tuple[jax.Array, Metrics]:
        """The training loss of a batch for the model's ``variables``, and its terms as
        metrics (``weighted_total``)."""

    @abc.abstractmethod
    def stylize(self, model_variables, x: jax.Array, frozen) -> jax.Array:
        """[b, h, w, 3] in [0, 1] (h, w multiples of ``size_multiple``) styled with
        ``frozen[STYLE]``'s image, float32 [b, h, w, 3]."""

    @abc.abstractmethod
    def style_distance(self, features, frozen) -> jax.Array:
        """The task's style loss of features (``style_layers``) to ``frozen[STYLE]``."""

    # -- networks ----------------------------------------------------------------------
    @property
    def dtype(self) -> Any:
        return compute_dtype(self.config.model.dtype)

    @property
    def model(self) -> nn.Module:
        return models.get_model(
            self.config.model.name, dtype=self.dtype, **(self.config.model.get("kwargs") or {})
        )

    def features(self, frozen, x: jax.Array, layers) -> dict[str, jax.Array]:
        """VGG-19 activations (float32) of images [b, h, w, 3] in [0, 1]."""
        vgg = VGG19(pool=self.config.style.pool, dtype=self.dtype)
        return vgg.apply(frozen[VGG], x, layers=tuple(dict.fromkeys(layers)))

    def frozen_variables(self) -> dict[str, Variables]:
        """``{VGG: VGG-19 variables, STYLE: {"image"}}`` from the config.

        Only constants: the style's features are computed in the steps, from these as
        arguments (computed here, under the engine's jitted init, XLA would constant-fold
        the VGG forward pass, slowly).
        """
        cfg = self.config.style
        layers = [*cfg.content_layers, *cfg.style_layers, *self.extra_vgg_layers]
        vgg = vgg_weights.vgg19_variables(str(cfg.vgg_weights), int(cfg.vgg_seed), layers)
        image = images_lib.load_style_image(cfg.image)
        shape = images_lib.longer_side_size(image.shape[:2], int(cfg.image_size))
        style = to_unit(jnp.asarray(images_lib.resize(image, shape)))[None]  # [1, h, w, 3]
        return {VGG: vgg, STYLE: {"image": style}}

    def style_features(self, frozen, layers) -> dict[str, jax.Array]:
        """VGG-19 activations [1, h, w, c] of the style image (constants of the losses)."""
        return jax.lax.stop_gradient(self.features(frozen, frozen[STYLE]["image"], layers))

    def init_variables(self, rng: jax.Array, batch: Batch) -> dict[str, Variables]:
        frozen = self.frozen_variables()
        x = pad_to_multiple(to_unit(batch["image"]), self.size_multiple)
        return {MODEL: self.init_model(rng, x, frozen), **frozen}

    def init_model(self, rng: jax.Array, x: jax.Array, frozen) -> Variables:
        """``model.init`` for content images [b, h, w, 3] in [0, 1]."""
        return self.model.init(rng, x)

    # -- training ------------------------------------------------------------------------
    def train_step(self, state, batch: Batch, rng: jax.Array) -> tuple[Any, Metrics]:
        def loss_fn(params, model_state):
            loss, metrics = self.loss({"params": params, **model_state}, batch, rng, state.frozen)
            return loss, (model_state, metrics)

        model_state = state.networks[MODEL].model_state
        (loss, (_, metrics)), grads = updates.value_and_grad(loss_fn, state, MODEL, model_state)
        state, update_metrics = updates.apply_gradients(state, MODEL, grads)
        return state.next_step(), {**metrics, **update_metrics, "loss": loss}

    def train_images(self, batch: Batch) -> jax.Array:
        """The batch's images in [0, 1], [b, h, w, 3].

        Raises:
          ValueError: training images whose size is not a multiple of ``size_multiple``.
        """
        h, w = batch["image"].shape[1:3]
        if h % self.size_multiple or w % self.size_multiple:
            raise ValueError(
                f"{type(self).__name__} trains on images whose sides are multiples of "
                f"{self.size_multiple}, got {h} x {w}: set dataset.train_pp's crop size"
            )
        return to_unit(batch["image"])

    def weighted_total(self, content, style, tv) -> tuple[jax.Array, Metrics]:
        """The weighted sum of the loss's terms, and the terms as metrics."""
        cfg = self.config.style
        total = cfg.content_weight * content + cfg.style_weight * style + cfg.tv_weight * tv
        return total, {"content_loss": content, "style_loss": style, "tv_loss": tv}

    # -- evaluation and prediction -----------------------------------------------------------
    def stylize_any(self, variables: dict[str, Variables], x: jax.Array) -> jax.Array:
        """``stylize`` for images of any size: reflect-padded, styled, cropped back."""
        h, w = x.shape[1:3]
        padded = pad_to_multiple(x, self.size_multiple)
        styled = self.stylize(variables[MODEL], padded, variables)
        return styled[:, :h, :w]

    def eval_forward(self, variables: dict[str, Variables], batch: Batch) -> dict[str, jax.Array]:
        cfg = self.config.style
        x = to_unit(batch["image"])  # [b, h, w, 3]
        styled = self.stylize_any(variables, x)
        layers = [*cfg.content_layers, *cfg.style_layers]
        both = self.features(variables, jnp.concatenate([styled, x]), layers)
        b = x.shape[0]
        mine = {k: v[:b] for k, v in both.items()}
        theirs = {k: v[b:] for k, v in both.items()}
        content = lambda f, t: losses.content_loss(f, t, cfg.content_layers)  # noqa: E731
        style = lambda f: self.style_distance(f, variables)  # noqa: E731
        # The style image at the content's size, for the pictures.
        style_image = jax.image.resize(variables[STYLE]["image"], (1, *x.shape[1:]), "bilinear")
        return {
            "content": x,
            "style": jnp.broadcast_to(style_image, x.shape),
            "stylized": jnp.clip(styled, 0.0, 1.0),
            "content_loss": per_example(content, mine, theirs),
            "style_loss": per_example(style, mine),
            "baseline_style_loss": per_example(style, theirs),
        }

    def evaluators(self) -> list[Evaluator]:
        return [MeanEvaluator("style", lambda out, batch: {k: out[k] for k in EVAL_LOSSES})]

    def predict(self, variables: dict[str, Variables], images: jax.Array) -> dict[str, jax.Array]:
        """The styled uint8 images [b, h, w, 3] of uint8 images of any size."""
        return {"stylized": to_uint8(self.stylize_any(variables, to_unit(images)))}

    def predict_pp(self, input_shape: tuple[int, ...]) -> str:
        """The image as it is (RGB): the networks take any size."""
        del input_shape
        return "to_rgb"
