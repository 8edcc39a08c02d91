"""Image restoration trained for fidelity: denoising autoencoders, DnCNN, SRResNet.

One network maps a degraded image to a clean one (``jaxvision.tasks.restoration_data``:
degraded on the device from clean images, or read as pairs), trained on a pixel loss
(``restoration.loss``: l1, l2, charbonnier) plus, optionally, a frequency loss on the 2-D
spectra (``restoration.fft_weight`` > 0) and a perceptual loss on frozen VGG19 features
(``restoration.perceptual_weight`` > 0 needs ``restoration.vgg_weights``, a torchvision VGG19
state-dict file). Evaluation: ``jaxvision.tasks.restoration_eval``.

``predict`` takes uint8 images of any size as the degraded inputs: it reflect-pads them to a
multiple of ``restoration.size_multiple`` (the model's total stride), restores, and crops the
result back to the input's size times the scale. Evaluation and prediction can average the
network's outputs over flips and transposes of the input (``restoration.self_ensemble``: 1,
2, 4 or 8 transforms; ``jaxvision.ops.self_ensemble``).

Config keys (besides the engine's): ``model.name`` / ``model.kwargs`` (a
``jaxvision.models`` restoration model), ``model.dtype``, ``degradation.*``,
``restoration.*`` (``loss``, ``fft_weight``, ``perceptual_weight``, ``perceptual_layers``,
``vgg_weights``, ``eval_border``, ``eval_y_channel``, ``baseline_sigmas``, ``size_multiple``,
``self_ensemble``).

Example:
  python -m train --config=train/configs/denoise_small.py --workdir=runs/denoise
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision import models
from jaxvision.engine import updates
from jaxvision.evaluators import Evaluator
from jaxvision.losses import restoration as losses
from jaxvision.ops.self_ensemble import TRANSFORM_COUNTS, self_ensemble
from jaxvision.tasks import restoration_data as data
from jaxvision.tasks import restoration_eval
from jaxvision.tasks.base import MODEL, Batch, Metrics, SingleNetworkTask, Variables, compute_dtype
from jaxvision.tasks.perceptual import VGG, PerceptualLoss


def pad_to_multiple(images: jax.Array, multiple: int) -> jax.Array:
    """Reflect-pads [b, h, w, c] at the bottom and right to multiples of ``multiple``."""
    h, w = images.shape[1:3]
    pad_h, pad_w = -h % multiple, -w % multiple
    if not pad_h and not pad_w:
        return images
    mode = "reflect" if pad_h < h and pad_w < w else "edge"  # reflect needs pad < size
    return jnp.pad(images, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode=mode)


class RestorationMixin:
    """What the fidelity and the GAN restoration tasks share: data, evaluation, prediction.

    The class using it names its restoring network (``restoring_network``) and module
    (``restoring_module``).
    """

    config: Any
    restoring_network: str = MODEL

    @property
    def restoring_module(self) -> nn.Module:
        raise NotImplementedError

    def _restoration_setup(self) -> None:
        data.check(self.config.degradation)
        self.ensemble_transforms = int(self.config.restoration.get("self_ensemble", 1))
        if self.ensemble_transforms not in TRANSFORM_COUNTS:
            raise ValueError(
                f"restoration.self_ensemble must be one of {TRANSFORM_COUNTS} (transforms "
                f"averaged at evaluation and prediction), got {self.ensemble_transforms}"
            )
        self.perceptual = PerceptualLoss.from_config(self.config.restoration)
        self.frozen_networks = (VGG,) if self.perceptual.enabled else ()

    @property
    def scale(self) -> int:
        return data.scale_of(self.config.degradation)

    @property
    def paired(self) -> bool:
        return self.config.degradation.kind == data.PAIRED

    @property
    def train_keys(self) -> tuple[str, ...]:
        return ("input", "target") if self.paired else ("image",)

    @property
    def eval_keys(self) -> tuple[str, ...]:
        return (*self.train_keys, "image_size", "index")

    def restoration_model(self, name: str, kwargs: Any) -> nn.Module:
        """A registered model in the config's compute dtype."""
        dtype = compute_dtype(self.config.model.dtype)
        return models.get_model(name, dtype=dtype, **(kwargs or {}))

    def content(self, restored, targets, frozen) -> tuple[jax.Array, Metrics]:
        """The pixel loss plus the weighted frequency and perceptual losses, each a metric."""
        pixel = losses.pixel_loss(self.config.restoration.loss, restored, targets)
        metrics = {"pixel_loss": pixel}
        total = pixel
        fft_weight = float(self.config.restoration.get("fft_weight", 0.0))
        if fft_weight:
            metrics["fft_loss"] = losses.frequency_loss(restored, targets)
            total = total + fft_weight * metrics["fft_loss"]
        if self.perceptual.enabled:
            metrics["perceptual_loss"] = self.perceptual(frozen, restored, targets)
            total = total + self.perceptual.weight * metrics["perceptual_loss"]
        return total, metrics

    def restore(self, variables: dict[str, Variables], inputs: jax.Array) -> jax.Array:
        """Restores images with the restoring network, as evaluation and ``predict`` do.

        Args:
          variables: network name -> variables; the restoring network's are used.
          inputs: [b, h, w, c] degraded images in [0, 1] (h and w multiples of
            ``restoration.size_multiple``).

        Returns:
          [b, s * h, s * w, c] float32 (s: the scale), the mean over
          ``restoration.self_ensemble`` flips and transposes of the inputs (1: the network
          alone).
        """
        net = variables[self.restoring_network]
        apply = lambda x: self.restoring_module.apply(net, x, train=False)
        return self_ensemble(apply, inputs, self.ensemble_transforms)

    def eval_forward(self, variables: dict[str, Variables], batch: Batch) -> dict[str, jax.Array]:
        inputs, targets = data.pair(self.config.degradation, batch, jax.random.key(0), train=False)
        restored = self.restore(variables, inputs)
        return restoration_eval.eval_outputs(restored, inputs, targets, batch)

    def evaluators(self) -> list[Evaluator]:
        return [restoration_eval.RestorationEvaluator(self.config)]

    def predict(self, variables: dict[str, Variables], images: jax.Array) -> dict[str, jax.Array]:
        """Restored uint8 images [b, h * scale, w * scale, 3] for degraded uint8 [b, h, w, 3]."""
        h, w = images.shape[1:3]
        x = pad_to_multiple(data.to_unit(images), self.config.restoration.size_multiple)
        restored = self.restore(variables, x)  # [b, H * scale, W * scale, 3]
        restored = restored[:, : h * self.scale, : w * self.scale]
        return {"restored": data.to_uint8(restored)}

    def predict_pp(self, input_shape: tuple[int, ...]) -> str:
        """The image as it is (RGB): a restoration model takes any size."""
        del input_shape
        return "to_rgb"


class RestorationTask(RestorationMixin, SingleNetworkTask):
    """A network restoring degraded images, trained on pixel (and frequency and perceptual)
    losses."""

    def __init__(self, config, meta):
        super().__init__(config, meta)
        self._restoration_setup()

    @property
    def model(self) -> nn.Module:
        return self.restoration_model(self.config.model.name, self.config.model.get("kwargs"))

    @property
    def restoring_module(self) -> nn.Module:
        return self.model

    def init_variables(self, rng: jax.Array, batch: Batch) -> dict[str, Variables]:
        images = batch["input"] if "input" in batch else batch["image"]
        variables = {MODEL: self.model.init(rng, data.to_unit(images), train=False)}
        return {**variables, **self.perceptual.init_variables()}

    def loss(self, params, model_state, batch, rng, frozen=None):
        inputs, targets = data.pair(self.config.degradation, batch, rng, train=True)
        restored, new_state = self.model.apply(
            {"params": params, **model_state}, inputs, train=True, mutable=list(model_state)
        )
        total, metrics = self.content(restored, targets, frozen)
        return total, (new_state, metrics)

    def train_step(self, state, batch: Batch, rng: jax.Array) -> tuple[Any, Metrics]:
        model_state = state.networks[MODEL].model_state
        (loss, (new_state, metrics)), grads = updates.value_and_grad(
            self.loss, state, MODEL, model_state, batch, rng, state.frozen
        )
        state, update_metrics = updates.apply_gradients(state, MODEL, grads, new_state)
        return state.next_step(), {**metrics, **update_metrics, "loss": loss}
