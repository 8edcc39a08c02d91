"""The Mask R-CNN task: a few compiled train steps, evaluation (box and mask AP through
pycocotools) and prediction, on hand-made batches with ``instance_masks``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.data.sources import DatasetMeta
from jaxvision.engine import build, steps
from jaxvision.engine import mesh as mesh_lib
from jaxvision.engine.sharding import shardings_of
from jaxvision.ops import roi_sampling
from jaxvision.tasks import detection, maskrcnn_eval
from tests.engine import runs

SIZE = 64
MAX_BOXES = 4
META = DatasetMeta("test", ("a", "b", "c"), 8)
STEPS = 6
# XLA:CPU compiles threefry's loops slowly (most of an init's compile time); the "rbg" keys
# compile in a fraction of it and sample as well for these tests.
KEY_IMPL = "rbg"
# A tiny network and small sample budgets: the compiled steps stay seconds on a CPU.
TINY = {
    "model.backbone_kwargs.num_filters": 8,
    "model.kwargs.fpn_features": 16,
    "model.kwargs.box_head_fc": 32,
    "model.kwargs.mask_head_features": 16,
    "model.kwargs.mask_head_convs": 1,
    "model.kwargs.rpn_pre_nms_top_k": (64, 32),
    "model.kwargs.rpn_post_nms_top_k": (32, 16),
    "model.kwargs.rpn_samples": 32,
    "model.kwargs.roi_samples": 32,
    "detection.max_boxes": MAX_BOXES,
    "detection.max_detections": 6,
    "batch_size": 2,
    "total_steps": 20,
    "optimizer.warmup_steps": 1,
    "optimizer.learning_rate": 3e-3,
}


def _batch(rng: np.random.Generator, objects=(2, 0)) -> dict[str, np.ndarray]:
    """Images with non-overlapping boxes (one a horizontal band), an ellipse mask in each."""
    b = len(objects)
    boxes = np.zeros((b, MAX_BOXES, 4), np.float32)
    labels = np.full((b, MAX_BOXES), -1, np.int32)
    masks = np.zeros((b, MAX_BOXES, SIZE, SIZE), bool)
    yy, xx = np.mgrid[:SIZE, :SIZE] + 0.5
    for i, n in enumerate(objects):
        for j in range(n):
            y0, x0 = 20 * j + 2, int(rng.integers(0, 30))
            y1, x1 = y0 + 18, x0 + int(rng.integers(16, 32))
            boxes[i, j] = np.array([y0, x0, y1, x1]) / SIZE
            labels[i, j] = rng.integers(0, len(META.class_names))
            cy, cx, ry, rx = (y0 + y1) / 2, (x0 + x1) / 2, (y1 - y0) / 2, (x1 - x0) / 2
            masks[i, j] = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    box_mask = labels >= 0
    return {
        "image": rng.integers(0, 256, (b, SIZE, SIZE, 3), dtype=np.uint8),
        "boxes": boxes,
        "labels": labels,
        "box_mask": box_mask,
        "box_ignore": np.zeros_like(box_mask),
        "instance_masks": masks,
        "orig_size": np.tile(np.asarray([[SIZE, SIZE]], np.int32), (b, 1)),
        "image_window": np.tile(np.asarray([[0, 0, 1, 1]], np.float32), (b, 1)),
        "num_dropped_boxes": np.zeros((b,), np.int32),
        "mask": np.ones((b,), np.float32),
    }


@pytest.fixture(scope="module")
def trained():
    """(setup, state after STEPS steps on one batch, losses of each step, batch)."""
    setup = build.build(runs.named_config("maskrcnn_small", TINY), META, mesh_lib.make_mesh())
    batch = _batch(np.random.default_rng(0))
    train_batch = {k: batch[k] for k in setup.task.train_keys}
    state = build.init_state(setup, train_batch, jax.random.key(0, impl=KEY_IMPL))
    step = steps.compile_train_step(setup.task, setup.mesh, shardings_of(state))
    history = []
    for i in range(STEPS):
        key = jax.random.fold_in(jax.random.key(1, impl=KEY_IMPL), i)
        state, metrics = step(state, train_batch, key)
        history.append(jax.device_get(metrics))
    return setup, state, history, batch


def test_train_steps_reduce_the_loss(trained):
    _, _, history, _ = trained
    terms = ("rpn_cls_loss", "rpn_box_loss", "cls_loss", "box_loss", "mask_loss")
    for metrics in history:
        assert all(np.isfinite(metrics[k]) for k in (*terms, "loss"))
        assert metrics["loss"] == pytest.approx(sum(metrics[k] for k in terms), rel=1e-5)
    assert history[0]["mask_loss"] > 0.5  # sigmoid(0) on 0/1 targets: log 2
    assert history[-1]["loss"] < history[0]["loss"]


def test_eval_and_predict_run_compiled(trained):
    setup, state, _, batch = trained
    task = setup.task
    variables = state.eval_variables()
    rows_fn = jax.jit(task.eval_forward)
    (evaluator,) = task.evaluators()
    accumulator = evaluator.init()
    for seed in range(2):
        part = _batch(np.random.default_rng(seed + 5), objects=(3, 1))
        part = {k: part[k] for k in (*task.eval_keys, "mask")}
        update = jax.device_get(evaluator.update(rows_fn(variables, part), part))
        probs = update[maskrcnn_eval.MASK_PROBS]  # [b, k, 28, 28]
        assert np.all((probs >= 0) & (probs <= 1)) and np.all(np.isfinite(update["boxes"]))
        accumulator = evaluator.merge(accumulator, update)
    assert maskrcnn_eval.MASK_PROBS not in accumulator[0]  # RLE-encoded on arrival
    metrics = evaluator.result(accumulator)
    for key in ("AP", "AP50", "mask_AP", "mask_AP50"):
        assert -1.0 <= metrics[key] <= 1.0
    assert metrics["num_examples"] == 4 and metrics["mask_num_images"] == 4

    # Prediction is the same forward and ``detect``: paste the last batch's masks (its
    # source pixels are the input's).
    out = task.detect(
        {"masks": update[maskrcnn_eval.MASK_PROBS], "boxes": update["boxes"]}, (SIZE, SIZE)
    )
    masks, boxes = np.asarray(out["masks"]), np.asarray(out["boxes"])
    assert masks.shape == (2, 6, SIZE, SIZE) and masks.dtype == bool
    yy, xx = np.mgrid[:SIZE, :SIZE] + 0.5  # pixel centres
    inside = (
        (xx >= boxes[..., 0, None, None] - 1)
        & (xx <= boxes[..., 2, None, None] + 1)
        & (yy >= boxes[..., 1, None, None] - 1)
        & (yy <= boxes[..., 3, None, None] + 1)
    )
    assert not np.any(masks & ~inside)  # a pasted mask stays in its box


def _oracle_rows(task, batch, mask_probs):
    """Eval rows whose detections are the ground truth, with the given mask probabilities."""
    det = {
        "boxes": detection.input_boxes(batch["boxes"], SIZE, SIZE),
        "scores": jnp.where(batch["box_mask"], 0.9, 0.0),
        "classes": jnp.maximum(batch["labels"], 0),
        "valid": batch["box_mask"],
    }
    rows = task.eval_rows(det, batch)
    rows[maskrcnn_eval.MASK_PROBS] = mask_probs
    rows[maskrcnn_eval.GT_INPUT_MASKS] = batch["instance_masks"]
    rows["image_window"] = batch["image_window"]
    return jax.device_get(rows)


def _summary(task, rows, batch):
    (evaluator,) = task.evaluators()
    update = evaluator.update(rows, batch)
    return evaluator.result(evaluator.merge(evaluator.init(), jax.device_get(update)))


def test_ground_truth_masks_give_mask_ap_one_through_a_letterbox():
    """Rectangles in a 32 x 64 source image letterboxed into the 64 px input; the oracle's
    masks (all ones over its boxes) paste back to exactly the source rectangles."""
    task = build.build(runs.named_config("maskrcnn_small", TINY), META, mesh_lib.make_mesh()).task
    batch = _batch(np.random.default_rng(3), objects=(3, 2, 0))
    batch["instance_masks"][:] = False
    for i in range(3):
        for j in np.flatnonzero(batch["box_mask"][i]):
            y0, x0, y1, x1 = (batch["boxes"][i, j] * SIZE).astype(int)
            # the source image fills input rows 16 ... 48: squeeze each box into them
            y0, y1 = 16 + y0 // 2, 16 + y1 // 2
            batch["boxes"][i, j] = np.array([y0, x0, y1, x1]) / SIZE
            batch["instance_masks"][i, j, y0:y1, x0:x1] = True
    batch["orig_size"][:] = (32, 64)
    batch["image_window"][:] = (0.25, 0.0, 0.75, 1.0)
    ones = jnp.ones((3, MAX_BOXES, 28, 28))
    metrics = _summary(task, _oracle_rows(task, batch, ones), batch)
    assert metrics["mask_AP"] == pytest.approx(1.0) and metrics["AP"] == pytest.approx(1.0)

    # Empty masks at the right boxes: box AP stays 1, mask AP falls to 0.
    metrics = _summary(task, _oracle_rows(task, batch, jnp.zeros_like(ones)), batch)
    assert metrics["AP50"] == pytest.approx(1.0) and metrics["mask_AP50"] == pytest.approx(0.0)


def test_mask_targets_of_the_ground_truth_paste_back_onto_it():
    """Ellipses: the 28 x 28 mask targets of each gt box, pasted back, match at IoU >= 0.5."""
    task = build.build(runs.named_config("maskrcnn_small", TINY), META, mesh_lib.make_mesh()).task
    batch = _batch(np.random.default_rng(4), objects=(3, 1))
    gt_boxes = detection.input_boxes(batch["boxes"], SIZE, SIZE)  # [b, m, 4]
    index = jnp.broadcast_to(jnp.arange(MAX_BOXES), (2, MAX_BOXES))
    targets = jax.jit(jax.vmap(roi_sampling.mask_targets))(batch["instance_masks"], index, gt_boxes)
    metrics = _summary(task, _oracle_rows(task, batch, targets), batch)
    assert metrics["mask_AP50"] == pytest.approx(1.0)
    assert metrics["mask_AP"] > 0.6
