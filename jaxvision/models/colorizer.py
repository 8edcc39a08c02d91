"""A colorization network: any image-to-image backbone from lightness to ab.

``Colorizer`` wraps a backbone that maps [b, h, w, 1] to [b, h, w, k] (a U-Net) and gives it
the lightness in [-1, 1]. It returns, by ``mode``:

- ``"regression"``: ab in the [0, 1] range of ``jaxvision.tasks.colorization_data`` (a tanh
  of the backbone's 2 outputs, shifted), as Nazeri et al.'s generator;
- ``"classification"``: logits over the ab bins of ``jaxvision.ops.ab_bins`` (Zhang et al.).

Example:
  >>> from jaxvision.models.unet import UNet
  >>> model = Colorizer(UNet(num_classes=2, features=(8, 16)), mode="regression")
  >>> lightness = jnp.zeros((1, 16, 16, 1))
  >>> variables = model.init(jax.random.key(0), lightness, train=False)
  >>> model.apply(variables, lightness, train=False).shape
  (1, 16, 16, 2)
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

MODES = ("regression", "classification")


class Colorizer(nn.Module):
    """Lightness -> ab (regression) or ab-bin logits (classification).

    Attributes:
      backbone: a module ``(x [b, h, w, 1], train) -> [b, h, w, k]``; k = 2 for regression,
        the number of ab bins for classification.
      mode: one of ``MODES``.
    """

    backbone: nn.Module
    mode: str = "regression"

    @nn.compact
    def __call__(self, lightness: jax.Array, train: bool = True) -> jax.Array:
        """Colorizes.

        Args:
          lightness: [b, h, w, 1] Lab lightness / 100, in [0, 1].
          train: training mode of the backbone (batch norm, dropout).

        Returns:
          float32 [b, h, w, 2] ab in [0, 1] units, or [b, h, w, q] logits.

        Raises:
          ValueError: for an unknown mode or input that is not [b, h, w, 1].
        """
        if self.mode not in MODES:
            raise ValueError(f"unknown colorizer mode {self.mode!r}; valid: {', '.join(MODES)}")
        if lightness.ndim != 4 or lightness.shape[-1] != 1:
            raise ValueError(f"lightness must be [b, h, w, 1], got shape {lightness.shape}")
        y = self.backbone(lightness * 2.0 - 1.0, train=train).astype(jnp.float32)
        if self.mode == "regression":
            return 0.5 * (jnp.tanh(y) + 1.0)  # [b, h, w, 2]
        return y  # [b, h, w, q]
