"""Segmentation losses against direct NumPy computations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.losses.segmentation import IGNORE_LABEL, pixel_cross_entropy, soft_dice_loss

K = 4


def _example(seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, (2, 5, 6, K)).astype(np.float32)  # [b, h, w, k]
    labels = rng.integers(0, K, (2, 5, 6))  # [b, h, w]
    labels[rng.random(labels.shape) < 0.3] = IGNORE_LABEL
    labels[0, 0, 0] = K + 3  # out of range: counts nowhere either
    return logits, labels


def _numpy_ce(logits, labels, weights=None):
    total, norm = 0.0, 0.0
    for idx in np.ndindex(labels.shape):
        y = labels[idx]
        if y == IGNORE_LABEL or not 0 <= y < K:
            continue
        z = logits[idx].astype(np.float64)
        nll = np.log(np.sum(np.exp(z - z.max()))) + z.max() - z[y]
        w = 1.0 if weights is None else weights[y]
        total, norm = total + w * nll, norm + w
    return total / norm


@pytest.mark.parametrize("weights", [None, [0.5, 2.0, 1.0, 3.0]])
def test_cross_entropy_matches_numpy_over_counted_pixels(weights):
    logits, labels = _example()
    got = pixel_cross_entropy(jnp.asarray(logits), jnp.asarray(labels), class_weights=weights)
    assert float(got) == pytest.approx(_numpy_ce(logits, labels, weights), rel=1e-5)


def test_ignored_pixels_get_no_gradient_and_all_ignored_is_zero():
    logits, labels = _example()
    grad = jax.grad(lambda z: pixel_cross_entropy(z, jnp.asarray(labels)))(jnp.asarray(logits))
    ignored = (labels == IGNORE_LABEL) | (labels >= K)
    assert np.all(np.asarray(grad)[ignored] == 0) and np.any(np.asarray(grad)[~ignored] != 0)
    none = jnp.full(labels.shape, IGNORE_LABEL)
    assert float(pixel_cross_entropy(jnp.asarray(logits), none)) == 0.0
    assert float(soft_dice_loss(jnp.asarray(logits), none)) == 0.0


def _numpy_dice(logits, labels, weights=None, smooth=1.0):
    z = logits.astype(np.float64)
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    valid = (labels != IGNORE_LABEL) & (labels >= 0) & (labels < K)
    terms, norm = 0.0, 0.0
    for c in range(K):
        t = (labels == c) & valid
        if not t.any():
            continue
        pc = p[..., c] * valid
        dice = (2 * np.sum(pc * t) + smooth) / (np.sum(pc) + np.sum(t) + smooth)
        w = 1.0 if weights is None else weights[c]
        terms, norm = terms + w * (1 - dice), norm + w
    return terms / norm


@pytest.mark.parametrize("weights", [None, [1.0, 0.0, 2.0, 1.0]])
def test_soft_dice_matches_numpy_over_present_classes(weights):
    logits, labels = _example(1)
    labels[labels == 3] = 0  # class 3 absent: left out of the mean
    got = soft_dice_loss(jnp.asarray(logits), jnp.asarray(labels), class_weights=weights)
    assert float(got) == pytest.approx(_numpy_dice(logits, labels, weights), rel=1e-5)


def test_wrong_number_of_class_weights_is_refused():
    logits, labels = _example()
    for loss in (pixel_cross_entropy, soft_dice_loss):
        with pytest.raises(ValueError, match="4 entries"):
            loss(jnp.asarray(logits), jnp.asarray(labels), class_weights=[1.0, 2.0])
