"""Image degradations for restoration tasks: noise, blur kernels, blur, bicubic resizing.

Images are float32 in [0, 1], [h, w, c] (the noise, blur and resize functions also take
leading batch axes). Every function is pure and jittable; sizes (kernel sizes, output
shapes, step counts) are static Python ints. Random functions take a ``key`` and draw one
degradation per call: ``jax.vmap`` over keys gives one per image.

Noise is added without clipping by default, as the DnCNN/FFDNet benchmarks do (the noisy
input keeps values outside [0, 1]); ``clip=True`` clips to [0, 1] as a saved image would be.

Example:
  >>> key = jax.random.key(0)
  >>> image = jnp.full((32, 32, 3), 0.5)
  >>> noisy = add_gaussian_noise(key, image, 25 / 255)
  >>> blurred = blur(image, motion_blur_kernel(key, 15))
  >>> small = bicubic_downsample(image, 4)
  >>> noisy.shape, blurred.shape, small.shape
  ((32, 32, 3), (32, 32, 3), (8, 8, 3))
"""

from __future__ import annotations

import functools

import dm_pix
import jax
import jax.numpy as jnp
import numpy as np

HIGHEST = jax.lax.Precision.HIGHEST

# Camera-shake trajectories (Boracchi and Foi 2012, as DeblurGAN's motion_blur/ samples them).
MOTION_STEPS = 2000  # samples of the continuous path (DeblurGAN's `iters`)
MOTION_PATH_LENGTH = 60.0  # DeblurGAN's path length in pixels; its walk is simulated at it
MOTION_LENGTH_FRACTION = 60 / 64  # ... on a 64-pixel canvas
MOTION_ANXIETY = 0.005  # DeblurGAN's PSF default; its training draws from [0.003, 0.01]
CENTRIPETAL_MAX = 0.7  # inertial pull back toward the start, drawn uniformly in [0, max)
BIG_SHAKE_PROB_MAX = 0.2  # impulsive-shake probability (times anxiety) per step, [0, max)
GAUSSIAN_SHAKE_MAX = 10.0  # random component of each new direction, drawn in [0, max)
BIG_SHAKE_TURN = 0.5  # an impulsive shake reverses the velocity within +-0.5 rad
BIG_SHAKE_GAIN = 2.0  # ... adding twice the current velocity in the reversed direction

# PIL's bicubic filter (Keys, a = -0.5) and its support in input pixels at scale 1.
BICUBIC_A = -0.5
BICUBIC_SUPPORT = 2.0


def _clip01(image: jax.Array, clip: bool) -> jax.Array:
    return jnp.clip(image, 0.0, 1.0) if clip else image


def add_gaussian_noise(
    key: jax.Array, image: jax.Array, sigma: float | jax.Array, clip: bool = False
) -> jax.Array:
    """Adds white Gaussian noise of standard deviation ``sigma`` ([0, 1] units).

    Args:
      key: PRNG key.
      image: [..., h, w, c] float image in [0, 1].
      sigma: noise standard deviation, e.g. ``25 / 255``; may be traced.
      clip: clip the result to [0, 1] (default: no, as the denoising benchmarks).

    Returns:
      The noisy image, shape and dtype of ``image``.

    Example:
      >>> noisy = add_gaussian_noise(jax.random.key(0), jnp.zeros((64, 64, 3)), 0.1)
      >>> round(float(noisy.std()), 2)
      0.1
    """
    noise = jax.random.normal(key, image.shape, image.dtype)  # [..., h, w, c]
    return _clip01(image + jnp.asarray(sigma, image.dtype) * noise, clip)


def add_blind_gaussian_noise(
    key: jax.Array,
    image: jax.Array,
    sigma_min: float,
    sigma_max: float,
    clip: bool = False,
    return_sigma: bool = False,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    """Gaussian noise of a level drawn uniformly in [sigma_min, sigma_max] (blind denoising,
    DnCNN-B: sigma in [0, 55] / 255). One level for the whole call: vmap over keys to draw one
    per image.

    Args:
      key: PRNG key.
      image: [..., h, w, c] float image in [0, 1].
      sigma_min: lowest noise standard deviation ([0, 1] units).
      sigma_max: highest noise standard deviation.
      clip: clip the result to [0, 1].
      return_sigma: also return the drawn level (a noise-level map input, as FFDNet's).

    Returns:
      The noisy image, and the scalar sigma when ``return_sigma``.

    Example:
      >>> x = jnp.zeros((8, 8, 3))
      >>> noisy, sigma = add_blind_gaussian_noise(jax.random.key(1), x, 0.0, 0.2, return_sigma=True)
      >>> bool(0.0 <= sigma <= 0.2), noisy.shape
      (True, (8, 8, 3))
    """
    if sigma_min > sigma_max:
        raise ValueError(f"sigma_min {sigma_min} exceeds sigma_max {sigma_max}")
    level_key, noise_key = jax.random.split(key)
    sigma = jax.random.uniform(level_key, (), image.dtype, sigma_min, sigma_max)  # []
    noisy = add_gaussian_noise(noise_key, image, sigma, clip)
    return (noisy, sigma) if return_sigma else noisy


def add_poisson_noise(
    key: jax.Array, image: jax.Array, peak: float | jax.Array, clip: bool = False
) -> jax.Array:
    """Photon-count (shot) noise: ``poisson(image * peak) / peak``.

    Args:
      key: PRNG key.
      image: [..., h, w, c] float image in [0, 1] (negative values count as 0).
      peak: photons at intensity 1; lower is noisier (the variance is ``image / peak``).
      clip: clip the result to [0, 1] (it is never below 0, but may exceed 1).

    Returns:
      The noisy image, shape and dtype of ``image``.

    Example:
      >>> noisy = add_poisson_noise(jax.random.key(0), jnp.full((64, 64, 1), 0.5), 100.0)
      >>> round(float(noisy.mean()), 2)
      0.5
    """
    if isinstance(peak, int | float) and peak <= 0:
        raise ValueError(f"peak must be positive, got {peak}")
    rate = jnp.maximum(image, 0.0) * peak  # [..., h, w, c]
    counts = jax.random.poisson(key, rate, image.shape)  # [..., h, w, c] int
    return _clip01((counts / peak).astype(image.dtype), clip)


def _check_kernel_size(size: int) -> None:
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"kernel size must be a positive Python int, got {size!r}")


def _centred_grid(size: int) -> tuple[jax.Array, jax.Array]:
    """Row and column offsets of every kernel tap from the kernel's centre."""
    offsets = jnp.arange(size, dtype=jnp.float32) - (size - 1) / 2  # [k]
    return offsets[:, None], offsets[None, :]  # [k, 1], [1, k]


def gaussian_kernel(sigma: float | jax.Array, size: int) -> jax.Array:
    """Isotropic Gaussian blur kernel.

    Args:
      sigma: standard deviation in pixels (> 0); may be traced.
      size: kernel side k (odd for a kernel centred on a pixel).

    Returns:
      [k, k] float32 kernel summing to 1.

    Example:
      >>> kernel = gaussian_kernel(1.0, 5)
      >>> kernel.shape, round(float(kernel.sum()), 6)
      ((5, 5), 1.0)
    """
    _check_kernel_size(size)
    rows, cols = _centred_grid(size)
    kernel = jnp.exp(-(rows**2 + cols**2) / (2.0 * jnp.asarray(sigma, jnp.float32) ** 2))
    return kernel / jnp.sum(kernel)  # [k, k]


def disk_kernel(radius: float | jax.Array, size: int) -> jax.Array:
    """Defocus (pillbox) kernel: a disk of ``radius`` pixels, anti-aliased by giving each tap
    its approximate coverage ``clip(radius + 0.5 - distance, 0, 1)``.

    Args:
      radius: disk radius in pixels; may be traced. At most ``(size - 1) / 2`` to fit.
      size: kernel side k.

    Returns:
      [k, k] float32 kernel summing to 1 (a single tap when the radius is below 0.5).

    Example:
      >>> kernel = disk_kernel(2.0, 5)
      >>> float(kernel[2, 0]) > 0, float(kernel[0, 0]) == 0
      (True, True)
    """
    _check_kernel_size(size)
    if isinstance(radius, int | float) and radius < 0:
        raise ValueError(f"radius must be non-negative, got {radius}")
    rows, cols = _centred_grid(size)
    distance = jnp.sqrt(rows**2 + cols**2)  # [k, k]
    kernel = jnp.clip(jnp.asarray(radius, jnp.float32) + 0.5 - distance, 0.0, 1.0)
    return kernel / jnp.sum(kernel)  # [k, k]


def _shake_path(key: jax.Array, num_steps: int, step: jax.Array, anxiety: jax.Array) -> jax.Array:
    """[n, 2] (x, y) positions of a constant-speed walk: each step adds a Gaussian perturbation,
    a pull toward the start and, rarely, an impulsive shake that reverses the velocity."""
    keys = jax.random.split(key, 4)
    # Per-path parameters, each uniform in [0, max).
    maxima = jnp.array([CENTRIPETAL_MAX, BIG_SHAKE_PROB_MAX, GAUSSIAN_SHAKE_MAX, 2 * jnp.pi])
    centripetal, prob_big_shake, gaussian_shake, angle = jax.random.uniform(keys[0], (4,)) * maxima
    draws, turns = jax.random.uniform(keys[1], (2, num_steps - 1))  # [n - 1] each
    turns = jnp.pi + turns - BIG_SHAKE_TURN  # [n - 1]: reverse, within +-0.5 rad
    perturbations = jax.random.normal(keys[2], (num_steps - 1, 2))  # [n - 1, 2]

    def advance(carry, inputs):
        position, velocity = carry  # [2], [2]
        draw, turn, perturbation = inputs
        cos, sin = jnp.cos(turn), jnp.sin(turn)
        turned = jnp.stack(
            [cos * velocity[0] - sin * velocity[1], sin * velocity[0] + cos * velocity[1]]
        )  # [2]: velocity rotated by `turn`
        impulse = jnp.where(draw < prob_big_shake * anxiety, BIG_SHAKE_GAIN * turned, 0.0)
        drift = gaussian_shake * perturbation - centripetal * position  # [2]
        velocity = velocity + impulse + anxiety * drift * step
        velocity = velocity * step / jnp.maximum(jnp.linalg.norm(velocity), 1e-12)
        position = position + velocity
        return (position, velocity), position

    start_velocity = step * jnp.stack([jnp.cos(angle), jnp.sin(angle)])  # [2]
    _, positions = jax.lax.scan(
        advance, (jnp.zeros(2), start_velocity), (draws, turns, perturbations)
    )
    return jnp.concatenate([jnp.zeros((1, 2)), positions])  # [n, 2]


def _splat(points: jax.Array, weights: jax.Array, size: int) -> jax.Array:
    """Rasterises weighted sub-pixel points onto a [size, size] grid by bilinear splatting."""
    base = jnp.clip(jnp.floor(points), 0, size - 2)  # [n, 2]
    frac = jnp.clip(points - base, 0.0, 1.0)  # [n, 2]
    col, row = base[:, 0].astype(jnp.int32), base[:, 1].astype(jnp.int32)  # [n]
    kernel = jnp.zeros((size, size), jnp.float32)
    for d_row in (0, 1):
        w_row = frac[:, 1] if d_row else 1.0 - frac[:, 1]  # [n]
        for d_col in (0, 1):
            w_col = frac[:, 0] if d_col else 1.0 - frac[:, 0]  # [n]
            kernel = kernel.at[row + d_row, col + d_col].add(weights * w_row * w_col)
    return kernel  # [k, k]


def motion_blur_kernel(
    key: jax.Array,
    size: int,
    max_length: float | None = None,
    anxiety: float | jax.Array = MOTION_ANXIETY,
    exposure: float | jax.Array = 1.0,
    num_steps: int = MOTION_STEPS,
) -> jax.Array:
    """Random camera-shake blur kernel, the trajectory model of Boracchi and Foi (2012) that
    DeblurGAN uses to synthesise blur: a constant-speed random walk with inertia, Gaussian
    perturbations and rare impulsive shakes, integrated over part of the exposure and
    rasterised with bilinear (sub-pixel) splatting. The exposed path is centred on the kernel
    (its bounding box) and shrunk to fit when longer than the kernel.

    Args:
      key: PRNG key.
      size: kernel side k (>= 3).
      max_length: path length in pixels over the whole exposure; default
        ``size * 60 / 64`` (DeblurGAN's 60-pixel path on a 64-pixel canvas).
      anxiety: strength of the random and impulsive perturbations (may be traced); 0 gives
        a straight line. DeblurGAN's training draws it from [0.003, 0.01].
      exposure: fraction in (0, 1] of the path integrated (may be traced; DeblurGAN: 0.1,
        0.5 or 1).
      num_steps: samples along the path (static).

    Returns:
      [k, k] float32 kernel, non-negative, summing to 1.

    Example:
      >>> kernel = motion_blur_kernel(jax.random.key(0), 17)
      >>> kernel.shape, round(float(kernel.sum()), 5), bool((kernel >= 0).all())
      ((17, 17), 1.0, True)
    """
    if not isinstance(size, int) or size < 3:
        raise ValueError(f"motion blur kernel size must be an int >= 3, got {size!r}")
    if num_steps < 2:
        raise ValueError(f"num_steps must be at least 2, got {num_steps}")
    if isinstance(exposure, int | float) and not 0 < exposure <= 1:
        raise ValueError(f"exposure must be in (0, 1], got {exposure}")
    length = size * MOTION_LENGTH_FRACTION if max_length is None else max_length
    # The walk's pull toward its start grows with the distance in pixels: simulate it at
    # DeblurGAN's scale, then resize, so every kernel size gets DeblurGAN's path shapes.
    step = jnp.asarray(MOTION_PATH_LENGTH / (num_steps - 1), jnp.float32)
    path = _shake_path(key, num_steps, step, jnp.asarray(anxiety, jnp.float32))  # [n, 2]
    path = path * (length / MOTION_PATH_LENGTH)
    weights = jnp.clip(exposure * num_steps - jnp.arange(num_steps), 0.0, 1.0)  # [n]
    exposed = (weights > 0)[:, None]  # [n, 1]
    low = jnp.min(jnp.where(exposed, path, jnp.inf), axis=0)  # [2]
    high = jnp.max(jnp.where(exposed, path, -jnp.inf), axis=0)  # [2]
    shrink = jnp.minimum(1.0, (size - 1) / jnp.maximum(jnp.max(high - low), 1e-6))
    points = (path - (low + high) / 2) * shrink + (size - 1) / 2  # [n, 2] kernel coordinates
    kernel = _splat(points, weights, size)  # [k, k]
    return kernel / jnp.sum(kernel)


def _flatten_images(image: jax.Array) -> jax.Array:
    """[..., h, w, c] -> [n, h, w, c]."""
    if image.ndim < 3:
        raise ValueError(f"image must be [..., h, w, c], got shape {image.shape}")
    return image.reshape((-1, *image.shape[-3:]))


def blur(image: jax.Array, kernel: jax.Array) -> jax.Array:
    """Convolves every channel with ``kernel`` (a true convolution, the kernel flipped, as
    ``scipy.ndimage.convolve``), reflect-padded so that the output has the input's size.

    The padding mirrors without repeating the edge pixel (OpenCV's BORDER_REFLECT_101,
    scipy.ndimage's "mirror"); an even-sized kernel is centred at index k // 2.

    Args:
      image: [..., h, w, c] float image.
      kernel: [kh, kw] kernel (smaller than the image).

    Returns:
      [..., h, w, c] blurred image, dtype of ``image``.

    Example:
      >>> image = jnp.zeros((5, 5, 1)).at[2, 2, 0].set(1.0)
      >>> np.round(np.asarray(blur(image, jnp.full((3, 3), 1 / 9)))[1:4, 2, 0] * 9, 3)
      array([1., 1., 1.], dtype=float32)
    """
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be [kh, kw], got shape {kernel.shape}")
    images = _flatten_images(image)  # [n, h, w, c]
    (kh, kw), channels = kernel.shape, images.shape[-1]
    if kh > images.shape[1] or kw > images.shape[2]:
        raise ValueError(f"kernel {kernel.shape} is larger than the image {image.shape}")
    pad = ((0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0))
    padded = jnp.pad(images, pad, mode="reflect")  # [n, h + kh - 1, w + kw - 1, c]
    taps = kernel[::-1, ::-1].astype(images.dtype)  # [kh, kw]: flipped, a true convolution
    taps = jnp.broadcast_to(taps[:, :, None, None], (kh, kw, 1, channels))  # [kh, kw, 1, c]
    dims = ("NHWC", "HWIO", "NHWC")
    conv = functools.partial(
        jax.lax.conv_general_dilated, dimension_numbers=dims, precision=HIGHEST
    )
    out = conv(padded, taps, (1, 1), "VALID", feature_group_count=channels)  # [n, h, w, c]
    return out.reshape(image.shape)


def gaussian_blur(image: jax.Array, sigma: float | jax.Array, size: int) -> jax.Array:
    """Gaussian blur through ``dm_pix.gaussian_blur`` (separable), reflect-padded like
    :func:`blur`; equal to ``blur(image, gaussian_kernel(sigma, size))``.

    Args:
      image: [..., h, w, c] float image.
      sigma: standard deviation in pixels; may be traced.
      size: odd kernel side.

    Returns:
      [..., h, w, c] blurred image.

    Example:
      >>> gaussian_blur(jnp.ones((8, 8, 3)), 1.0, 5).shape
      (8, 8, 3)
    """
    if not isinstance(size, int) or size < 1 or size % 2 == 0:
        raise ValueError(f"gaussian_blur needs an odd kernel size, got {size!r}")
    images = _flatten_images(image)  # [n, h, w, c]
    radius = size // 2
    padded = jnp.pad(images, ((0, 0), (radius, radius), (radius, radius), (0, 0)), "reflect")
    out = dm_pix.gaussian_blur(padded, sigma, size, padding="VALID")  # [n, h, w, c]
    return out.reshape(image.shape)


def _bicubic_weight(x: np.ndarray) -> np.ndarray:
    """PIL's bicubic (Keys) filter with a = -0.5."""
    x = np.abs(x)
    near = ((BICUBIC_A + 2) * x - (BICUBIC_A + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * BICUBIC_A
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


@functools.lru_cache(maxsize=64)
def resample_matrix(in_size: int, out_size: int) -> np.ndarray:
    """[out, in] bicubic resampling weights along one axis, as PIL's ``precompute_coeffs``:
    output pixel i samples the input at centre ``(i + 0.5) * in / out``; when shrinking, the
    filter's support grows by the factor (anti-aliasing); taps outside the image are dropped
    and each row is renormalised to sum to 1.

    Args:
      in_size: input length.
      out_size: output length.

    Returns:
      [out_size, in_size] float32 weights (read-only).

    Example:
      >>> np.round(resample_matrix(4, 2), 4)
      array([[ 0.4587,  0.4587,  0.1198, -0.0372],
             [-0.0372,  0.1198,  0.4587,  0.4587]], dtype=float32)
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f"sizes must be positive, got {in_size} -> {out_size}")
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    support = BICUBIC_SUPPORT * filter_scale
    centre = (np.arange(out_size) + 0.5) * scale  # [out]
    first = np.maximum(np.trunc(centre - support + 0.5), 0)  # [out], C's (int) truncation
    stop = np.minimum(np.trunc(centre + support + 0.5), in_size)  # [out]
    taps = np.arange(in_size)[None, :]  # [1, in]
    inside = (taps >= first[:, None]) & (taps < stop[:, None])  # [out, in]
    weights = _bicubic_weight((taps - centre[:, None] + 0.5) / filter_scale) * inside
    total = weights.sum(axis=1, keepdims=True)  # [out, 1]
    matrix = (weights / np.where(total != 0, total, 1.0)).astype(np.float32)
    matrix.setflags(write=False)
    return matrix


def bicubic_resize(image: jax.Array, height: int, width: int, clip: bool = False) -> jax.Array:
    """Bicubic resize with anti-aliasing, as PIL's ``Image.resize(size, Image.BICUBIC)``:
    a horizontal then a vertical pass, each a matmul with a static weight matrix built from
    the shapes (:func:`resample_matrix`). Unlike PIL on uint8 images, nothing is rounded or
    clipped between the passes. In the interior this is also MATLAB's ``imresize`` (same
    kernel and sampling); at the borders MATLAB mirrors the image while PIL renormalises.

    Args:
      image: [..., h, w, c] float image.
      height: output height (static).
      width: output width (static).
      clip: clip the result to [0, 1] (bicubic over- and undershoots near edges).

    Returns:
      [..., height, width, c] float32 image.

    Example:
      >>> bicubic_resize(jnp.ones((2, 8, 6, 3)), 4, 3).shape
      (2, 4, 3, 3)
    """
    if image.ndim < 3:
        raise ValueError(f"image must be [..., h, w, c], got shape {image.shape}")
    if not all(isinstance(n, int) and n >= 1 for n in (height, width)):
        raise ValueError(f"output size must be positive Python ints, got {height!r}x{width!r}")
    in_h, in_w = image.shape[-3:-1]
    out = image.astype(jnp.float32)
    if width != in_w:
        cols = jnp.asarray(resample_matrix(in_w, width))  # [width, w]
        out = jnp.einsum("Ww,...hwc->...hWc", cols, out, precision=HIGHEST)  # [..., h, W, c]
    if height != in_h:
        rows = jnp.asarray(resample_matrix(in_h, height))  # [height, h]
        out = jnp.einsum("Hh,...hWc->...HWc", rows, out, precision=HIGHEST)  # [..., H, W, c]
    return _clip01(out, clip)


def _check_scale(image: jax.Array, scale: int) -> tuple[int, int]:
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive Python int, got {scale!r}")
    if image.ndim < 3:
        raise ValueError(f"image must be [..., h, w, c], got shape {image.shape}")
    return image.shape[-3], image.shape[-2]


def bicubic_downsample(image: jax.Array, scale: int, clip: bool = False) -> jax.Array:
    """Bicubic downsampling by an integer factor (2, 3, 4 in SR benchmarks), as the SR
    datasets' low-resolution images are made; see :func:`bicubic_resize`.

    Args:
      image: [..., h, w, c] float image; h and w divisible by ``scale``.
      scale: integer factor.
      clip: clip the result to [0, 1].

    Returns:
      [..., h // scale, w // scale, c] float32 image.

    Raises:
      ValueError: when h or w is not divisible by ``scale``.

    Example:
      >>> bicubic_downsample(jnp.ones((12, 12, 3)), 3).shape
      (4, 4, 3)
    """
    height, width = _check_scale(image, scale)
    if height % scale or width % scale:
        raise ValueError(f"image size {height}x{width} is not divisible by scale {scale}")
    return bicubic_resize(image, height // scale, width // scale, clip)


def bicubic_upsample(image: jax.Array, scale: int, clip: bool = False) -> jax.Array:
    """Bicubic upsampling by an integer factor (the "bicubic" baseline of SR tables).

    Args:
      image: [..., h, w, c] float image.
      scale: integer factor.
      clip: clip the result to [0, 1].

    Returns:
      [..., h * scale, w * scale, c] float32 image.

    Example:
      >>> bicubic_upsample(jnp.ones((4, 5, 3)), 2).shape
      (8, 10, 3)
    """
    height, width = _check_scale(image, scale)
    return bicubic_resize(image, height * scale, width * scale, clip)
