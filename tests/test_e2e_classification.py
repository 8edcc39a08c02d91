"""End to end: the demo config trains on the built-in dataset to a stated accuracy.

The demo config at a quarter of its length (150 steps of 128 images, under a minute on 2 CPU
cores) must reach ``MIN_ACCURACY`` top-1 on the whole held-out test split (2,000 images never
seen in training). The full demo (``make demo``) trains 600 steps of 128 and is held to 95% by
README/RESULTS.
"""

from __future__ import annotations

import pytest

from tests.engine import runs

pytestmark = pytest.mark.slow

# Far above chance (1/8) after 150 steps, with room for the seed and the CPU: seeds 0, 1 and 2
# gave 0.546, 0.579 and 0.605 on an AMD EPYC (the loss still falling fast; 200 steps: 0.746).
# The demo's 99.5% is a quality run (RESULTS.md).
MIN_ACCURACY = 0.4


def test_demo_config_learns_shapes(tmp_path, shapes_data_dir):
    config = runs.tiny_config(
        shapes_data_dir,
        **{
            "total_steps": 150,
            "batch_size": 128,
            "log_every": 25,
            "checkpoint_every": 150,
            "optimizer.warmup_steps": 25,
            "dataset.train_split": "train",
            "dataset.eval_split": "test",
            "eval_batch_size": 500,
        },
    )
    metrics = runs.train_in_process(config, str(tmp_path))
    assert metrics["num_examples"] == 2000
    assert metrics["accuracy"] >= MIN_ACCURACY, metrics
    assert metrics["top5_accuracy"] >= metrics["accuracy"]
    losses = [line["loss"] for line in runs.read_metrics(str(tmp_path))]
    assert losses[-1] < 0.5 * losses[0]
