"""Face verification: deterministic balanced pairs, the exact best threshold, and the LFW
10-fold accuracy on embeddings whose answer is known."""

import numpy as np
import pytest

from jaxvision.metrics import verification as ver


def _brute_force_threshold(similarities, same):
    """Every candidate threshold (midpoints of neighbours, and 1 beyond both ends) tried in
    increasing order; the first best wins."""
    values = np.unique(similarities)
    candidates = [values[0] - 1.0, *((values[1:] + values[:-1]) / 2), values[-1] + 1.0]
    accuracies = [np.mean((similarities >= t) == same) for t in candidates]
    best = int(np.argmax(accuracies))
    return candidates[best], accuracies[best]


def _lfw_reference(similarities, same, folds):
    accuracies = []
    for k in np.unique(folds):
        test = folds == k
        threshold, _ = _brute_force_threshold(similarities[~test], same[~test])
        accuracies.append(np.mean((similarities[test] >= threshold) == same[test]))
    return float(np.mean(accuracies))


def test_pairs_are_deterministic_balanced_and_dealt_into_folds():
    labels = np.repeat(np.arange(40), 5)[np.random.default_rng(0).permutation(200)]
    pairs, same, folds = ver.verification_pairs(labels, num_pairs=600, num_folds=10, seed=3)
    again = ver.verification_pairs(labels, num_pairs=600, num_folds=10, seed=3)
    for a, b in zip((pairs, same, folds), again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(pairs) == 600 and same.sum() == 300
    np.testing.assert_array_equal(labels[pairs[:, 0]] == labels[pairs[:, 1]], same)
    assert np.all(pairs[:, 0] < pairs[:, 1])
    assert len({tuple(p) for p in pairs}) == 600  # no pair twice
    for k in range(10):  # each fold: 30 same and 30 different, in a contiguous block
        assert same[folds == k].sum() == 30 and (~same[folds == k]).sum() == 30
    assert np.all(np.diff(folds) >= 0)
    other_seed = ver.verification_pairs(labels, num_pairs=600, num_folds=10, seed=4)[0]
    assert not np.array_equal(pairs, other_seed)


def test_pairs_are_capped_by_what_the_labels_allow():
    pairs, same, _ = ver.verification_pairs(np.array([0, 0, 0, 1, 2]), num_pairs=100, num_folds=2)
    assert same.sum() == 3 and len(pairs) == 6  # 3 same-identity pairs exist
    with pytest.raises(ValueError, match="same-identity"):
        ver.verification_pairs(np.arange(10))  # nobody has two images
    with pytest.raises(ValueError, match="same-identity"):
        ver.verification_pairs(np.zeros(10))  # one person only


def test_best_threshold_is_the_exact_optimum():
    rng = np.random.default_rng(1)
    for _ in range(5):
        similarities = np.round(rng.normal(size=60), 1)  # ties included
        same = rng.random(60) < 0.5
        got = ver.best_threshold(similarities, same)
        np.testing.assert_allclose(got, _brute_force_threshold(similarities, same))


def test_verification_accuracy_on_known_embeddings():
    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(50), 6)
    centres = rng.normal(size=(50, 64))
    pairs, same, folds = ver.verification_pairs(labels, num_pairs=1000)
    # Well separated identities: every pair is decided right.
    tight = centres[labels] + 0.05 * rng.normal(size=(300, 64))
    result = ver.verification_accuracy(ver.pair_similarities(tight, pairs), same, folds)
    assert result["accuracy"] == 1.0 and result["accuracy_std"] == 0.0
    assert result["num_pairs"] == 1000.0 and 0.0 < result["threshold"] < 1.0
    # Embeddings unrelated to identity: chance.
    noise = rng.normal(size=(300, 64))
    result = ver.verification_accuracy(ver.pair_similarities(noise, pairs), same, folds)
    assert 0.4 < result["accuracy"] < 0.6
    # In between: the 10-fold protocol against a brute-force implementation of it.
    loose = centres[labels] + 1.2 * rng.normal(size=(300, 64))
    similarities = ver.pair_similarities(loose, pairs)
    result = ver.verification_accuracy(similarities, same, folds)
    assert 0.6 < result["accuracy"] < 1.0
    assert result["accuracy"] == pytest.approx(_lfw_reference(similarities, same, folds))


def test_threshold_is_chosen_on_the_other_folds():
    # Fold 0's pairs alone would pick a threshold near 0.5; the other folds pick ~0.85,
    # which gets fold 0's middle pairs wrong: its accuracy is what cross-validation sees.
    same = np.array([True, False] * 10)
    similarities = np.where(same, 0.9, 0.8)
    similarities[:4] = [0.6, 0.4, 0.6, 0.4]  # fold 0: same pairs at 0.6
    result = ver.verification_accuracy(similarities, same, np.repeat(np.arange(5), 4))
    assert result["accuracy"] == pytest.approx((0.5 + 4 * 1.0) / 5)
    unseen = ver.verification_accuracy(similarities, same, num_folds=5)  # contiguous folds
    assert unseen == result


def test_pair_similarities_are_cosines():
    embeddings = np.array([[3.0, 4.0], [6.0, 8.0], [-4.0, 3.0], [0.0, 0.0]])
    got = ver.pair_similarities(embeddings, np.array([[0, 1], [0, 2], [1, 3]]))
    np.testing.assert_allclose(got, [1.0, 0.0, 0.0], atol=1e-12)
