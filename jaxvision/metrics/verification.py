"""Face verification: pairs of images, same person or not, and the LFW 10-fold accuracy.

The LFW protocol (Huang et al., 2007; as facenet and insightface evaluate it): the pairs
are split into 10 folds of equally many same-person and different-person pairs; for each
fold, the similarity threshold that gives the best accuracy on the other 9 folds decides
the fold's pairs ("same" when ``similarity >= threshold``); the verification accuracy is
the mean over the folds. Here the threshold is the exact optimum over every cut of the 9
folds' sorted similarities (the midpoint between the two similarities around the best
cut, the lowest such cut on ties) rather than a grid of thresholds.

``verification_pairs`` builds such pairs deterministically from a labelled set of images
(a held-out test split): all same-identity pairs or a seeded sample of them, and as many
different-identity pairs.

Example:
  >>> labels = np.repeat(np.arange(10), 3)  # 10 people, 3 images each
  >>> embeddings = np.eye(10)[labels] + 0.1 * np.random.default_rng(0).normal(size=(30, 10))
  >>> pairs, same, folds = verification_pairs(labels, num_pairs=40)
  >>> result = verification_accuracy(pair_similarities(embeddings, pairs), same, folds)
  >>> result["accuracy"], int(same.sum()), int((~same).sum())
  (1.0, 20, 20)
"""

from __future__ import annotations

import itertools

import numpy as np

NUM_FOLDS = 10
DEFAULT_NUM_PAIRS = 6000  # LFW's: 10 folds of 300 same and 300 different pairs.
DEFAULT_SEED = 0
# Guards the L2 normalisation of an all-zero embedding.
NORM_FLOOR = 1e-12


def _same_pairs(labels: np.ndarray) -> np.ndarray:
    """Every unordered pair (i < j) of images with one label, [p, 2]."""
    order = np.argsort(labels, kind="stable")
    _, starts, counts = np.unique(labels[order], return_index=True, return_counts=True)
    pairs = [
        pair
        for start, count in zip(starts, counts, strict=True)
        for pair in itertools.combinations(order[start : start + count], 2)
    ]
    return np.asarray(pairs, np.int64).reshape(-1, 2)


def _different_pairs(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct unordered pairs of images with different labels, [count, 2]."""
    chosen: dict[tuple[int, int], None] = {}  # Insertion-ordered: deterministic output.
    n = len(labels)
    while len(chosen) < count:
        i, j = rng.integers(0, n, size=(2, 2 * (count - len(chosen)) + 8))
        for a, b in zip(i.tolist(), j.tolist(), strict=True):
            if labels[a] != labels[b] and len(chosen) < count:
                chosen[(min(a, b), max(a, b))] = None
    return np.asarray(list(chosen), np.int64).reshape(-1, 2)


def verification_pairs(
    labels: np.ndarray,
    num_pairs: int = DEFAULT_NUM_PAIRS,
    num_folds: int = NUM_FOLDS,
    seed: int = DEFAULT_SEED,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Balanced same / different identity pairs of a labelled image set, in folds.

    The same function of the labels (and seed) every time: evaluations of one split with
    different models compare on the very same pairs.

    Args:
      labels: [n] identity of each image (any hashable dtype: ints, strings).
      num_pairs: pairs wanted, half same and half different; fewer when the set has fewer
        same-identity (or different-identity) pairs.
      num_folds: folds the pairs are dealt into, each with its share of both kinds.
      seed: seeds which pairs are drawn.

    Returns:
      ``(pairs [p, 2] image indices, same [p] bool, folds [p] int)``, ordered fold by fold.

    Raises:
      ValueError: no identity has two images, or only one identity is present.

    Example:
      >>> pairs, same, folds = verification_pairs(np.array([0, 0, 1, 1]), num_folds=2)
      >>> pairs.tolist(), same.tolist(), folds.tolist()
      ([[0, 1], [1, 2], [2, 3], [0, 2]], [True, False, True, False], [0, 0, 1, 1])
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or num_pairs < 2 or num_folds < 2:
        raise ValueError(
            f"need labels [n], num_pairs >= 2 and num_folds >= 2, got {labels.shape}, "
            f"{num_pairs}, {num_folds}"
        )
    rng = np.random.default_rng(seed)
    same_all = _same_pairs(labels)  # [p, 2]
    _, counts = np.unique(labels, return_counts=True)
    num_different = (len(labels) ** 2 - int(np.sum(counts.astype(np.int64) ** 2))) // 2
    half = min(num_pairs // 2, len(same_all), num_different)
    if half == 0:
        raise ValueError(
            f"cannot build verification pairs: {len(same_all)} same-identity pairs and "
            f"{num_different} different-identity pairs among {len(labels)} images "
            "(need an identity with two images and two identities)"
        )
    same = same_all[np.sort(rng.choice(len(same_all), half, replace=False))]
    same = same[rng.permutation(half)]  # [half, 2]
    different = _different_pairs(labels, half, rng)  # [half, 2]
    fold_of = np.arange(half) % num_folds  # [half]
    pairs, is_same, folds = [], [], []
    for k in range(num_folds):
        for kind, chosen in ((True, same), (False, different)):
            part = chosen[fold_of == k]
            pairs.append(part)
            is_same.append(np.full(len(part), kind))
            folds.append(np.full(len(part), k))
    return np.concatenate(pairs), np.concatenate(is_same), np.concatenate(folds)


def pair_similarities(embeddings: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Cosine similarity of the L2-normalised embeddings of each pair.

    Args:
      embeddings: [n, d] image embeddings.
      pairs: [p, 2] image indices.

    Returns:
      float64 [p] similarities in [-1, 1].

    Example:
      >>> pair_similarities(np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]]),
      ...                   np.array([[0, 1], [0, 2]])).tolist()
      [1.0, 0.0]
    """
    embeddings = np.asarray(embeddings, np.float64)
    norms = np.linalg.norm(embeddings, axis=-1, keepdims=True)  # [n, 1]
    unit = embeddings / np.maximum(norms, NORM_FLOOR)  # [n, d]
    pairs = np.asarray(pairs)
    return np.sum(unit[pairs[:, 0]] * unit[pairs[:, 1]], axis=-1)  # [p]


def best_threshold(similarities: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """The threshold with the best accuracy of "same iff similarity >= threshold".

    Every cut of the sorted similarities is tried; the threshold is the midpoint of the
    two similarities around the best cut (the lowest best cut on ties; one unit beyond
    the extremes for the all-same and all-different cuts).

    Args:
      similarities: [p] pair similarities.
      same: [p] bool, whether each pair is one identity.

    Returns:
      ``(threshold, accuracy)`` on these pairs.

    Example:
      >>> best_threshold(np.array([0.1, 0.2, 0.6, 0.9]), np.array([False, False, True, True]))
      (0.4, 1.0)
    """
    order = np.argsort(similarities, kind="stable")
    values = np.asarray(similarities, np.float64)[order]  # [p]
    is_same = np.asarray(same, bool)[order]  # [p]
    # Cut c (0..p): pairs below position c are called different, the rest same.
    different_below = np.concatenate([[0], np.cumsum(~is_same)])  # [p + 1]
    same_from = np.sum(is_same) - np.concatenate([[0], np.cumsum(is_same)])  # [p + 1]
    correct = different_below + same_from  # [p + 1]
    # A cut between two equal similarities cannot be made by a threshold.
    possible = np.concatenate([[True], values[1:] > values[:-1], [True]])  # [p + 1]
    cut = int(np.argmax(np.where(possible, correct, -1)))
    lower = values[cut - 1] if cut > 0 else values[0] - 2.0
    upper = values[cut] if cut < len(values) else values[-1] + 2.0
    return float((lower + upper) / 2), float(correct[cut] / len(values))


def verification_accuracy(
    similarities: np.ndarray,
    same: np.ndarray,
    folds: np.ndarray | None = None,
    num_folds: int = NUM_FOLDS,
) -> dict[str, float]:
    """LFW-protocol verification accuracy: a threshold chosen on the other folds, per fold.

    Args:
      similarities: [p] pair similarities (higher: more alike).
      same: [p] bool, whether each pair is one identity.
      folds: [p] fold of each pair (``verification_pairs``'s); None: ``num_folds``
        contiguous blocks, as LFW's pairs file and scikit-learn's ``KFold`` deal them.
      num_folds: folds when ``folds`` is None.

    Returns:
      ``accuracy`` (mean over folds of the held-out fold's accuracy), ``accuracy_std``
      (over folds), ``threshold`` (mean of the folds' thresholds), ``num_pairs``.

    Raises:
      ValueError: mismatched shapes or fewer than two folds.

    Example:
      >>> sims = np.array([0.9, 0.8, 0.3, 0.2] * 5)
      >>> same = np.array([True, True, False, False] * 5)
      >>> verification_accuracy(sims, same, num_folds=5)["accuracy"]
      1.0
    """
    similarities = np.asarray(similarities, np.float64)
    same = np.asarray(same, bool)
    if folds is None:
        folds = np.arange(len(similarities)) * num_folds // max(len(similarities), 1)
    folds = np.asarray(folds)
    if not similarities.shape == same.shape == folds.shape or similarities.ndim != 1:
        raise ValueError(
            f"similarities, same and folds must be [p] alike, got {similarities.shape}, "
            f"{same.shape}, {folds.shape}"
        )
    fold_ids = np.unique(folds)
    if len(fold_ids) < 2:
        raise ValueError(f"need at least two folds, got {fold_ids.tolist()}")
    accuracies, thresholds = [], []
    for k in fold_ids:
        test = folds == k
        threshold, _ = best_threshold(similarities[~test], same[~test])
        accuracies.append(np.mean((similarities[test] >= threshold) == same[test]))
        thresholds.append(threshold)
    return {
        "accuracy": float(np.mean(accuracies)),
        "accuracy_std": float(np.std(accuracies)),
        "threshold": float(np.mean(thresholds)),
        "num_pairs": float(len(similarities)),
    }
