"""ArcFace against its formula; the attribute and landmark losses against NumPy."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.losses import face


def _arcface_reference(cosine, labels, s, m, easy_margin):
    """ArcFace from its definition: s cos(theta_y + m) for the label, s cos(theta_j) else;
    past theta + m = pi the reference implementation's fallbacks."""
    cosine = np.asarray(cosine, np.float64)
    logits = s * cosine.copy()
    for i, y in enumerate(labels):
        c = cosine[i, y]
        theta = math.acos(c)
        if easy_margin:
            target = math.cos(theta + m) if c > 0 else c
        else:
            target = math.cos(theta + m) if theta + m < math.pi else c - m * math.sin(m)
        logits[i, y] = s * target
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return logits, -log_probs[np.arange(len(labels)), labels]


@pytest.mark.parametrize("easy_margin", [False, True])
def test_arcface_matches_its_formula(easy_margin):
    rng = np.random.default_rng(0)
    cosine = rng.uniform(-1, 1, (6, 5))
    # Label cosines on both sides of 0 and of cos(pi - m): every branch is taken.
    cosine[:, 0] = [0.9, 0.3, -0.2, -0.85, -0.95, 0.0]
    labels = np.zeros(6, int)
    s, m = 30.0, 0.5
    want_logits, want_loss = _arcface_reference(cosine, labels, s, m, easy_margin)
    got_logits = face.arcface_logits(jnp.asarray(cosine), jnp.asarray(labels), s, m, easy_margin)
    got_loss = face.arcface_loss(jnp.asarray(cosine), jnp.asarray(labels), s, m, easy_margin)
    np.testing.assert_allclose(got_logits, want_logits, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got_loss, want_loss, rtol=1e-5, atol=1e-4)
    # The margin makes the label's logit smaller than s cos theta, never larger.
    assert np.all(np.asarray(got_logits)[:, 0] <= s * cosine[:, 0] + 1e-4)


def test_arcface_without_margin_is_scaled_softmax_and_gradients_are_finite():
    cosine = jnp.array([[1.0, 0.2, -1.0], [-1.0, 0.5, 0.1]])
    labels = jnp.array([0, 0])  # cos = +-1: where sin's derivative is infinite
    plain = face.arcface_loss(cosine, labels, scale=8.0, margin=0.0)
    expected = -jax.nn.log_softmax(8.0 * cosine)[:, 0]
    np.testing.assert_allclose(plain, expected, rtol=1e-5, atol=1e-6)
    grads = jax.grad(lambda c: face.arcface_loss(c, labels, 64.0, 0.5).sum())(cosine)
    assert np.all(np.isfinite(grads))


def test_arcface_bad_input():
    with pytest.raises(ValueError, match="labels"):
        face.arcface_loss(jnp.zeros((2, 3)), jnp.zeros((3,), int))
    with pytest.raises(ValueError, match="margin"):
        face.arcface_loss(jnp.zeros((2, 3)), jnp.zeros((2,), int), margin=2.0)


def test_attribute_and_landmark_losses_match_numpy():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    targets = np.array([[1, 0, 0], [1, 1, 1]], np.float64)
    p = 1 / (1 + np.exp(-logits))
    bce = -(targets * np.log(p) + (1 - targets) * np.log(1 - p))
    got = face.multilabel_sigmoid_loss(jnp.asarray(logits), jnp.asarray(targets, bool))
    np.testing.assert_allclose(got, bce.mean(axis=1), rtol=1e-5)
    mask = np.array([[1, 1, 0], [0, 1, 1]], np.float64)
    got = face.multilabel_sigmoid_loss(jnp.asarray(logits), jnp.asarray(targets), jnp.asarray(mask))
    np.testing.assert_allclose(got, (bce * mask).sum(1) / mask.sum(1), rtol=1e-5)
    pred, true = np.zeros((2, 5, 2)), np.arange(20.0).reshape(2, 5, 2) / 20
    np.testing.assert_allclose(
        face.landmark_l1_loss(jnp.asarray(pred), jnp.asarray(true)), true.mean(axis=(1, 2)), 1e-6
    )
