"""FCOS (Tian et al., 2019): an anchor-free single-shot detector, with YOLOX's decoupled head.

One prediction per feature-map location ("point") and no anchors: a backbone, an FPN
and a decoupled head shared over levels, with a classification branch (class logits)
and a regression branch (the four distances from the point to the box sides, and a
box-quality logit: FCOS's centerness, YOLOX's objectness role). The regression output
of each level is multiplied by a learned per-level scale (FCOS).

Outputs are concatenated over levels in the order of ``jaxvision.ops.anchors.point_grid``
(level, then y, then x). Assignment (centre sampling), losses and decoding are the
task's (``jaxvision.tasks.fcos``).

Example:
  >>> from jaxvision.models.resnet import ResNetTiny
  >>> backbone = ResNetTiny(num_classes=1, features_only=True)
  >>> model = FCOS(backbone=backbone, num_classes=80)
  >>> x = jnp.zeros((1, 128, 128, 3))
  >>> variables = jax.jit(model.init, static_argnames="train")(jax.random.key(0), x, train=False)
  >>> out = jax.jit(model.apply, static_argnames="train")(variables, x, train=False)
  >>> out["logits"].shape, out["box"].shape, out["quality"].shape  # 16² + 8² + 4² points
  ((1, 336, 80), (1, 336, 4), (1, 336))
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.models import layers
from jaxvision.models.fpn import FPN, level_name
from jaxvision.models.retinanet import (
    DEFAULT_PRIOR_PROB,
    HEAD_INIT_STD,
    ConvTower,
    prior_bias,
)
from jaxvision.ops.conv import ConvRules


class FCOS(nn.Module):
    """Anchor-free detector with a decoupled head.

    Attributes:
      backbone: a module mapping images to ``{"C{l}": features}``; it receives ``train``.
      num_classes: object classes (sigmoid outputs, no background class).
      min_level: lowest pyramid level (stride ``2**min_level``).
      max_level: highest pyramid level.
      fpn_features: FPN and head width.
      head_convs: convs in each branch of the head.
      head_norm: "group" (GroupNorm, as FCOS) or "none".
      prior_prob: initial foreground probability of the classifier.
      dtype: compute dtype; outputs are float32.
      conv_impl: lowering of every conv of the FPN and head (``layers.Conv``'s
        ``impl``: "auto", "xla", "im2col", or a ``jaxvision.ops.conv.ConvRules``).
    """

    backbone: nn.Module
    num_classes: int
    min_level: int = 3
    max_level: int = 5
    fpn_features: int = 128
    head_convs: int = 2
    head_norm: str = "group"
    prior_prob: float = DEFAULT_PRIOR_PROB
    dtype: Any = jnp.float32
    conv_impl: str | ConvRules = "auto"

    @nn.compact
    def __call__(self, images: jax.Array, train: bool = True) -> dict[str, jax.Array]:
        """Per-point outputs.

        Args:
          images: normalised images [b, h, w, 3].
          train: passed to the backbone (BatchNorm mode).

        Returns:
          float32 ``{"logits": [b, n, num_classes], "box": [b, n, 4], "quality": [b, n]}``
          with ``n = sum_l h_l * w_l``; ``box`` holds scaled log-distances (left, top,
          right, bottom) in units of the level's stride: distances are
          ``exp(box) * stride``.
        """
        conv = functools.partial(layers.Conv, impl=self.conv_impl)
        features = self.backbone(images, train=train)
        pyramid = FPN(
            self.fpn_features, self.min_level, self.max_level, dtype=self.dtype, conv=conv
        )(features)
        tower = dict(norm=self.head_norm, dtype=self.dtype, conv=conv)
        cls_tower = ConvTower(self.fpn_features, self.head_convs, **tower, name="cls_tower")
        reg_tower = ConvTower(self.fpn_features, self.head_convs, **tower, name="reg_tower")
        init = nn.initializers.normal(HEAD_INIT_STD)
        head = dict(padding="SAME", kernel_init=init, dtype=self.dtype)
        cls_out = conv(
            self.num_classes,
            (3, 3),
            bias_init=nn.initializers.constant(prior_bias(self.prior_prob)),
            name="cls_logits",
            **head,
        )
        box_out = conv(4, (3, 3), name="box", **head)
        quality_out = conv(1, (3, 3), name="quality", **head)

        logits, boxes, quality = [], [], []
        for lvl in range(self.min_level, self.max_level + 1):
            p = pyramid[level_name(lvl)]  # [b, h, w, f]
            b = p.shape[0]
            scale = self.param(f"scale{lvl}", nn.initializers.ones, ())
            c, r = cls_tower(p), reg_tower(p)  # [b, h, w, f]
            logits.append(cls_out(c).reshape(b, -1, self.num_classes))  # [b, hw, k]
            boxes.append((box_out(r).astype(jnp.float32) * scale).reshape(b, -1, 4))  # [b, hw, 4]
            quality.append(quality_out(r).reshape(b, -1))  # [b, hw]
        return {
            "logits": jnp.concatenate(logits, axis=1).astype(jnp.float32),  # [b, n, k]
            "box": jnp.concatenate(boxes, axis=1),  # [b, n, 4]
            "quality": jnp.concatenate(quality, axis=1).astype(jnp.float32),  # [b, n]
        }
