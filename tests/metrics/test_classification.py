"""Tests of the classification metrics against NumPy references."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.metrics.classification import masked_sums, topk_correct


def _reference_topk(logits, labels, k):
    """1.0 where the label is among the k largest logits (NumPy argsort, distinct logits)."""
    top = np.argsort(-logits, axis=-1)[:, :k]  # [b, k]
    return (top == labels[:, None]).any(axis=-1).astype(np.float32)


@pytest.mark.parametrize("k", [1, 2, 5, 10])
def test_topk_correct_matches_argsort(k):
    rng = np.random.default_rng(k)
    logits = rng.normal(size=(64, 10)).astype(np.float32)  # Distinct almost surely.
    labels = rng.integers(0, 10, size=64)
    out = topk_correct(jnp.asarray(logits), jnp.asarray(labels), k)
    assert out.shape == (64,) and out.dtype == jnp.float32
    expected = _reference_topk(logits, labels, k)
    np.testing.assert_array_equal(np.asarray(out), expected)
    if k < 10:
        assert 0 < expected.sum() < 64  # Both outcomes occur: the comparison is informative.


def test_topk_correct_top1_is_argmax():
    logits = np.array([[0.1, 0.9, 0.0], [2.0, -1.0, 1.0], [0.0, 0.1, 0.2]], np.float32)
    labels = np.array([1, 2, 0])
    out = topk_correct(jnp.asarray(logits), jnp.asarray(labels), 1)
    np.testing.assert_array_equal(np.asarray(out), [1.0, 0.0, 0.0])
    out = topk_correct(jnp.asarray(logits), jnp.asarray(labels), 2)
    np.testing.assert_array_equal(np.asarray(out), [1.0, 1.0, 0.0])


@pytest.mark.parametrize("k", [3, 4, 100])
def test_topk_correct_k_at_least_num_classes_counts_everything(k):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(16, 3)).astype(np.float32)
    labels = rng.integers(0, 3, size=16)
    out = topk_correct(jnp.asarray(logits), jnp.asarray(labels), k)
    np.testing.assert_array_equal(np.asarray(out), np.ones(16, np.float32))


def test_topk_correct_ties_favour_the_label():
    # Ties with the label's logit do not push it down: rank = classes strictly higher.
    logits = jnp.array(
        [
            [1.0, 1.0, 1.0, 1.0],  # All tied: correct even for k = 1.
            [2.0, 1.0, 1.0, 0.0],  # Label 2 ties with class 1, one class higher: rank 1.
            [2.0, 2.0, 1.0, 0.0],  # Label 2 below two tied classes: rank 2.
        ]
    )
    labels = jnp.array([3, 2, 2])
    np.testing.assert_array_equal(np.asarray(topk_correct(logits, labels, 1)), [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(np.asarray(topk_correct(logits, labels, 2)), [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(np.asarray(topk_correct(logits, labels, 3)), [1.0, 1.0, 1.0])


def test_topk_correct_bad_k():
    with pytest.raises(ValueError, match="k must be"):
        topk_correct(jnp.zeros((2, 3)), jnp.zeros(2, jnp.int32), 0)


def test_masked_sums():
    rng = np.random.default_rng(1)
    correct = rng.integers(0, 2, size=12).astype(np.float32)
    loss = rng.normal(size=12).astype(np.float32)
    mask = np.array([1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 0, 1], np.float32)
    out = masked_sums(
        {"correct": jnp.asarray(correct), "loss": jnp.asarray(loss)}, jnp.asarray(mask)
    )
    assert set(out) == {"correct", "loss", "count"}
    real = mask.astype(bool)
    np.testing.assert_allclose(float(out["correct"]), correct[real].sum(), rtol=1e-6)
    np.testing.assert_allclose(float(out["loss"]), loss[real].sum(), rtol=1e-5)
    assert float(out["count"]) == 8.0
    for value in out.values():
        assert value.shape == () and value.dtype == jnp.float32


def test_masked_sums_ignores_padding_values():
    # Padding may hold anything (even huge values); a bool or int mask works too.
    values = jnp.array([1.0, 2.0, 1e30, 3.0])
    for mask in (jnp.array([True, True, False, True]), jnp.array([1, 1, 0, 1])):
        out = masked_sums({"v": values, "i": jnp.array([1, 2, 7, 4])}, mask)
        assert float(out["v"]) == 6.0
        assert float(out["i"]) == 7.0
        assert float(out["count"]) == 3.0


def test_masked_sums_give_exact_mean_over_padded_batches():
    # Accuracy over 10 real examples padded to 3 batches of 4 equals the plain mean.
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(12, 5)).astype(np.float32)
    labels = rng.integers(0, 5, size=12)
    mask = np.array([1.0] * 10 + [0.0] * 2, np.float32)
    total, count = 0.0, 0.0
    for b in range(3):
        s = slice(4 * b, 4 * b + 4)
        correct = topk_correct(jnp.asarray(logits[s]), jnp.asarray(labels[s]), 1)
        sums = masked_sums({"top1": correct}, jnp.asarray(mask[s]))
        total += float(sums["top1"])
        count += float(sums["count"])
    expected = np.mean(logits[:10].argmax(-1) == labels[:10])
    assert count == 10.0
    np.testing.assert_allclose(total / count, expected)
