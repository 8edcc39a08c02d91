"""Geometric self-ensemble: a restoring network's output averaged over flips and transposes.

EDSR's "+" models (Lim et al., 2017; after Timofte et al., 2016): run the network on the 8
images of the input's dihedral group (the identity, the three flips, and the same four
transposed), map each output back, and average. A network trained with flips and 90-degree
rotations answers each a little differently; the mean is usually a little better (a few
tenths of a dB for super-resolution) for 8x the inference.

The transforms act on height and width only, so any network whose output is its input's
grid scaled (restoration, super-resolution) works: the flips and the transpose commute with
the scaling. The transforms of one orientation go through the network as one batch (up to
4x the batch), the transposed ones (8 transforms only) as a second: a traced function runs
the network once, or twice for 8.

Example:
  >>> x = jnp.arange(6.0).reshape(1, 2, 3, 1)
  >>> bool(jnp.allclose(self_ensemble(lambda y: 2 * y, x), 2 * x))  # equivariant: unchanged
  True
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

# How many transforms: the identity; with the left-right flip; all flips; flips and transposes.
TRANSFORM_COUNTS = (1, 2, 4, 8)
# The flips of one orientation, as (flip rows, flip columns), in the order they are batched.
_FLIPS = ((False, False), (False, True), (True, False), (True, True))


def _flip(x: jax.Array, rows: bool, cols: bool) -> jax.Array:
    """Flips [b, h, w, c] upside down (``rows``) and/or left-right (``cols``)."""
    axes = tuple(a for a, on in ((1, rows), (2, cols)) if on)
    return jnp.flip(x, axes) if axes else x


def _transpose(x: jax.Array) -> jax.Array:
    """Swaps height and width of [b, h, w, c]."""
    return jnp.swapaxes(x, 1, 2)


def _orientation(fn, x: jax.Array, flips, transposed: bool) -> list[jax.Array]:
    """``fn``'s outputs for ``flips`` of ``x`` (transposed first if ``transposed``), mapped back:
    one [b, H, W, c'] each."""
    b = x.shape[0]
    base = _transpose(x) if transposed else x
    batch = jnp.concatenate([_flip(base, r, c) for r, c in flips], axis=0)  # [n * b, ...]
    out = fn(batch)  # [n * b, H', W', c']
    back = []
    for i, (r, c) in enumerate(flips):
        y = _flip(out[i * b : (i + 1) * b], r, c)  # flips are their own inverses
        back.append(_transpose(y) if transposed else y)
    return back


def self_ensemble(
    fn: Callable[[jax.Array], jax.Array], x: jax.Array, transforms: int = 8
) -> jax.Array:
    """The mean of ``fn`` over ``transforms`` flips / transposes of ``x``, each mapped back.

    Args:
      fn: images [n, h, w, c] -> [n, s * h, s * w, c'] (any scale s, the same for both axes;
        with ``transforms`` 8 it also takes [n, w, h, c], the transposed images).
      x: [b, h, w, c] inputs.
      transforms: 1 (``fn(x)`` alone), 2 (and the left-right flip), 4 (every flip) or 8
        (every flip, of ``x`` and of its transpose: the dihedral group).

    Returns:
      [b, s * h, s * w, c'] float32, the mean of the mapped-back outputs.

    Raises:
      ValueError: ``transforms`` not in ``TRANSFORM_COUNTS``.

    Example:
      >>> x = jnp.arange(4.0).reshape(1, 1, 4, 1)
      >>> shift = lambda y: jnp.roll(y, 1, axis=2)  # not flip-equivariant
      >>> self_ensemble(shift, x, transforms=2)[0, 0, :, 0]  # its flip rolls the other way
      Array([2., 1., 2., 1.], dtype=float32)
    """
    if transforms not in TRANSFORM_COUNTS:
        raise ValueError(
            f"self_ensemble transforms must be one of {TRANSFORM_COUNTS}, got {transforms}"
        )
    if transforms == 1:
        return fn(x).astype(jnp.float32)
    outs = _orientation(fn, x, _FLIPS[:transforms], transposed=False)  # all 4 for 8
    if transforms == 8:
        outs += _orientation(fn, x, _FLIPS, transposed=True)
    return jnp.mean(jnp.stack([o.astype(jnp.float32) for o in outs]), axis=0)
