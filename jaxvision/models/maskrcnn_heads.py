"""The heads of Mask R-CNN (He et al., 2017): RPN, box (Fast R-CNN) and mask heads.

Layers and initialisation follow Detectron2's defaults: the RPN's shared 3x3 conv and two
1x1 outputs (normal std 0.01); the box head's FCs (optionally after convs: "4conv1fc")
and its class (std 0.01) and class-specific box-delta (std 0.001) predictors; the mask
head's 3x3 convs, 2x2 stride-2 deconv and per-class 1x1 mask predictor (std 0.001), convs
kaiming-normal (fan_out). Outputs are float32 whatever the compute dtype.

Example:
  >>> head = MaskHead(num_classes=3, features=8, num_convs=1)
  >>> rois = jnp.zeros((2, 5, 14, 14, 16))
  >>> logits, _ = jax.eval_shape(lambda: head.init_with_output(jax.random.key(0), rois))
  >>> logits.shape
  (2, 5, 28, 28, 3)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.models import layers

ModuleDef = Any
# Detectron2's inits: RPN convs, the class predictor, the box and mask predictors.
RPN_INIT_STD = 0.01
CLASS_INIT_STD = 0.01
DELTA_INIT_STD = 0.001
MASK_INIT_STD = 0.001
# Detectron2's c2_msra_fill: kaiming normal, fan_out, for ReLU.
msra_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
# Groups of the optional GroupNorm of the head convs (Detectron2's "GN" heads use 32).
NORM_GROUPS = 32
NORMS = ("none", "group")


def _check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"head norm must be one of {NORMS}, got {norm!r}")


class RPNHead(nn.Module):
    """Region proposal head, shared over the pyramid levels.

    Attributes:
      num_anchors: anchors a cell (A).
      dtype: compute dtype.
      conv: conv module class.

    Example:
      >>> head = RPNHead(num_anchors=3)
      >>> pyramid = {2: jnp.zeros((1, 8, 8, 16)), 3: jnp.zeros((1, 4, 4, 16))}
      >>> (logits, deltas), _ = jax.eval_shape(
      ...     lambda: head.init_with_output(jax.random.key(0), pyramid))
      >>> logits.shape, deltas.shape  # 3 * (64 + 16) anchors
      ((1, 240), (1, 240, 4))
    """

    num_anchors: int = 3
    dtype: Any = jnp.float32
    conv: ModuleDef = layers.Conv

    @nn.compact
    def __call__(self, pyramid: Mapping[int, jax.Array]) -> tuple[jax.Array, jax.Array]:
        """Args: pyramid: level -> [b, h_l, w_l, c].

        Returns:
          (objectness logits [b, n], deltas [b, n, 4]) float32, over the levels in
          increasing order, then y, x and anchor (``jaxvision.ops.anchors.anchor_grid``).
        """
        init = nn.initializers.normal(RPN_INIT_STD)
        channels = next(iter(pyramid.values())).shape[-1]
        shared = self.conv(
            channels, (3, 3), padding="SAME", kernel_init=init, dtype=self.dtype, name="conv"
        )
        objectness = self.conv(
            self.num_anchors, (1, 1), kernel_init=init, dtype=self.dtype, name="objectness"
        )
        box = self.conv(
            self.num_anchors * 4, (1, 1), kernel_init=init, dtype=self.dtype, name="deltas"
        )
        logits, deltas = [], []
        for level in sorted(pyramid):
            x = nn.relu(shared(pyramid[level]))  # [b, h, w, c]
            b = x.shape[0]
            logits.append(objectness(x).reshape(b, -1))  # [b, h * w * A]
            deltas.append(box(x).reshape(b, -1, 4))  # [b, h * w * A, 4]
        return (
            jnp.concatenate(logits, axis=1).astype(jnp.float32),  # [b, n]
            jnp.concatenate(deltas, axis=1).astype(jnp.float32),  # [b, n, 4]
        )


def _conv_stack(x, num_convs, features, norm, conv, dtype, prefix) -> jax.Array:
    """``num_convs`` x (3x3 conv, optional GroupNorm, ReLU) inside a compact method."""
    for i in range(num_convs):
        x = conv(
            features,
            (3, 3),
            padding="SAME",
            kernel_init=msra_init,
            use_bias=norm == "none",
            dtype=dtype,
            name=f"{prefix}{i}",
        )(x)
        if norm == "group":
            groups = math.gcd(NORM_GROUPS, features)
            x = nn.GroupNorm(num_groups=groups, dtype=dtype, name=f"{prefix}_norm{i}")(x)
        x = nn.relu(x)
    return x


class BoxHead(nn.Module):
    """Fast R-CNN head: convs (optional), FCs, then class logits and per-class deltas.

    Attributes:
      num_classes: object classes K; the logits have K + 1 (background last).
      num_convs: 3x3 convs before the FCs (0: Detectron2's "2fc"; 4 with ``num_fc=1``:
        "4conv1fc").
      conv_features: channels of those convs.
      num_fc: fully connected layers.
      fc_features: their width (1024 in the paper).
      norm: "none" or "group" (GroupNorm after each conv).
      dtype: compute dtype.
      conv: conv module class.

    Example:
      >>> head = BoxHead(num_classes=3, fc_features=32)
      >>> rois = jnp.zeros((2, 5, 7, 7, 8))
      >>> init = lambda: head.init_with_output(jax.random.key(0), rois)
      >>> (logits, deltas), _ = jax.eval_shape(init)
      >>> logits.shape, deltas.shape
      ((2, 5, 4), (2, 5, 3, 4))
    """

    num_classes: int
    num_convs: int = 0
    conv_features: int = 256
    num_fc: int = 2
    fc_features: int = 1024
    norm: str = "none"
    dtype: Any = jnp.float32
    conv: ModuleDef = layers.Conv

    @nn.compact
    def __call__(self, rois: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Args: rois: [b, s, p, p, c] pooled RoI features.

        Returns:
          (class logits [b, s, K + 1], box deltas [b, s, K, 4]) float32.
        """
        _check_norm(self.norm)
        b, s = rois.shape[:2]
        x = rois.reshape(b * s, *rois.shape[2:])  # [b * s, p, p, c]
        x = _conv_stack(
            x, self.num_convs, self.conv_features, self.norm, self.conv, self.dtype, "conv"
        )
        x = x.reshape(b * s, -1)  # [b * s, p * p * c]
        for i in range(self.num_fc):
            x = nn.relu(nn.Dense(self.fc_features, dtype=self.dtype, name=f"fc{i}")(x))
        logits = nn.Dense(
            self.num_classes + 1,
            kernel_init=nn.initializers.normal(CLASS_INIT_STD),
            dtype=self.dtype,
            name="class_logits",
        )(x)  # [b * s, K + 1]
        deltas = nn.Dense(
            self.num_classes * 4,
            kernel_init=nn.initializers.normal(DELTA_INIT_STD),
            dtype=self.dtype,
            name="box_deltas",
        )(x)  # [b * s, 4K]
        return (
            logits.reshape(b, s, self.num_classes + 1).astype(jnp.float32),
            deltas.reshape(b, s, self.num_classes, 4).astype(jnp.float32),
        )


class MaskHead(nn.Module):
    """Mask head: 3x3 convs, a 2x2 stride-2 deconv, and one mask logit map a class.

    Attributes:
      num_classes: object classes K.
      features: channels of the convs and the deconv (256 in the paper).
      num_convs: 3x3 convs (4 in the paper).
      norm: "none" or "group".
      dtype: compute dtype.
      conv: conv module class.
      conv_transpose: transposed-conv module class (the 2x upsampling).
    """

    num_classes: int
    features: int = 256
    num_convs: int = 4
    norm: str = "none"
    dtype: Any = jnp.float32
    conv: ModuleDef = layers.Conv
    conv_transpose: ModuleDef = layers.ConvTranspose

    @nn.compact
    def __call__(self, rois: jax.Array) -> jax.Array:
        """Args: rois: [b, s, p, p, c] pooled RoI features.

        Returns:
          [b, s, 2p, 2p, K] float32 mask logits.
        """
        _check_norm(self.norm)
        b, s = rois.shape[:2]
        x = rois.reshape(b * s, *rois.shape[2:])  # [b * s, p, p, c]
        x = _conv_stack(x, self.num_convs, self.features, self.norm, self.conv, self.dtype, "conv")
        x = self.conv_transpose(
            self.features,
            (2, 2),
            strides=(2, 2),
            padding="VALID",
            kernel_init=msra_init,
            dtype=self.dtype,
            name="deconv",
        )(x)
        x = nn.relu(x)  # [b * s, 2p, 2p, f]
        x = self.conv(
            self.num_classes,
            (1, 1),
            kernel_init=nn.initializers.normal(MASK_INIT_STD),
            dtype=self.dtype,
            name="predictor",
        )(x)  # [b * s, 2p, 2p, K]
        return x.reshape(b, s, *x.shape[1:]).astype(jnp.float32)
