"""Pasting fixed-size instance masks back into the image at their boxes (Detectron2's
``paste_masks_in_image``), with static shapes.

A Mask R-CNN mask is ``M x M`` probabilities over its box. Image pixel (y, x) reads the mask
bilinearly at its centre, ``u = (y + 0.5 - y1) / (y2 - y1) * M - 0.5`` (``grid_sample``
with ``align_corners=False`` and zero padding: pixels away from the box read 0), then
``>= threshold`` makes it binary. The bilinear weights are separable, so the pasted masks
are two matrix products, ``W_y [H, M] @ mask [M, M] @ W_x [M, W]``, for every box at once.

``paste_masks`` is the jitted JAX form (``image_hw`` a static tuple), for inference inside
``jit``; ``paste_masks_np`` is the same computation in NumPy, for the host (e.g. evaluation
at each source image's own size, which has no static shape).

Example:
  >>> mask = jnp.ones((1, 4, 4))
  >>> paste_masks(mask, jnp.array([[1.0, 2.0, 3.0, 5.0]]), (6, 5)).astype(int)[0]
  Array([[0, 0, 0, 0, 0],
         [0, 0, 0, 0, 0],
         [0, 1, 1, 0, 0],
         [0, 1, 1, 0, 0],
         [0, 1, 1, 0, 0],
         [0, 0, 0, 0, 0]], dtype=int32)
"""

from __future__ import annotations

import functools
from types import ModuleType

import jax
import jax.numpy as jnp
import numpy as np

# Detectron2's mask threshold.
DEFAULT_THRESHOLD = 0.5
# Floor of a box side in the mask-coordinate division (an empty box pastes nothing).
_MIN_SIDE = 1e-6


def _axis_weights(xp: ModuleType, lo, hi, size: int, mask_size: int):
    """[..., size, mask_size] bilinear weights of the image pixels of one axis.

    Args:
      xp: numpy or jax.numpy.
      lo: [...] box start along the axis, image pixels.
      hi: [...] box end.
      size: image pixels along the axis.
      mask_size: mask cells along the axis.
    """
    centers = xp.arange(size, dtype=xp.float32) + 0.5  # [size]
    side = xp.maximum(hi - lo, _MIN_SIDE)[..., None]  # [..., 1]
    u = (centers - lo[..., None]) / side * mask_size - 0.5  # [..., size]
    low = xp.floor(u)  # [..., size]
    frac = (u - low)[..., None]  # [..., size, 1]
    cells = xp.arange(mask_size, dtype=xp.float32)  # [mask_size]
    at_low = (cells == low[..., None]).astype(xp.float32)  # [..., size, mask_size]
    at_high = (cells == low[..., None] + 1.0).astype(xp.float32)
    return at_low * (1.0 - frac) + at_high * frac


def _paste(xp: ModuleType, masks, boxes, image_hw, threshold):
    """The shared computation of ``paste_masks`` and ``paste_masks_np``."""
    if masks.ndim < 3 or boxes.shape != (*masks.shape[:-2], 4):
        raise ValueError(
            f"masks must be [..., n, M, M] and boxes [..., n, 4]: {masks.shape}, {boxes.shape}"
        )
    height, width = (int(s) for s in image_hw)
    masks = masks.astype(xp.float32)  # [..., n, mh, mw]
    boxes = boxes.astype(xp.float32)  # [..., n, 4]
    wy = _axis_weights(xp, boxes[..., 1], boxes[..., 3], height, masks.shape[-2])  # [.., H, mh]
    wx = _axis_weights(xp, boxes[..., 0], boxes[..., 2], width, masks.shape[-1])  # [.., W, mw]
    if xp is jnp:
        matmul = lambda a, b: jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST)  # noqa: E731
    else:
        matmul = np.matmul
    pasted = matmul(matmul(wy, masks), xp.swapaxes(wx, -1, -2))  # [..., n, H, W]
    if threshold is None:
        return pasted
    return pasted >= threshold


@functools.partial(jax.jit, static_argnames=("image_hw", "threshold"))
def paste_masks(
    masks: jax.Array,
    boxes: jax.Array,
    image_hw: tuple[int, int],
    threshold: float | None = DEFAULT_THRESHOLD,
) -> jax.Array:
    """Pastes masks into the image at their boxes, jittable (static ``image_hw``).

    Args:
      masks: [..., n, mh, mw] mask probabilities over each box.
      boxes: [..., n, 4] xyxy boxes in image pixels.
      image_hw: (height, width) of the output.
      threshold: pixels whose pasted probability is >= it are True; None returns the
        probabilities.

    Returns:
      [..., n, height, width] bool (float32 probabilities with ``threshold=None``).

    Example:
      >>> paste_masks(jnp.ones((2, 3, 7, 7)), jnp.ones((2, 3, 4)), (16, 24)).shape
      (2, 3, 16, 24)
    """
    return _paste(jnp, jnp.asarray(masks), jnp.asarray(boxes), image_hw, threshold)


def paste_masks_np(
    masks: np.ndarray,
    boxes: np.ndarray,
    image_hw: tuple[int, int],
    threshold: float | None = DEFAULT_THRESHOLD,
) -> np.ndarray:
    """``paste_masks`` in NumPy, on the host (any image size without recompiling).

    Example:
      >>> paste_masks_np(np.ones((1, 2, 2)), np.array([[0.0, 0.0, 2.0, 2.0]]), (3, 3))[0]
      array([[ True,  True, False],
             [ True,  True, False],
             [False, False, False]])
    """
    return _paste(np, np.asarray(masks), np.asarray(boxes), image_hw, threshold)
