"""SRResNet and the SRGAN discriminator (Ledig et al., 2017, "Photo-Realistic Single Image
Super-Resolution Using a Generative Adversarial Network").

`SRResNet` is the generator: a 9x9 conv + PReLU, `num_blocks` residual blocks (3x3 conv, BN,
PReLU, 3x3 conv, BN, plus the block input), a 3x3 conv + BN added to the first conv's output
(the long skip), log2(scale) sub-pixel upsampling blocks (3x3 conv to 4x the channels, pixel
shuffle x2, PReLU) and a 9x9 conv to the image channels.

Value ranges: the paper feeds low-resolution images in [0, 1] and trains the generator for
high-resolution targets in [-1, 1] (a tanh output). Here the input is in [0, 1] as it is, and
the output is the paper's tanh image mapped back to [0, 1], `(tanh(y) + 1) / 2`; the
discriminator maps its [0, 1] input to the paper's [-1, 1] (`2x - 1`) before its first conv.
Weights trained on the paper's ranges therefore work unchanged.

Convs followed by a BN have no bias (the BN's offset takes its place); the others have one.
PReLU slopes are per channel (`PReLU`), initialised at 0.25 as He et al. (2015) do.

Parameter names::

  SRResNet: conv_in, prelu_in, block{j}/{conv1, bn1, prelu, conv2, bn2} (j = 0..num_blocks-1),
            conv_mid, bn_mid, upsample{k}_conv, upsample{k}_prelu (k = 0..log2(scale)-1),
            conv_out
  SRGANDiscriminator: conv0, conv{i}, bn{i} (i = 1..7), dense_hidden, dense_out
"""

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.models import layers
from jaxvision.ops import degrade
from jaxvision.ops.conv import ConvRules
from jaxvision.ops.pixel_shuffle import pixel_shuffle

ModuleDef = Any

SCALES = (2, 4, 8)
PRELU_INIT = 0.25  # He et al. (2015), torch.nn.PReLU's default
LEAKY_SLOPE = 0.2
# (channel multiplier of `features`, stride) of discriminator convs 1..7; conv0 is (1, 1).
_DISCRIMINATOR_CONVS = ((1, 2), (2, 1), (2, 2), (4, 1), (4, 2), (8, 1), (8, 2))


def _pad(kernel: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """torch's padding=kernel // 2 for an odd kernel (same size at stride 1)."""
    return ((kernel // 2, kernel // 2), (kernel // 2, kernel // 2))


class PReLU(nn.Module):
    """Parametric ReLU with one learnable slope a channel (He et al., 2015).

    `max(x, 0) + slope * min(x, 0)`, the slope broadcast over the last axis; what
    `torch.nn.PReLU(num_parameters=c)` computes. (`flax.linen.PReLU` learns one scalar.)

    Attributes:
      dtype: compute dtype (None: the input's).
      param_dtype: dtype of the slopes.
      negative_slope_init: initial slope.

    Example:
      >>> y, variables = PReLU().init_with_output(jax.random.key(0), -jnp.ones((1, 2, 2, 3)))
      >>> variables["params"]["negative_slope"].shape, float(y[0, 0, 0, 0])
      ((3,), -0.25)
    """

    dtype: Any = None
    param_dtype: Any = jnp.float32
    negative_slope_init: float = PRELU_INIT

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """Args: x: [..., c]. Returns: [..., c]."""
        slope = self.param(
            "negative_slope",
            nn.initializers.constant(self.negative_slope_init),
            (x.shape[-1],),
            self.param_dtype,
        )  # [c]
        dtype = self.dtype or x.dtype
        x = jnp.asarray(x, dtype)
        return jnp.where(x >= 0, x, slope.astype(dtype) * x)  # [..., c]


class _ResidualBlock(nn.Module):
    """conv3x3-BN-PReLU-conv3x3-BN plus the input (SRResNet's residual block)."""

    conv: ModuleDef
    norm: ModuleDef
    prelu: ModuleDef

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """Args: x: [b, h, w, f]. Returns: [b, h, w, f]."""
        f = x.shape[-1]
        y = self.conv(f, (3, 3), padding=_pad(3), use_bias=False, name="conv1")(x)
        y = self.prelu(name="prelu")(self.norm(name="bn1")(y))  # [b, h, w, f]
        y = self.conv(f, (3, 3), padding=_pad(3), use_bias=False, name="conv2")(y)
        return x + self.norm(name="bn2")(y)  # [b, h, w, f]


class SRResNet(nn.Module):
    """The SRResNet / SRGAN generator: upsamples an image `scale` times.

    Attributes:
      scale: upsampling factor, 2, 4 or 8 (log2(scale) sub-pixel blocks).
      num_blocks: residual blocks (the paper: 16).
      features: width of every conv but the upsampling ones (4x) and the last (the paper: 64).
      out_channels: channels of the output image; None: those of the input.
      dtype: compute dtype (e.g. jnp.bfloat16); the output is float32 whatever it is.
      param_dtype: dtype of the parameters.
      conv_impl: lowering of every conv (`jaxvision.models.layers.Conv`'s `impl`): "auto",
        "xla", "im2col" or a `jaxvision.ops.conv.ConvRules`.
      bn_momentum: BatchNorm running-average decay (torch's momentum=0.1 is 0.9 here).
      bn_epsilon: BatchNorm epsilon.
      bicubic_residual: predict a correction of the input's bicubic upsampling
        (``clip(bicubic(x) + tanh(y) / 2, 0, 1)``, as VDSR and later SR networks do) instead of
        the image itself: training starts from bicubic's quality. False is the paper's
        SRResNet.

    Example:
      >>> model = SRResNet(scale=4, num_blocks=2, features=16)
      >>> low_res = jnp.zeros((1, 24, 20, 3))  # [0, 1]
      >>> variables = model.init(jax.random.key(0), low_res, train=False)
      >>> high_res = model.apply(variables, low_res, train=False)
      >>> high_res.shape, high_res.dtype
      ((1, 96, 80, 3), dtype('float32'))
    """

    scale: int = 4
    num_blocks: int = 16
    features: int = 64
    out_channels: int | None = None
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    conv_impl: str | ConvRules = "auto"
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    bicubic_residual: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        """Upsamples images.

        Args:
          x: low-resolution images in [0, 1], [b, h, w, c].
          train: use batch statistics and update the running ones (collection "batch_stats",
            pass `mutable=["batch_stats"]`) when True; use the running ones when False.

        Returns:
          float32 images in [0, 1], [b, h * scale, w * scale, out_channels or c].

        Raises:
          ValueError: for a scale not in `SCALES` or an input that is not rank 4.
        """
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {self.scale}.")
        if x.ndim != 4:
            raise ValueError(f"SRResNet expects NHWC images [b, h, w, c], got shape {x.shape}.")
        out_channels = self.out_channels or x.shape[-1]
        dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        conv = functools.partial(layers.Conv, impl=self.conv_impl, **dt)
        norm = functools.partial(
            nn.BatchNorm,
            use_running_average=not train,
            momentum=self.bn_momentum,
            epsilon=self.bn_epsilon,
            **dt,
        )
        prelu = functools.partial(PReLU, **dt)
        f = self.features

        inputs = x
        x = jnp.asarray(x, self.dtype)  # [b, h, w, c]
        x = prelu(name="prelu_in")(conv(f, (9, 9), padding=_pad(9), name="conv_in")(x))
        skip = x  # [b, h, w, f]
        for j in range(self.num_blocks):
            x = _ResidualBlock(conv, norm, prelu, name=f"block{j}")(x)  # [b, h, w, f]
        x = conv(f, (3, 3), padding=_pad(3), use_bias=False, name="conv_mid")(x)
        x = norm(name="bn_mid")(x) + skip  # [b, h, w, f]
        for k in range(int(math.log2(self.scale))):
            x = conv(4 * f, (3, 3), padding=_pad(3), name=f"upsample{k}_conv")(x)
            x = pixel_shuffle(x, 2)  # [b, 2h', 2w', f]
            x = prelu(name=f"upsample{k}_prelu")(x)
        x = conv(out_channels, (9, 9), padding=_pad(9), name="conv_out")(x)
        if self.bicubic_residual:
            base = degrade.bicubic_upsample(inputs, self.scale)  # [b, h * s, w * s, c] float32
            return jnp.clip(base + 0.5 * jnp.tanh(x.astype(jnp.float32)), 0.0, 1.0)
        return (jnp.tanh(x.astype(jnp.float32)) + 1.0) / 2.0  # [b, h * s, w * s, c_out]


class SRGANDiscriminator(nn.Module):
    """The SRGAN discriminator: a real/fake logit an image.

    Eight 3x3 convs with LeakyReLU(0.2), BN on all but the first, strides 1, 2, 1, 2, ... and
    widths f, f, 2f, 2f, 4f, 4f, 8f, 8f; then a dense layer of `hidden` units, LeakyReLU and a
    dense layer to one logit.

    Deviation from the paper: the features are averaged over space before the dense layers
    (the paper flattens the 6x6 map of its 96x96 crops), so any input size works and the
    parameter count does not depend on it.

    Attributes:
      features: width of the first convs f (the paper: 64).
      hidden: units of the hidden dense layer (the paper: 1024).
      dtype: compute dtype; the logits are float32 whatever it is.
      param_dtype: dtype of the parameters.
      conv_impl: lowering of every conv (`jaxvision.models.layers.Conv`'s `impl`).
      bn_momentum: BatchNorm running-average decay.
      bn_epsilon: BatchNorm epsilon.

    Example:
      >>> model = SRGANDiscriminator(features=8, hidden=32)
      >>> images = jnp.zeros((2, 40, 40, 3))  # [0, 1]
      >>> variables = model.init(jax.random.key(0), images, train=False)
      >>> model.apply(variables, images, train=False).shape
      (2,)
    """

    features: int = 64
    hidden: int = 1024
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    conv_impl: str | ConvRules = "auto"
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        """Scores images.

        Args:
          x: images in [0, 1], [b, h, w, c].
          train: batch statistics (True, pass `mutable=["batch_stats"]`) or running ones.

        Returns:
          float32 logits, [b] (positive: judged real).
        """
        if x.ndim != 4:
            raise ValueError(f"Expected NHWC images [b, h, w, c], got shape {x.shape}.")
        dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        conv = functools.partial(layers.Conv, padding=_pad(3), impl=self.conv_impl, **dt)
        norm = functools.partial(
            nn.BatchNorm,
            use_running_average=not train,
            momentum=self.bn_momentum,
            epsilon=self.bn_epsilon,
            **dt,
        )
        act = functools.partial(nn.leaky_relu, negative_slope=LEAKY_SLOPE)

        x = jnp.asarray(2.0 * x - 1.0, self.dtype)  # [b, h, w, c] in [-1, 1]
        x = act(conv(self.features, (3, 3), name="conv0")(x))  # [b, h, w, f]
        for i, (mult, stride) in enumerate(_DISCRIMINATOR_CONVS, start=1):
            x = conv(self.features * mult, (3, 3), stride, use_bias=False, name=f"conv{i}")(x)
            x = act(norm(name=f"bn{i}")(x))  # [b, h_i, w_i, f * mult]
        x = jnp.mean(x.astype(jnp.float32), axis=(1, 2))  # [b, 8f]
        x = act(nn.Dense(self.hidden, name="dense_hidden", **dt)(x))  # [b, hidden]
        x = nn.Dense(1, dtype=jnp.float32, param_dtype=self.param_dtype, name="dense_out")(x)
        return x[:, 0]  # [b]


SRResNetX2 = functools.partial(SRResNet, scale=2)
SRResNetX4 = functools.partial(SRResNet, scale=4)
