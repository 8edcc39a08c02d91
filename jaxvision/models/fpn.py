"""Feature Pyramid Network (Lin et al., 2017) over a backbone's stage outputs.

The backbone gives ``C{l}`` at stride ``2**l`` (``ResNet(features_only=True)``: C2 ... C5).
The FPN returns ``P{l}`` for ``min_level <= l <= max_level``, all with ``features``
channels: 1x1 lateral convs, a top-down path of nearest-neighbour 2x upsampling and
additions, 3x3 output convs, and, above the backbone's last level, extra stride-2 3x3
convs (RetinaNet's P6 and P7: P6 from the top output P5, P7 from relu(P6), as in
torchvision's ``LastLevelP6P7`` with ``use_P5=True``).

Feature maps of odd size are handled as stride-2 "SAME" convs make them
(``ceil(h / 2)``): the upsampled map is cropped to the lateral's size.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.models import layers

ModuleDef = Any
# Upsampling factor between adjacent pyramid levels.
LEVEL_SCALE = 2


def level_name(level: int) -> str:
    """``"P3"`` for level 3."""
    return f"P{level}"


def _upsample_to(x: jax.Array, height: int, width: int) -> jax.Array:
    """Nearest-neighbour 2x upsampling of [b, h, w, c], cropped to [b, height, width, c]."""
    x = jnp.repeat(jnp.repeat(x, LEVEL_SCALE, axis=1), LEVEL_SCALE, axis=2)  # [b, 2h, 2w, c]
    return x[:, :height, :width]


class FPN(nn.Module):
    """Feature Pyramid Network.

    Attributes:
      features: channels of every output level.
      min_level: lowest output level (its backbone input ``C{min_level}`` must exist).
      max_level: highest output level; levels above the backbone's last come from
        stride-2 convs.
      dtype: compute dtype.
      conv: conv module class (``layers.Conv`` picks a fast lowering per backend).

    Example:
      >>> feats = {"C3": jnp.zeros((2, 16, 16, 32)), "C4": jnp.zeros((2, 8, 8, 64)),
      ...          "C5": jnp.zeros((2, 4, 4, 128))}
      >>> fpn = FPN(features=64, min_level=3, max_level=7)
      >>> out, _ = fpn.init_with_output(jax.random.key(0), feats)
      >>> [out[k].shape for k in sorted(out)]
      [(2, 16, 16, 64), (2, 8, 8, 64), (2, 4, 4, 64), (2, 2, 2, 64), (2, 1, 1, 64)]
    """

    features: int = 256
    min_level: int = 3
    max_level: int = 7
    dtype: Any = jnp.float32
    conv: ModuleDef = layers.Conv

    @nn.compact
    def __call__(self, inputs: dict[str, jax.Array]) -> dict[str, jax.Array]:
        """Builds the pyramid.

        Args:
          inputs: backbone features ``{"C{l}": [b, h_l, w_l, c_l]}``.

        Returns:
          ``{"P{l}": [b, h_l, w_l, features]}`` for ``min_level <= l <= max_level``.

        Raises:
          ValueError: when ``C{min_level}`` is missing or the levels are inverted.
        """
        levels = sorted(int(k[1:]) for k in inputs if k.startswith("C"))
        if self.min_level not in levels:
            raise ValueError(
                f"FPN min_level {self.min_level} needs C{self.min_level}; got levels {levels}"
            )
        if self.max_level < self.min_level:
            raise ValueError(f"max_level {self.max_level} < min_level {self.min_level}")
        top = min(levels[-1], self.max_level)
        conv = lambda name, kernel, stride=1: self.conv(  # noqa: E731
            self.features, (kernel, kernel), stride, padding="SAME", dtype=self.dtype, name=name
        )

        laterals = {
            lvl: conv(f"lateral{lvl}", 1)(inputs[f"C{lvl}"])
            for lvl in range(self.min_level, top + 1)
        }  # {l: [b, h_l, w_l, f]}
        merged = {top: laterals[top]}
        for lvl in range(top - 1, self.min_level - 1, -1):
            lateral = laterals[lvl]
            up = _upsample_to(merged[lvl + 1], *lateral.shape[1:3])  # [b, h_l, w_l, f]
            merged[lvl] = lateral + up
        outputs = {level_name(lvl): conv(f"output{lvl}", 3)(merged[lvl]) for lvl in merged}

        x = outputs[level_name(top)]
        for lvl in range(top + 1, self.max_level + 1):
            if lvl > top + 1:
                x = nn.relu(x)
            x = conv(f"extra{lvl}", 3, 2)(x)  # [b, ceil(h/2), ceil(w/2), f]
            outputs[level_name(lvl)] = x
        return outputs
