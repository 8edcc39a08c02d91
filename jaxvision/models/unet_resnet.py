"""U-Net with a ResNet encoder (the form segmentation_models_pytorch and most practical U-Nets
take: Ronneberger et al.'s decoder on a residual encoder).

The encoder is a ResNet of ``jaxvision.models.resnet`` (``features_only``): stages C2 ... C5 at
strides 4, 8, 16 and 32. The decoder climbs back one level at a time: upsample x2
(nearest-neighbour, to the skip's exact size), concatenate the encoder features of that
resolution (C4, C3, C2; no skip at strides 2 and 1), two 3x3 conv-norm-ReLU; a 1x1 conv gives
the class logits at the input's size. Any input size works.

Unlike the plain ``jaxvision.models.unet.UNet``, whose encoder spends its first convs at full
resolution, the residual encoder reaches its stride-4 features after one conv, which helps it
learn object-level classes (which shape a pixel belongs to, not only whether it is
foreground).

Parameter names::

  encoder/...                      (the ResNet's: stem_conv, stage{i}_block{j}/...)
  dec{i}_conv{1,2}, dec{i}_norm{1,2}   i = 0 (stride 16) ... 4 (stride 1)
  head
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.models import layers
from jaxvision.models.deeplab import resnet_features
from jaxvision.models.unet import norm_layer
from jaxvision.ops.conv import ConvRules

# Encoder features the decoder levels concatenate, deepest first (None: no skip).
SKIPS = ("C4", "C3", "C2", None, None)
_PAD_3X3 = ((1, 1), (1, 1))


def upsample_nearest(x: jax.Array, height: int, width: int) -> jax.Array:
    """Nearest-neighbour resize of [b, h, w, c] to [b, height, width, c] (x2 for the decoder's
    levels; any size for odd inputs).

    Example:
      >>> upsample_nearest(jnp.arange(4.0).reshape(1, 2, 2, 1), 4, 4)[0, :, :, 0].tolist()[0]
      [0.0, 0.0, 1.0, 1.0]
    """
    return jax.image.resize(x, (x.shape[0], height, width, x.shape[-1]), "nearest")


class ResNetUNet(nn.Module):
    """U-Net decoder on a ResNet encoder: per-pixel class logits at the input's size.

    Attributes:
      num_classes: channels of the logits.
      backbone: a key of ``jaxvision.models.deeplab.BACKBONES`` ("resnet18", "resnet50" ...).
      backbone_kwargs: more ResNet fields (``num_filters``, ``remat``, ...).
      decoder_features: widths of the five decoder levels, stride 16 to stride 1
        (segmentation_models_pytorch: (256, 128, 64, 32, 16)).
      norm: "batch" or "group" (encoder and decoder; "none" for the decoder only).
      dtype: compute dtype; the logits are float32 whatever it is.
      param_dtype: dtype of the parameters.
      conv_impl: lowering of every conv (``jaxvision.models.layers``' ``impl``).
      bn_momentum: BatchNorm running-average decay.

    Example:
      >>> model = ResNetUNet(num_classes=3, backbone="resnet_tiny",
      ...                    backbone_kwargs={"num_filters": 8}, decoder_features=(16, 8, 8, 4, 4))
      >>> images = jnp.zeros((1, 30, 45, 3))
      >>> variables = jax.jit(model.init, static_argnames="train")(
      ...     jax.random.key(0), images, train=False)
      >>> jax.jit(model.apply, static_argnames="train")(variables, images, train=False).shape
      (1, 30, 45, 3)
    """

    num_classes: int
    backbone: str = "resnet18"
    backbone_kwargs: Any = None
    decoder_features: Sequence[int] = (256, 128, 64, 32, 16)
    norm: str = "batch"
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    conv_impl: str | ConvRules = "auto"
    bn_momentum: float = 0.9

    def _encoder(self) -> nn.Module:
        return resnet_features(
            self.backbone,
            self.backbone_kwargs,
            self.norm,
            self.dtype,
            self.param_dtype,
            self.conv_impl,
            self.bn_momentum,
            name="encoder",
        )

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        """Segments images.

        Args:
          x: images [b, h, w, c] (normalised).
          train: batch statistics (pass ``mutable=["batch_stats"]``) when True.

        Returns:
          float32 logits [b, h, w, num_classes].

        Raises:
          ValueError: an input that is not rank 4, an unknown backbone or norm, or
            ``decoder_features`` not of five widths.
        """
        if x.ndim != 4:
            raise ValueError(f"ResNetUNet expects NHWC images [b, h, w, c], got {x.shape}.")
        if len(self.decoder_features) != len(SKIPS):
            raise ValueError(
                f"decoder_features must give {len(SKIPS)} widths (stride 16 to 1), "
                f"got {self.decoder_features}"
            )
        features = self._encoder()(x, train=train)
        norm = norm_layer(self.norm, train, self.dtype, self.param_dtype, self.bn_momentum)
        conv = functools.partial(
            layers.Conv, kernel_size=(3, 3), padding=_PAD_3X3, use_bias=self.norm == "none",
            dtype=self.dtype, param_dtype=self.param_dtype, impl=self.conv_impl,
        )  # fmt: skip
        y = features["C5"]  # [b, h/32, w/32, c5]
        for i, (skip_name, width) in enumerate(zip(SKIPS, self.decoder_features, strict=True)):
            stride = 16 // 2**i  # of this level's output
            if skip_name is None:
                size = (-(-x.shape[1] // stride), -(-x.shape[2] // stride))
                y = upsample_nearest(y, *size)  # [b, h/s, w/s, c]
            else:
                skip = features[skip_name]  # [b, h/s, w/s, c_skip]
                y = upsample_nearest(y, *skip.shape[1:3])
                y = jnp.concatenate([y, skip], axis=-1)
            for k in (1, 2):
                y = conv(width, name=f"dec{i}_conv{k}")(y)
                y = nn.relu(norm(name=f"dec{i}_norm{k}")(y))  # [b, h/s, w/s, width]
        y = y[:, : x.shape[1], : x.shape[2]]  # [b, h, w, d4]
        dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        logits = layers.Conv(self.num_classes, (1, 1), impl=self.conv_impl, name="head", **dt)(y)
        return logits.astype(jnp.float32)  # [b, h, w, k]
