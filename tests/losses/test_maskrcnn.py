"""Tests of jaxvision.losses.maskrcnn against direct NumPy formulas."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxvision.losses import maskrcnn


def bce(x, t):
    return np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))


def test_rpn_loss():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 6))
    deltas, targets = rng.normal(size=(2, 6, 4)), rng.normal(size=(2, 6, 4))
    valid = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], bool)
    positive = np.array([[1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0]], bool)
    cls, box = maskrcnn.rpn_loss(logits, deltas, targets, valid, positive)
    expected_cls = np.sum(bce(logits, positive) * valid) / 12
    expected_box = np.sum(np.abs(deltas - targets).sum(-1) * positive) / 12
    np.testing.assert_allclose(float(cls), expected_cls, rtol=1e-5)
    np.testing.assert_allclose(float(box), expected_box, rtol=1e-5)


def test_fast_rcnn_loss():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 5, 4))  # 3 classes + background
    labels = np.array([[0, 2, 3, 3, 3], [1, 3, 3, 3, 3]])
    deltas, targets = rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 5, 4))
    valid = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    positive = labels < 3
    cls, box = maskrcnn.fast_rcnn_loss(logits, labels, deltas, targets, valid, positive, beta=0.5)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    ce = -np.take_along_axis(log_probs, labels[..., None], -1)[..., 0]
    np.testing.assert_allclose(float(cls), np.sum(ce * valid) / 8, rtol=1e-5)
    d = np.abs(deltas - targets)
    smooth = np.where(d < 0.5, 0.5 * d**2 / 0.5, d - 0.25).sum(-1)
    np.testing.assert_allclose(float(box), np.sum(smooth * positive) / 8, rtol=1e-5)


def test_mask_loss_averages_positive_pixels_only():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(2, 3, 4, 4))
    targets = (rng.uniform(size=(2, 3, 4, 4)) > 0.5).astype(np.float32)
    valid = np.array([[1, 0, 0], [1, 1, 0]], bool)
    expected = np.sum(bce(logits, targets) * valid[..., None, None]) / (3 * 16)
    np.testing.assert_allclose(
        float(maskrcnn.mask_loss(logits, targets, valid)), expected, rtol=1e-5
    )
    assert float(maskrcnn.mask_loss(logits, targets, np.zeros((2, 3), bool))) == 0.0


def test_gradients_are_finite_on_empty_buffers():
    outputs = {
        "rpn_logits": jnp.zeros((1, 4)),
        "rpn_deltas": jnp.zeros((1, 4, 4)),
        "rpn_box_targets": jnp.full((1, 4, 4), 1e9),
        "rpn_valid": jnp.zeros((1, 4), bool),
        "rpn_positive": jnp.zeros((1, 4), bool),
        "roi_logits": jnp.zeros((1, 3, 3)),
        "roi_labels": jnp.full((1, 3), 2),
        "roi_deltas": jnp.zeros((1, 3, 4)),
        "roi_box_targets": jnp.zeros((1, 3, 4)),
        "roi_valid": jnp.zeros((1, 3), bool),
        "roi_positive": jnp.zeros((1, 3), bool),
        "mask_logits": jnp.zeros((1, 2, 4, 4)),
        "mask_targets": jnp.zeros((1, 2, 4, 4)),
        "mask_valid": jnp.zeros((1, 2), bool),
    }
    floats = {k: v for k, v in outputs.items() if v.dtype == jnp.float32}
    others = {k: v for k, v in outputs.items() if k not in floats}
    total = lambda f: sum(maskrcnn.maskrcnn_losses({**f, **others}).values())
    assert float(total(floats)) == 0.0
    grads = jax.jit(jax.grad(total))(floats)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
