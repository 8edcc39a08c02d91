"""A perceptual loss on frozen VGG19 features, as a task configures and holds it.

Config sub-tree keys (``restoration.*``, and the same names wherever a task reads them):
``perceptual_weight`` (0: off), ``perceptual_layers`` ({VGG19 layer: weight}, e.g.
``{"relu5_4": 1.0}`` as SRGAN's VGG54), ``vgg_weights`` (a torchvision VGG19 state-dict file).
The VGG19 variables are a frozen network of the task (``VGG``): loaded at start, never trained,
left out of checkpoints.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import jax

from jaxvision.engine.errors import ConfigError
from jaxvision.losses import restoration as losses

# The frozen network's name in the train state.
VGG = "vgg"
# What a config that asks for the loss without a weights file is told to fetch.
VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_SOURCE = f"https://download.pytorch.org/models/{VGG19_FILE} (torchvision's VGG19)"


@dataclasses.dataclass(frozen=True)
class PerceptualLoss:
    """A weighted VGG19 feature distance, or nothing when ``weight`` is 0.

    Attributes:
      weight: the loss's weight in the total (0: off).
      layers: VGG19 layer name -> weight within the loss.
      weights_path: the torchvision VGG19 state-dict file.
    """

    weight: float = 0.0
    layers: Mapping[str, float] = dataclasses.field(default_factory=dict)
    weights_path: str = ""

    @property
    def enabled(self) -> bool:
        return self.weight > 0

    @classmethod
    def from_config(cls, cfg: Any) -> PerceptualLoss:
        """The loss of a config sub-tree.

        Raises:
          ConfigError: a positive weight without a weights file (the message names the file
            and where it comes from), a file that does not exist, or no layers.
        """
        loss = cls(
            float(cfg.get("perceptual_weight", 0.0)),
            dict(cfg.get("perceptual_layers", {}) or {}),
            str(cfg.get("vgg_weights", "") or ""),
        )
        if not loss.enabled:
            return loss
        if not loss.weights_path:
            raise ConfigError(
                "perceptual_weight > 0 needs vgg_weights: the path of a torchvision VGG19 "
                f"state-dict file, {VGG19_FILE}, from {VGG19_SOURCE}"
            )
        if not os.path.exists(loss.weights_path):
            raise ConfigError(f"vgg_weights {loss.weights_path!r} does not exist ({VGG19_SOURCE})")
        if not loss.layers:
            raise ConfigError(
                "perceptual_weight > 0 needs perceptual_layers, e.g. {'relu5_4': 1.0}"
            )
        return loss

    def init_variables(self) -> dict[str, Any]:
        """``{VGG: variables}`` loaded from the weights file, or ``{}`` when off."""
        if not self.enabled:
            return {}
        from jaxvision.convert.torch_vgg import load_torch_vgg19

        return {VGG: load_torch_vgg19(self.weights_path)}

    def __call__(self, frozen: Mapping[str, Any], pred: jax.Array, target: jax.Array) -> jax.Array:
        """The loss of restored images against targets, [b, h, w, 3] in [0, 1]."""
        from jaxvision.models.vgg import VGG19

        names = tuple(self.layers)
        features = lambda x: VGG19().apply(frozen[VGG], x, layers=names)  # noqa: E731
        return losses.perceptual_loss(features, pred, target, self.layers)
