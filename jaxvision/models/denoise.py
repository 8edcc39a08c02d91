"""Denoisers: a convolutional denoising autoencoder and DnCNN (Zhang et al., 2017, "Beyond a
Gaussian Denoiser: Residual Learning of Deep CNN for Image Denoising").

`DenoisingAutoencoder` is an encoder-decoder: a 3x3 conv at full resolution, stride-2 3x3 convs
down, stride-2 4x4 transposed convs up and a 3x3 conv to the image, with ReLUs between. With
`skip`, each decoder level adds the encoder features of its resolution, the symmetric skip
connections of RED-Net (Mao et al., 2016, "Image Restoration Using Very Deep Convolutional
Encoder-Decoder Networks with Symmetric Skip Connections"). A sigmoid keeps the output in
[0, 1]. Any input size works: a decoder level is cropped to its encoder level's size.

`DnCNN` learns the residual: D 3x3 convs (the first with a ReLU, the D - 2 middle ones with
batch norm and ReLU, the last linear) predict the noise, and the output is the input minus it,
clipped to [0, 1]. Convs followed by batch norm have no bias, as in the authors' code, and all
are initialised orthogonally, as theirs.

Parameter names::

  DenoisingAutoencoder: conv_in, down{i} (i = 1..L-1), up{i} (i = L-1..1), conv_out
  DnCNN: conv0, conv{i}, bn{i} (i = 1..depth-2), conv{depth-1}
"""

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.models import layers
from jaxvision.ops.conv import ConvRules

_PAD_3X3 = ((1, 1), (1, 1))  # torch's padding=1


def _check_images(x: jax.Array, name: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{name} expects NHWC images [b, h, w, c], got shape {x.shape}.")


class DenoisingAutoencoder(nn.Module):
    """A convolutional encoder-decoder that maps a corrupted image to a clean one.

    Attributes:
      features: widths of the resolution levels, full resolution first; level i > 0 is at
        stride 2**i (its conv has stride 2), so there are len(features) - 1 down and up steps.
      skip: add each encoder level's features to the decoder level of the same resolution.
      out_channels: channels of the output image; None: those of the input.
      dtype: compute dtype (e.g. jnp.bfloat16); the output is float32 whatever it is.
      param_dtype: dtype of the parameters.
      conv_impl: lowering of every conv and transposed conv (`jaxvision.models.layers`'
        `impl`): "auto", "xla", "im2col" or a `jaxvision.ops.conv.ConvRules`.

    Example:
      >>> model = DenoisingAutoencoder(features=(8, 16, 32))
      >>> noisy = jnp.full((2, 31, 40, 3), 0.5)  # [0, 1]
      >>> variables = model.init(jax.random.key(0), noisy)
      >>> clean = model.apply(variables, noisy)
      >>> clean.shape, clean.dtype
      ((2, 31, 40, 3), dtype('float32'))
    """

    features: Sequence[int] = (32, 64, 128)
    skip: bool = True
    out_channels: int | None = None
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    conv_impl: str | ConvRules = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        """Denoises images.

        Args:
          x: corrupted images in [0, 1], [b, h, w, c].
          train: unused (no batch norm or dropout); here for a uniform interface.

        Returns:
          float32 images in (0, 1), [b, h, w, out_channels or c].

        Raises:
          ValueError: for an input that is not rank 4 or empty `features`.
        """
        del train
        _check_images(x, "DenoisingAutoencoder")
        if not self.features:
            raise ValueError("features must name at least one level.")
        dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        conv = functools.partial(layers.Conv, impl=self.conv_impl, **dt)
        up = functools.partial(
            layers.ConvTranspose, strides=(2, 2), padding="SAME", impl=self.conv_impl, **dt
        )

        y = jnp.asarray(x, self.dtype)  # [b, h, w, c]
        y = nn.relu(conv(self.features[0], (3, 3), padding=_PAD_3X3, name="conv_in")(y))
        encoded = [y]  # level i: [b, ceil(h / 2**i), ceil(w / 2**i), features[i]]
        for i, width in enumerate(self.features[1:], start=1):
            y = nn.relu(conv(width, (3, 3), 2, padding=_PAD_3X3, name=f"down{i}")(y))
            encoded.append(y)
        for i in range(len(self.features) - 1, 0, -1):
            target = encoded[i - 1]  # [b, h_i, w_i, features[i - 1]]
            y = up(self.features[i - 1], (4, 4), name=f"up{i}")(y)  # [b, 2 h_{i+1}, ...]
            y = nn.relu(y[:, : target.shape[1], : target.shape[2]])  # [b, h_i, w_i, f]
            if self.skip:
                y = y + target
        out_channels = self.out_channels or x.shape[-1]
        y = conv(out_channels, (3, 3), padding=_PAD_3X3, name="conv_out")(y)
        return nn.sigmoid(y.astype(jnp.float32))  # [b, h, w, c_out]


class DnCNN(nn.Module):
    """DnCNN: predicts the noise of an image and subtracts it (residual learning).

    Attributes:
      depth: number of conv layers D (the paper: 17 for a known noise level, 20 for blind
        and color denoising).
      features: width of every conv but the last (the paper: 64).
      dtype: compute dtype (e.g. jnp.bfloat16); the output is float32 whatever it is.
      param_dtype: dtype of the parameters.
      conv_impl: lowering of every conv (`jaxvision.models.layers.Conv`'s `impl`).
      bn_momentum: BatchNorm running-average decay (torch's momentum=0.1 is 0.9 here).
      bn_epsilon: BatchNorm epsilon.

    Example:
      >>> model = DnCNN(depth=5, features=16)
      >>> noisy = jnp.full((2, 33, 33, 1), 0.5)  # grayscale, [0, 1]
      >>> variables = model.init(jax.random.key(0), noisy, train=False)
      >>> clean = model.apply(variables, noisy, train=False)
      >>> clean.shape, clean.dtype
      ((2, 33, 33, 1), dtype('float32'))
    """

    depth: int = 17
    features: int = 64
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    conv_impl: str | ConvRules = "auto"
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        """Denoises images.

        Args:
          x: noisy images in [0, 1], [b, h, w, c].
          train: use batch statistics and update the running ones (collection "batch_stats",
            pass `mutable=["batch_stats"]`) when True; use the running ones when False.

        Returns:
          float32 images in [0, 1], `clip(x - noise, 0, 1)`, [b, h, w, c].

        Raises:
          ValueError: for an input that is not rank 4 or a depth below 2.
        """
        _check_images(x, "DnCNN")
        if self.depth < 2:
            raise ValueError(f"depth must be at least 2, got {self.depth}.")
        dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        conv = functools.partial(
            layers.Conv,
            kernel_size=(3, 3),
            padding=_PAD_3X3,
            kernel_init=nn.initializers.orthogonal(),
            impl=self.conv_impl,
            **dt,
        )
        norm = functools.partial(
            nn.BatchNorm,
            use_running_average=not train,
            momentum=self.bn_momentum,
            epsilon=self.bn_epsilon,
            **dt,
        )

        image = jnp.asarray(x, jnp.float32)  # [b, h, w, c]
        y = nn.relu(conv(self.features, name="conv0")(image.astype(self.dtype)))
        for i in range(1, self.depth - 1):
            y = conv(self.features, use_bias=False, name=f"conv{i}")(y)
            y = nn.relu(norm(name=f"bn{i}")(y))  # [b, h, w, f]
        noise = conv(x.shape[-1], use_bias=False, name=f"conv{self.depth - 1}")(y)
        return jnp.clip(image - noise.astype(jnp.float32), 0.0, 1.0)  # [b, h, w, c]
