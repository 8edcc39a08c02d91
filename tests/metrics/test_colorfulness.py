"""Colourfulness against a direct NumPy transcription of Hasler and Suesstrunk's formula."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.metrics.colorfulness import colorfulness


def _reference(image: np.ndarray) -> float:
    r, g, b = (image[..., i].astype(np.float64) * 255 for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())


def test_matches_formula_on_padded_canvases():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(2, 20, 24, 3)).astype(np.float32)
    sizes = np.array([[20, 24], [13, 9]])
    got = np.asarray(colorfulness(jnp.asarray(images), jnp.asarray(sizes)))
    for i, (h, w) in enumerate(sizes):
        assert got[i] == pytest.approx(_reference(images[i, :h, :w]), rel=1e-4)
    full = np.asarray(colorfulness(jnp.asarray(images)))
    assert full[1] == pytest.approx(_reference(images[1]), rel=1e-4)


def test_rejects_non_rgb():
    with pytest.raises(ValueError, match="3"):
        colorfulness(jnp.zeros((1, 4, 4, 1)))
