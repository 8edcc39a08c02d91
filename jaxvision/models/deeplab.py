"""DeepLabV3+ (Chen et al., 2018, "Encoder-Decoder with Atrous Separable Convolution for
Semantic Image Segmentation"): an atrous ResNet, ASPP and a light decoder.

- Backbone: a ResNet (``jaxvision.models.resnet``) whose last stages trade their stride for
  dilation: output stride 16 dilates stage 4, output stride 8 stages 3 and 4.
- ASPP (atrous spatial pyramid pooling) on the last stage: a 1x1 conv, three 3x3 convs at
  ``atrous_rates`` (6, 12, 18 at output stride 16; doubled at 8, as the paper does) and
  image pooling (global average, 1x1 conv, broadcast back), each conv-norm-ReLU,
  concatenated and projected by a 1x1 conv, then dropout.
- Decoder: the ASPP output upsampled bilinearly to the stride-4 low-level features (stage
  1, reduced by a 1x1 conv to ``low_level_features`` channels), concatenated, two 3x3
  convs, a 1x1 conv to the classes, and a bilinear upsampling to the input's size.

The paper's decoder and ASPP use depthwise-separable convs on an Xception backbone;
torchvision's and this model use plain convs on a ResNet.

Parameter names::

  backbone/...   (the ResNet's: stem_conv, stage{i}_block{j}/...)
  aspp_conv0, aspp_conv{1,2,3}, aspp_pool_conv, aspp_project, decoder_conv{1,2}
                 (each followed by its norm, <name>_norm)
  low_level_conv, low_level_norm, head
"""

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.models import layers, resnet
from jaxvision.models.unet import norm_layer
from jaxvision.ops.conv import ConvRules

# Backbones by name: the ResNet variants of ``jaxvision.models.resnet``.
BACKBONES = {
    "resnet_tiny": resnet.ResNetTiny,
    "resnet18": resnet.ResNet18,
    "resnet34": resnet.ResNet34,
    "resnet50": resnet.ResNet50,
    "resnet101": resnet.ResNet101,
}
# Output stride -> which of stages 2..4 replace their stride by dilation.
DILATION_OF_OUTPUT_STRIDE = {16: (False, False, True), 8: (False, True, True)}
# ASPP rates at output stride 16 (the paper's); at output stride 8 they double.
DEFAULT_ATROUS_RATES = (6, 12, 18)


def resnet_features(
    backbone: str,
    backbone_kwargs: Any,
    norm: str,
    dtype: Any,
    param_dtype: Any,
    conv_impl: str | ConvRules,
    bn_momentum: float,
    replace_stride_with_dilation: Sequence[bool] | None = None,
    name: str = "backbone",
) -> nn.Module:
    """A ``BACKBONES`` ResNet returning its stage outputs ("C2" ... "C5"), the encoder of the
    segmentation models.

    Args:
      backbone: a key of ``BACKBONES``.
      backbone_kwargs: more ResNet fields (``num_filters``, ``remat`` ...), or None.
      norm: "batch" or "group" (GroupNorm of 8 groups); any other value gives BatchNorm.
      dtype: compute dtype.
      param_dtype: parameter dtype.
      conv_impl: the convs' lowering.
      bn_momentum: BatchNorm running-average decay.
      replace_stride_with_dilation: the ResNet's atrous flags (None: none).
      name: the module's name.

    Returns:
      The unbound module.

    Raises:
      ValueError: an unknown backbone.

    Example:
      >>> net = resnet_features("resnet_tiny", None, "batch", jnp.float32, jnp.float32, "xla", 0.9)
      >>> out = jax.eval_shape(lambda x: net.init_with_output(jax.random.key(0), x, train=False)[0],
      ...                      jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32))
      >>> out["C5"].shape
      (1, 2, 2, 128)
    """
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; valid: {sorted(BACKBONES)}")
    norms = {"batch": nn.BatchNorm, "group": functools.partial(nn.GroupNorm, num_groups=8)}
    return BACKBONES[backbone](
        num_classes=1,
        features_only=True,
        replace_stride_with_dilation=replace_stride_with_dilation,
        dtype=dtype,
        param_dtype=param_dtype,
        conv_impl=conv_impl,
        norm=norms.get(norm, nn.BatchNorm),
        bn_momentum=bn_momentum,
        name=name,
        **dict(backbone_kwargs or {}),
    )


def _conv_norm_relu(
    x: jax.Array, width: int, kernel: int, name: str, conv: Any, norm: Any, dilation: int = 1
) -> jax.Array:
    """conv (no bias, size kept) + norm + ReLU, [b, h, w, c] -> [b, h, w, width]."""
    pad = dilation * (kernel // 2)
    y = conv(
        width, (kernel, kernel), padding=((pad, pad), (pad, pad)), kernel_dilation=dilation,
        name=name,
    )(x)  # fmt: skip
    return nn.relu(norm(name=f"{name}_norm")(y))


def resize_bilinear(x: jax.Array, height: int, width: int) -> jax.Array:
    """Bilinear resize of [b, h, w, c] to [b, height, width, c] (half-pixel centres: torch's
    ``align_corners=False``), in the input's dtype.

    Example:
      >>> resize_bilinear(jnp.ones((1, 2, 3, 4)), 8, 12).shape
      (1, 8, 12, 4)
    """
    if x.shape[1:3] == (height, width):
        return x
    shape = (x.shape[0], height, width, x.shape[3])
    return jax.image.resize(x, shape, "bilinear", antialias=False).astype(x.dtype)


class DeepLabV3Plus(nn.Module):
    """DeepLabV3+: per-pixel class logits at the input's size.

    Attributes:
      num_classes: channels of the logits.
      backbone: a key of ``BACKBONES``.
      backbone_kwargs: more ResNet fields (``num_filters``, ``remat``, ``zero_init_residual``).
      output_stride: 16 or 8: the stride of the ASPP's input.
      atrous_rates: ASPP rates at output stride 16 (doubled at 8).
      aspp_features: width of the ASPP branches and of its projection.
      low_level_features: width the stride-4 features are reduced to.
      decoder_features: width of the decoder's 3x3 convs.
      dropout_rate: dropout after the ASPP projection (training only; rng "dropout").
      norm: "batch" or "group" (the backbone and the heads; "none" for the heads only).
      dtype: compute dtype (e.g. jnp.bfloat16); the logits are float32 whatever it is.
      param_dtype: dtype of the parameters.
      conv_impl: lowering of every conv (``jaxvision.models.layers.Conv``'s ``impl``).
      bn_momentum: BatchNorm running-average decay.

    Example:
      >>> model = DeepLabV3Plus(num_classes=3, backbone="resnet_tiny", aspp_features=16,
      ...                       low_level_features=8, decoder_features=16)
      >>> images = jnp.zeros((2, 64, 48, 3))
      >>> variables = jax.jit(model.init, static_argnames="train")(
      ...     jax.random.key(0), images, train=False)
      >>> jax.jit(model.apply, static_argnames="train")(variables, images, train=False).shape
      (2, 64, 48, 3)
    """

    num_classes: int
    backbone: str = "resnet50"
    backbone_kwargs: Any = None
    output_stride: int = 16
    atrous_rates: Sequence[int] = DEFAULT_ATROUS_RATES
    aspp_features: int = 256
    low_level_features: int = 48
    decoder_features: int = 256
    dropout_rate: float = 0.1
    norm: str = "batch"
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    conv_impl: str | ConvRules = "auto"
    bn_momentum: float = 0.9

    def _backbone(self) -> nn.Module:
        if self.output_stride not in DILATION_OF_OUTPUT_STRIDE:
            raise ValueError(f"output_stride must be 16 or 8, got {self.output_stride}")
        return resnet_features(
            self.backbone,
            self.backbone_kwargs,
            self.norm,
            self.dtype,
            self.param_dtype,
            self.conv_impl,
            self.bn_momentum,
            replace_stride_with_dilation=DILATION_OF_OUTPUT_STRIDE[self.output_stride],
            name="backbone",
        )

    def _aspp(self, x: jax.Array, train: bool, conv: Any, norm: Any) -> jax.Array:
        """[b, h, w, c] -> [b, h, w, aspp_features]."""
        rates = [r * 16 // self.output_stride for r in self.atrous_rates]
        width = self.aspp_features
        branches = [_conv_norm_relu(x, width, 1, "aspp_conv0", conv, norm)]
        for i, rate in enumerate(rates, start=1):
            branches.append(_conv_norm_relu(x, width, 3, f"aspp_conv{i}", conv, norm, rate))
        pooled = jnp.mean(x.astype(jnp.float32), axis=(1, 2), keepdims=True).astype(x.dtype)
        pooled = _conv_norm_relu(pooled, width, 1, "aspp_pool_conv", conv, norm)  # [b, 1, 1, f]
        branches.append(jnp.broadcast_to(pooled, (*x.shape[:3], width)))
        y = jnp.concatenate(branches, axis=-1)  # [b, h, w, (n + 2) f]
        y = _conv_norm_relu(y, width, 1, "aspp_project", conv, norm)
        return nn.Dropout(self.dropout_rate, deterministic=not train)(y)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        """Segments images.

        Args:
          x: images [b, h, w, c] (normalised).
          train: batch statistics (pass ``mutable=["batch_stats"]``) and dropout (rng
            "dropout") when True.

        Returns:
          float32 logits [b, h, w, num_classes].

        Raises:
          ValueError: an input that is not rank 4, an unknown backbone, output stride or norm.
        """
        if x.ndim != 4:
            raise ValueError(f"DeepLabV3Plus expects NHWC images [b, h, w, c], got {x.shape}.")
        features = self._backbone()(x, train=train)
        norm = norm_layer(self.norm, train, self.dtype, self.param_dtype, self.bn_momentum)
        conv = functools.partial(
            layers.Conv, use_bias=self.norm == "none", dtype=self.dtype,
            param_dtype=self.param_dtype, impl=self.conv_impl,
        )  # fmt: skip
        y = self._aspp(features["C5"], train, conv, norm)  # [b, h/os, w/os, f]
        low = features["C2"]  # [b, h/4, w/4, c2]
        low = conv(self.low_level_features, (1, 1), name="low_level_conv")(low)
        low = nn.relu(norm(name="low_level_norm")(low))  # [b, h/4, w/4, l]
        y = resize_bilinear(y, *low.shape[1:3])  # [b, h/4, w/4, f]
        y = jnp.concatenate([y, low], axis=-1)
        for k in (1, 2):
            y = _conv_norm_relu(y, self.decoder_features, 3, f"decoder_conv{k}", conv, norm)
        dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        logits = layers.Conv(self.num_classes, (1, 1), impl=self.conv_impl, name="head", **dt)(y)
        return resize_bilinear(logits.astype(jnp.float32), *x.shape[1:3])  # [b, h, w, k]


DeepLabV3PlusResNet18 = functools.partial(DeepLabV3Plus, backbone="resnet18")
DeepLabV3PlusResNet50 = functools.partial(DeepLabV3Plus, backbone="resnet50")
DeepLabV3PlusResNet101 = functools.partial(DeepLabV3Plus, backbone="resnet101")
