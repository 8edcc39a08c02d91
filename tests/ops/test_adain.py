"""AdaIN against its formula, sigma(y) (x - mu(x)) / sigma(x) + mu(y), in NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from jaxvision.ops.adain import ADAIN_EPSILON, adain, channel_mean_std


def np_adain(x: np.ndarray, y: np.ndarray, eps: float = ADAIN_EPSILON) -> np.ndarray:
    mu_x, mu_y = x.mean(axis=(1, 2), keepdims=True), y.mean(axis=(1, 2), keepdims=True)
    sigma_x = np.sqrt(x.var(axis=(1, 2), keepdims=True) + eps)
    sigma_y = np.sqrt(y.var(axis=(1, 2), keepdims=True) + eps)
    return sigma_y * (x - mu_x) / sigma_x + mu_y


@pytest.mark.parametrize("style_batch", [1, 3])
def test_adain_matches_its_formula(style_batch):
    rng = np.random.default_rng(0)
    content = rng.normal(1.0, 2.0, size=(3, 5, 6, 8)).astype(np.float32)
    style = rng.normal(-1.0, 0.5, size=(style_batch, 4, 3, 8)).astype(np.float32)
    out = np.asarray(adain(content, style))
    np.testing.assert_allclose(out, np_adain(content, style), rtol=1e-4, atol=1e-5)
    # The output carries the style's statistics (up to the epsilon).
    mean, std = channel_mean_std(out)
    s_mean, s_std = channel_mean_std(np.broadcast_to(style, (3, *style.shape[1:])))
    np.testing.assert_allclose(mean, s_mean, atol=1e-4)
    np.testing.assert_allclose(std, s_std, rtol=1e-3)


def test_channel_mean_std_matches_numpy():
    x = np.random.default_rng(1).normal(size=(2, 3, 4, 5)).astype(np.float32)
    mean, std = channel_mean_std(x, eps=0.0)
    np.testing.assert_allclose(mean, x.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, x.std(axis=(1, 2)), rtol=1e-5)


def test_adain_refuses_mismatched_features():
    with pytest.raises(ValueError, match="content"):
        adain(np.zeros((1, 2, 2, 4)), np.zeros((1, 2, 2, 3)))
    with pytest.raises(ValueError, match="style batch"):
        adain(np.zeros((3, 2, 2, 4)), np.zeros((2, 2, 2, 4)))
