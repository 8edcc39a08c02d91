"""A restoration task's (degraded, clean) pairs, made on the device from its batches.

Batches carry either a clean ``image`` (uint8), which the degradation of
``config.degradation`` turns into the input inside the jitted step, or a pair ``input`` /
``target`` (uint8; ``degradation.kind = "none"``), read as they are. Training degrades each
example with a key of its own from the step's key; evaluation with a key from the example's
index in the split (``batch["index"]``), so an eval image gets the same degradation on any
number of devices and hosts.

``config.degradation`` keys:
  kind: one of ``DEGRADATIONS``.
  sigma: Gaussian noise sigma in 0-255 units at eval (and in training without ``sigma_range``).
  sigma_range: [lo, hi] 0-255 units: blind training noise, sigma uniform in it ([] for fixed).
  peak: Poisson noise, photons at intensity 1.
  kernel_size: blur kernels' size (odd).
  motion_exposures: motion blur integrates a fraction of the camera-shake path drawn from
    these (DeblurGAN draws from 0.01, 0.1, 0.5 and 1: short exposures blur less).
  blur_sigma: Gaussian blur sigma (pixels); disk_radius: defocus radius (pixels).
  scale: bicubic downsampling factor (2, 3 or 4); for pairs, the target / input size ratio.
  eval_seed: seeds the eval degradations.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxvision.ops import degrade

DEGRADATIONS = (
    "none",
    "gaussian_noise",
    "poisson_noise",
    "motion_blur",
    "defocus_blur",
    "gaussian_blur",
    "bicubic",
)
PAIRED = "none"
# The degradations that blur an image with one kernel (`blur_kernel`).
BLUR_KINDS = ("motion_blur", "defocus_blur", "gaussian_blur")
# Pixel values of uint8 images: [0, 255] maps to [0, 1] on the device.
MAX_PIXEL = 255.0


def check(cfg: Any) -> None:
    """Raises ValueError for an unknown degradation kind (the message lists the valid ones)."""
    if cfg.kind not in DEGRADATIONS:
        raise ValueError(f"unknown degradation.kind {cfg.kind!r}; valid: {', '.join(DEGRADATIONS)}")


def scale_of(cfg: Any) -> int:
    """The output / input size ratio: ``degradation.scale`` for "bicubic" and pairs, else 1."""
    return int(cfg.scale) if cfg.kind in ("bicubic", PAIRED) else 1


def to_unit(images: jax.Array) -> jax.Array:
    """uint8 [0, 255] -> float32 [0, 1]."""
    return images.astype(jnp.float32) / MAX_PIXEL


def to_uint8(images: jax.Array) -> jax.Array:
    """float [0, 1] -> uint8, rounded and clipped."""
    return jnp.clip(jnp.round(images * MAX_PIXEL), 0, MAX_PIXEL).astype(jnp.uint8)


def degrade_one(cfg: Any, key: jax.Array, clean: jax.Array, train: bool) -> jax.Array:
    """One clean image [h, w, c] in [0, 1] -> its degraded version (``cfg.kind``)."""
    kind = cfg.kind
    if kind == "gaussian_noise":
        if train and len(cfg.sigma_range) == 2:
            lo, hi = (s / MAX_PIXEL for s in cfg.sigma_range)
            return degrade.add_blind_gaussian_noise(key, clean, lo, hi)
        return degrade.add_gaussian_noise(key, clean, cfg.sigma / MAX_PIXEL)
    if kind == "poisson_noise":
        return degrade.add_poisson_noise(key, clean, cfg.peak)
    if kind in BLUR_KINDS:
        return degrade.blur(clean, blur_kernel(cfg, key))
    if kind == "bicubic":
        return degrade.bicubic_downsample(clean, cfg.scale)
    raise ValueError(f"degradation {kind!r} makes no input from a clean image")


def blur_kernel(cfg: Any, key: jax.Array) -> jax.Array:
    """The [k, k] kernel ``degrade_one`` blurs an image with, for a kind of ``BLUR_KINDS``:
    a camera-shake path drawn from `key` (exposure drawn from ``cfg.motion_exposures``), a
    disk or a Gaussian (`key` unused)."""
    kind = cfg.kind
    if kind == "motion_blur":
        path_key, exposure_key = jax.random.split(key)
        exposure = jax.random.choice(exposure_key, jnp.asarray(cfg.motion_exposures, jnp.float32))
        return degrade.motion_blur_kernel(path_key, cfg.kernel_size, exposure=exposure)
    if kind == "defocus_blur":
        return degrade.disk_kernel(cfg.disk_radius, cfg.kernel_size)
    if kind == "gaussian_blur":
        return degrade.gaussian_kernel(cfg.blur_sigma, cfg.kernel_size)
    raise ValueError(f"degradation {kind!r} is none of the blurs {BLUR_KINDS}")


def eval_rng_keys(cfg: Any, indices: jax.Array) -> jax.Array:
    """The keys [n] the eval degrades the images at these split positions [n] with: one an
    index, from ``cfg.eval_seed`` (the same on any batch size or host count)."""
    indices = jnp.asarray(indices)
    return _keys(jax.random.key(cfg.eval_seed), indices.shape[0], indices)


def _keys(key: jax.Array, n: int, indices: jax.Array | None) -> jax.Array:
    if indices is None:
        return jax.random.split(key, n)  # [n]
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(indices)  # [n]


def pair(cfg: Any, batch: dict[str, jax.Array], key: jax.Array, train: bool) -> tuple:
    """(inputs, targets) in [0, 1] of a batch: degraded on the device, or read as a pair.

    Args:
      cfg: ``config.degradation``.
      batch: with ``image`` [b, h, w, c] uint8, or ``input`` and ``target``; in evaluation
        also ``index`` [b].
      key: the step's key in training; ignored in evaluation (``cfg.eval_seed`` is used).
      train: training (random keys) or evaluation (keys from ``batch["index"]``).

    Returns:
      ``(inputs [b, h/s, w/s, c], targets [b, h, w, c])``, float32.
    """
    if cfg.kind == PAIRED:
        return to_unit(batch["input"]), to_unit(batch["target"])
    clean = to_unit(batch["image"])  # [b, h, w, c]
    keys = _keys(key, clean.shape[0], None) if train else eval_rng_keys(cfg, batch["index"])
    inputs = jax.vmap(lambda k, x: degrade_one(cfg, k, x, train))(keys, clean)
    return inputs, clean
