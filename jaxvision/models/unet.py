"""U-Net (Ronneberger et al., 2015, "U-Net: Convolutional Networks for Biomedical Image
Segmentation"), with padded convs so that the logits have the input's size.

Each level is two 3x3 convs (conv, norm, ReLU twice). The encoder halves the resolution with a
2x2 max pool between levels; the decoder doubles it with a 2x2 stride-2 transposed conv to the
width of the level below, concatenates the encoder features of that resolution (the skip) and
runs the level's two convs; a 1x1 conv gives the class logits. Any input size works: max
pools round up (SAME padding) and each upsampled map is cropped to its skip's size.

Parameter names (used by ``benchmarks.torch_segmentation``)::

  down{i}_conv{1,2}, down{i}_norm{1,2}   i = 0..L-1 (encoder, full resolution first)
  up{i}, up{i}_conv{1,2}, up{i}_norm{1,2}   i = L-2..0 (decoder, to level i)
  head
"""

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.models import layers
from jaxvision.models.resnet import POOL_IMPL_OF_CONV_IMPL
from jaxvision.ops import pooling
from jaxvision.ops.conv import ConvRules

NORMS = ("batch", "group", "none")
# Channels a GroupNorm group holds at most (groups = width / this, at least 1).
GROUP_NORM_CHANNELS = 16
_PAD_3X3 = ((1, 1), (1, 1))  # torch's padding=1


def norm_layer(kind: str, train: bool, dtype: Any, param_dtype: Any, momentum: float = 0.9):
    """A norm factory ``norm(name=)`` of ``kind`` ("batch", "group" or "none").

    Args:
      kind: "batch" (running averages updated when ``train``), "group" (groups of up to
        ``GROUP_NORM_CHANNELS`` channels) or "none" (the identity).
      train: batch statistics (True) or running ones (False), for "batch".
      dtype: compute dtype.
      param_dtype: parameter dtype.
      momentum: BatchNorm running-average decay (torch's momentum=0.1 is 0.9 here).

    Returns:
      A callable ``norm(name=...) -> module`` (a module returning its input for "none").

    Raises:
      ValueError: an unknown kind.

    Example:
      >>> norm = norm_layer("group", True, jnp.float32, jnp.float32)
      >>> norm(name="n").init_with_output(jax.random.key(0), jnp.ones((1, 2, 2, 32)))[0].shape
      (1, 2, 2, 32)
    """
    if kind not in NORMS:
        raise ValueError(f"unknown norm {kind!r}; valid: {NORMS}")
    dt = dict(dtype=dtype, param_dtype=param_dtype)
    if kind == "batch":
        return functools.partial(
            nn.BatchNorm, use_running_average=not train, momentum=momentum, epsilon=1e-5, **dt
        )
    if kind == "group":
        return lambda name: _GroupNorm(name=name, **dt)
    return lambda name: _Identity(name=name)


class _GroupNorm(nn.Module):
    """GroupNorm whose group count follows the width (``GROUP_NORM_CHANNELS`` a group)."""

    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        groups = max(1, x.shape[-1] // GROUP_NORM_CHANNELS)
        return nn.GroupNorm(
            num_groups=groups, dtype=self.dtype, param_dtype=self.param_dtype, name="norm"
        )(x)


class _Identity(nn.Module):
    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return x


class UNet(nn.Module):
    """U-Net: an encoder-decoder with skips, per-pixel class logits at the input's size.

    Attributes:
      num_classes: channels of the logits.
      features: widths of the levels, full resolution first; ``len(features) - 1`` poolings
        (the paper: (64, 128, 256, 512, 1024)).
      norm: "batch", "group" or "none" after every 3x3 conv (the paper has none; batch norm
        is today's default). Convs followed by a norm have no bias.
      dtype: compute dtype (e.g. jnp.bfloat16); the logits are float32 whatever it is.
      param_dtype: dtype of the parameters.
      conv_impl: lowering of every conv and transposed conv (``jaxvision.models.layers``'
        ``impl``): "auto", "xla", "im2col" or a ``jaxvision.ops.conv.ConvRules``.
      bn_momentum: BatchNorm running-average decay.

    Example:
      >>> model = UNet(num_classes=3, features=(8, 16, 32))
      >>> images = jnp.zeros((2, 30, 45, 3))
      >>> variables = model.init(jax.random.key(0), images, train=False)
      >>> logits = model.apply(variables, images, train=False)
      >>> logits.shape, logits.dtype
      ((2, 30, 45, 3), dtype('float32'))
    """

    num_classes: int
    features: Sequence[int] = (64, 128, 256, 512, 1024)
    norm: str = "batch"
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    conv_impl: str | ConvRules = "auto"
    bn_momentum: float = 0.9

    def _level(self, x: jax.Array, width: int, prefix: str, norm: Any) -> jax.Array:
        """Two conv-norm-ReLU of ``width`` channels, [b, h, w, c] -> [b, h, w, width]."""
        conv = functools.partial(
            layers.Conv,
            kernel_size=(3, 3),
            padding=_PAD_3X3,
            use_bias=self.norm == "none",
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            impl=self.conv_impl,
        )
        for k in (1, 2):
            x = conv(width, name=f"{prefix}_conv{k}")(x)
            x = nn.relu(norm(name=f"{prefix}_norm{k}")(x))  # [b, h, w, width]
        return x

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        """Segments images.

        Args:
          x: images [b, h, w, c] (normalised).
          train: batch statistics (collection "batch_stats", pass ``mutable=["batch_stats"]``)
            when True; running ones when False.

        Returns:
          float32 logits [b, h, w, num_classes].

        Raises:
          ValueError: an input that is not rank 4, empty ``features`` or an unknown norm.
        """
        if x.ndim != 4:
            raise ValueError(f"UNet expects NHWC images [b, h, w, c], got shape {x.shape}.")
        if not self.features:
            raise ValueError("features must name at least one level.")
        norm = norm_layer(self.norm, train, self.dtype, self.param_dtype, self.bn_momentum)
        dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        pool_impl = POOL_IMPL_OF_CONV_IMPL.get(self.conv_impl, "auto")
        y = jnp.asarray(x, self.dtype)  # [b, h, w, c]
        skips = []
        for i, width in enumerate(self.features):
            if i > 0:
                y = pooling.max_pool(
                    y, (2, 2), (2, 2), "SAME", impl=pool_impl
                )  # [b, ceil(h/2), ...]
            y = self._level(y, width, f"down{i}", norm)  # [b, h_i, w_i, features[i]]
            skips.append(y)
        for i in range(len(self.features) - 2, -1, -1):
            skip = skips[i]  # [b, h_i, w_i, features[i]]
            up = layers.ConvTranspose(
                self.features[i], (2, 2), strides=(2, 2), padding="VALID",
                impl=self.conv_impl, name=f"up{i}", **dt,
            )  # fmt: skip
            y = up(y)[:, : skip.shape[1], : skip.shape[2]]  # [b, h_i, w_i, features[i]]
            y = jnp.concatenate([skip, y], axis=-1)  # [b, h_i, w_i, 2 features[i]]
            y = self._level(y, self.features[i], f"up{i}", norm)
        logits = layers.Conv(self.num_classes, (1, 1), impl=self.conv_impl, name="head", **dt)(
            y
        )  # [b, h, w, k]
        return logits.astype(jnp.float32)


UNetSmall = functools.partial(UNet, features=(8, 16, 32, 64, 128))
UNetBase = functools.partial(UNet, features=(64, 128, 256, 512, 1024))
