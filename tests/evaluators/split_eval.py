"""An eval split evaluated by the engine with the three evaluator kinds, and the same metrics
computed directly in NumPy: shared by the evaluator tests and their multi-process child.

Run as a child (one process of several): ``python -m tests.evaluators.split_eval
COORDINATOR NUM_PROCESSES PROCESS_ID``; it prints the engine's metrics as JSON.
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxvision.evaluators import ConfusionMatrixEvaluator, GatherEvaluator, MeanEvaluator

NUM_EXAMPLES = 37  # not a multiple of the batch: the last batch is padded
GLOBAL_BATCH = 8
NUM_CLASSES = 3
IGNORE = 255
PIXELS = (4, 5)


def source() -> list[dict[str, np.ndarray]]:
    """Examples with a value, a label, a prediction and a small label map and prediction."""
    rng = np.random.default_rng(0)
    examples = []
    for i in range(NUM_EXAMPLES):
        true = rng.integers(0, NUM_CLASSES, PIXELS).astype(np.int32)
        true[rng.random(PIXELS) < 0.1] = IGNORE
        examples.append(
            {
                "index": np.int32(i),
                "x": np.float32(rng.normal()),
                "label": np.int32(rng.integers(0, NUM_CLASSES)),
                "pred": np.int32(rng.integers(0, NUM_CLASSES)),
                "seg_true": true,
                "seg_pred": rng.integers(0, NUM_CLASSES, PIXELS).astype(np.int32),
            }
        )
    return examples


def evaluators() -> list:
    def means(out, batch):
        return {"accuracy": out["pred"] == out["label"], "x_mean": out["x"]}

    def summarize(rows):
        return {
            "x_median": float(np.median(rows["x"])),
            "rows": float(len(rows["x"])),
            "indices_complete": float(sorted(rows["index"].tolist()) == list(range(NUM_EXAMPLES))),
        }

    return [
        MeanEvaluator("means", means),
        GatherEvaluator(
            "gathered", lambda out, b: {"x": out["x"], "index": out["index"]}, summarize
        ),
        ConfusionMatrixEvaluator(
            "segmentation", lambda out, b: (out["seg_pred"], out["seg_true"]), ("a", "b", "c")
        ),
    ]


def engine_metrics() -> dict[str, float]:
    """The metrics of ``evaluators()`` over ``source()`` through the engine's evaluate."""
    from jaxvision.engine import evaluate, steps
    from jaxvision.engine import mesh as mesh_lib

    keys = ("index", "x", "label", "pred", "seg_true", "seg_pred")
    task = SimpleNamespace(
        eval_pp="", eval_keys=keys, max_boxes=None, eval_forward=lambda variables, batch: batch
    )
    config = ml_collections.ConfigDict(
        {
            "eval_batch_size": GLOBAL_BATCH,
            "dataset": {
                "eval_split": "test",
                "worker_count": 0,
                "read_threads": 1,
                "prefetch_buffer_size": 8,
            },
        }
    )
    mesh = mesh_lib.make_mesh()
    setup = SimpleNamespace(config=config, task=task, mesh=mesh, evaluators=evaluators())
    eval_step = steps.compile_eval_step(task, setup.evaluators, mesh)
    variables = {"unused": {"params": {"w": jnp.zeros(1)}}}
    return evaluate.evaluate(setup, variables, source(), eval_step)


def numpy_metrics() -> dict[str, float]:
    """The same metrics, computed directly."""
    examples = source()
    x = np.array([e["x"] for e in examples], np.float64)
    correct = np.array([e["pred"] == e["label"] for e in examples], np.float64)
    conf = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    for e in examples:
        keep = e["seg_true"] != IGNORE
        np.add.at(conf, (e["seg_true"][keep], e["seg_pred"][keep]), 1)
    tp = np.diag(conf).astype(np.float64)
    iou = tp / (conf.sum(0) + conf.sum(1) - tp)
    return {
        "accuracy": correct.mean(),
        "x_mean": x.mean(),
        "num_examples": float(NUM_EXAMPLES),
        "x_median": float(np.median(x)),
        "rows": float(NUM_EXAMPLES),
        "indices_complete": 1.0,
        "mIoU": iou.mean(),
        "pixel_accuracy": tp.sum() / conf.sum(),
        "mean_class_accuracy": np.mean(tp / conf.sum(1)),
        "iou/a": iou[0],
        "iou/b": iou[1],
        "iou/c": iou[2],
    }


if __name__ == "__main__":
    coordinator, num_processes, process_id = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator, num_processes, process_id)
    print(json.dumps(engine_metrics()))
