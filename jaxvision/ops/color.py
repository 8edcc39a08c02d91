"""Colour-space conversions of float RGB images in [0, 1]: YCbCr as super-resolution papers
use it (MATLAB's ``rgb2ycbcr``) and CIE Lab as ``skimage.color`` computes it.

Every function takes [..., h, w, 3] (any leading axes) and is a pure, jittable array map.
Channel mixing runs at ``Precision.HIGHEST`` so that GPUs and TPUs do not fall back to
TF32/bfloat16 matmuls, which would cost about 1e-3 of accuracy.

Example:
  >>> rgb = jnp.array([[[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]])  # [1, 2, 3]: white, black
  >>> np.round(np.asarray(rgb_to_y(rgb))[0, :, 0] * 255, 3)  # studio swing: 235 and 16
  array([235.,  16.], dtype=float32)
  >>> np.round(np.asarray(rgb_to_lab(rgb))[0, :, 0], 2)  # lightness L
  array([100.,   0.], dtype=float32)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# ITU-R BT.601 studio swing, as MATLAB's rgb2ycbcr: [0, 255] YCbCr from [0, 1] RGB.
YCBCR_FROM_RGB = np.array(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]
)
YCBCR_OFFSET = np.array([16.0, 128.0, 128.0])
RGB_FROM_YCBCR = np.linalg.inv(YCBCR_FROM_RGB)
PIXEL_MAX = 255.0

# sRGB (D65) to CIE XYZ, the matrix and white point skimage.color uses.
XYZ_FROM_RGB = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
RGB_FROM_XYZ = np.linalg.inv(XYZ_FROM_RGB)
D65_WHITE = np.array([0.95047, 1.0, 1.08883])
# sRGB transfer function: linear segment below the threshold, power 2.4 above it.
SRGB_THRESHOLD = 0.04045
SRGB_LINEAR_THRESHOLD = 0.0031308
SRGB_SLOPE = 12.92
SRGB_GAMMA = 2.4
SRGB_OFFSET = 0.055
# CIE Lab companding f(t): cube root above (6/29)^3, linear below (as skimage's constants).
LAB_EPSILON = 0.008856
LAB_KAPPA = 7.787
LAB_OFFSET = 16.0 / 116.0
LAB_F_THRESHOLD = 0.2068966  # f(LAB_EPSILON), the inverse's switch point


def _check_rgb(image: jax.Array, name: str = "image") -> None:
    if image.ndim < 1 or image.shape[-1] != 3:
        raise ValueError(f"{name} must have 3 channels on the last axis, got shape {image.shape}")


def _mix(image: jax.Array, matrix: np.ndarray) -> jax.Array:
    """``matrix @ pixel`` for every pixel of a [..., 3] array, in float32 at full precision."""
    matrix = jnp.asarray(matrix, jnp.float32)  # [3, 3]
    return jnp.einsum("...c,dc->...d", image, matrix, precision=jax.lax.Precision.HIGHEST)


def rgb_to_ycbcr(image: jax.Array) -> jax.Array:
    """RGB to YCbCr, BT.601 studio swing, as MATLAB's ``rgb2ycbcr`` (and SR benchmarks).

    Args:
      image: [..., h, w, 3] RGB in [0, 1].

    Returns:
      [..., h, w, 3] float32 YCbCr in [0, 1] units: Y in [16, 235] / 255, Cb and Cr in
      [16, 240] / 255 (``skimage.color.rgb2ycbcr`` returns the same values times 255).

    Example:
      >>> ycbcr = rgb_to_ycbcr(jnp.array([0.0, 0.0, 0.0]))
      >>> np.round(np.asarray(ycbcr) * 255, 3)
      array([ 16., 128., 128.], dtype=float32)
    """
    _check_rgb(image)
    offset = jnp.asarray(YCBCR_OFFSET / PIXEL_MAX, jnp.float32)  # [3]
    return _mix(image.astype(jnp.float32), YCBCR_FROM_RGB / PIXEL_MAX) + offset


def ycbcr_to_rgb(image: jax.Array) -> jax.Array:
    """Inverse of :func:`rgb_to_ycbcr` (not clipped: out-of-gamut YCbCr leaves [0, 1]).

    Args:
      image: [..., h, w, 3] YCbCr in [0, 1] units.

    Returns:
      [..., h, w, 3] float32 RGB.

    Example:
      >>> rgb = jnp.array([0.2, 0.5, 0.9])
      >>> np.allclose(ycbcr_to_rgb(rgb_to_ycbcr(rgb)), rgb, atol=1e-6)
      True
    """
    _check_rgb(image)
    offset = jnp.asarray(YCBCR_OFFSET / PIXEL_MAX, jnp.float32)  # [3]
    return _mix(image.astype(jnp.float32) - offset, RGB_FROM_YCBCR * PIXEL_MAX)


def rgb_to_y(image: jax.Array) -> jax.Array:
    """The luma (Y) channel of :func:`rgb_to_ycbcr`, on which SR papers report PSNR/SSIM.

    Args:
      image: [..., h, w, 3] RGB in [0, 1].

    Returns:
      [..., h, w, 1] float32 Y in [16, 235] / 255 (the channel axis is kept).

    Example:
      >>> rgb_to_y(jnp.zeros((2, 4, 4, 3))).shape
      (2, 4, 4, 1)
    """
    _check_rgb(image)
    weights = jnp.asarray(YCBCR_FROM_RGB[:1] / PIXEL_MAX, jnp.float32)  # [1, 3]
    out = jnp.einsum(
        "...c,dc->...d", image.astype(jnp.float32), weights, precision=jax.lax.Precision.HIGHEST
    )  # [..., 1]
    return out + YCBCR_OFFSET[0] / PIXEL_MAX


def _srgb_to_linear(image: jax.Array) -> jax.Array:
    """Undoes the sRGB gamma ([0, 1] in, [0, 1] out)."""
    high = jnp.maximum(image, SRGB_THRESHOLD)  # keeps the power's base positive
    return jnp.where(
        image > SRGB_THRESHOLD,
        ((high + SRGB_OFFSET) / (1 + SRGB_OFFSET)) ** SRGB_GAMMA,
        image / SRGB_SLOPE,
    )


def _linear_to_srgb(image: jax.Array) -> jax.Array:
    """Applies the sRGB gamma."""
    high = jnp.maximum(image, SRGB_LINEAR_THRESHOLD)
    return jnp.where(
        image > SRGB_LINEAR_THRESHOLD,
        (1 + SRGB_OFFSET) * high ** (1 / SRGB_GAMMA) - SRGB_OFFSET,
        image * SRGB_SLOPE,
    )


def rgb_to_lab(image: jax.Array) -> jax.Array:
    """sRGB to CIE Lab (D65 white, 2 degree observer), as ``skimage.color.rgb2lab``.

    Args:
      image: [..., h, w, 3] sRGB in [0, 1].

    Returns:
      [..., h, w, 3] float32 Lab: L in [0, 100], a and b roughly in [-128, 127].

    Example:
      >>> lab = rgb_to_lab(jnp.array([1.0, 0.0, 0.0]))  # pure red
      >>> np.round(np.asarray(lab), 1)
      array([53.2, 80.1, 67.2], dtype=float32)
    """
    _check_rgb(image)
    xyz = _mix(_srgb_to_linear(image.astype(jnp.float32)), XYZ_FROM_RGB)  # [..., 3]
    t = xyz / jnp.asarray(D65_WHITE, jnp.float32)  # [..., 3]
    f = jnp.where(
        t > LAB_EPSILON, jnp.cbrt(jnp.maximum(t, LAB_EPSILON)), LAB_KAPPA * t + LAB_OFFSET
    )  # [..., 3]
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]  # [...]
    lightness = 116.0 * fy - 16.0
    return jnp.stack([lightness, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb(image: jax.Array) -> jax.Array:
    """CIE Lab to sRGB, as ``skimage.color.lab2rgb``: Z below 0 is set to 0 (skimage warns
    about it) and the result is clipped to [0, 1].

    Args:
      image: [..., h, w, 3] Lab (L in [0, 100]).

    Returns:
      [..., h, w, 3] float32 sRGB in [0, 1].

    Example:
      >>> rgb = jnp.array([0.2, 0.5, 0.9])
      >>> np.allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-5)
      True
    """
    _check_rgb(image)
    image = image.astype(jnp.float32)
    fy = (image[..., 0] + 16.0) / 116.0  # [...]
    fx = image[..., 1] / 500.0 + fy
    fz = jnp.maximum(fy - image[..., 2] / 200.0, 0.0)
    f = jnp.stack([fx, fy, fz], axis=-1)  # [..., 3]
    t = jnp.where(f > LAB_F_THRESHOLD, f**3, (f - LAB_OFFSET) / LAB_KAPPA)  # [..., 3]
    xyz = t * jnp.asarray(D65_WHITE, jnp.float32)  # [..., 3]
    return jnp.clip(_linear_to_srgb(_mix(xyz, RGB_FROM_XYZ)), 0.0, 1.0)
