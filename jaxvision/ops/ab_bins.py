"""Quantised ab colour bins for colorization as classification (Zhang et al., 2016, "Colorful
Image Colorization").

The ab plane is cut into a grid of ``GRID`` x ``GRID`` cells; the bins are the cells that some
sRGB colour falls in (``in_gamut_bins``: a cell is kept when an sRGB colour of any lightness
lies in it, tested on a 5 x 5 grid of points of the cell at 101 lightness levels: 262 cells
of size 10, where Zhang et al. keep 313 cells). A target ab value becomes a
distribution over its nearest bins (``soft_encode``), the loss is rebalanced towards rare
(saturated) colours with weights from the bins' prior (``rebalancing_weights``), and a
predicted distribution becomes an ab value by the annealed mean (``annealed_mean``).

Example:
  >>> centers = in_gamut_bins()  # [q, 2] ab bin centres
  >>> 250 < len(centers) < 350
  True
  >>> ab = jnp.array([[[[10.0, -20.0]]]])  # [1, 1, 1, 2]
  >>> dist = soft_encode(ab, centers)  # [1, 1, 1, q], sums to 1
  >>> round(float(dist.sum()), 4)
  1.0
  >>> decoded = annealed_mean(jnp.log(dist), centers, temperature=1.0)  # the mean of dist
  >>> bool(jnp.all(jnp.abs(decoded - ab) < 3.0))
  True
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

# Bin size in ab units and the range of the grid (the sRGB gamut's ab lies within +-110).
GRID = 10.0
AB_RANGE = 110.0
# Zhang et al.'s soft encoding: the 5 nearest bins, Gaussian weights of this sigma (ab units).
SOFT_NEIGHBOURS = 5
SOFT_SIGMA = 5.0
# Rebalancing: the prior mixed with the uniform distribution by this weight, after Gaussian
# smoothing of this sigma (ab units).
REBALANCE_MIX = 0.5
PRIOR_SIGMA = 5.0
# Annealed-mean temperature (the paper's 0.38: between the mean (1) and the mode (0)).
ANNEALED_TEMPERATURE = 0.38
# Lightness levels and sub-cell offsets at which a cell is tested for sRGB colours.
_GAMUT_LEVELS = 101
_GAMUT_SUBSAMPLES = 5


def _lab_to_linear_rgb_np(lab: np.ndarray) -> np.ndarray:
    """Unclipped linear RGB of Lab [..., 3] (float64): in gamut where all lie in [0, 1]."""
    from jaxvision.ops import color  # the constants of the conversion checked against skimage

    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([lab[..., 1] / 500.0 + fy, fy, fy - lab[..., 2] / 200.0], axis=-1)
    t = np.where(f > color.LAB_F_THRESHOLD, f**3, (f - color.LAB_OFFSET) / color.LAB_KAPPA)
    return (t * color.D65_WHITE) @ color.RGB_FROM_XYZ.T


@functools.cache
def _in_gamut_bins_np(grid: float) -> np.ndarray:
    steps = int(round(AB_RANGE / grid))
    axis = np.arange(-steps, steps + 1) * grid  # [n]
    a, b = np.meshgrid(axis, axis, indexing="ij")
    centers = np.stack([a.ravel(), b.ravel()], axis=-1)  # [n * n, 2]
    offsets = (np.linspace(-0.5, 0.5, _GAMUT_SUBSAMPLES) * grid)[:, None]  # [s, 1]
    sub = np.stack(np.meshgrid(offsets[:, 0], offsets[:, 0], indexing="ij"), -1).reshape(-1, 2)
    points = centers[:, None, None, :] + sub[None, :, None, :]  # [n*n, s*s, 1, 2]
    lightness = np.linspace(0.0, 100.0, _GAMUT_LEVELS)[None, None, :, None]  # [1, 1, l, 1]
    lab = np.concatenate(
        np.broadcast_arrays(lightness, points[..., :1], points[..., 1:]), axis=-1
    )  # [n*n, s*s, l, 3]
    rgb = _lab_to_linear_rgb_np(lab)
    ok = np.all((rgb >= 0.0) & (rgb <= 1.0), axis=-1)  # [n*n, s*s, l]
    return centers[ok.any(axis=(1, 2))].astype(np.float32)


def in_gamut_bins(grid: float = GRID) -> np.ndarray:
    """Centres [q, 2] (a, b) of the ab grid cells that hold some sRGB colour.

    Args:
      grid: the cell size in ab units.

    Returns:
      float32 NumPy array [q, 2], in row-major (a, then b) order.
    """
    return _in_gamut_bins_np(float(grid)).copy()


def _sq_distances(ab: jax.Array, centers: jax.Array) -> jax.Array:
    """Squared distances [..., q] of ab values [..., 2] to bin centres [q, 2]."""
    diff = ab[..., None, :] - centers  # [..., q, 2]
    return jnp.sum(diff * diff, axis=-1)  # [..., q]


def soft_encode(
    ab: jax.Array,
    centers: jax.Array | np.ndarray,
    neighbours: int = SOFT_NEIGHBOURS,
    sigma: float = SOFT_SIGMA,
) -> jax.Array:
    """Distributions over bins [..., q]: Gaussian weights on the ``neighbours`` nearest bins.

    Args:
      ab: [..., 2] ab values.
      centers: [q, 2] bin centres (``in_gamut_bins``).
      neighbours: how many nearest bins share the mass.
      sigma: the Gaussian's width in ab units.

    Returns:
      float32 [..., q] distributions (each sums to 1).
    """
    centers = jnp.asarray(centers, jnp.float32)
    d2 = _sq_distances(ab.astype(jnp.float32), centers)  # [..., q]
    neg_top, idx = jax.lax.top_k(-d2, neighbours)  # [..., k]
    weights = jax.nn.softmax(neg_top / (2.0 * sigma**2), axis=-1)  # [..., k]
    one_hot = jax.nn.one_hot(idx, centers.shape[0], dtype=jnp.float32)  # [..., k, q]
    return jnp.einsum("...k,...kq->...q", weights, one_hot)


def nearest_bin(ab: jax.Array, centers: jax.Array | np.ndarray) -> jax.Array:
    """Index [...] of the nearest bin centre of ab values [..., 2]."""
    return jnp.argmin(_sq_distances(ab.astype(jnp.float32), jnp.asarray(centers)), axis=-1)


def rebalancing_weights(
    prior: jax.Array,
    centers: jax.Array | np.ndarray,
    mix: float = REBALANCE_MIX,
    sigma: float = PRIOR_SIGMA,
) -> jax.Array:
    """Per-bin loss weights [q] from the bins' empirical prior, as Zhang et al.'s eq. 4.

    The prior is smoothed with a Gaussian over the ab plane, mixed with the uniform
    distribution (``mix``), inverted, and normalised so that its expectation under the
    smoothed prior is 1.

    Args:
      prior: [q] non-negative bin counts or frequencies (all zero gives uniform weights).
      centers: [q, 2] bin centres.
      mix: weight of the uniform distribution.
      sigma: smoothing width in ab units.

    Returns:
      float32 [q] weights.
    """
    centers = jnp.asarray(centers, jnp.float32)
    q = centers.shape[0]
    prior = prior.astype(jnp.float32)
    prior = jnp.where(jnp.sum(prior) > 0, prior / jnp.maximum(jnp.sum(prior), 1e-12), 1.0 / q)
    kernel = jnp.exp(-_sq_distances(centers, centers) / (2.0 * sigma**2))  # [q, q]
    smoothed = kernel @ prior
    smoothed = smoothed / jnp.sum(smoothed)  # [q]
    weights = 1.0 / ((1.0 - mix) * smoothed + mix / q)  # [q]
    return weights / jnp.sum(smoothed * weights)


def annealed_mean(
    logits: jax.Array,
    centers: jax.Array | np.ndarray,
    temperature: float = ANNEALED_TEMPERATURE,
) -> jax.Array:
    """ab values [..., 2] from bin logits [..., q]: the mean of softmax(logits / T).

    Args:
      logits: [..., q] unnormalised log-probabilities.
      centers: [q, 2] bin centres.
      temperature: 1 gives the mean, towards 0 the mode.

    Returns:
      float32 [..., 2] ab values.
    """
    probs = jax.nn.softmax(logits.astype(jnp.float32) / temperature, axis=-1)  # [..., q]
    return probs @ jnp.asarray(centers, jnp.float32)
