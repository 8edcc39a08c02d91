"""RetinaNet (Lin et al., 2017): a backbone, an FPN and two subnets shared over levels.

The model returns raw per-anchor outputs, concatenated over levels in the order of
``jaxvision.ops.anchors.anchor_grid`` (level, then y, then x, then anchor):
class logits [b, n, num_classes] and box deltas [b, n, 4] against the anchors.
Anchors, matching, losses and decoding are the task's (``jaxvision.tasks.retinanet``).

Example:
  >>> from jaxvision.models.resnet import ResNetTiny  # ResNet50 in the paper
  >>> backbone = ResNetTiny(num_classes=1, features_only=True)
  >>> model = RetinaNet(backbone=backbone, num_classes=80, num_anchors=9)
  >>> x = jnp.zeros((1, 128, 128, 3))
  >>> variables = jax.jit(model.init, static_argnames="train")(jax.random.key(0), x, train=False)
  >>> out = jax.jit(model.apply, static_argnames="train")(variables, x, train=False)
  >>> out["logits"].shape, out["deltas"].shape  # 9 * (16² + 8² + 4² + 2² + 1²) anchors
  ((1, 3069, 80), (1, 3069, 4))
"""

from __future__ import annotations

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.models import layers
from jaxvision.models.fpn import FPN, level_name
from jaxvision.ops.conv import ConvRules

ModuleDef = Any
# Initial probability of "object" for every class (the paper's prior pi).
DEFAULT_PRIOR_PROB = 0.01
# Std of the normal init of head convs (the paper's 0.01).
HEAD_INIT_STD = 0.01
# Groups of the optional GroupNorm in the heads (FCOS/detectron2 use 32).
HEAD_NORM_GROUPS = 32


def prior_bias(prior_prob: float) -> float:
    """The classification bias making sigmoid(bias) == prior_prob."""
    return -math.log((1.0 - prior_prob) / prior_prob)


class ConvTower(nn.Module):
    """``num_convs`` x (3x3 conv, optional GroupNorm, ReLU), shared across pyramid levels.

    Attributes:
      features: channels.
      num_convs: depth.
      norm: "none" or "group" (GroupNorm with ``min(HEAD_NORM_GROUPS, features)`` groups;
        its parameters are shared over levels, as in detectron2's FCOS head).
      dtype: compute dtype.
      conv: conv module class.
    """

    features: int
    num_convs: int
    norm: str = "none"
    dtype: Any = jnp.float32
    conv: ModuleDef = layers.Conv

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.norm not in ("none", "group"):
            raise ValueError(f"head norm must be 'none' or 'group', got {self.norm!r}")
        init = nn.initializers.normal(HEAD_INIT_STD)
        for i in range(self.num_convs):
            x = self.conv(
                self.features, (3, 3), padding="SAME", kernel_init=init, dtype=self.dtype
            )(x)  # [b, h, w, f]
            if self.norm == "group":
                groups = math.gcd(HEAD_NORM_GROUPS, self.features)
                x = nn.GroupNorm(num_groups=groups, dtype=self.dtype, name=f"norm{i}")(x)
            x = nn.relu(x)
        return x


class RetinaNet(nn.Module):
    """RetinaNet detector.

    Attributes:
      backbone: a module mapping images to ``{"C{l}": features}`` (e.g.
        ``ResNet(features_only=True)``); it receives ``train``.
      num_classes: object classes (no background class: sigmoid outputs).
      num_anchors: anchors per location (len(scales) * len(aspect_ratios)).
      min_level: lowest pyramid level.
      max_level: highest pyramid level.
      fpn_features: FPN and head width.
      head_convs: convs in each subnet tower (4 in the paper).
      head_norm: "none" (the paper) or "group".
      prior_prob: initial foreground probability of the classifier.
      dtype: compute dtype; outputs are float32.
      conv_impl: lowering of every conv of the FPN and heads (``layers.Conv``'s
        ``impl``: "auto", "xla", "im2col", or a ``jaxvision.ops.conv.ConvRules``).
    """

    backbone: nn.Module
    num_classes: int
    num_anchors: int = 9
    min_level: int = 3
    max_level: int = 7
    fpn_features: int = 256
    head_convs: int = 4
    head_norm: str = "none"
    prior_prob: float = DEFAULT_PRIOR_PROB
    dtype: Any = jnp.float32
    conv_impl: str | ConvRules = "auto"

    @nn.compact
    def __call__(self, images: jax.Array, train: bool = True) -> dict[str, jax.Array]:
        """Per-anchor outputs.

        Args:
          images: normalised images [b, h, w, 3].
          train: passed to the backbone (BatchNorm mode).

        Returns:
          ``{"logits": [b, n, num_classes], "deltas": [b, n, 4]}`` float32, with
          ``n = num_anchors * sum_l h_l * w_l``.
        """
        conv = functools.partial(layers.Conv, impl=self.conv_impl)
        features = self.backbone(images, train=train)
        pyramid = FPN(
            self.fpn_features, self.min_level, self.max_level, dtype=self.dtype, conv=conv
        )(features)
        tower = dict(norm=self.head_norm, dtype=self.dtype, conv=conv)
        cls_tower = ConvTower(self.fpn_features, self.head_convs, **tower, name="cls_tower")
        box_tower = ConvTower(self.fpn_features, self.head_convs, **tower, name="box_tower")
        init = nn.initializers.normal(HEAD_INIT_STD)
        cls_out = conv(
            self.num_anchors * self.num_classes,
            (3, 3),
            padding="SAME",
            kernel_init=init,
            bias_init=nn.initializers.constant(prior_bias(self.prior_prob)),
            dtype=self.dtype,
            name="cls_logits",
        )
        box_out = conv(
            self.num_anchors * 4,
            (3, 3),
            padding="SAME",
            kernel_init=init,
            dtype=self.dtype,
            name="box_deltas",
        )
        logits, deltas = [], []
        for lvl in range(self.min_level, self.max_level + 1):
            p = pyramid[level_name(lvl)]  # [b, h, w, f]
            b = p.shape[0]
            logits.append(cls_out(cls_tower(p)).reshape(b, -1, self.num_classes))  # [b, hwA, k]
            deltas.append(box_out(box_tower(p)).reshape(b, -1, 4))  # [b, hwA, 4]
        return {
            "logits": jnp.concatenate(logits, axis=1).astype(jnp.float32),  # [b, n, k]
            "deltas": jnp.concatenate(deltas, axis=1).astype(jnp.float32),  # [b, n, 4]
        }
