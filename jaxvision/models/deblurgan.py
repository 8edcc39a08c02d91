"""DeblurGAN's generator (Kupyn et al., 2018, "DeblurGAN: Blind Motion Deblurring Using
Conditional Adversarial Networks") and the PatchGAN discriminator (Isola et al., 2017,
"Image-to-Image Translation with Conditional Adversarial Networks").

`DeblurGANGenerator` follows the authors' code (a ResNet generator after Johnson et al., 2016):
a reflection-padded 7x7 conv, two stride-2 3x3 convs (widths f, 2f, 4f), `num_blocks`
ResNet blocks of reflection-padded 3x3 convs at 4f, two stride-2 3x3 transposed convs back to
f, a reflection-padded 7x7 conv to the image channels and tanh, with instance norm and ReLU
after every conv but the last. The global skip makes the network learn the residual between
the blurred and the sharp image.

Value ranges: the paper works on images in [-1, 1], `out = clip(x' + tanh(y), -1, 1)`. Here
images are in [0, 1]: the network sees `x' = 2x - 1`, and the output is that same image
mapped back, `(out + 1) / 2 = clip(x + tanh(y) / 2, 0, 1)`. Weights trained on the paper's
ranges therefore work unchanged.

Instance norm has no affine parameters and the convs before it keep their biases (the
authors' `InstanceNorm2d(affine=False)` and `bias=True`), so the variables are exactly those of
the authors' networks. The transposed convs compute torch's `ConvTranspose2d(kernel_size=3,
stride=2, padding=1, output_padding=1)`: a torch weight [cin, cout, kh, kw] is the kernel
`w.transpose(2, 3, 0, 1)[::-1, ::-1]` here. Weights are initialised N(0, 0.02), as theirs.

Parameter names::

  DeblurGANGenerator: conv_in, down{1,2}, block{j}/{conv1, conv2} (j = 0..num_blocks-1),
                      up{1,2}, conv_out
  PatchGANDiscriminator: conv{i} (i = 0..num_layers), conv_out
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.models import layers
from jaxvision.ops.conv import ConvRules

ModuleDef = Any

# pix2pix / DeblurGAN: weights N(0, 0.02), biases zero.
kernel_init = nn.initializers.normal(0.02)
INSTANCE_NORM_EPSILON = 1e-5  # torch.nn.InstanceNorm2d's
LEAKY_SLOPE = 0.2
PATCHGAN_MAX_WIDTH_MULT = 8
_DOWNSAMPLING = 2  # stride-2 convs of the generator, hence inputs a multiple of 4
_PAD_1 = ((1, 1), (1, 1))
# torch's ConvTranspose2d(3, stride=2, padding=1, output_padding=1): the dilated input padded
# by kernel - 1 - padding below and that + output_padding above; output 2x the input.
_PAD_TRANSPOSE = ((1, 2), (1, 2))


def _instance_norm(dtype: Any, name: str) -> nn.Module:
    return nn.InstanceNorm(
        epsilon=INSTANCE_NORM_EPSILON, use_scale=False, use_bias=False, dtype=dtype, name=name
    )


NORMS = ("instance", "none")


def _norm(kind: str, dtype: Any, name: str) -> Any:
    """The generator's normalization: instance norm (the paper's) or none (an identity)."""
    if kind == "none":
        return lambda y: y
    return _instance_norm(dtype, name)


def _to_signed(x: jax.Array) -> jax.Array:
    """[0, 1] -> [-1, 1], the paper's image range."""
    return 2.0 * x - 1.0


class _ResnetBlock(nn.Module):
    """x + IN(conv3x3(dropout(ReLU(IN(conv3x3(x)))))), reflection padding."""

    conv: ModuleDef
    dtype: Any
    dropout_rate: float
    norm: str = "instance"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        """Args: x: [b, h, w, f]. Returns: [b, h, w, f]."""
        f = x.shape[-1]
        y = self.conv(f, (3, 3), padding="REFLECT", name="conv1")(x)
        y = nn.relu(_norm(self.norm, self.dtype, "norm1")(y))  # [b, h, w, f]
        if self.dropout_rate:
            y = nn.Dropout(self.dropout_rate, deterministic=not train)(y)
        y = self.conv(f, (3, 3), padding="REFLECT", name="conv2")(y)
        return x + _norm(self.norm, self.dtype, "norm2")(y)  # [b, h, w, f]


class DeblurGANGenerator(nn.Module):
    """DeblurGAN's ResNet generator: a sharp image from a blurred one, same size.

    Attributes:
      features: width f of the first conv; the blocks run at 4f (the paper: 64).
      num_blocks: ResNet blocks (the paper: 9).
      dropout_rate: dropout after the first conv of each block when training. The paper
        uses 0.5 (then pass `rngs={"dropout": key}` to `apply` with `train=True`); 0 adds
        none.
      dtype: compute dtype (e.g. jnp.bfloat16); the output is float32 whatever it is.
      param_dtype: dtype of the parameters.
      conv_impl: lowering of every conv and transposed conv (`jaxvision.models.layers`'
        `impl`): "auto", "xla", "im2col" or a `jaxvision.ops.conv.ConvRules`.
      zero_init_output: start the last conv at zero, so that the network starts as the
        identity (the global skip) rather than adding a random residual it must first learn
        to suppress; False is the paper's N(0, 0.02) init.
      norm: "instance" (the paper's, after every conv but the last) or "none" (no
        normalization, as EDSR drops batch norm from its residual blocks for restoration;
        the convs then start from He's fan-in init instead of N(0, 0.02)).

    Example:
      >>> model = DeblurGANGenerator(features=8, num_blocks=2)
      >>> blurred = jnp.full((1, 32, 48, 3), 0.5)  # [0, 1]
      >>> variables = model.init(jax.random.key(0), blurred)
      >>> sharp = model.apply(variables, blurred)
      >>> sharp.shape, sharp.dtype, bool((sharp >= 0).all() & (sharp <= 1).all())
      ((1, 32, 48, 3), dtype('float32'), True)
    """

    features: int = 64
    num_blocks: int = 9
    dropout_rate: float = 0.0
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    conv_impl: str | ConvRules = "auto"
    zero_init_output: bool = False
    norm: str = "instance"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        """Deblurs images.

        Args:
          x: blurred images in [0, 1], [b, h, w, c]; h and w multiples of 4.
          train: apply dropout (only with `dropout_rate` > 0).

        Returns:
          float32 images in [0, 1], [b, h, w, c].

        Raises:
          ValueError: for an input that is not rank 4 or whose size is not a multiple of 4, or an
            unknown `norm`.
        """
        if self.norm not in NORMS:
            raise ValueError(f"DeblurGANGenerator norm must be one of {NORMS}, got {self.norm!r}.")
        multiple = 2**_DOWNSAMPLING
        if x.ndim != 4 or x.shape[1] % multiple or x.shape[2] % multiple:
            raise ValueError(
                f"DeblurGANGenerator expects NHWC images [b, h, w, c] with h and w multiples "
                f"of {multiple}, got shape {x.shape}."
            )
        # Without norms nothing restores the scale that N(0, 0.02) weights shrink a layer at a
        # time: He's fan-in init keeps it.
        init = kernel_init if self.norm == "instance" else nn.initializers.he_normal()
        dt = dict(dtype=self.dtype, param_dtype=self.param_dtype, kernel_init=init)
        conv = functools.partial(layers.Conv, impl=self.conv_impl, **dt)
        up = functools.partial(
            layers.ConvTranspose, strides=(2, 2), padding=_PAD_TRANSPOSE, impl=self.conv_impl, **dt
        )
        norm_relu = lambda y, name: nn.relu(_norm(self.norm, self.dtype, name)(y))
        f = self.features

        image = jnp.asarray(x, jnp.float32)  # [b, h, w, c]
        y = jnp.asarray(_to_signed(image), self.dtype)
        y = norm_relu(conv(f, (7, 7), padding="REFLECT", name="conv_in")(y), "norm_in")
        y = norm_relu(conv(2 * f, (3, 3), 2, padding=_PAD_1, name="down1")(y), "norm_down1")
        y = norm_relu(conv(4 * f, (3, 3), 2, padding=_PAD_1, name="down2")(y), "norm_down2")
        for j in range(self.num_blocks):
            block = _ResnetBlock(conv, self.dtype, self.dropout_rate, self.norm, name=f"block{j}")
            y = block(y, train)
        y = norm_relu(up(2 * f, (3, 3), name="up1")(y), "norm_up1")  # [b, h/2, w/2, 2f]
        y = norm_relu(up(f, (3, 3), name="up2")(y), "norm_up2")  # [b, h, w, f]
        out_init = nn.initializers.zeros if self.zero_init_output else init
        y = conv(x.shape[-1], (7, 7), padding="REFLECT", kernel_init=out_init, name="conv_out")(y)
        residual = jnp.tanh(y.astype(jnp.float32))  # [b, h, w, c] in [-1, 1] units
        return jnp.clip(image + residual / 2.0, 0.0, 1.0)  # [b, h, w, c]


def patchgan_output_size(size: int, num_layers: int) -> int:
    """Height (or width) of a PatchGAN's logit map for an input of `size` pixels.

    Each stride-2 4x4 conv (padding 1) halves the size (floor), each of the last two stride-1
    4x4 convs (padding 1) takes one off.

    Args:
      size: input height or width.
      num_layers: the discriminator's stride-2 convs.

    Returns:
      The logit map's height or width (below 1: the input is too small).

    Example:
      >>> patchgan_output_size(256, 3)  # the 70x70 PatchGAN on 256x256 images
      30
    """
    for _ in range(num_layers):
        size //= 2
    return size - 2


class PatchGANDiscriminator(nn.Module):
    """PatchGAN: a real/fake logit for each overlapping patch of an image (pix2pix's
    `NLayerDiscriminator`).

    `num_layers` stride-2 4x4 convs (widths f, 2f, 4f, ... capped at 8f) then a stride-1 4x4
    conv, each followed by instance norm (all but the first) and LeakyReLU(0.2), and a
    stride-1 4x4 conv to one logit a location. With 3 layers each logit sees a 70x70 patch.

    Attributes:
      features: width f of the first conv (the paper: 64).
      num_layers: stride-2 convs (the paper: 3).
      dtype: compute dtype; the logits are float32 whatever it is.
      param_dtype: dtype of the parameters.
      conv_impl: lowering of every conv (`jaxvision.models.layers.Conv`'s `impl`).

    Example:
      >>> model = PatchGANDiscriminator(features=8)
      >>> images = jnp.zeros((2, 64, 64, 3))  # [0, 1]
      >>> gray = jnp.zeros((2, 64, 64, 1))  # e.g. a colorizer's input
      >>> variables = model.init(jax.random.key(0), images, gray)
      >>> model.apply(variables, images, gray).shape
      (2, 6, 6, 1)
    """

    features: int = 64
    num_layers: int = 3
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    conv_impl: str | ConvRules = "auto"

    @nn.compact
    def __call__(
        self, x: jax.Array, condition: jax.Array | None = None, train: bool = True
    ) -> jax.Array:
        """Scores the patches of images.

        Args:
          x: images in [0, 1], [b, h, w, c].
          condition: optional conditioning images in [0, 1], [b, h, w, c'] (e.g. the blurred
            or grayscale input of a conditional GAN), concatenated before `x` on channels.
          train: unused (no batch norm or dropout); here for a uniform interface.

        Returns:
          float32 logits, [b, h', w', 1] with h' = `patchgan_output_size(h, num_layers)`.

        Raises:
          ValueError: for an input that is not rank 4, a condition of another batch or size,
            or an input too small for one logit.
        """
        del train
        if x.ndim != 4:
            raise ValueError(f"Expected NHWC images [b, h, w, c], got shape {x.shape}.")
        if condition is not None:
            if condition.ndim != 4 or condition.shape[:3] != x.shape[:3]:
                raise ValueError(
                    f"condition {condition.shape} must be [b, h, w, c'] like x {x.shape}."
                )
            x = jnp.concatenate([condition, x], axis=-1)  # [b, h, w, c' + c]
        out_hw = [patchgan_output_size(s, self.num_layers) for s in x.shape[1:3]]
        if min(out_hw) < 1:
            raise ValueError(
                f"Images {x.shape[1:3]} are too small for a {self.num_layers}-layer PatchGAN "
                f"(at least {3 * 2**self.num_layers} pixels a side)."
            )
        dt = dict(dtype=self.dtype, param_dtype=self.param_dtype, kernel_init=kernel_init)
        conv = functools.partial(layers.Conv, padding=_PAD_1, impl=self.conv_impl, **dt)
        act = functools.partial(nn.leaky_relu, negative_slope=LEAKY_SLOPE)

        y = jnp.asarray(_to_signed(x.astype(jnp.float32)), self.dtype)  # [b, h, w, c]
        y = act(conv(self.features, (4, 4), 2, name="conv0")(y))  # [b, h/2, w/2, f]
        for i in range(1, self.num_layers + 1):
            width = self.features * min(2**i, PATCHGAN_MAX_WIDTH_MULT)
            stride = 2 if i < self.num_layers else 1
            y = conv(width, (4, 4), stride, name=f"conv{i}")(y)
            y = act(_instance_norm(self.dtype, f"norm{i}")(y))  # [b, h_i, w_i, width]
        y = conv(1, (4, 4), 1, name="conv_out")(y)
        return y.astype(jnp.float32)  # [b, h', w', 1]
