"""Drop-in `nn.Conv` / `nn.ConvTranspose` whose lowering is chosen per backend and shape.

`Conv` and `ConvTranspose` declare exactly the parameters of `flax.linen.Conv` and
`flax.linen.ConvTranspose` ("kernel" [*window, cin / groups, cout], "bias" [cout]) with the same
initialisers, so checkpoints and converters do not see a difference, and compute the same
function through `jaxvision.ops.conv`. Their `impl` picks the lowering: "auto" (per backend and
shape under `jaxvision.ops.conv.DEFAULT_RULES`: matmuls or Winograd's where XLA:CPU's
convolution is slow, on GPU and TPU `lax.conv_general_dilated`, exactly what `nn.Conv` runs), a
`jaxvision.ops.conv.ConvRules` ("auto" under those rules), "xla" or "im2col". The impl is
validated where the conv runs (`jaxvision.ops.conv.check_conv_impl`), so a model passes its
`conv_impl` through as it is.

Example:
  >>> import functools
  >>> from jaxvision.models import layers
  >>> conv = functools.partial(layers.Conv, impl="xla")  # force XLA's convolution
  >>> variables = conv(16, (3, 3)).init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)))
  >>> jax.tree.map(jnp.shape, variables)  # nn.Conv's parameters
  {'params': {'bias': (16,), 'kernel': (3, 3, 3, 16)}}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.dtypes import promote_dtype

from jaxvision.ops import conv as conv_ops
from jaxvision.ops.conv import ConvRules

Dtype = Any
Initializer = Any
PaddingLike = str | int | Sequence[int | tuple[int, int]]

# flax's defaults (flax.linen.linear.default_kernel_init, zeros bias).
default_kernel_init = nn.initializers.lecun_normal()
default_bias_init = nn.initializers.zeros_init()


def _window(kernel_size: int | Sequence[int]) -> tuple[int, ...]:
    return (kernel_size,) if isinstance(kernel_size, int) else tuple(kernel_size)


def _flatten_batch(x: jax.Array, n: int) -> tuple[jax.Array, tuple[int, ...] | None]:
    """Collapses the leading batch dims into one (or adds one), as flax does."""
    batch_dims = x.ndim - (n + 1)
    if batch_dims == 1:
        return x, None
    return x.reshape((-1, *x.shape[batch_dims:])), x.shape[:batch_dims]


def _restore_batch(y: jax.Array, batch_shape: tuple[int, ...] | None) -> jax.Array:
    return y if batch_shape is None else y.reshape((*batch_shape, *y.shape[1:]))


class Conv(nn.Module):
    """`flax.linen.Conv` (same parameters, same function) with a selectable lowering.

    Attributes:
      features: output channels.
      kernel_size: window, an int (1-D) or one int a spatial dim.
      strides: an int or one a spatial dim.
      padding: "SAME", "VALID", "CIRCULAR", "REFLECT", "CAUSAL" (1-D), an int, or ints /
        (low, high) pairs a spatial dim (flax's meaning).
      kernel_dilation: atrous rate, an int or one a spatial dim.
      feature_group_count: groups (input channels for a depthwise conv).
      use_bias: add a learned bias.
      dtype: compute dtype; inputs and parameters are promoted to it (None: their promotion).
      param_dtype: parameter dtype.
      precision: passed to the conv or dot.
      kernel_init: kernel initialiser ([*window, cin / groups, cout]).
      bias_init: bias initialiser ([cout]).
      impl: "auto" (per backend and shape: `jaxvision.ops.conv.choose_impl`, and on CPU batch
        chunks for XLA's conv), a `ConvRules` ("auto" under those rules), "xla", "im2col",
        "winograd" (3x3 stride-1 convs only) or "space_to_depth" (strided convs of one group
        only).
      input_dilation: only 1 (use `ConvTranspose`); here for signature compatibility.

    Example:
      >>> conv = Conv(features=32, kernel_size=(3, 3), strides=2)
      >>> y, variables = conv.init_with_output(jax.random.key(0), jnp.ones((2, 16, 16, 8)))
      >>> y.shape, variables["params"]["kernel"].shape
      ((2, 8, 8, 32), (3, 3, 8, 32))
    """

    features: int
    kernel_size: int | Sequence[int]
    strides: None | int | Sequence[int] = 1
    padding: PaddingLike = "SAME"
    input_dilation: None | int | Sequence[int] = 1
    kernel_dilation: None | int | Sequence[int] = 1
    feature_group_count: int = 1
    use_bias: bool = True
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    precision: Any = None
    kernel_init: Initializer = default_kernel_init
    bias_init: Initializer = default_bias_init
    impl: str | ConvRules = "auto"

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        """Args: inputs: [*batch, *spatial, cin]. Returns: [*batch, *spatial', features]."""
        window = _window(self.kernel_size)
        n = len(window)
        if conv_ops.as_tuple(self.input_dilation, n, "input_dilation") != (1,) * n:
            raise ValueError("input_dilation is not supported; use ConvTranspose.")
        x, batch_shape = _flatten_batch(inputs, n)  # [b, *spatial, cin]
        strides = conv_ops.as_tuple(self.strides, n, "strides")
        dilation = conv_ops.as_tuple(self.kernel_dilation, n, "kernel_dilation")
        padding = nn.linear.canonicalize_padding(self.padding, n)
        if padding in ("CIRCULAR", "REFLECT"):
            dilated = [(k - 1) * d + 1 for k, d in zip(window, dilation, strict=True)]
            pads = [(0, 0), *(((k - 1) // 2, k // 2) for k in dilated), (0, 0)]
            x = jnp.pad(x, pads, mode={"CIRCULAR": "wrap", "REFLECT": "reflect"}[padding])
            padding = "VALID"
        elif padding == "CAUSAL":
            if n != 1:
                raise ValueError("CAUSAL padding is only implemented for 1-D convs.")
            x = jnp.pad(x, [(0, 0), ((window[0] - 1) * dilation[0], 0), (0, 0)])
            padding = "VALID"

        cin = x.shape[-1]
        if cin % self.feature_group_count:
            raise ValueError(
                f"Input channels {cin} not divisible by feature_group_count "
                f"{self.feature_group_count}."
            )
        kernel_shape = (*window, cin // self.feature_group_count, self.features)
        kernel = self.param("kernel", self.kernel_init, kernel_shape, self.param_dtype)
        bias = (
            self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias
            else None
        )
        x, kernel, bias = promote_dtype(x, kernel, bias, dtype=self.dtype)
        y = conv_ops.conv_general(
            x,
            kernel,
            strides=strides,
            padding=padding,
            rhs_dilation=dilation,
            feature_group_count=self.feature_group_count,
            impl=self.impl,
            precision=self.precision,
        )  # [b, *spatial', features]
        if bias is not None:
            y = y + bias
        return _restore_batch(y, batch_shape)


class ConvTranspose(nn.Module):
    """`flax.linen.ConvTranspose` (same parameters, same function) with a selectable lowering.

    Attributes:
      features: output channels.
      kernel_size: window, an int (1-D) or one int a spatial dim.
      strides: upsampling factor, an int or one a spatial dim (None: 1).
      padding: "SAME", "VALID", "CIRCULAR", an int, or ints / (low, high) pairs a spatial dim,
        meaning what they mean for `nn.ConvTranspose` (`lax.conv_transpose`).
      kernel_dilation: atrous rate.
      use_bias: add a learned bias.
      dtype: compute dtype; inputs and parameters are promoted to it.
      param_dtype: parameter dtype.
      precision: passed to the conv or dot.
      kernel_init: kernel initialiser ([*window, cin, cout]).
      bias_init: bias initialiser ([cout]).
      transpose_kernel: flip the window and swap the channel axes of the kernel (then
        [*window, cout, cin]), as `nn.ConvTranspose` does.
      impl: "auto" (a matmul + overlap-add on CPU, XLA elsewhere, see
        `jaxvision.ops.conv.choose_transpose_impl`), a `ConvRules` ("auto" under those rules),
        "xla" or "im2col".

    Example:
      >>> up = ConvTranspose(features=16, kernel_size=(4, 4), strides=(2, 2))
      >>> y, _ = up.init_with_output(jax.random.key(0), jnp.ones((2, 8, 8, 32)))
      >>> y.shape
      (2, 16, 16, 16)
    """

    features: int
    kernel_size: int | Sequence[int]
    strides: None | int | Sequence[int] = None
    padding: PaddingLike = "SAME"
    kernel_dilation: None | int | Sequence[int] = None
    use_bias: bool = True
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    precision: Any = None
    kernel_init: Initializer = default_kernel_init
    bias_init: Initializer = default_bias_init
    transpose_kernel: bool = False
    impl: str | ConvRules = "auto"

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        """Args: inputs: [*batch, *spatial, cin]. Returns: [*batch, *spatial', features]."""
        window = _window(self.kernel_size)
        n = len(window)
        x, batch_shape = _flatten_batch(inputs, n)  # [b, *spatial, cin]
        strides = conv_ops.as_tuple(self.strides, n, "strides")
        dilation = conv_ops.as_tuple(self.kernel_dilation, n, "kernel_dilation")
        padding = nn.linear.canonicalize_padding(self.padding, n)
        circular = padding == "CIRCULAR"
        channels = (x.shape[-1], self.features)
        kernel_shape = (*window, *(channels[::-1] if self.transpose_kernel else channels))
        kernel = self.param("kernel", self.kernel_init, kernel_shape, self.param_dtype)
        bias = (
            self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias
            else None
        )
        x, kernel, bias = promote_dtype(x, kernel, bias, dtype=self.dtype)
        if self.transpose_kernel:
            kernel = jnp.flip(kernel, axis=tuple(range(n))).swapaxes(-1, -2)  # [*k, cin, f]
        y = conv_ops.conv_transpose(
            x,
            kernel,
            strides=strides,
            padding="VALID" if circular else padding,
            rhs_dilation=dilation,
            impl=self.impl,
            precision=self.precision,
        )  # [b, *spatial', features]
        if circular:
            periods = [size * s for size, s in zip(x.shape[1:-1], strides, strict=True)]
            y = _wrap_periodic(y, periods, self.transpose_kernel)
        if bias is not None:
            y = y + bias
        return _restore_batch(y, batch_shape)


def _wrap_periodic(y: jax.Array, periods: Sequence[int], transpose_kernel: bool) -> jax.Array:
    """flax's CIRCULAR ConvTranspose: pad to whole periods and fold the output periodically.

    Args:
      y: the "VALID" transposed conv, [b, *spatial, c].
      periods: input size * stride, a spatial dim.
      transpose_kernel: puts the odd pixel of padding after (True) or before (False).

    Returns:
      [b, *periods, c].
    """
    diffs = [
        -(size - period) % (2 * period) for size, period in zip(y.shape[1:-1], periods, strict=True)
    ]
    if transpose_kernel:
        pads = [(d // 2, (d + 1) // 2) for d in diffs]
    else:
        pads = [((d + 1) // 2, d // 2) for d in diffs]
    y = jnp.pad(y, [(0, 0), *pads, (0, 0)])
    for i, period in enumerate(periods, start=1):
        y = y.reshape((*y.shape[:i], -1, period, *y.shape[i + 1 :])).sum(axis=i)
    return y
