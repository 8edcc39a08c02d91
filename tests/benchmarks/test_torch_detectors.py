"""The PyTorch references of the localizer and detectors (`benchmarks.torch_detectors`)."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from benchmarks import suite, synthetic, throughput
from benchmarks import torch_detectors as td
from jaxvision import optim, tasks
from jaxvision.data.sources import DatasetMeta
from jaxvision.losses import detection as det_losses
from jaxvision.losses.classification import softmax_cross_entropy
from jaxvision.ops import boxes as box_ops
from jaxvision.tasks.detection import input_boxes

IMAGE_SIZE = 64
BATCH_SIZE = 2
SMALL_CONFIGS = ("localization_small", "retinanet_small", "fcos_small")
COCO_CONFIGS = ("retinanet_resnet50_coco", "fcos_resnet50_coco")
NUM_CLASSES = {name: 8 for name in SMALL_CONFIGS} | {name: 80 for name in COCO_CONFIGS}
TRAIN_STEPS = 4


@pytest.fixture(autouse=True)
def _seeded_single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the test machine's other core runs other tests
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def _config(name: str) -> dict:
    return suite.torch_config(suite.load_config(f"train/configs/{name}.py"))


def _batch(config: dict, name: str) -> dict[str, np.ndarray]:
    max_boxes = config.get("detection", {}).get("max_boxes")
    return synthetic.make_batch(
        config["task"], BATCH_SIZE, IMAGE_SIZE, NUM_CLASSES[name], max_boxes
    )


def _reference(config: dict, name: str) -> td.Reference:
    return td.build_reference(config, NUM_CLASSES[name], (IMAGE_SIZE, IMAGE_SIZE))


def _jax_side(name: str):
    """(config, its torch_config, the JAX task, a synthetic batch) of a config file."""
    config = suite.load_config(f"train/configs/{name}.py")
    k = NUM_CLASSES[name]
    task = tasks.get_task(config.task)(
        config, DatasetMeta("synthetic", tuple(map(str, range(k))), 1)
    )
    plain = suite.torch_config(config)
    return config, plain, task, _batch(plain, name)


@pytest.mark.parametrize("name", SMALL_CONFIGS + COCO_CONFIGS)
def test_parameters_and_outputs_match_the_flax_model(name):
    """Same parameter tensors (sizes, count) and output shapes as the task's flax model."""
    _, plain, task, batch = _jax_side(name)
    variables = jax.eval_shape(task.init_variables, jax.random.key(0), batch)["model"]
    outputs = jax.eval_shape(
        lambda v, x: task.model.apply(v, x, train=False),
        variables,
        batch["image"].astype(np.float32),
    )
    flax_sizes = sorted(math.prod(leaf.shape) for leaf in jax.tree.leaves(variables["params"]))

    reference = _reference(plain, name)
    torch_sizes = sorted(p.numel() for p in reference.model.parameters())
    assert torch_sizes == flax_sizes  # hence the same total
    with torch.inference_mode():
        torch_outputs = reference.model.eval()(td.normalize_images(td.to_torch(batch)["image"]))
    assert {key: tuple(v.shape) for key, v in torch_outputs.items()} == {
        key: tuple(v.shape) for key, v in outputs.items()
    }
    assert all(v.dtype == torch.float32 for v in torch_outputs.values())


@pytest.mark.parametrize("name", SMALL_CONFIGS)
def test_train_step_loss_is_finite_and_decreases(name):
    config = copy.deepcopy(_config(name))
    config["optimizer"].update(schedule="constant", warmup_steps=0)  # the real LR from step 0
    reference = _reference(config, name)
    step = td.make_train_step(reference, config, td.to_torch(_batch(config, name)))
    losses = [float(step(None)) for _ in range(TRAIN_STEPS)]
    assert all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < losses[0], losses


@pytest.mark.parametrize("name", ["retinanet_small", "fcos_small"])
def test_detections_are_at_most_max_detections_valid_and_suppressed(name):
    config = copy.deepcopy(_config(name))
    config["detection"]["score_threshold"] = 0.0  # every candidate reaches the NMS
    cfg = config["detection"]
    det = td.make_predict_step(_reference(config, name), td.to_torch(_batch(config, name)))(None)
    b, k = BATCH_SIZE, cfg["max_detections"]
    assert det["boxes"].shape == (b, k, 4) and det["valid"].shape == (b, k)
    assert torch.all(det["num_valid"] == det["valid"].sum(1)) and torch.all(det["num_valid"] > 0)
    for i in range(b):
        valid = det["valid"][i]
        assert torch.all(valid[: int(det["num_valid"][i])])  # valid rows come first
        boxes, scores = det["boxes"][i][valid], det["scores"][i][valid]
        classes = det["classes"][i][valid]
        assert torch.all((boxes >= 0) & (boxes <= IMAGE_SIZE))
        assert torch.all(boxes[:, 2:] >= boxes[:, :2])
        assert torch.all(scores > cfg["score_threshold"]) and torch.all(scores[:-1] >= scores[1:])
        assert torch.all((classes >= 0) & (classes < NUM_CLASSES[name]))
        overlap = td.pairwise_iou(boxes, boxes)
        same = classes[:, None] == classes[None, :]
        off_diagonal = ~torch.eye(len(boxes), dtype=torch.bool)
        assert not torch.any((overlap > cfg["nms_iou"]) & same & off_diagonal)
        assert torch.all(det["boxes"][i][~valid] == 0)


def _random_outputs(rng: np.random.Generator, task: str, n: int, k: int) -> dict:
    """Raw detector outputs of plausible scale: many scores above the 0.05 threshold."""
    outputs = {"logits": rng.normal(-2.0, 1.0, (BATCH_SIZE, n, k))}
    if task == "retinanet":
        outputs["deltas"] = rng.normal(0.0, 0.3, (BATCH_SIZE, n, 4))
    else:
        outputs["box"] = rng.normal(1.0, 0.5, (BATCH_SIZE, n, 4))
        outputs["quality"] = rng.normal(0.0, 1.0, (BATCH_SIZE, n))
    return {key: v.astype(np.float32) for key, v in outputs.items()}


@pytest.mark.parametrize("name", ["retinanet_small", "fcos_small", *COCO_CONFIGS])
def test_losses_and_detections_match_the_jax_task(name):
    """Same raw outputs in, same loss terms and detections out as the JAX task."""
    config, plain, task, batch = _jax_side(name)
    reference = _reference(plain, name)
    hw = (IMAGE_SIZE, IMAGE_SIZE)
    n = (
        len(td.anchor_grid(plain, hw))
        if config.task == "retinanet"
        else (len(td.point_grid(plain, hw)["points"]))
    )
    outputs = _random_outputs(np.random.default_rng(0), config.task, n, NUM_CLASSES[name])

    jax_outputs = {key: jnp.asarray(v) for key, v in outputs.items()}
    torch_outputs = {key: torch.from_numpy(v) for key, v in outputs.items()}
    valid = jnp.asarray(batch["box_mask"] & ~batch["box_ignore"])
    gt = input_boxes(jnp.asarray(batch["boxes"]), *hw)
    losses = jax.jit(task.losses, static_argnums=4)  # compiled: faster than op by op
    expected = losses(jax_outputs, gt, jnp.asarray(batch["labels"]), valid, hw)
    terms = reference.losses(torch_outputs, td.to_torch(batch))
    assert set(terms) == set(expected)
    for key, value in expected.items():
        assert float(terms[key]) == pytest.approx(float(value), rel=1e-4), key

    expected = jax.device_get(jax.jit(lambda o: task.detect(o, hw))(jax_outputs))
    det = reference.postprocess(torch_outputs)
    assert int(det["num_valid"].sum()) > 0
    np.testing.assert_array_equal(det["valid"].numpy(), expected["valid"])
    np.testing.assert_array_equal(det["classes"].numpy(), expected["classes"])
    np.testing.assert_allclose(det["scores"].numpy(), expected["scores"], rtol=1e-5)
    np.testing.assert_allclose(det["boxes"].numpy(), expected["boxes"], rtol=1e-4, atol=1e-3)


def test_localization_loss_matches_the_jax_task_formula():
    config = _config("localization_small")
    batch = _batch(config, "localization_small")
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1, (BATCH_SIZE, 8)).astype(np.float32)
    box = rng.uniform(0.2, 0.8, (BATCH_SIZE, 4)).astype(np.float32)
    terms = td.localization_losses(
        {"logits": torch.from_numpy(logits), "box": torch.from_numpy(box)},
        td.to_torch(batch),
        config["localization"],
        label_smoothing=0.0,
    )
    pred = box_ops.convert_format(jnp.asarray(box), "cxcywh", "xyxy")
    true = box_ops.convert_format(jnp.asarray(batch["bbox"]), "yxyx", "xyxy")
    weights = config["localization"]
    expected = {
        "cls_loss": jnp.mean(softmax_cross_entropy(jnp.asarray(logits), batch["label"])),
        "l1_loss": weights["l1_weight"] * jnp.mean(jnp.sum(det_losses.l1_loss(pred, true), -1)),
        "giou_loss": weights["giou_weight"] * jnp.mean(det_losses.giou_loss(pred, true)),
    }
    for key, value in expected.items():
        assert float(terms[key]) == pytest.approx(float(value), rel=1e-5), key


def test_localization_predict_gives_a_class_and_a_box_in_the_image():
    config = _config("localization_small")
    out = td.make_predict_step(
        _reference(config, "localization_small"), td.to_torch(_batch(config, "localization_small"))
    )(None)
    assert out["classes"].shape == (BATCH_SIZE,) and out["boxes"].shape == (BATCH_SIZE, 4)
    assert torch.all((out["probabilities"] > 0) & (out["probabilities"] <= 1))
    assert torch.all((out["boxes"] >= 0) & (out["boxes"] <= IMAGE_SIZE))


def _numpy_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    inter_w = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    inter_h = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = inter_w * inter_h
    area = lambda b: (
        np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)
    )
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-9)


def _numpy_greedy_nms(boxes, scores, classes, iou_threshold, max_outputs, score_threshold):
    """Brute force: best first, drop same-class overlaps; returns the kept indices."""
    order = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] > score_threshold]
    kept = []
    while order and len(kept) < max_outputs:
        best, order = order[0], order[1:]
        kept.append(best)
        overlap = _numpy_iou(boxes[best], boxes[order])
        order = [
            j
            for j, o in zip(order, overlap, strict=True)
            if not (o > iou_threshold and classes[j] == classes[best])
        ]
    return kept


def _random_boxes(rng: np.random.Generator, shape: tuple[int, ...], size: float = 64.0):
    corner = rng.uniform(0, size, (*shape, 2))
    side = rng.uniform(1, size / 3, (*shape, 2))
    return np.concatenate([corner, corner + side], -1).astype(np.float32)


@pytest.mark.parametrize(
    ("iou_threshold", "max_outputs", "score_threshold"), [(0.5, 40, 0.1), (0.3, 500, -math.inf)]
)
def test_batched_nms_matches_numpy_greedy_nms(iou_threshold, max_outputs, score_threshold):
    rng = np.random.default_rng(0)
    b, k = 3, 300
    boxes = _random_boxes(rng, (b, k))
    scores = rng.uniform(0, 1, (b, k)).astype(np.float32)
    classes = rng.integers(0, 4, (b, k))
    indices, valid = td.batched_nms(
        torch.from_numpy(boxes),
        torch.from_numpy(scores),
        torch.from_numpy(classes),
        iou_threshold=iou_threshold,
        max_outputs=max_outputs,
        score_threshold=score_threshold,
    )
    assert indices.shape == valid.shape == (b, max_outputs)
    for i in range(b):
        expected = _numpy_greedy_nms(
            boxes[i], scores[i], classes[i], iou_threshold, max_outputs, score_threshold
        )
        assert indices[i][valid[i]].tolist() == expected
        assert int(valid[i].sum()) == len(expected) and not torch.any(indices[i][~valid[i]])


def test_multiclass_nms_keeps_the_top_k_pairs_then_nms():
    rng = np.random.default_rng(1)
    b, n, c, top_k = 2, 200, 5, 150
    boxes = _random_boxes(rng, (b, n))
    scores = rng.uniform(0, 1, (b, n, c)).astype(np.float32)
    out = td.multiclass_nms(
        torch.from_numpy(boxes),
        torch.from_numpy(scores),
        iou_threshold=0.5,
        max_outputs=30,
        score_threshold=0.2,
        pre_nms_top_k=top_k,
    )
    for i in range(b):
        pairs = np.argsort(-scores[i].ravel(), kind="stable")[:top_k]  # [top_k]
        kept = _numpy_greedy_nms(
            boxes[i][pairs // c], scores[i].ravel()[pairs], pairs % c, 0.5, 30, 0.2
        )
        valid = out["valid"][i]
        np.testing.assert_allclose(out["boxes"][i][valid].numpy(), boxes[i][pairs[kept] // c])
        assert out["classes"][i][valid].tolist() == (pairs[kept] % c).tolist()
        np.testing.assert_allclose(out["scores"][i][valid].numpy(), scores[i].ravel()[pairs[kept]])


@pytest.mark.parametrize("name", SMALL_CONFIGS + COCO_CONFIGS)
def test_learning_rate_follows_the_optax_schedule(name):
    config = suite.load_config(f"train/configs/{name}.py")
    schedule = optim.make_schedule(config.optimizer, config.total_steps)
    cfg = config.optimizer.to_dict()
    for step in (0, 1, 50, 150, 300, config.total_steps * 2 // 3, config.total_steps - 1):
        expected = float(schedule(step))
        tolerance = 1e-6 * cfg["learning_rate"]  # optax computes in float32
        assert td.learning_rate(step, cfg, config.total_steps) == pytest.approx(
            expected, rel=1e-5, abs=tolerance
        )


def test_suite_wires_every_detection_entry_to_a_reference():
    detection = [e for e in suite.ENTRIES if e.name in SMALL_CONFIGS + COCO_CONFIGS]
    assert len(detection) == len(SMALL_CONFIGS + COCO_CONFIGS)
    for entry in detection:
        assert entry.torch_ref in suite.DETECTOR_REFERENCES
        job = suite.make_job(entry, suite.parse_args([]))
        assert json.loads(json.dumps(job))["torch_config"]["task"] == job["task"]
    assert (
        suite.make_job(suite.ENTRY_BY_NAME["demo_resnet_tiny"], suite.parse_args([]))[
            "torch_config"
        ]
        is None
    )


def test_run_gives_throughput_records():
    entry = suite.ENTRY_BY_NAME["fcos_small"]
    args = suite.parse_args(["--batch_size=2", "--image_size=64", "--steps=1", "--warmup=0"])
    records = td.run(suite.make_job(entry, args), threads=1)
    keys = {"images_per_s", "step_time_median_s", "compile_time_s", "peak_rss_mib", "threads"}
    for mode in ("train", "inference"):
        record = records[mode]
        assert keys <= set(record) and record["framework"] == throughput.TORCH
        assert record["images_per_s"] == pytest.approx(2 / record["step_time_median_s"])
    assert 0 <= records["inference"]["detections_per_image"] <= 100


def test_the_reference_module_does_not_load_jax():
    code = "import sys, benchmarks.torch_detectors; assert 'jax' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=suite.REPO_ROOT, check=True)
