"""VGG feature extractors (Simonyan & Zisserman, 2015, "Very Deep Convolutional Networks for
Large-Scale Image Recognition"), for perceptual and style losses.

The layout of torchvision's `vgg19().features` (configuration "E"): 16 3x3 convs (padding 1)
with ReLUs, in 5 blocks of 2, 2, 4, 4, 4 convs at widths 64, 128, 256, 512, 512, each block
followed by a 2x2 stride-2 max pool. There is no classifier head: these models give named
activations only, and `jaxvision.convert.torch_vgg` imports torchvision's weights into them.

The input is an image in [0, 1]; the model normalises it with ImageNet's mean and standard
deviation itself, as torchvision's VGG expects its input.

Activation names (and parameter names: the `conv` ones)::

  conv{b}_{i}  the output of conv i of block b, before its ReLU (b = 1..5, i = 1..n_b)
  relu{b}_{i}  the same after the ReLU
  pool{b}      the output of block b's pool
"""

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.models.layers import Conv
from jaxvision.models.resnet import POOL_IMPL_OF_CONV_IMPL
from jaxvision.ops import pooling
from jaxvision.ops.conv import ConvRules

# ImageNet's per-channel statistics in [0, 1] units (torchvision's).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG19_BLOCK_SIZES = (2, 2, 4, 4, 4)
VGG16_BLOCK_SIZES = (2, 2, 3, 3, 3)
VGG_WIDTHS = (64, 128, 256, 512, 512)
POOLS = ("max", "avg")
_PAD_3X3 = ((1, 1), (1, 1))  # torch's padding=1
_POOL_WINDOW = (2, 2)


def layer_names(block_sizes: Sequence[int]) -> tuple[str, ...]:
    """Every activation name of a VGG, in the order the network computes them.

    Args:
      block_sizes: convs of each block.

    Returns:
      ("conv1_1", "relu1_1", ..., "pool1", "conv2_1", ...).

    Example:
      >>> layer_names((2, 2, 4, 4, 4))[:5]
      ('conv1_1', 'relu1_1', 'conv1_2', 'relu1_2', 'pool1')
    """
    names = []
    for b, n in enumerate(block_sizes, start=1):
        for i in range(1, n + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return tuple(names)


def _pool_impl(conv_impl: str | ConvRules) -> str:
    """The max-pool lowering that goes with a conv lowering (as ResNet's stem pool)."""
    return POOL_IMPL_OF_CONV_IMPL.get(conv_impl, "auto") if isinstance(conv_impl, str) else "auto"


class VGG(nn.Module):
    """A VGG feature extractor that returns named activations.

    Only the layers up to the deepest requested one run, and only their convs have
    parameters: initialise with the deepest layer you will ask for (the default,
    "relu5_4" of VGG-19, creates all 16 convs; so does "pool5").

    Attributes:
      block_sizes: convs of each block (VGG-19: 2, 2, 4, 4, 4).
      widths: channels of each block's convs.
      pool: "max" (the network as trained) or "avg" (average pooling, which Gatys et al.
        (2016) prefer for style transfer; same parameters).
      normalize_input: map [0, 1] images to ImageNet-normalised ones before the first conv.
      dtype: compute dtype (e.g. jnp.bfloat16); the activations are returned in float32.
      param_dtype: dtype of the parameters.
      conv_impl: lowering of every conv (`jaxvision.models.layers.Conv`'s `impl`): "auto",
        "xla", "im2col" or a `jaxvision.ops.conv.ConvRules`; the max pools follow it.

    Example:
      >>> model = VGG19()
      >>> images = jnp.zeros((1, 32, 32, 3))  # [0, 1]
      >>> variables = model.init(jax.random.key(0), images)  # all 16 convs
      >>> features = model.apply(variables, images, layers=("relu1_2", "relu3_1"))
      >>> {name: a.shape for name, a in features.items()}
      {'relu1_2': (1, 32, 32, 64), 'relu3_1': (1, 8, 8, 256)}
    """

    block_sizes: Sequence[int] = VGG19_BLOCK_SIZES
    widths: Sequence[int] = VGG_WIDTHS
    pool: str = "max"
    normalize_input: bool = True
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    conv_impl: str | ConvRules = "auto"

    def _check(self, layers: Sequence[str]) -> tuple[str, ...]:
        """The requested names as a tuple; raises ValueError on an unknown one or pool."""
        if self.pool not in POOLS:
            raise ValueError(f"Unknown pool {self.pool!r}; valid: {', '.join(POOLS)}.")
        if len(self.widths) != len(self.block_sizes):
            raise ValueError(f"widths {self.widths} and block_sizes {self.block_sizes} differ.")
        layers = (layers,) if isinstance(layers, str) else tuple(layers)
        valid = layer_names(self.block_sizes)
        unknown = [name for name in layers if name not in valid]
        if unknown or not layers:
            raise ValueError(
                f"Unknown layers {unknown or '(none requested)'}; valid: {', '.join(valid)}."
            )
        return layers

    @nn.compact
    def __call__(self, x: jax.Array, layers: Sequence[str] = ("relu5_4",)) -> dict[str, jax.Array]:
        """Computes the requested activations.

        Args:
          x: images in [0, 1], [b, h, w, 3] (any c without `normalize_input`).
          layers: names of the activations to return (see the module docstring), or one name.

        Returns:
          name -> float32 activation [b, h / 2**(b - 1), w / 2**(b - 1), width] of a conv or
          ReLU of block b ([b, h / 2**b, ...] for pool{b}; sizes floored by each pool).

        Raises:
          ValueError: for an unknown layer name or pool, or an input that is not rank 4.
        """
        layers = self._check(layers)
        if x.ndim != 4:
            raise ValueError(f"VGG expects NHWC images [b, h, w, c], got shape {x.shape}.")
        order = layer_names(self.block_sizes)
        deepest = max(order.index(name) for name in layers)
        conv = functools.partial(
            Conv,
            kernel_size=(3, 3),
            padding=_PAD_3X3,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            impl=self.conv_impl,
        )

        y = jnp.asarray(x, jnp.float32)  # [b, h, w, c]
        if self.normalize_input:
            mean = jnp.asarray(IMAGENET_MEAN, jnp.float32)  # [3]
            std = jnp.asarray(IMAGENET_STD, jnp.float32)  # [3]
            y = (y - mean) / std
        y = y.astype(self.dtype)
        found = {}
        for name in order[: deepest + 1]:
            if name.startswith("conv"):
                block = int(name.removeprefix("conv").split("_")[0])
                y = conv(self.widths[block - 1], name=name)(y)  # [b, h_b, w_b, width_b]
            elif name.startswith("relu"):
                y = nn.relu(y)
            elif self.pool == "max":
                y = pooling.max_pool(y, _POOL_WINDOW, _POOL_WINDOW, impl=_pool_impl(self.conv_impl))
            else:
                y = nn.avg_pool(y, _POOL_WINDOW, _POOL_WINDOW)  # [b, h_b / 2, w_b / 2, width_b]
            if name in layers:
                found[name] = y.astype(jnp.float32)
        return found


VGG19 = functools.partial(VGG, block_sizes=VGG19_BLOCK_SIZES)
VGG16 = functools.partial(VGG, block_sizes=VGG16_BLOCK_SIZES)
