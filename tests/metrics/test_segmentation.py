"""mIoU, per-class IoU and pixel accuracy against a direct NumPy count of pixel sets."""

from __future__ import annotations

import numpy as np
import pytest

from jaxvision.metrics import segmentation


def test_scores_match_a_direct_count_of_pixels():
    rng = np.random.default_rng(0)
    k = 5
    true = rng.integers(0, k, (3, 9, 11))
    pred = np.where(rng.random(true.shape) < 0.6, true, rng.integers(0, k, true.shape))
    true[rng.random(true.shape) < 0.2] = segmentation.IGNORE_LABEL
    pred[pred == 4] = 0  # class 4 is never predicted
    conf = np.asarray(segmentation.confusion_matrix(pred, true, k))
    scores = segmentation.scores_from_confusion(conf)

    valid = true != segmentation.IGNORE_LABEL
    ious = []
    for c in range(k):
        inter = np.sum((pred == c) & (true == c) & valid)
        union = np.sum(((pred == c) | (true == c)) & valid)
        ious.append(inter / union)
    np.testing.assert_allclose(segmentation.per_class_iou(conf), ious, rtol=1e-12)
    assert scores["mIoU"] == pytest.approx(np.mean(ious), rel=1e-12)
    assert scores["pixel_accuracy"] == pytest.approx(np.mean(pred[valid] == true[valid]))
    assert conf.sum() == valid.sum()
