"""ab bins of colorization as classification, against direct NumPy and scikit-image checks."""

import jax.numpy as jnp
import numpy as np
from skimage import color as skcolor

from jaxvision.ops import ab_bins


def test_every_srgb_colour_falls_in_a_kept_bin():
    centers = ab_bins.in_gamut_bins()  # [q, 2]
    rgb = np.random.default_rng(0).uniform(size=(4000, 1, 3))
    ab = skcolor.rgb2lab(rgb)[:, 0, 1:]  # [n, 2]
    # The cell of each colour (nearest grid node) is one of the kept bins.
    cell = np.round(ab / ab_bins.GRID) * ab_bins.GRID  # [n, 2]
    kept = {tuple(c) for c in centers.tolist()}
    assert all(tuple(c) in kept for c in cell.tolist())
    # And the gamut test keeps no cell far from every sRGB colour: corners of the grid go.
    assert (110.0, 110.0) not in kept and (-110.0, -110.0) not in kept


def test_soft_encode_weights_the_nearest_bins():
    centers = ab_bins.in_gamut_bins()
    ab = np.array([[3.0, -12.0], [41.0, 17.0]], np.float32)
    dist = np.asarray(ab_bins.soft_encode(jnp.asarray(ab), centers))  # [2, q]
    np.testing.assert_allclose(dist.sum(-1), 1.0, atol=1e-6)
    d2 = ((ab[:, None] - centers[None]) ** 2).sum(-1)  # [2, q]
    for i in range(2):
        order = np.argsort(d2[i])
        expected = np.exp(-d2[i, order[:5]] / (2 * ab_bins.SOFT_SIGMA**2))
        np.testing.assert_allclose(dist[i, order[:5]], expected / expected.sum(), rtol=1e-5)
        assert dist[i, order[5:]].sum() == 0
    assert np.array_equal(np.asarray(ab_bins.nearest_bin(jnp.asarray(ab), centers)), d2.argmin(-1))


def test_rebalancing_weights_favour_rare_bins_with_unit_expectation():
    centers = ab_bins.in_gamut_bins()
    q = len(centers)
    prior = np.zeros(q, np.float32)
    common, rare = int(np.argmin((centers**2).sum(-1))), int(np.argmax((centers**2).sum(-1)))
    prior[common], prior[rare] = 1000.0, 1.0
    weights = np.asarray(ab_bins.rebalancing_weights(jnp.asarray(prior), centers))
    kernel = np.exp(-((centers[:, None] - centers[None]) ** 2).sum(-1) / (2 * 5.0**2))
    smoothed = kernel @ (prior / prior.sum())
    smoothed /= smoothed.sum()
    expected = 1.0 / (0.5 * smoothed + 0.5 / q)
    expected /= (smoothed * expected).sum()
    np.testing.assert_allclose(weights, expected, rtol=1e-4)
    assert weights[rare] > weights[common]
    uniform = np.asarray(ab_bins.rebalancing_weights(jnp.zeros(q), centers))
    assert np.all(np.isfinite(uniform))


def test_annealed_mean_between_mean_and_mode():
    centers = ab_bins.in_gamut_bins()
    logits = np.full(len(centers), -1e9, np.float32)
    logits[[10, 20]] = [np.log(0.7), np.log(0.3)]
    mean = np.asarray(ab_bins.annealed_mean(jnp.asarray(logits), centers, temperature=1.0))
    np.testing.assert_allclose(mean, 0.7 * centers[10] + 0.3 * centers[20], atol=1e-3)
    mode = np.asarray(ab_bins.annealed_mean(jnp.asarray(logits), centers, temperature=0.01))
    np.testing.assert_allclose(mode, centers[10], atol=1e-3)
