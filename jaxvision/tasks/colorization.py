"""Colorization: a network predicts a grayscale image's colours (Lab ab from L).

Two ways to train the one network (``jaxvision.models.colorizer.Colorizer`` around a U-Net,
``model.name`` / ``model.kwargs``), chosen by ``colorization.mode``:

- ``"regression"``: the ab values, with a pixel loss (``colorization.loss``: l1, l2,
  charbonnier), the autoencoder of the seed;
- ``"classification"``: a distribution over quantised ab bins (Zhang et al., 2016:
  ``jaxvision.ops.ab_bins``), trained on soft-encoded targets with cross entropy rebalanced
  towards rare colours, decoded by the annealed mean (``colorization.temperature``). The
  bins' prior is counted over the training batches as training goes (the network's
  ``ab_prior`` collection, checkpointed with it), in place of a pass over the dataset before.

The GAN of Nazeri et al. is ``jaxvision.tasks.colorization_gan``. Training reads colour images
(``image``, uint8) of any dataset and converts them on the device; evaluation:
``jaxvision.tasks.colorization_eval``. ``predict`` converts each image to L, colour or grey.

Config keys (besides the engine's): ``model.*``, ``colorization.*`` (``mode``, ``loss``,
``temperature``, ``grid``, ``rebalance``, ``size_multiple``).

Example:
  python -m train --config=train/configs/colorize_ae_small.py --workdir=runs/colorize_ae
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision import models
from jaxvision.engine import updates
from jaxvision.evaluators import Evaluator
from jaxvision.losses.restoration import pixel_loss
from jaxvision.models.colorizer import MODES, Colorizer
from jaxvision.ops import ab_bins
from jaxvision.tasks import colorization_data as data
from jaxvision.tasks import colorization_eval
from jaxvision.tasks.base import MODEL, Batch, Metrics, SingleNetworkTask, Variables, compute_dtype
from jaxvision.tasks.restoration import pad_to_multiple

# The collection of the bins' running counts (classification mode).
PRIOR = "ab_prior"


class ColorizationMixin:
    """What the autoencoder and the GAN colorizers share: modules, decoding, eval, predict.

    The class using it names its colorizing network (``colorizing_network``).
    """

    config: Any
    colorizing_network: str = MODEL
    task_collections = (PRIOR,)  # the ab-bin counts of the classification mode
    train_keys = ("image",)
    eval_keys = ("image", "image_size")

    def _colorization_setup(self) -> None:
        mode = self.config.colorization.mode
        if mode not in MODES:
            raise ValueError(f"unknown colorization.mode {mode!r}; valid: {', '.join(MODES)}")
        grid = self.config.colorization.get("grid", ab_bins.GRID)
        self.centers = ab_bins.in_gamut_bins(grid) if mode == "classification" else None

    def colorizer(self, mode: str) -> Colorizer:
        """The configured backbone with 2 outputs (regression) or one a bin, wrapped."""
        cfg = self.config.model
        outputs = 2 if mode == "regression" else len(self.centers)
        backbone = models.get_model(
            cfg.name, num_classes=outputs, dtype=compute_dtype(cfg.dtype), **cfg.get("kwargs", {})
        )
        return Colorizer(backbone, mode=mode)

    @property
    def colorizing_module(self) -> Colorizer:
        raise NotImplementedError

    def decode(self, outputs: jax.Array) -> jax.Array:
        """The colorizer's outputs -> ab values [b, h, w, 2]."""
        if self.colorizing_module.mode == "regression":
            return data.ab_from_unit(outputs)
        temperature = self.config.colorization.temperature
        return ab_bins.annealed_mean(outputs, self.centers, temperature)

    def colorize(self, variables: Variables, lightness: jax.Array) -> jax.Array:
        """sRGB [b, h, w, 3] in [0, 1] of lightness [b, h, w, 1] in [0, 1]."""
        module = self.colorizing_module
        outputs = module.apply(self.network_variables(variables), lightness, train=False)
        return data.compose(lightness, self.decode(outputs))

    def eval_forward(self, variables: dict[str, Variables], batch: Batch) -> dict[str, jax.Array]:
        lightness, _ = data.split_lab(batch["image"])  # [b, h, w, 1]
        colorized = self.colorize(variables[self.colorizing_network], lightness)
        targets = batch["image"].astype(jnp.float32) / data.PIXEL_MAX
        return colorization_eval.eval_outputs(colorized, lightness, targets, batch["image_size"])

    def evaluators(self) -> list[Evaluator]:
        return [colorization_eval.ColorizationEvaluator()]

    def predict(self, variables: dict[str, Variables], images: jax.Array) -> dict[str, jax.Array]:
        """Colorized and grayscale uint8 [b, h, w, 3] of uint8 RGB images [b, h, w, 3]: only
        their lightness is used."""
        h, w = images.shape[1:3]
        lightness, _ = data.split_lab(images)  # [b, h, w, 1]
        padded = pad_to_multiple(lightness, self.config.colorization.size_multiple)
        colorized = self.colorize(variables[self.colorizing_network], padded)[:, :h, :w]
        to_uint8 = lambda x: jnp.round(jnp.clip(x, 0, 1) * data.PIXEL_MAX).astype(jnp.uint8)  # noqa: E731
        return {"colorized": to_uint8(colorized), "gray": to_uint8(data.gray(lightness))}

    def predict_pp(self, input_shape: tuple[int, ...]) -> str:
        """The image as RGB (grey images repeated on 3 channels): any size works."""
        del input_shape
        return "to_rgb"


class ColorizationTask(ColorizationMixin, SingleNetworkTask):
    """A colorizer trained on ab regression or rebalanced ab-bin classification."""

    def __init__(self, config, meta):
        super().__init__(config, meta)
        self._colorization_setup()

    @property
    def model(self) -> nn.Module:
        return self.colorizer(self.config.colorization.mode)

    @property
    def colorizing_module(self) -> Colorizer:
        return self.model

    def init_variables(self, rng: jax.Array, batch: Batch) -> dict[str, Variables]:
        lightness, _ = data.split_lab(batch["image"])
        variables = dict(self.model.init(rng, lightness, train=False))
        if self.centers is not None:
            variables[PRIOR] = {"counts": jnp.zeros((len(self.centers),), jnp.float32)}
        return {MODEL: variables}

    def _classification_loss(self, logits, ab_unit, counts) -> tuple[jax.Array, Any, Metrics]:
        """Rebalanced cross entropy on soft-encoded targets, and the updated bin counts."""
        ab = data.ab_from_unit(ab_unit)  # [b, h, w, 2]
        nearest = ab_bins.nearest_bin(ab, self.centers)  # [b, h, w]
        counts = counts + jnp.bincount(nearest.ravel(), length=len(self.centers))
        targets = ab_bins.soft_encode(ab, self.centers)  # [b, h, w, q]
        cross_entropy = -jnp.sum(targets * jax.nn.log_softmax(logits), axis=-1)  # [b, h, w]
        if self.config.colorization.rebalance:
            weights = ab_bins.rebalancing_weights(counts, self.centers)[nearest]  # [b, h, w]
        else:
            weights = jnp.ones_like(cross_entropy)
        loss = jnp.mean(weights * cross_entropy)
        return loss, counts, {"cross_entropy": jnp.mean(cross_entropy)}

    def loss(self, params, model_state, batch, rng):
        del rng
        lightness, ab_unit = data.split_lab(batch["image"])
        net_state = self.network_variables(model_state)
        outputs, new_state = self.model.apply(
            {"params": params, **net_state}, lightness, train=True, mutable=list(net_state)
        )
        if self.centers is None:
            loss = pixel_loss(self.config.colorization.loss, outputs, ab_unit)
            return loss, (new_state, {"pixel_loss": loss})
        counts = model_state[PRIOR]["counts"]
        loss, counts, metrics = self._classification_loss(outputs, ab_unit, counts)
        return loss, ({**new_state, PRIOR: {"counts": jax.lax.stop_gradient(counts)}}, metrics)

    def train_step(self, state, batch: Batch, rng: jax.Array) -> tuple[Any, Metrics]:
        model_state = state.networks[MODEL].model_state
        (loss, (new_state, metrics)), grads = updates.value_and_grad(
            self.loss, state, MODEL, model_state, batch, rng
        )
        state, update_metrics = updates.apply_gradients(state, MODEL, grads, new_state)
        return state.next_step(), {**metrics, **update_metrics, "loss": loss}
