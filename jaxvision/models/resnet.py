"""ResNet v1.5 (He et al., 2016, "Deep Residual Learning for Image Recognition").

v1.5 puts the stride-2 of a bottleneck block on its 3x3 conv (as torchvision does) instead of
its first 1x1 conv. A shortcut that changes shape is a 1x1 conv with the block's stride followed
by a norm. Layers, padding and initialisation follow torchvision, so that
`jaxvision.convert.torch_resnet` can import its weights and reproduce its outputs.

Parameter names (used by the converter)::

  stem_conv, stem_norm
  stage{i}_block{j}/{conv1, norm1, conv2, norm2[, conv3, norm3][, downsample_conv,
                     downsample_norm]}          i = 1..len(stage_sizes), j = 0..n_i - 1
  head
"""

import functools
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import flax.linen as nn
import jax.numpy as jnp

from jaxvision.models import layers
from jaxvision.ops import pooling
from jaxvision.ops.conv import ConvRules

ModuleDef = Any

STEMS = ("imagenet", "cifar")

# torchvision: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu").
conv_kernel_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")

# torch's padding=1. "SAME" would pad a stride-2 conv by (0, 1) on even inputs, not (1, 1).
_PAD_3X3 = ((1, 1), (1, 1))
# The stem's max pool follows conv_impl: XLA's own lowering with "xla", jaxvision's CPU
# formulation (`jaxvision.ops.pooling`, same results) with "im2col", per backend with "auto"
# or a `ConvRules`.
POOL_IMPL_OF_CONV_IMPL = {"auto": "auto", "xla": "xla", "im2col": "slices"}
_PAD_7X7 = ((3, 3), (3, 3))


def _last_norm_scale_init(zero_init_residual: bool) -> Callable:
    """Scale init of a block's last norm: zeros makes the block start as the identity."""
    return nn.initializers.zeros if zero_init_residual else nn.initializers.ones


def _shortcut(
    x: jnp.ndarray, features: int, strides: int, conv: ModuleDef, norm: ModuleDef
) -> jnp.ndarray:
    """Identity, or a 1x1 conv + norm projection when the block changes shape.

    Called from inside a block's compact `__call__`, so the projection's submodules belong to
    that block.

    Args:
      x: block input, [b, h, w, c].
      features: channels of the block output.
      strides: spatial stride of the block.
      conv: conv factory of the block.
      norm: norm factory of the block.

    Returns:
      The residual branch, [b, h / strides, w / strides, features].
    """
    if strides == 1 and x.shape[-1] == features:
        return x
    x = conv(features, (1, 1), strides, padding="VALID", name="downsample_conv")(
        x
    )  # [b, h', w', f]
    return norm(name="downsample_norm")(x)


class BasicBlock(nn.Module):
    """Two 3x3 convs and a shortcut (ResNet-18/34).

    Attributes:
      filters: channels of both convs and of the output.
      conv: conv factory, called as `conv(features, kernel_size, strides, padding=, name=)`.
      norm: norm factory, called as `norm(name=)` or `norm(name=, scale_init=)`.
      act: activation function.
      strides: stride of the first conv (and of the projection shortcut).
      zero_init_residual: start the last norm's scale at zero.
      dilation: atrous rate of the first 3x3 conv (the second stays 1, as mmsegmentation's
        dilated ResNet-18/34); its padding grows with it, so the size is kept.

    Example:
      >>> conv = functools.partial(nn.Conv, use_bias=False)
      >>> norm = functools.partial(nn.BatchNorm, use_running_average=True)
      >>> block = BasicBlock(filters=64, conv=conv, norm=norm, strides=2)
      >>> y, _ = block.init_with_output(jax.random.key(0), jnp.ones((1, 8, 8, 32)))
      >>> y.shape
      (1, 4, 4, 64)
    """

    expansion: ClassVar[int] = 1

    filters: int
    conv: ModuleDef
    norm: ModuleDef
    act: Callable = nn.relu
    strides: int = 1
    zero_init_residual: bool = False
    dilation: int = 1

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        """Args: x: [b, h, w, c]. Returns: [b, h / strides, w / strides, filters]."""
        residual = _shortcut(x, self.filters, self.strides, self.conv, self.norm)  # [b, h', w', f]
        y = self.conv(self.filters, (3, 3), self.strides, name="conv1", **_atrous(self.dilation))(x)
        y = self.act(self.norm(name="norm1")(y))  # [b, h', w', f]
        y = self.conv(self.filters, (3, 3), 1, padding=_PAD_3X3, name="conv2")(y)
        y = self.norm(name="norm2", scale_init=_last_norm_scale_init(self.zero_init_residual))(y)
        return self.act(y + residual)  # [b, h', w', f]


class BottleneckBlock(nn.Module):
    """1x1 reduce, 3x3 (strided, v1.5), 1x1 expand by 4, and a shortcut (ResNet-50/101/152).

    Attributes:
      filters: channels of the 1x1 and 3x3 convs; the output has `4 * filters`.
      conv: conv factory, called as `conv(features, kernel_size, strides, padding=, name=)`.
      norm: norm factory, called as `norm(name=)` or `norm(name=, scale_init=)`.
      act: activation function.
      strides: stride of the 3x3 conv (and of the projection shortcut).
      zero_init_residual: start the last norm's scale at zero.
      dilation: atrous rate of the 3x3 conv (torchvision's); its padding grows with it.

    Example:
      >>> conv = functools.partial(nn.Conv, use_bias=False)
      >>> norm = functools.partial(nn.BatchNorm, use_running_average=True)
      >>> block = BottleneckBlock(filters=64, conv=conv, norm=norm)
      >>> y, _ = block.init_with_output(jax.random.key(0), jnp.ones((1, 8, 8, 64)))
      >>> y.shape
      (1, 8, 8, 256)
    """

    expansion: ClassVar[int] = 4

    filters: int
    conv: ModuleDef
    norm: ModuleDef
    act: Callable = nn.relu
    strides: int = 1
    zero_init_residual: bool = False
    dilation: int = 1

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        """Args: x: [b, h, w, c]. Returns: [b, h / strides, w / strides, 4 * filters]."""
        out_features = self.filters * self.expansion
        residual = _shortcut(x, out_features, self.strides, self.conv, self.norm)  # [b, h', w', 4f]
        y = self.conv(self.filters, (1, 1), 1, padding="VALID", name="conv1")(x)
        y = self.act(self.norm(name="norm1")(y))  # [b, h, w, f]
        y = self.conv(self.filters, (3, 3), self.strides, name="conv2", **_atrous(self.dilation))(y)
        y = self.act(self.norm(name="norm2")(y))  # [b, h', w', f]
        y = self.conv(out_features, (1, 1), 1, padding="VALID", name="conv3")(y)
        y = self.norm(name="norm3", scale_init=_last_norm_scale_init(self.zero_init_residual))(y)
        return self.act(y + residual)  # [b, h', w', 4f]


def _atrous(dilation: int) -> dict:
    """Padding and dilation of a 3x3 conv of atrous rate ``dilation`` that keeps the size
    (torch's ``padding=dilation``); plain ``_PAD_3X3`` at rate 1."""
    if dilation == 1:
        return {"padding": _PAD_3X3}
    return {"padding": ((dilation, dilation), (dilation, dilation)), "kernel_dilation": dilation}


def _stage_layout(replace_stride_with_dilation: Sequence[bool], num_stages: int) -> list:
    """(first-block stride, first-block dilation, later-blocks dilation) of each stage.

    torchvision's rule: a stage whose stride is replaced by dilation keeps its resolution; its
    first block runs at the previous stage's rate and its later blocks at twice that.
    """
    flags = tuple(replace_stride_with_dilation)
    if len(flags) != num_stages - 1:
        raise ValueError(
            f"replace_stride_with_dilation needs one flag per stage after the first "
            f"({num_stages - 1}), got {flags}."
        )
    layout, dilation = [(1, 1, 1)], 1
    for dilate in flags:
        previous = dilation
        if dilate:
            dilation *= 2
        layout.append((1 if dilate else 2, previous, dilation))
    return layout


def _is_batch_norm(norm: ModuleDef) -> bool:
    """Whether `norm` (a class or a functools.partial of one) is a BatchNorm."""
    while isinstance(norm, functools.partial):
        norm = norm.func
    return isinstance(norm, type) and issubclass(norm, nn.BatchNorm)


class ResNet(nn.Module):
    """ResNet v1.5 classifier or feature extractor.

    Attributes:
      stage_sizes: number of blocks in each stage; every stage after the first starts with a
        stride-2 block.
      block_cls: `BasicBlock` or `BottleneckBlock`.
      num_classes: size of the logits.
      num_filters: width of the stem and of the first stage; stage i (from 0) has
        `num_filters * 2**i` (times 4 at the output of a bottleneck).
      stem: "imagenet" (7x7/2 conv + 3x3/2 max-pool, stride 4 in all) or "cifar" (3x3/1 conv,
        no pool, for 32x32 images).
      dtype: compute dtype (e.g. jnp.bfloat16); the logits are float32 whatever it is.
      param_dtype: dtype of the parameters.
      conv_impl: the lowering of every conv. The convs are `jaxvision.models.layers.Conv`
        (`nn.Conv`'s parameters and results, with `use_bias=False` and a kaiming-normal
        fan_out init), which take it as `impl`: "auto" (per backend and shape,
        `jaxvision.ops.conv.choose_impl`: XLA's convolution on GPU/TPU, matrix products or
        Winograd's where XLA:CPU's convolution is slow), a `jaxvision.ops.conv.ConvRules`
        ("auto" under those rules), "xla" (`lax.conv_general_dilated`, what `nn.Conv` runs)
        or "im2col" (matrix products). The stem's max pool follows it
        (`POOL_IMPL_OF_CONV_IMPL`; "auto" for a `ConvRules`).
      norm: norm module class. A BatchNorm gets `use_running_average=not train`, `momentum`
        and `epsilon`; any other norm (e.g. `partial(nn.GroupNorm, num_groups=32)`) gets
        `epsilon` only. Both get the dtypes.
      act: activation function.
      bn_momentum: BatchNorm running-average decay (torch's momentum=0.1 is 0.9 here).
      bn_epsilon: norm epsilon.
      zero_init_residual: start each block's last norm scale at zero (Goyal et al., 2017).
      features_only: return the stage outputs instead of the logits (no head parameters).
      remat: recompute each block's activations in the backward pass (`nn.remat`, i.e.
        `jax.checkpoint`) instead of keeping them: less memory, one more forward pass of
        compute. Same parameters and results.
      replace_stride_with_dilation: one flag per stage after the first (torchvision's
        argument): a True stage keeps its input's resolution and dilates its 3x3 convs
        instead (atrous ResNet: (False, False, True) gives output stride 16, (False, True,
        True) 8, with the "imagenet" stem). None: no dilation. Same parameters either way.

    Example:
      >>> model = ResNet50(num_classes=1000, dtype=jnp.bfloat16)
      >>> images = jnp.zeros((2, 64, 64, 3))  # any size; ImageNet: 224 px
      >>> variables = jax.jit(model.init, static_argnames="train")(
      ...     jax.random.key(0), images, train=False)
      >>> apply = jax.jit(model.apply, static_argnames="mutable")
      >>> logits, updates = apply(variables, images, mutable="batch_stats")
      >>> logits.shape, logits.dtype
      ((2, 1000), dtype('float32'))
    """

    stage_sizes: Sequence[int]
    block_cls: ModuleDef
    num_classes: int
    num_filters: int = 64
    stem: str = "imagenet"
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    conv_impl: str | ConvRules = "auto"
    norm: ModuleDef = nn.BatchNorm
    act: Callable = nn.relu
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    zero_init_residual: bool = False
    features_only: bool = False
    remat: bool = False
    replace_stride_with_dilation: Sequence[bool] | None = None

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool = True) -> jnp.ndarray | dict[str, jnp.ndarray]:
        """Runs the network.

        Args:
          x: images, [b, h, w, c] float.
          train: use batch statistics and update the running ones (collection "batch_stats",
            pass `mutable=["batch_stats"]`) when True; use the running ones when False.

        Returns:
          float32 logits [b, num_classes]; or, with `features_only`, a dict of the stage
          outputs in the compute dtype, "C2" ... "C5" for stages 1 ... 4, at strides 4, 8, 16,
          32 with the "imagenet" stem (1, 2, 4, 8 with "cifar"); e.g. "C5" [b, h/32, w/32, c5].
          A stage replaced by dilation keeps the previous stage's stride.

        Raises:
          ValueError: for an unknown stem or conv_impl (the convs check it), or an input that
            is not rank 4.
        """
        if self.stem not in STEMS:
            raise ValueError(f"Unknown stem {self.stem!r}; valid stems: {', '.join(STEMS)}.")
        if x.ndim != 4:
            raise ValueError(f"ResNet expects NHWC images [b, h, w, c], got shape {x.shape}.")

        conv = functools.partial(
            layers.Conv,
            use_bias=False,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            kernel_init=conv_kernel_init,
            impl=self.conv_impl,
        )
        norm_kwargs = dict(epsilon=self.bn_epsilon, dtype=self.dtype, param_dtype=self.param_dtype)
        if _is_batch_norm(self.norm):
            norm_kwargs.update(use_running_average=not train, momentum=self.bn_momentum)
        norm = functools.partial(self.norm, **norm_kwargs)

        x = jnp.asarray(x, self.dtype)  # [b, h, w, c]
        if self.stem == "imagenet":
            x = conv(self.num_filters, (7, 7), 2, padding=_PAD_7X7, name="stem_conv")(x)
            x = self.act(norm(name="stem_norm")(x))  # [b, h/2, w/2, f]
            pool_impl = POOL_IMPL_OF_CONV_IMPL.get(self.conv_impl, "auto")
            x = pooling.max_pool(x, (3, 3), (2, 2), _PAD_3X3, impl=pool_impl)  # [b, h/4, w/4, f]
        else:
            x = conv(self.num_filters, (3, 3), 1, padding=_PAD_3X3, name="stem_conv")(x)
            x = self.act(norm(name="stem_norm")(x))  # [b, h, w, f]

        block_cls = nn.remat(self.block_cls) if self.remat else self.block_cls
        dilate = self.replace_stride_with_dilation or (False,) * (len(self.stage_sizes) - 1)
        layout = _stage_layout(dilate, len(self.stage_sizes))
        features = {}
        for i, num_blocks in enumerate(self.stage_sizes):
            stride, first_dilation, dilation = layout[i]
            for j in range(num_blocks):
                x = block_cls(
                    filters=self.num_filters * 2**i,
                    conv=conv,
                    norm=norm,
                    act=self.act,
                    strides=stride if j == 0 else 1,
                    zero_init_residual=self.zero_init_residual,
                    name=f"stage{i + 1}_block{j}",
                    dilation=first_dilation if j == 0 else dilation,
                )(x)  # [b, h_i, w_i, c_i]
            features[f"C{i + 2}"] = x
        if self.features_only:
            return features

        x = jnp.mean(x.astype(jnp.float32), axis=(1, 2))  # [b, c]
        return nn.Dense(
            self.num_classes, dtype=jnp.float32, param_dtype=self.param_dtype, name="head"
        )(x)  # [b, num_classes]


ResNetTiny = functools.partial(
    ResNet, stage_sizes=(1, 1, 1, 1), block_cls=BasicBlock, num_filters=16
)
ResNet18 = functools.partial(ResNet, stage_sizes=(2, 2, 2, 2), block_cls=BasicBlock)
ResNet34 = functools.partial(ResNet, stage_sizes=(3, 4, 6, 3), block_cls=BasicBlock)
ResNet50 = functools.partial(ResNet, stage_sizes=(3, 4, 6, 3), block_cls=BottleneckBlock)
ResNet101 = functools.partial(ResNet, stage_sizes=(3, 4, 23, 3), block_cls=BottleneckBlock)
ResNet152 = functools.partial(ResNet, stage_sizes=(3, 8, 36, 3), block_cls=BottleneckBlock)
