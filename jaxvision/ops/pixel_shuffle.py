"""Pixel shuffle (depth-to-space) and its inverse, in PyTorch's channel order, for NHWC arrays.

`pixel_shuffle` moves blocks of channels into space: a sub-pixel convolution (Shi et al., 2016,
"Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel Convolutional
Neural Network") upsamples by a conv to `c * r**2` channels followed by it. Output pixel
(h * r + i, w * r + j) of channel k takes input channel `k * r**2 + i * r + j` of pixel (h, w):
`torch.nn.PixelShuffle`'s order, so the conv weights of a PyTorch model convert with a plain
OIHW -> HWIO transpose. (TensorFlow's `depth_to_space`, and `dm_pix.depth_to_space`, take
channel `(i * r + j) * c + k` instead: a different order for the same shapes.)

Example:
  >>> x = jnp.arange(8.0).reshape(1, 1, 1, 8)  # [b, h, w, c * r**2] with c=2, r=2
  >>> pixel_shuffle(x, 2)[0, :, :, 0]  # channel 0 comes from input channels 0..3
  Array([[0., 1.],
         [2., 3.]], dtype=float32)
  >>> pixel_unshuffle(pixel_shuffle(x, 2), 2).shape
  (1, 1, 1, 8)
"""

from __future__ import annotations

import jax


def _check_factor(factor: int) -> None:
    if not isinstance(factor, int) or factor < 1:
        raise ValueError(f"factor must be a positive int, got {factor!r}.")


def pixel_shuffle(x: jax.Array, factor: int) -> jax.Array:
    """Rearranges [b, h, w, c * r**2] into [b, h * r, w * r, c] (`torch.nn.PixelShuffle`).

    Args:
      x: [b, h, w, c * factor**2] (any leading batch dims).
      factor: the upscale factor r.

    Returns:
      [b, h * factor, w * factor, c], same dtype.

    Raises:
      ValueError: if `factor` is not a positive int, `x` has rank < 3, or the channels are not
        a multiple of `factor**2`.
    """
    _check_factor(factor)
    if x.ndim < 3:
        raise ValueError(f"pixel_shuffle expects [..., h, w, c], got shape {x.shape}.")
    *batch, h, w, channels = x.shape
    r = factor
    if channels % (r * r):
        raise ValueError(f"Channels {channels} are not a multiple of factor**2 = {r * r}.")
    c = channels // (r * r)
    n = len(batch)
    x = x.reshape(*batch, h, w, c, r, r)  # [..., h, w, c, i, j]
    perm = (*range(n), n, n + 3, n + 1, n + 4, n + 2)
    x = x.transpose(perm)  # [..., h, i, w, j, c]
    return x.reshape(*batch, h * r, w * r, c)  # [..., h * r, w * r, c]


def pixel_unshuffle(x: jax.Array, factor: int) -> jax.Array:
    """Rearranges [b, h * r, w * r, c] into [b, h, w, c * r**2] (`torch.nn.PixelUnshuffle`).

    The inverse of `pixel_shuffle`.

    Args:
      x: [b, h * factor, w * factor, c] (any leading batch dims).
      factor: the downscale factor r.

    Returns:
      [b, h, w, c * factor**2], same dtype.

    Raises:
      ValueError: if `factor` is not a positive int, `x` has rank < 3, or the height or width
        is not a multiple of `factor`.
    """
    _check_factor(factor)
    if x.ndim < 3:
        raise ValueError(f"pixel_unshuffle expects [..., h, w, c], got shape {x.shape}.")
    *batch, hr, wr, c = x.shape
    r = factor
    if hr % r or wr % r:
        raise ValueError(f"Height and width {(hr, wr)} are not multiples of factor {r}.")
    h, w = hr // r, wr // r
    n = len(batch)
    x = x.reshape(*batch, h, r, w, r, c)  # [..., h, i, w, j, c]
    perm = (*range(n), n, n + 2, n + 4, n + 1, n + 3)
    x = x.transpose(perm)  # [..., h, w, c, i, j]
    return x.reshape(*batch, h, w, c * r * r)  # [..., h, w, c * r**2]
