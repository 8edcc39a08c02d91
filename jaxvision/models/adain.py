"""The decoder of AdaIN style transfer (Huang & Belongie, 2017, "Arbitrary Style Transfer in
Real-time with Adaptive Instance Normalization").

The encoder is VGG-19 up to ``relu4_1`` (``jaxvision.models.vgg``, frozen); the decoder
mirrors it: a 3x3 conv from the 512 ``relu4_1`` channels to the width of block 3, then for
blocks 3, 2 and 1 a nearest 2x upsampling and that block's convs in reverse order (4, 2 and
2 of them), each followed by a ReLU; the last conv of a block changes the width to the next
block's, and the very last conv gives the image channels, with no activation (the authors'
decoder). Convs pad by reflection. The output is an image in the VGG input's units, [0, 1]
(unclipped: the losses see it as it is; callers clip it to show it).

Parameter names (the mirrored VGG convs)::

  dec4_1, dec3_4, dec3_3, dec3_2, dec3_1, dec2_2, dec2_1, dec1_2, dec1_1
"""

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.models import layers
from jaxvision.models.transform_net import upsample_nearest
from jaxvision.ops.conv import ConvRules

# VGG-19's convs in blocks 3, 2 and 1, which the decoder mirrors after conv4_1.
MIRRORED_BLOCK_SIZES = (4, 2, 2)
# relu4_1 is at 1/8 of the image's size: inputs to the encoder must be multiples of 8.
SIZE_MULTIPLE = 8


class AdaINDecoder(nn.Module):
    """Decodes VGG-19 ``relu4_1`` features (after AdaIN) into an image 8 times their size.

    Attributes:
      widths: widths of the mirrored blocks 3, 2 and 1 (VGG's: 256, 128, 64; smaller ones
        make a cheaper decoder).
      out_channels: image channels.
      dtype: compute dtype; the output is float32 whatever it is.
      param_dtype: dtype of the parameters.
      conv_impl: lowering of every conv (`jaxvision.models.layers.Conv`'s `impl`).

    Example:
      >>> decoder = AdaINDecoder(widths=(16, 8, 8))
      >>> features = jnp.ones((1, 4, 6, 512))  # relu4_1 of a 32 x 48 image
      >>> key = jax.random.key(0, impl="rbg")  # rbg keys compile faster than threefry on CPU
      >>> variables = jax.jit(decoder.init)(key, features)
      >>> decoder.apply(variables, features).shape
      (1, 32, 48, 3)
    """

    widths: Sequence[int] = (256, 128, 64)
    out_channels: int = 3
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    conv_impl: str | ConvRules = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Decodes features.

        Args:
          x: [b, h, w, c] features (``relu4_1``'s, c = 512, or AdaIN's output).
          train: unused (no batch statistics or dropout); a uniform interface.

        Returns:
          float32 images [b, 8h, 8w, out_channels].

        Raises:
          ValueError: for an input that is not rank 4, or widths not one a mirrored block.
        """
        del train
        if x.ndim != 4:
            raise ValueError(f"AdaINDecoder expects features [b, h, w, c], got {x.shape}.")
        if len(self.widths) != len(MIRRORED_BLOCK_SIZES):
            raise ValueError(f"widths must give blocks 3, 2 and 1 a width each: {self.widths}")
        conv = functools.partial(
            layers.Conv,
            kernel_size=(3, 3),
            padding="REFLECT",
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            impl=self.conv_impl,
        )
        y = nn.relu(conv(self.widths[0], name="dec4_1")(jnp.asarray(x, self.dtype)))
        # The width each mirrored block hands on: the next one's, then the image's channels.
        following = (*self.widths[1:], self.out_channels)
        for k, (n, width) in enumerate(zip(MIRRORED_BLOCK_SIZES, self.widths, strict=True)):
            block = len(MIRRORED_BLOCK_SIZES) - k  # 3, 2, 1
            y = upsample_nearest(y)  # [b, 2h', 2w', width]
            for i in range(n, 0, -1):
                y = conv(width if i > 1 else following[k], name=f"dec{block}_{i}")(y)
                if block > 1 or i > 1:  # no activation after the last conv
                    y = nn.relu(y)
        return y.astype(jnp.float32)  # [b, 8h, 8w, out_channels]
