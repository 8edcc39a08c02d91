"""MTCNN's three networks (Zhang et al., 2016, "Joint Face Detection and Alignment using
Multitask Cascaded Convolutional Networks"), laid out as facenet-pytorch's PNet, RNet, ONet.

- `PNet` (proposal): fully convolutional; each output cell scores the 12x12 window at
  stride 2 under it and regresses that window's corners.
- `RNet` (refine): scores a 24x24 crop and regresses its corners.
- `ONet` (output): scores a 48x48 crop, regresses its corners and places 5 landmarks.

Inputs are NHWC float images normalised as MTCNN's were trained (`normalize`: uint8
``(x - 127.5) * 0.0078125``, about [-1, 1]). Max pools round their output size up, as
torch's ``ceil_mode=True``: a last window that overhangs the input takes the maximum of what
lies inside it. The outputs are facenet-pytorch's, in its order:

- `PNet`: (box regression [b, h', w', 4], probabilities [b, h', w', 2]);
- `RNet`: (box regression [b, 4], probabilities [b, 2]);
- `ONet`: (box regression [b, 4], landmarks [b, 10], probabilities [b, 2]).

Probabilities are a softmax over (background, face). Box regressions are (dx1, dy1, dx2, dy2)
offsets of the corners in units of the window's width and height. Landmarks are the x of the
5 points then their y, as fractions of the crop (left eye, right eye, nose, left and right
mouth corners, left and right as seen in the image).

Parameter names are facenet-pytorch's (conv1, prelu1, ..., dense5_1); PReLU slopes are the
`negative_slope` of `jaxvision.models.srgan.PReLU`. R-Net and O-Net flatten their last feature
map in NHWC order (h, w, c); the original nets (converted from Caffe) flatten (w, h, c), and
`jaxvision.convert.facenet_mtcnn` reorders the rows of their first dense kernel to match.

Example (shapes only; `jaxvision.faces.weights.load()` holds the pretrained variables):
  >>> net = PNet()
  >>> variables = jax.eval_shape(net.init, jax.random.key(0), jnp.zeros((1, 12, 12, 3)))
  >>> regression, probs = jax.eval_shape(net.apply, variables, jnp.zeros((1, 20, 16, 3)))
  >>> regression.shape, probs.shape
  ((1, 5, 3, 4), (1, 5, 3, 2))
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.models.layers import Conv
from jaxvision.models.srgan import PReLU
from jaxvision.ops import pooling
from jaxvision.ops.conv import ConvRules

# MTCNN's input normalisation: (x - 127.5) / 128.
PIXEL_CENTER = 127.5
PIXEL_SCALE = 0.0078125
# Input sizes the networks were trained on; P-Net's cells step by its one stride-2 pool.
PNET_WINDOW = 12
PNET_STRIDE = 2
RNET_SIZE = 24
ONET_SIZE = 48
NUM_LANDMARKS = 5


def normalize(images: jax.Array) -> jax.Array:
    """MTCNN's input normalisation of [0, 255] pixels: ``(x - 127.5) * 0.0078125``.

    Args:
      images: [..., 3] pixels in [0, 255] (uint8 or float).

    Returns:
      float32 [..., 3], about [-1, 1].

    Example:
      >>> normalize(jnp.array([0, 255], jnp.uint8))
      Array([-0.99609375,  0.99609375], dtype=float32)
    """
    return (jnp.asarray(images, jnp.float32) - PIXEL_CENTER) * PIXEL_SCALE


def pnet_output_size(size):
    """Cells of P-Net's output along an input side of ``size`` pixels (ceil-mode pool).

    Args:
      size: input side(s), an int or an integer array.

    Returns:
      ``ceil((size - 4) / 2) - 3`` (same type): 1 for the 12 px window, 2 for 13 and 14 px.

    Example:
      >>> pnet_output_size(12), pnet_output_size(13), pnet_output_size(20)
      (1, 2, 5)
    """
    return (size - 3) // 2 - 3


def _ceil_pool_padding(size: int, window: int, stride: int) -> tuple[int, int]:
    """(0, high) padding that makes a VALID pool give torch's ceil_mode output size."""
    out = -(-(size - window) // stride) + 1
    if (out - 1) * stride >= size:  # torch: the last window must start inside the input
        out -= 1
    return (0, max(0, (out - 1) * stride + window - size))


def max_pool_ceil(x: jax.Array, window: int, stride: int, impl: str = "auto") -> jax.Array:
    """``torch.nn.MaxPool2d(window, stride, ceil_mode=True)`` on NHWC: overhangs never win.

    Args:
      x: [b, h, w, c].
      window: square window side.
      stride: stride along both sides.
      impl: `jaxvision.ops.pooling.max_pool`'s lowering.

    Returns:
      [b, ceil((h - window) / stride) + 1, ceil((w - window) / stride) + 1, c].

    Example:
      >>> max_pool_ceil(jnp.arange(5.0).reshape(1, 1, 5, 1), 2, 2)[0, 0, :, 0]
      Array([1., 3., 4.], dtype=float32)
    """
    padding = tuple(_ceil_pool_padding(size, window, stride) for size in x.shape[1:3])
    return pooling.max_pool(x, (window, window), (stride, stride), padding, impl)


def _pool_impl(conv_impl: str | ConvRules) -> str:
    return conv_impl if conv_impl in pooling.IMPLS else "auto"


class _Net(nn.Module):
    """Shared fields and layer factories of the three networks."""

    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    conv_impl: str | ConvRules = "auto"

    def conv(self, name: str, features: int, kernel: int) -> Conv:
        return Conv(
            features,
            (kernel, kernel),
            padding="VALID",
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            impl=self.conv_impl,
            name=name,
        )

    def dense(self, name: str, features: int) -> nn.Dense:
        return nn.Dense(features, dtype=self.dtype, param_dtype=self.param_dtype, name=name)

    def prelu(self, name: str) -> PReLU:
        return PReLU(dtype=self.dtype, param_dtype=self.param_dtype, name=name)

    def pool(self, x: jax.Array, window: int, stride: int) -> jax.Array:
        return max_pool_ceil(x, window, stride, _pool_impl(self.conv_impl))

    def check(self, x: jax.Array, size: int | None) -> jax.Array:
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"{type(self).__name__} expects [b, h, w, 3] images, got {x.shape}")
        if size is not None and x.shape[1:3] != (size, size):
            raise ValueError(
                f"{type(self).__name__} expects {size}x{size} crops, got {x.shape[1:3]}"
            )
        return jnp.asarray(x, self.dtype)


class PNet(_Net):
    """MTCNN's proposal network: 12x12 windows at stride 2, any input size >= 12.

    Attributes:
      dtype: compute dtype; outputs are float32.
      param_dtype: parameter dtype.
      conv_impl: lowering of the convs (`jaxvision.models.layers.Conv`'s `impl`).

    Example:
      >>> variables = jax.eval_shape(PNet().init, jax.random.key(0), jnp.zeros((2, 12, 12, 3)))
      >>> variables["params"]["conv4_2"]["kernel"].shape
      (1, 1, 32, 4)
    """

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """Scores and regresses every 12x12 window at stride 2.

        Args:
          x: normalised images [b, h, w, 3], h and w >= 12.
          mask: optional bool [b, h - 2, w - 2] (or [h - 2, w - 2]): the 3x3 windows (conv1's
            outputs) to keep. The pool ignores the others as it ignores what lies beyond
            the input, so that images padded or packed side by side (at even offsets) get
            each their own outputs on the cells whose 12x12 window lies inside them, ceil-mode
            windows at their edges included. Other cells are meaningless but finite.

        Returns:
          (regression [b, h', w', 4], probabilities [b, h', w', 2]) float32 with
          h' = ``pnet_output_size(h)``, w' likewise.
        """
        x = self.check(x, None)
        if min(x.shape[1:3]) < PNET_WINDOW:
            raise ValueError(f"PNet needs inputs of at least 12x12, got {x.shape[1:3]}")
        x = self.prelu("prelu1")(self.conv("conv1", 10, 3)(x))  # [b, h - 2, w - 2, 10]
        if mask is not None:
            mask = jnp.broadcast_to(mask, x.shape[:3])[..., None]  # [b, h - 2, w - 2, 1]
            x = jnp.where(mask, x, -jnp.inf)
        x = self.pool(x, 2, 2)  # [b, ceil((h - 4) / 2) + 1, ..., 10]
        if mask is not None:
            x = jnp.where(x > -jnp.inf, x, 0.0)  # windows of masked pixels only: finite
        x = self.prelu("prelu2")(self.conv("conv2", 16, 3)(x))
        x = self.prelu("prelu3")(self.conv("conv3", 32, 3)(x))  # [b, h', w', 32]
        logits = self.conv("conv4_1", 2, 1)(x)  # [b, h', w', 2]
        regression = self.conv("conv4_2", 4, 1)(x)  # [b, h', w', 4]
        probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
        return regression.astype(jnp.float32), probs


class RNet(_Net):
    """MTCNN's refinement network on 24x24 crops.

    Attributes:
      dtype: compute dtype; outputs are float32.
      param_dtype: parameter dtype.
      conv_impl: lowering of the convs (`jaxvision.models.layers.Conv`'s `impl`).

    Example:
      >>> from jaxvision.faces import weights
      >>> crops = jnp.zeros((3, 24, 24, 3))
      >>> [a.shape for a in jax.jit(RNet().apply)(weights.load()["rnet"], crops)]
      [(3, 4), (3, 2)]
    """

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Scores and regresses each crop.

        Args:
          x: normalised crops [b, 24, 24, 3].

        Returns:
          (regression [b, 4], probabilities [b, 2]) float32.
        """
        x = self.check(x, RNET_SIZE)
        x = self.pool(self.prelu("prelu1")(self.conv("conv1", 28, 3)(x)), 3, 2)  # [b, 11, 11, 28]
        x = self.pool(self.prelu("prelu2")(self.conv("conv2", 48, 3)(x)), 3, 2)  # [b, 4, 4, 48]
        x = self.prelu("prelu3")(self.conv("conv3", 64, 2)(x))  # [b, 3, 3, 64]
        x = x.reshape(x.shape[0], -1)  # [b, 576] in (h, w, c) order
        x = self.prelu("prelu4")(self.dense("dense4", 128)(x))  # [b, 128]
        probs = jax.nn.softmax(self.dense("dense5_1", 2)(x).astype(jnp.float32), axis=-1)
        regression = self.dense("dense5_2", 4)(x)  # [b, 4]
        return regression.astype(jnp.float32), probs


class ONet(_Net):
    """MTCNN's output network on 48x48 crops: box, face probability and 5 landmarks.

    Attributes:
      dtype: compute dtype; outputs are float32.
      param_dtype: parameter dtype.
      conv_impl: lowering of the convs (`jaxvision.models.layers.Conv`'s `impl`).

    Example:
      >>> net = ONet()
      >>> variables = jax.eval_shape(net.init, jax.random.key(0), jnp.zeros((1, 48, 48, 3)))
      >>> [a.shape for a in jax.eval_shape(net.apply, variables, jnp.zeros((2, 48, 48, 3)))]
      [(2, 4), (2, 10), (2, 2)]
    """

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Scores, regresses and places the landmarks of each crop.

        Args:
          x: normalised crops [b, 48, 48, 3].

        Returns:
          (regression [b, 4], landmarks [b, 10]: x of the 5 points then their y, as
          fractions of the crop, probabilities [b, 2]) float32.
        """
        x = self.check(x, ONET_SIZE)
        x = self.pool(self.prelu("prelu1")(self.conv("conv1", 32, 3)(x)), 3, 2)  # [b, 23, 23, 32]
        x = self.pool(self.prelu("prelu2")(self.conv("conv2", 64, 3)(x)), 3, 2)  # [b, 10, 10, 64]
        x = self.pool(self.prelu("prelu3")(self.conv("conv3", 64, 3)(x)), 2, 2)  # [b, 4, 4, 64]
        x = self.prelu("prelu4")(self.conv("conv4", 128, 2)(x))  # [b, 3, 3, 128]
        x = x.reshape(x.shape[0], -1)  # [b, 1152] in (h, w, c) order
        x = self.prelu("prelu5")(self.dense("dense5", 256)(x))  # [b, 256]
        probs = jax.nn.softmax(self.dense("dense6_1", 2)(x).astype(jnp.float32), axis=-1)
        regression = self.dense("dense6_2", 4)(x)  # [b, 4]
        landmarks = self.dense("dense6_3", 2 * NUM_LANDMARKS)(x)  # [b, 10]
        return regression.astype(jnp.float32), landmarks.astype(jnp.float32), probs


NETWORKS = {"pnet": PNet, "rnet": RNet, "onet": ONet}
# The input each network is initialised with (one example).
INIT_SHAPES = {
    "pnet": (1, PNET_WINDOW, PNET_WINDOW, 3),
    "rnet": (1, RNET_SIZE, RNET_SIZE, 3),
    "onet": (1, ONET_SIZE, ONET_SIZE, 3),
}


@functools.cache
def parameter_shapes(name: str) -> dict:
    """The shapes of one network's variables, from `jax.eval_shape` (no computation).

    Args:
      name: "pnet", "rnet" or "onet".

    Returns:
      {"params": {layer: {variable: shape tuple}}}.

    Example:
      >>> parameter_shapes("rnet")["params"]["dense4"]["kernel"]
      (576, 128)
    """
    if name not in NETWORKS:
        raise ValueError(f"Unknown MTCNN network {name!r}; valid: {', '.join(NETWORKS)}.")
    abstract = jax.eval_shape(
        NETWORKS[name]().init, jax.random.key(0), jnp.zeros(INIT_SHAPES[name], jnp.float32)
    )
    return jax.tree.map(lambda a: tuple(a.shape), abstract)


__all__ = [
    "NETWORKS",
    "ONet",
    "PNet",
    "RNet",
    "max_pool_ceil",
    "normalize",
    "parameter_shapes",
    "pnet_output_size",
]
