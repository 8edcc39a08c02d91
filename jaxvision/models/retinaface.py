"""RetinaFace (Deng et al., 2020): a single-stage face detector that also finds 5 landmarks.

A backbone, an FPN (``jaxvision.models.fpn``), optionally an SSH context module on every
level (Najibi et al., 2017: 3x3, 5x5 and 7x7 receptive fields from stacked 3x3 convs,
concatenated), and three heads shared over the levels: a face score, a box and five
landmarks per anchor. The heads follow RetinaNet's (``jaxvision.models.retinanet``): a
classification tower and a regression tower (box and landmarks share it) of ``head_convs``
3x3 convs each; ``head_convs=0`` gives RetinaFace's own single conv heads.

The model returns raw per-anchor outputs, concatenated over levels in the order of
``jaxvision.ops.anchors.anchor_grid``: ``logits`` [b, n, 1], box ``deltas`` [b, n, 4] and
``landmarks`` [b, n, 5, 2] codes (``jaxvision.ops.landmarks``). Anchors, matching, losses
and decoding are the task's (``jaxvision.tasks.face_detection``).

Example:
  >>> from jaxvision.models.resnet import ResNetTiny  # ResNet-50 or MobileNet in the paper
  >>> backbone = ResNetTiny(num_classes=1, features_only=True, num_filters=8)
  >>> model = RetinaFace(backbone=backbone, num_anchors=2, fpn_features=16, head_convs=1)
  >>> x = jnp.zeros((1, 64, 64, 3))
  >>> variables = jax.jit(model.init, static_argnames="train")(jax.random.key(0), x, train=False)
  >>> out = jax.jit(model.apply, static_argnames="train")(variables, x, train=False)
  >>> [out[k].shape for k in ("logits", "deltas", "landmarks")]  # 2 * (8² + 4² + 2²)
  [(1, 168, 1), (1, 168, 4), (1, 168, 5, 2)]
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.models import layers, resnet
from jaxvision.models.fpn import FPN, level_name
from jaxvision.models.retinanet import DEFAULT_PRIOR_PROB, HEAD_INIT_STD, ConvTower, prior_bias
from jaxvision.ops.conv import ConvRules
from jaxvision.ops.landmarks import NUM_FACE_LANDMARKS

ModuleDef = Any
# SSH's split of its output channels: 1/2 to the 3x3 branch, 1/4 to each of 5x5 and 7x7.
SSH_CHANNEL_DIVISOR = 4


class SSH(nn.Module):
    """The SSH context module: 3x3, "5x5" (two 3x3) and "7x7" (three 3x3) branches.

    The 5x5 and 7x7 branches share their first conv. Output: the branches concatenated
    (``features`` channels), then ReLU.

    Attributes:
      features: output channels (a multiple of 4).
      dtype: compute dtype.
      conv: conv module class.

    Example:
      >>> y, _ = SSH(16).init_with_output(jax.random.key(0), jnp.zeros((1, 8, 8, 4)))
      >>> y.shape
      (1, 8, 8, 16)
    """

    features: int
    dtype: Any = jnp.float32
    conv: ModuleDef = layers.Conv

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.features % SSH_CHANNEL_DIVISOR:
            raise ValueError(f"SSH features must be a multiple of 4, got {self.features}")
        quarter = self.features // SSH_CHANNEL_DIVISOR
        conv = lambda f, name: self.conv(f, (3, 3), padding="SAME", dtype=self.dtype, name=name)  # noqa: E731
        branch3 = conv(2 * quarter, "conv3")(x)  # [b, h, w, f/2]
        mid = nn.relu(conv(quarter, "conv5_1")(x))  # [b, h, w, f/4]
        branch5 = conv(quarter, "conv5_2")(mid)  # [b, h, w, f/4]
        mid = nn.relu(conv(quarter, "conv7_2")(mid))
        branch7 = conv(quarter, "conv7_3")(mid)  # [b, h, w, f/4]
        return nn.relu(jnp.concatenate([branch3, branch5, branch7], axis=-1))  # [b, h, w, f]


class RetinaFace(nn.Module):
    """RetinaFace detector: face score, box and landmarks per anchor.

    Attributes:
      backbone: a module mapping images to ``{"C{l}": features}`` (e.g.
        ``ResNet(features_only=True)``); it receives ``train``.
      num_anchors: anchors per location.
      num_landmarks: points per face (5: eyes, nose tip, mouth corners).
      min_level: lowest pyramid level.
      max_level: highest pyramid level.
      fpn_features: FPN, context and head width.
      context: whether each level goes through an ``SSH`` module first.
      head_convs: convs in each head tower (0: RetinaFace's single conv heads).
      head_norm: "none" or "group" (GroupNorm in the towers).
      prior_prob: initial face probability of the classifier.
      dtype: compute dtype; outputs are float32.
      conv_impl: lowering of every conv outside the backbone (``layers.Conv``'s ``impl``).
    """

    backbone: nn.Module
    num_anchors: int = 2
    num_landmarks: int = NUM_FACE_LANDMARKS
    min_level: int = 3
    max_level: int = 5
    fpn_features: int = 256
    context: bool = True
    head_convs: int = 0
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
          ``{"logits": [b, n, 1], "deltas": [b, n, 4], "landmarks": [b, n, k, 2]}`` float32,
          with ``n = num_anchors * sum_l h_l * w_l``.
        """
        conv = functools.partial(layers.Conv, impl=self.conv_impl)
        pyramid = FPN(
            self.fpn_features, self.min_level, self.max_level, dtype=self.dtype, conv=conv
        )(self.backbone(images, train=train))
        tower = dict(norm=self.head_norm, dtype=self.dtype, conv=conv)
        cls_tower = ConvTower(self.fpn_features, self.head_convs, **tower, name="cls_tower")
        reg_tower = ConvTower(self.fpn_features, self.head_convs, **tower, name="reg_tower")
        head = lambda width, name, **kw: conv(  # noqa: E731
            self.num_anchors * width,
            (3, 3),
            padding="SAME",
            kernel_init=nn.initializers.normal(HEAD_INIT_STD),
            dtype=self.dtype,
            name=name,
            **kw,
        )
        prior = nn.initializers.constant(prior_bias(self.prior_prob))
        cls_out = head(1, "cls_logits", bias_init=prior)
        box_out = head(4, "box_deltas")
        landmark_out = head(2 * self.num_landmarks, "landmark_codes")
        outputs = {"logits": [], "deltas": [], "landmarks": []}
        for lvl in range(self.min_level, self.max_level + 1):
            p = pyramid[level_name(lvl)]  # [b, h, w, f]
            if self.context:
                p = SSH(self.fpn_features, self.dtype, conv, name=f"ssh{lvl}")(p)
            b = p.shape[0]
            reg = reg_tower(p)  # [b, h, w, f]
            outputs["logits"].append(cls_out(cls_tower(p)).reshape(b, -1, 1))  # [b, hwA, 1]
            outputs["deltas"].append(box_out(reg).reshape(b, -1, 4))  # [b, hwA, 4]
            points = landmark_out(reg).reshape(b, -1, self.num_landmarks, 2)  # [b, hwA, k, 2]
            outputs["landmarks"].append(points)
        return {
            k: jnp.concatenate(v, axis=1).astype(jnp.float32)  # [b, n, ...]
            for k, v in outputs.items()
        }


def retinaface_resnet_fpn(
    backbone: str = "resnet50",
    dtype: Any = jnp.float32,
    backbone_kwargs: dict | None = None,
    **kwargs: Any,
) -> RetinaFace:
    """A ``RetinaFace`` on a ResNet (``features_only``) of this module's ``BACKBONES``.

    Args:
      backbone: a key of ``BACKBONES`` (``"resnet18"``, ``"resnet50"`` ...).
      dtype: compute dtype of the backbone and the heads.
      backbone_kwargs: ResNet fields (``num_filters``, ``conv_impl``, ``norm`` ...).
      **kwargs: ``RetinaFace`` fields.

    Returns:
      The (unbound) module.

    Example:
      >>> type(retinaface_resnet_fpn("resnet18", fpn_features=64)).__name__
      'RetinaFace'
    """
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; valid: {sorted(BACKBONES)}")
    trunk = BACKBONES[backbone](
        num_classes=1, features_only=True, dtype=dtype, **(backbone_kwargs or {})
    )
    return RetinaFace(backbone=trunk, dtype=dtype, **kwargs)


BACKBONES = {
    "resnet_tiny": resnet.ResNetTiny,
    "resnet18": resnet.ResNet18,
    "resnet34": resnet.ResNet34,
    "resnet50": resnet.ResNet50,
    "resnet101": resnet.ResNet101,
}
RetinaFaceResNet18FPN = functools.partial(retinaface_resnet_fpn, backbone="resnet18")
RetinaFaceResNet50FPN = functools.partial(retinaface_resnet_fpn, backbone="resnet50")
