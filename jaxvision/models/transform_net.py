"""The image transformation network of feed-forward style transfer (Johnson et al., 2016,
"Perceptual Losses for Real-Time Style Transfer and Super-Resolution"), with instance
normalisation (Ulyanov et al., 2016, "Instance Normalization: The Missing Ingredient for Fast
Stylization").

Layout (the paper's, at width f = 32): a 9x9 conv at f, two stride-2 3x3 convs at 2f and 4f,
`num_blocks` residual blocks of two 3x3 convs at 4f, two (nearest 2x upsampling, 3x3 conv)
stages back to 2f and f, and a 9x9 conv to the 3 image channels. Every conv but the last is
followed by instance norm (learned scale and shift, as Ulyanov et al.'s) and a ReLU; a block
adds its input to the normed output of its second conv. Convs pad by reflection. Upsampling
then convolving, instead of the paper's fractionally strided convs, avoids their
checkerboard artefacts (Odena et al., 2016), as PyTorch's fast-neural-style example does.
The output is the paper's scaled tanh, mapped to [0, 1]: ``(tanh(y) + 1) / 2``.

Parameter names::

  conv_in, down1, down2, block{j}/{conv1, conv2} (j = 0..num_blocks-1), up1, up2, conv_out
  (and norm_* / block{j}/norm{1,2} with the instance norms' scale and bias)
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.models import layers
from jaxvision.ops.conv import ConvRules

ModuleDef = Any

INSTANCE_NORM_EPSILON = 1e-5  # torch.nn.InstanceNorm2d's
# Two stride-2 convs: inputs must be multiples of 4.
SIZE_MULTIPLE = 4


def upsample_nearest(x: jax.Array, factor: int = 2) -> jax.Array:
    """Nearest-neighbour upsampling of [b, h, w, c] to [b, h * factor, w * factor, c].

    Example:
      >>> upsample_nearest(jnp.arange(2.0).reshape(1, 1, 2, 1))[0, :, :, 0]
      Array([[0., 0., 1., 1.],
             [0., 0., 1., 1.]], dtype=float32)
    """
    return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


class _ResidualBlock(nn.Module):
    """x + IN(conv3x3(ReLU(IN(conv3x3(x)))))."""

    conv: ModuleDef
    norm: ModuleDef

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """Args: x: [b, h, w, f]. Returns: [b, h, w, f]."""
        f = x.shape[-1]
        y = nn.relu(self.norm(name="norm1")(self.conv(f, (3, 3), name="conv1")(x)))
        return x + self.norm(name="norm2")(self.conv(f, (3, 3), name="conv2")(y))


class TransformNet(nn.Module):
    """Johnson et al.'s residual image transformation network: a styled image, same size.

    Attributes:
      features: width f of the first conv (the paper: 32).
      num_blocks: residual blocks at 4f (the paper: 5).
      dtype: compute dtype (e.g. jnp.bfloat16); the output is float32 whatever it is.
      param_dtype: dtype of the parameters.
      conv_impl: lowering of every conv (`jaxvision.models.layers.Conv`'s `impl`).

    Example:
      >>> model = TransformNet(features=8, num_blocks=1)
      >>> images = jnp.full((2, 16, 24, 3), 0.5)  # [0, 1]
      >>> key = jax.random.key(0, impl="rbg")  # rbg keys compile faster than threefry on CPU
      >>> variables = jax.jit(model.init)(key, images)
      >>> styled = model.apply(variables, images)
      >>> styled.shape, bool((styled >= 0).all() & (styled <= 1).all())
      ((2, 16, 24, 3), True)
    """

    features: int = 32
    num_blocks: int = 5
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    conv_impl: str | ConvRules = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Styles images.

        Args:
          x: images in [0, 1], [b, h, w, c]; h and w multiples of 4.
          train: unused (instance norm has no running statistics); a uniform interface.

        Returns:
          float32 images in [0, 1], [b, h, w, c].

        Raises:
          ValueError: for an input that is not rank 4 or whose size is not a multiple of 4.
        """
        del train
        if x.ndim != 4 or x.shape[1] % SIZE_MULTIPLE or x.shape[2] % SIZE_MULTIPLE:
            raise ValueError(
                f"TransformNet expects NHWC images [b, h, w, c] with h and w multiples of "
                f"{SIZE_MULTIPLE}, got shape {x.shape}."
            )
        dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        conv = functools.partial(layers.Conv, padding="REFLECT", impl=self.conv_impl, **dt)
        norm = functools.partial(nn.InstanceNorm, epsilon=INSTANCE_NORM_EPSILON, **dt)
        norm_relu = lambda y, name: nn.relu(norm(name=name)(y))
        f = self.features

        y = jnp.asarray(2.0 * x.astype(jnp.float32) - 1.0, self.dtype)  # [b, h, w, c] in [-1, 1]
        y = norm_relu(conv(f, (9, 9), name="conv_in")(y), "norm_in")
        y = norm_relu(conv(2 * f, (3, 3), 2, name="down1")(y), "norm_down1")
        y = norm_relu(conv(4 * f, (3, 3), 2, name="down2")(y), "norm_down2")  # [b, h/4, w/4, 4f]
        for j in range(self.num_blocks):
            y = _ResidualBlock(conv, norm, name=f"block{j}")(y)
        y = norm_relu(conv(2 * f, (3, 3), name="up1")(upsample_nearest(y)), "norm_up1")
        y = norm_relu(conv(f, (3, 3), name="up2")(upsample_nearest(y)), "norm_up2")  # [b, h, w, f]
        y = conv(x.shape[-1], (9, 9), name="conv_out")(y)  # [b, h, w, c]
        return (jnp.tanh(y.astype(jnp.float32)) + 1.0) / 2.0
