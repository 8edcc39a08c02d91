"""A colorization task's arrays: uint8 RGB images -> (lightness, ab) and back, on the device.

Networks see the lightness as ``L / 100`` in [0, 1] ([b, h, w, 1]) and regress ab as
``(ab / AB_SCALE + 1) / 2`` in [0, 1] ([b, h, w, 2]), the range of a sigmoid-like output and of
a PatchGAN's input. ``compose`` puts a lightness and an ab back together as sRGB.

Example:
  >>> images = jnp.array([[[[255, 0, 0]]]], jnp.uint8)  # [1, 1, 1, 3] pure red
  >>> lightness, ab = split_lab(images)
  >>> np.round(np.asarray(lightness).ravel(), 3), np.round(np.asarray(ab).ravel(), 3)
  (array([0.532], dtype=float32), array([0.864, 0.805], dtype=float32))
  >>> np.round(np.asarray(compose(lightness, ab_from_unit(ab))).ravel(), 3)
  array([1., 0., 0.], dtype=float32)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxvision.ops import color

# Lab lightness range, and the ab scale that maps sRGB's ab gamut (within +-110) to [-1, 1].
L_MAX = 100.0
AB_SCALE = 110.0
PIXEL_MAX = 255.0


def split_lab(images: jax.Array) -> tuple[jax.Array, jax.Array]:
    """uint8 RGB [b, h, w, 3] -> (lightness [b, h, w, 1] in [0, 1], ab [b, h, w, 2] in [0, 1])."""
    lab = color.rgb_to_lab(images.astype(jnp.float32) / PIXEL_MAX)  # [b, h, w, 3]
    return lab[..., :1] / L_MAX, ab_to_unit(lab[..., 1:])


def ab_to_unit(ab: jax.Array) -> jax.Array:
    """ab values -> the [0, 1] range networks regress."""
    return (ab / AB_SCALE + 1.0) * 0.5


def ab_from_unit(unit: jax.Array) -> jax.Array:
    """The [0, 1] range networks regress -> ab values."""
    return (unit * 2.0 - 1.0) * AB_SCALE


def compose(lightness: jax.Array, ab: jax.Array) -> jax.Array:
    """sRGB [b, h, w, 3] in [0, 1] from lightness [b, h, w, 1] in [0, 1] and ab [b, h, w, 2]."""
    lab = jnp.concatenate([lightness * L_MAX, ab.astype(jnp.float32)], axis=-1)
    return color.lab_to_rgb(lab)


def gray(lightness: jax.Array) -> jax.Array:
    """The grayscale image of a lightness (ab = 0) as sRGB [b, h, w, 3]."""
    return compose(lightness, jnp.zeros(lightness.shape[:-1] + (2,), jnp.float32))
