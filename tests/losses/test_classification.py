"""Tests of the classification losses against a NumPy log-softmax reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.losses.classification import softmax_cross_entropy


def _log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _reference(logits, labels, eps=0.0):
    """-sum(target * log_softmax) with target (1 - eps) one_hot + eps / k, in float64."""
    logits = np.asarray(logits, np.float64)
    k = logits.shape[-1]
    target = np.full(logits.shape, eps / k)
    target[np.arange(len(labels)), labels] += 1.0 - eps
    return -(target * _log_softmax(logits)).sum(axis=-1)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.5])
def test_matches_numpy_reference(eps):
    rng = np.random.default_rng(0)
    logits = (3 * rng.normal(size=(32, 7))).astype(np.float32)
    labels = rng.integers(0, 7, size=32)
    out = softmax_cross_entropy(jnp.asarray(logits), jnp.asarray(labels), label_smoothing=eps)
    assert out.shape == (32,) and out.dtype == jnp.float32
    np.testing.assert_allclose(
        np.asarray(out), _reference(logits, labels, eps), rtol=1e-5, atol=1e-6
    )


def test_hand_values():
    # Uniform logits: -log(1/4) whatever the label and the smoothing.
    out = softmax_cross_entropy(jnp.zeros((2, 4)), jnp.array([0, 3]))
    np.testing.assert_allclose(np.asarray(out), [np.log(4.0)] * 2, rtol=1e-6)
    out = softmax_cross_entropy(jnp.zeros((2, 4)), jnp.array([0, 3]), label_smoothing=0.3)
    np.testing.assert_allclose(np.asarray(out), [np.log(4.0)] * 2, rtol=1e-6)
    # Two classes, logits (log 3, 0): p = (3/4, 1/4).
    logits = jnp.array([[np.log(3.0), 0.0]])
    np.testing.assert_allclose(
        float(softmax_cross_entropy(logits, jnp.array([0]))[0]), -np.log(0.75), rtol=1e-6
    )
    # eps = 0.2, k = 2: target (0.9, 0.1).
    expected = -(0.9 * np.log(0.75) + 0.1 * np.log(0.25))
    np.testing.assert_allclose(
        float(softmax_cross_entropy(logits, jnp.array([0]), 0.2)[0]), expected, rtol=1e-6
    )


def test_smoothing_changes_the_loss():
    logits = jnp.array([[5.0, 0.0, -2.0]])
    plain = float(softmax_cross_entropy(logits, jnp.array([0]))[0])
    smooth = float(softmax_cross_entropy(logits, jnp.array([0]), 0.1)[0])
    assert smooth > plain  # A confident correct prediction is penalised by smoothing.


def test_large_logits_are_stable():
    logits = jnp.array([[1000.0, 0.0, -1000.0]])
    out = np.asarray(softmax_cross_entropy(logits, jnp.array([1])))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, [1000.0], rtol=1e-6)


def test_bfloat16_logits_computed_in_float32():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(8, 5)).astype(np.float32)
    labels = rng.integers(0, 5, size=8)
    low = jnp.asarray(logits, jnp.bfloat16)
    out = softmax_cross_entropy(low, jnp.asarray(labels))
    assert out.dtype == jnp.float32
    reference = _reference(np.asarray(low.astype(jnp.float32)), labels)
    np.testing.assert_allclose(np.asarray(out), reference, rtol=1e-5, atol=1e-6)


def test_gradient_is_softmax_minus_target():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(3, 4)).astype(np.float32)
    labels = np.array([0, 3, 1])
    eps = 0.2
    grad = jax.grad(lambda x: softmax_cross_entropy(x, jnp.asarray(labels), eps).sum())(
        jnp.asarray(logits)
    )
    target = np.full((3, 4), eps / 4)
    target[np.arange(3), labels] += 1 - eps
    np.testing.assert_allclose(
        np.asarray(grad), np.exp(_log_softmax(logits.astype(np.float64))) - target, atol=1e-6
    )


@pytest.mark.parametrize("eps", [-0.1, 1.0, 1.5])
def test_invalid_smoothing_raises(eps):
    with pytest.raises(ValueError, match="label_smoothing"):
        softmax_cross_entropy(jnp.zeros((1, 3)), jnp.array([0]), label_smoothing=eps)
