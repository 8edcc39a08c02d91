"""PSNR and SSIM per image, the way image-restoration and super-resolution papers report them.

Built on ``dm_pix.psnr`` and ``dm_pix.ssim`` (Gaussian 11x11 window, sigma 1.5, k1 0.01,
k2 0.03, as Wang et al. 2004 and MATLAB's ``ssim``); this module adds what SR evaluation needs
on top of them:

- ``border``: crop that many pixels from every side first (SR papers crop the scale factor);
- ``y_channel``: measure on the BT.601 luma of :func:`jaxvision.ops.color.rgb_to_y`;
- ``valid_hw``: images padded onto a fixed canvas (variable-size evaluation sets batched
  under ``jit``) are measured on their top-left ``(h, w)`` only. PSNR is then a masked MSE;
  SSIM averages the SSIM map over the windows that lie entirely inside the valid,
  border-cropped region, so it equals the unpadded image's value.

Images are float in [0, ``max_value``], [b, h, w, c] (or one [h, w, c] image). SR papers
usually quantise the network output to 8 bits first: ``jnp.round(x * 255) / 255``.

Example:
  >>> key1, key2 = jax.random.split(jax.random.key(0))
  >>> clean = jax.random.uniform(key1, (2, 32, 32, 3))
  >>> noisy = clean + 0.05 * jax.random.normal(key2, clean.shape)
  >>> np.round(np.asarray(psnr(clean, noisy)))  # 10 log10(1 / 0.05^2) = 26 dB
  array([26., 26.], dtype=float32)
  >>> psnr(clean, noisy, border=4, y_channel=True).shape, ssim(clean, noisy).shape
  ((2,), (2,))
"""

from __future__ import annotations

import dm_pix
import jax
import jax.numpy as jnp

from jaxvision.ops.color import rgb_to_y

# dm_pix.ssim's Gaussian window (Wang et al. 2004), stated here to find the valid windows.
SSIM_FILTER_SIZE = 11
SSIM_FILTER_SIGMA = 1.5


def _prepare(
    a: jax.Array, b: jax.Array, border: int, y_channel: bool, min_size: int
) -> tuple[jax.Array, jax.Array]:
    """Checks shapes, converts to Y when asked and crops the border: [b, h', w', c']."""
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.ndim != 4:
        raise ValueError(f"images must be [b, h, w, c] or [h, w, c], got shape {a.shape}")
    if not isinstance(border, int) or border < 0:
        raise ValueError(f"border must be a non-negative int, got {border!r}")
    a, b = a.astype(jnp.float32), b.astype(jnp.float32)
    if y_channel:
        a, b = rgb_to_y(a), rgb_to_y(b)  # [b, h, w, 1]
    height, width = a.shape[1] - 2 * border, a.shape[2] - 2 * border
    if height < min_size or width < min_size:
        raise ValueError(
            f"images of {a.shape[1]}x{a.shape[2]} less a border of {border} are "
            f"{height}x{width}, below the {min_size}x{min_size} this metric needs"
        )
    crop = (slice(None), slice(border, border + height), slice(border, border + width))
    return a[crop], b[crop]


def valid_mask(
    valid_hw: jax.Array, batch: int, height: int, width: int, shrink: int = 0
) -> jax.Array:
    """[b, height, width] True where a row/column index is below ``valid_hw - shrink``."""
    valid_hw = jnp.asarray(valid_hw, jnp.int32).reshape(batch, 2) - shrink  # [b, 2]
    rows = jnp.arange(height)[None, :, None] < valid_hw[:, 0, None, None]  # [b, h, 1]
    cols = jnp.arange(width)[None, None, :] < valid_hw[:, 1, None, None]  # [b, 1, w]
    return rows & cols  # [b, h, w]


def psnr(
    a: jax.Array,
    b: jax.Array,
    *,
    max_value: float = 1.0,
    border: int = 0,
    y_channel: bool = False,
    valid_hw: jax.Array | None = None,
) -> jax.Array:
    """Peak signal-to-noise ratio in dB of each image pair, ``10 log10(max^2 / MSE)``.

    Args:
      a: [b, h, w, c] (or [h, w, c]) images in [0, max_value].
      b: images of the same shape.
      max_value: the peak value (1.0 for [0, 1] images).
      border: pixels cropped from every side before measuring (static).
      y_channel: measure on the Y channel of RGB images (static).
      valid_hw: optional [b, 2] (or [2]) int heights and widths of the real images, which
        occupy the top-left of the canvas; only that region (less the border) counts. An
        empty region gives NaN.

    Returns:
      [b] (or scalar) float32 PSNR; +inf for identical images.

    Example:
      >>> a = jnp.zeros((1, 4, 4, 1))
      >>> psnr(a, a + 0.1)
      Array([20.], dtype=float32)
    """
    single = a.ndim == 3
    if single:
        a, b = a[None], b[None]
    a, b = _prepare(a, b, border, y_channel, min_size=1)
    if valid_hw is None:
        value = dm_pix.psnr(a / max_value, b / max_value)  # [b]
    else:
        mask = valid_mask(valid_hw, *a.shape[:3], shrink=2 * border)  # [b, h, w]
        squared = jnp.sum(jnp.square(a - b), axis=-1)  # [b, h, w]
        count = jnp.sum(mask, axis=(1, 2)) * a.shape[-1]  # [b]
        mse = jnp.sum(jnp.where(mask, squared, 0.0), axis=(1, 2)) / count  # [b]
        value = 10.0 * jnp.log10(max_value**2 / mse)
    return value[0] if single else value


def ssim(
    a: jax.Array,
    b: jax.Array,
    *,
    max_value: float = 1.0,
    border: int = 0,
    y_channel: bool = False,
    valid_hw: jax.Array | None = None,
) -> jax.Array:
    """Structural similarity of each image pair (mean over channels of ``dm_pix.ssim``'s
    map), as ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)``: only windows inside the image count.

    Args:
      a: [b, h, w, c] (or [h, w, c]) images in [0, max_value]; at least 11x11 after the
        border crop.
      b: images of the same shape.
      max_value: the data range (1.0 for [0, 1] images).
      border: pixels cropped from every side before measuring (static).
      y_channel: measure on the Y channel of RGB images (static).
      valid_hw: optional [b, 2] (or [2]) int heights and widths of the real images on the
        canvas; only windows inside that region (less the border) count. A region smaller
        than the window gives NaN.

    Returns:
      [b] (or scalar) float32 SSIM, 1 for identical images.

    Example:
      >>> a = jax.random.uniform(jax.random.key(0), (16, 16, 3))
      >>> float(ssim(a, a))
      1.0
    """
    single = a.ndim == 3
    if single:
        a, b = a[None], b[None]
    a, b = _prepare(a, b, border, y_channel, min_size=SSIM_FILTER_SIZE)
    kwargs = dict(max_val=max_value, filter_size=SSIM_FILTER_SIZE, filter_sigma=SSIM_FILTER_SIGMA)
    if valid_hw is None:
        value = dm_pix.ssim(a, b, **kwargs)  # [b]
    else:
        ssim_map = dm_pix.ssim(a, b, return_map=True, **kwargs)  # [b, h - 10, w - 10, c]
        # Window (i, j) covers rows i .. i + 10: it is inside when i + 11 <= valid height.
        shrink = 2 * border + SSIM_FILTER_SIZE - 1
        mask = valid_mask(valid_hw, *ssim_map.shape[:3], shrink=shrink)  # [b, h', w']
        total = jnp.sum(jnp.where(mask[..., None], ssim_map, 0.0), axis=(1, 2, 3))  # [b]
        value = total / (jnp.sum(mask, axis=(1, 2)) * ssim_map.shape[-1])  # [b]
    return value[0] if single else value
