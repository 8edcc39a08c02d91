"""RoIAlign as two dense matmuls a box: the gather-free form of ``jaxvision.ops.roi_align``.

Bilinear RoIAlign of an axis-aligned box is separable: with ``A_y [out_h, H]`` holding, for
each output row, the summed bilinear weights of its samples over the map's rows (the same
samples, clamping, out-of-map zeros and ``1 / sampling_ratio`` as the gather form), and
``A_x [out_w, W]`` the same over the columns, a box's output is ``A_y @ F @ A_x^T`` for every
channel of ``F [H, W, C]``. Forward and backward are then dense matmuls (no gather, whose
transpose is a scatter-add); the cost grows with the map's area instead of with the
samples, so it pays on small maps only (``choose_impl``).

Several maps (FPN levels) are stacked along the rows, their widths zero-padded to the
widest (``stack_maps``): a box's ``A_y`` is zero outside its own level's rows and its
``A_x`` is its level's, so one pair of matmuls serves every level.

Example:
  >>> a_y = axis_matrix(jnp.array([[[0, 1]]]), jnp.array([[[0.25, 0.75]]]), 3)
  >>> a_y.tolist()
  [[[0.25, 0.75, 0.0]]]
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

IMPLS = ("gather", "matmul", "auto")
# "auto" takes the matmul form on cpu while its multiply-adds a box are at most this many
# times the gather form's samples: out_h * (sum of map areas + out_w * widest width), or
# out_h * width * (2 * sampling_ratio + out_w) for the rows form, against
# out_h * out_w * (2 * sampling_ratio)**2 [python -m benchmarks.roi_align_impls].
MAX_COST_RATIO = 40.0


def check_impl(impl: str) -> str:
    """``impl`` if it is one of ``IMPLS``, else a ValueError."""
    if impl not in IMPLS:
        raise ValueError(f"RoIAlign impl must be one of {IMPLS}, got {impl!r}")
    return impl


def _cheaper_than_gather(
    dense: int, output_size: tuple[int, int], sampling_ratio: int, backend: str | None
) -> bool:
    """Whether ``dense`` multiply-adds a box beat the gather form's samples (cpu only)."""
    if (backend or jax.default_backend()).lower() != "cpu":
        return False
    samples = output_size[0] * output_size[1] * (2 * sampling_ratio) ** 2
    return dense <= MAX_COST_RATIO * samples


def choose_impl(
    map_shapes: Sequence[tuple[int, int]],
    output_size: tuple[int, int],
    sampling_ratio: int,
    backend: str | None = None,
) -> str:
    """The faster RoIAlign form for boxes on these maps: "matmul" or "gather".

    On cpu, "matmul" where its cost is at most ``MAX_COST_RATIO`` times the gather form's;
    elsewhere "gather" (a scatter-add is cheap on accelerators).

    Args:
      map_shapes: (height, width) of each map a box may read (FPN levels).
      output_size: (out_h, out_w) bins.
      sampling_ratio: samples a bin along each axis.
      backend: "cpu", "gpu", ...; None means ``jax.default_backend()``.

    Returns:
      "matmul" or "gather".

    Example:
      >>> levels = [(32, 32), (16, 16), (8, 8), (4, 4)]  # 128 px images, P2-P5
      >>> choose_impl(levels, (7, 7), 2, "cpu"), choose_impl([(200, 200)], (7, 7), 2, "cpu")
      ('matmul', 'gather')
    """
    area = sum(h * w for h, w in map_shapes)
    widest = max(w for _, w in map_shapes)
    dense = output_size[0] * (area + output_size[1] * widest)
    return (
        "matmul" if _cheaper_than_gather(dense, output_size, sampling_ratio, backend) else "gather"
    )


def choose_rows_impl(
    width: int, output_size: tuple[int, int], sampling_ratio: int, backend: str | None = None
) -> str:
    """``choose_impl`` for the form that gathers whole rows and matmuls the columns only
    (no gradient: ``jaxvision.ops.roi_sampling.mask_targets``).

    Args:
      width: the maps' width.
      output_size: (out_h, out_w) bins.
      sampling_ratio: samples a bin along each axis.
      backend: "cpu", "gpu", ...; None means ``jax.default_backend()``.

    Returns:
      "matmul" or "gather".

    Example:
      >>> choose_rows_impl(128, (28, 28), 2, "cpu"), choose_rows_impl(800, (28, 28), 2, "cpu")
      ('matmul', 'gather')
    """
    dense = output_size[0] * width * (2 * sampling_ratio + output_size[1])
    return (
        "matmul" if _cheaper_than_gather(dense, output_size, sampling_ratio, backend) else "gather"
    )


def axis_matrix(indices: jax.Array, weights: jax.Array, extent: int) -> jax.Array:
    """The dense sampling matrix of one axis from its (index, weight) pairs.

    Args:
      indices: [n, bins, k] int rows (or columns) in [0, extent).
      weights: [n, bins, k] their weights (0 where a sample does not count).
      extent: the map's size along the axis (static).

    Returns:
      [n, bins, extent] float32: each bin's weights summed per row.
    """
    hit = indices[..., None] == jnp.arange(extent, dtype=indices.dtype)  # [n, bins, k, extent]
    return jnp.sum(jnp.where(hit, weights[..., None].astype(jnp.float32), 0.0), axis=-2)


def stack_maps(maps: Sequence[jax.Array]) -> jax.Array:
    """Maps [b, h_l, w_l, c] stacked along the rows as [b, sum h_l, c, widest] float32.

    Channels come before the (zero-padded) width so that the x matmul contracts the last
    axis; map l's rows start after those of the maps before it.
    """
    widest = max(m.shape[2] for m in maps)
    parts = []
    for m in maps:
        t = jnp.swapaxes(m.astype(jnp.float32), 2, 3)  # [b, h, c, w]
        parts.append(jnp.pad(t, ((0, 0), (0, 0), (0, 0), (0, widest - m.shape[2]))))
    return jnp.concatenate(parts, axis=1)


def separable_pool(stacked: jax.Array, a_y: jax.Array, a_x: jax.Array) -> jax.Array:
    """``A_y @ F @ A_x^T`` for every box and channel, batched over images.

    Args:
      stacked: [b, rows, c, width] maps (``stack_maps``).
      a_y: [b, n, out_h, rows] row weights of each box.
      a_x: [b, n, out_w, width] column weights of each box.

    Returns:
      [b, n, out_h, out_w, c] float32.
    """
    rows_pooled = jnp.einsum("bnyh,bhcw->bnycw", a_y, stacked)  # [b, n, out_h, c, width]
    pooled = jnp.einsum("bnycw,bnxw->bnycx", rows_pooled, a_x)  # [b, n, out_h, c, out_w]
    return jnp.swapaxes(pooled, -1, -2)  # [b, n, out_h, out_w, c]
