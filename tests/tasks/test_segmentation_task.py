"""The semantic segmentation task's class balancing: counts of the labels seen, and the
median-frequency weights they give the loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.data.sources import DatasetMeta
from jaxvision.losses.segmentation import (
    IGNORE_LABEL,
    balanced_class_weights,
    class_pixel_counts,
    pixel_cross_entropy,
)
from jaxvision.tasks import get_task
from jaxvision.tasks.base import MODEL
from jaxvision.tasks.segmentation import CLASS_COUNTS
from tests.engine import runs

CLASSES = ("a", "b", "c")


def _labels(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=(2, 8, 8), p=[0.8, 0.15, 0.05]).astype(np.uint8)
    labels[:, :2] = IGNORE_LABEL
    return labels  # [b, h, w]


def test_counts_and_weights_match_numpy():
    labels = _labels(0)
    expected = np.bincount(labels[labels != IGNORE_LABEL].ravel(), minlength=3)
    counts = class_pixel_counts(jnp.asarray(labels), 3)
    np.testing.assert_array_equal(np.asarray(counts), expected)
    freq = (expected + 1.0) / np.sum(expected + 1.0)
    want = np.minimum((np.median(freq) / freq) ** 0.5, 10.0)
    np.testing.assert_allclose(np.asarray(balanced_class_weights(counts, 0.5)), want, rtol=1e-6)


def _task(**overrides):
    config = runs.named_config(
        "unet_plain_small", {"model.kwargs.features": (4, 8), "dataset.name": "segmentation_folder",
                       **overrides},
    )  # fmt: skip
    return get_task(config.task)(config, DatasetMeta("mine", CLASSES, 4))


def test_balanced_loss_counts_every_batch_and_weights_its_cross_entropy():
    task = _task(**{"segmentation.balance_classes": 0.5})
    batches = [
        {"image": np.zeros((2, 8, 8, 3), np.uint8), "segmentation_mask": _labels(s)[..., None]}
        for s in (1, 2)
    ]
    variables = task.init_variables(jax.random.key(0), batches[0])[MODEL]
    params = variables["params"]
    state = {k: v for k, v in variables.items() if k != "params"}
    assert float(jnp.sum(state[CLASS_COUNTS]["counts"])) == 0.0
    seen = np.zeros(3)
    for batch in batches:
        before = state
        loss, (state, _) = task.loss(params, state, batch, jax.random.key(1))
        labels = batch["segmentation_mask"][..., 0]
        seen += np.bincount(labels[labels != IGNORE_LABEL].ravel(), minlength=3)
        np.testing.assert_array_equal(np.asarray(state[CLASS_COUNTS]["counts"]), seen)
        # The loss is the cross entropy weighted by the counts that include this batch.
        logits, _ = task.apply_train(params, before, batch["image"], jax.random.key(1))
        weights = balanced_class_weights(jnp.asarray(seen, jnp.float32), 0.5)
        want = pixel_cross_entropy(logits, jnp.asarray(labels, jnp.int32), IGNORE_LABEL, weights)
        np.testing.assert_allclose(float(loss), float(want), rtol=1e-6)
    assert float(weights[2]) > float(weights[1]) > float(weights[0])
    logits = task.apply_model(variables, batches[1]["image"], train=False)  # counts ignored
    assert logits.shape == (2, 8, 8, 3)


def test_fixed_and_balanced_weights_together_are_refused():
    with pytest.raises(ValueError, match="set one"):
        _task(**{"segmentation.balance_classes": 0.5, "segmentation.class_weights": (1.0,) * 3})
