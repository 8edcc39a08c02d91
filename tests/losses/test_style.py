"""Style-transfer losses against NumPy references of their documented formulas."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.losses import style

RNG = np.random.default_rng(0)
# Two layers of different sizes and widths, a batch of 2.
FEATURES = {
    "a": RNG.normal(size=(2, 6, 5, 4)).astype(np.float32),
    "b": RNG.normal(size=(2, 3, 2, 7)).astype(np.float32),
}
WEIGHTS = {"a": 0.7, "b": 2.0}


def np_gram(f: np.ndarray) -> np.ndarray:
    """Per image: sum over positions of F[p, i] F[p, j], over h w c (float64)."""
    b, h, w, c = f.shape
    flat = f.reshape(b, h * w, c).astype(np.float64)
    return np.stack([x.T @ x for x in flat]) / (h * w * c)


def test_gram_matrix_matches_numpy_and_is_symmetric():
    gram = np.asarray(style.gram_matrix(jnp.asarray(FEATURES["a"])))
    np.testing.assert_allclose(gram, np_gram(FEATURES["a"]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gram, gram.transpose(0, 2, 1), rtol=1e-6)
    assert gram.shape == (2, 4, 4)


def test_gram_matrix_does_not_depend_on_the_image_size():
    # A feature map tiled 2 x 3 times has the same position mean of outer products.
    tiled = np.tile(FEATURES["a"], (1, 2, 3, 1))
    np.testing.assert_allclose(
        style.gram_matrix(tiled), style.gram_matrix(FEATURES["a"]), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("target_batch", [1, 2])
def test_style_loss_matches_numpy(target_batch):
    targets_np = {
        k: RNG.normal(size=(target_batch, v.shape[-1], v.shape[-1])) for k, v in FEATURES.items()
    }
    expected = sum(
        w * np.mean((np_gram(FEATURES[k]) - targets_np[k]) ** 2) for k, w in WEIGHTS.items()
    )
    targets = {k: jnp.asarray(v, jnp.float32) for k, v in targets_np.items()}
    loss = style.style_loss({k: jnp.asarray(v) for k, v in FEATURES.items()}, targets, WEIGHTS)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)


def test_style_loss_is_zero_at_the_style_and_its_gradient_skips_the_targets():
    targets = {k: style.gram_matrix(v) for k, v in FEATURES.items()}
    assert float(style.style_loss(FEATURES, targets, WEIGHTS)) < 1e-12
    grads = jax.grad(lambda t: style.style_loss({"a": FEATURES["a"] + 1.0}, t, {"a": 1.0}))(
        {"a": targets["a"]}
    )
    assert float(jnp.abs(grads["a"]).max()) == 0.0


def test_content_loss_matches_numpy():
    other = {k: RNG.normal(size=v.shape).astype(np.float32) for k, v in FEATURES.items()}
    expected = sum(w * np.mean((FEATURES[k] - other[k]) ** 2) for k, w in WEIGHTS.items())
    np.testing.assert_allclose(
        float(style.content_loss(FEATURES, other, WEIGHTS)), expected, rtol=1e-5
    )


def test_total_variation_matches_numpy():
    images = RNG.uniform(size=(2, 7, 9, 3)).astype(np.float32)
    expected = np.mean(np.diff(images, axis=1) ** 2) + np.mean(np.diff(images, axis=2) ** 2)
    np.testing.assert_allclose(float(style.total_variation_loss(images)), expected, rtol=1e-5)
    assert float(style.total_variation_loss(np.full((1, 4, 4, 3), 0.3))) == 0.0


def test_mean_std_loss_matches_numpy():
    other = {k: RNG.normal(2.0, 3.0, size=(1, 4, 4, v.shape[-1])) for k, v in FEATURES.items()}

    def stats(f):
        return f.mean(axis=(1, 2)), np.sqrt(f.var(axis=(1, 2)) + 1e-5)

    expected = 0.0
    for k, w in WEIGHTS.items():
        (m, s), (m2, s2) = stats(FEATURES[k].astype(np.float64)), stats(other[k])
        expected += w * (np.mean((m - m2) ** 2) + np.mean((s - s2) ** 2))
    other = {k: jnp.asarray(v, jnp.float32) for k, v in other.items()}
    np.testing.assert_allclose(
        float(style.mean_std_loss(FEATURES, other, WEIGHTS)), expected, rtol=1e-5
    )


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="at least one layer"):
        style.style_loss(FEATURES, {}, {})
    with pytest.raises(KeyError, match="'c'"):
        style.content_loss(FEATURES, FEATURES, {"c": 1.0})
    with pytest.raises(ValueError, match="h, w >= 2"):
        style.total_variation_loss(np.zeros((1, 1, 5, 3)))
    with pytest.raises(ValueError, match="features"):
        style.gram_matrix(np.zeros((4, 4, 3)))
