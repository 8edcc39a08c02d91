"""The three evaluator kinds against a direct NumPy computation, through the engine's eval loop.

The split's 37 examples do not fill the last batch of 8 (padded with masked copies), and
across 2 processes each holds an uneven share of the last batch's real examples: neither
may change a metric.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.evaluators import ConfusionMatrixEvaluator, GatherEvaluator, MeanEvaluator
from jaxvision.metrics import segmentation
from tests.engine import runs
from tests.evaluators import split_eval


def _assert_match(got: dict, expected: dict) -> None:
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-6, abs=1e-7), key


def test_padded_last_batch_leaves_every_kind_unchanged():
    _assert_match(split_eval.engine_metrics(), split_eval.numpy_metrics())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_with_uneven_batches_match_numpy():
    port = _free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.evaluators.split_eval", f"127.0.0.1:{port}", "2", str(i)],
            cwd=runs.REPO,
            env=runs.child_env(1),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    expected = split_eval.numpy_metrics()
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
        _assert_match(json.loads(out.strip().splitlines()[-1]), expected)


def test_mean_evaluator_gives_padding_no_weight():
    ev = MeanEvaluator("m", lambda out, batch: {"v": out})
    batch = {"mask": jnp.array([1.0, 0.0, 1.0])}
    acc = ev.merge(ev.init(), jax.device_get(ev.update(jnp.array([2.0, 1000.0, 4.0]), batch)))
    assert ev.result(acc) == {"v": 3.0, "num_examples": 2.0}
    with pytest.raises(ValueError, match="saw no batch"):
        ev.result(ev.init())


def test_gather_evaluator_keeps_real_rows_only():
    ev = GatherEvaluator("g", lambda out, b: {"v": out}, lambda rows: {"n": len(rows["v"])})
    acc = ev.init()
    for values, mask in (([1, 2, 3], [1, 1, 1]), ([4, 5, 6], [1, 0, 0])):
        update = ev.update(jnp.array(values), {"mask": jnp.array(mask, jnp.float32)})
        acc = ev.merge(acc, jax.device_get(update))
    assert ev.result(acc) == {"n": 4}
    bad = GatherEvaluator("bad", lambda out, b: {"mask": out}, lambda rows: {})
    with pytest.raises(ValueError, match="must not return 'mask'"):
        bad.update(jnp.zeros(2), {"mask": jnp.ones(2)})


def test_confusion_matrix_ignores_label_255_padding_and_out_of_range_labels():
    pred = jnp.array([[0, 1, 1], [1, 1, 0]])
    true = jnp.array([[0, 255, 7], [1, 1, 1]])
    mask = jnp.array([[1], [0]])  # the second example is padding
    conf = segmentation.confusion_matrix(pred, true, 2, mask=mask)
    np.testing.assert_array_equal(conf, [[1, 0], [0, 0]])
    ev = ConfusionMatrixEvaluator("s", lambda out, b: (out, b["t"]), ("x", "y"))
    acc = ev.merge(ev.init(), jax.device_get(ev.update(pred, {"t": true, "mask": jnp.ones(2)})))
    result = ev.result(acc)
    # Pixels counted: (0->0), (1->1), (1->1), (1->0): classes x, y.
    assert result["pixel_accuracy"] == pytest.approx(0.75)
    assert result["iou/x"] == pytest.approx(0.5) and result["iou/y"] == pytest.approx(2 / 3)
    assert result["mIoU"] == pytest.approx((0.5 + 2 / 3) / 2)


def test_a_class_absent_everywhere_has_no_iou_and_is_left_out_of_the_mean():
    conf = np.array([[3, 1, 0], [0, 2, 0], [0, 0, 0]])
    iou = segmentation.per_class_iou(conf)
    assert np.isnan(iou[2])
    scores = segmentation.scores_from_confusion(conf)
    assert scores["mIoU"] == pytest.approx((0.75 + 2 / 3) / 2)
    with pytest.raises(ValueError, match="no labelled pixel"):
        segmentation.scores_from_confusion(np.zeros((2, 2)))
