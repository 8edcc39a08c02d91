"""The detection tasks' pieces: targets, losses, decoding + NMS + COCO evaluation."""

from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision import tasks
from jaxvision.data import preprocess
from jaxvision.data.sources import DatasetMeta
from jaxvision.ops import boxes as box_ops
from jaxvision.tasks import detection

SIZE = 64
MAX_BOXES = 4
NUM_CLASSES = 3
META = DatasetMeta("test", ("a", "b", "c"), 10)
# Logits that make a sigmoid ~1 / ~0.
CONFIDENT = 12.0


def _config(name: str):
    config = importlib.import_module(f"train.configs.{name}").get_config()
    config.model.backbone_kwargs.num_filters = 8
    config.model.kwargs.fpn_features = 16
    config.model.kwargs.head_convs = 1
    config.detection.max_boxes = MAX_BOXES
    return config


def _batch(rng: np.random.Generator, boxes_per_image=(3, 0)) -> dict[str, np.ndarray]:
    """Images with non-overlapping boxes (normalised yxyx), padded to MAX_BOXES."""
    b = len(boxes_per_image)
    boxes = np.zeros((b, MAX_BOXES, 4), np.float32)
    labels = np.full((b, MAX_BOXES), -1, np.int32)
    for i, n in enumerate(boxes_per_image):
        for j in range(n):  # one box a horizontal band, so they never overlap
            top = 0.3 * j + 0.02
            left = rng.uniform(0.0, 0.5)
            boxes[i, j] = [top, left, top + 0.25, left + rng.uniform(0.25, 0.45)]
            labels[i, j] = rng.integers(0, NUM_CLASSES)
    mask = labels >= 0
    return {
        "image": rng.integers(0, 256, (b, SIZE, SIZE, 3), dtype=np.uint8),
        "boxes": boxes,
        "labels": labels,
        "box_mask": mask,
        "box_ignore": np.zeros_like(mask),
        "orig_size": np.tile(np.asarray([[SIZE, SIZE]], np.int32), (b, 1)),
        "image_window": np.tile(np.asarray([[0, 0, 1, 1]], np.float32), (b, 1)),
        "num_dropped_boxes": np.zeros((b,), np.int32),
        "mask": np.ones((b,), np.float32),
    }


def _retinanet_oracle(task, batch) -> dict[str, jax.Array]:
    """Raw RetinaNet outputs that encode the ground truth at each box's best anchor."""
    anchors = task.anchors((SIZE, SIZE))  # [n, 4]
    n = len(anchors)
    logits = np.full((len(batch["image"]), n, NUM_CLASSES), -CONFIDENT, np.float32)
    target = np.zeros((len(batch["image"]), n, 4), np.float32)
    gt = np.asarray(detection.input_boxes(batch["boxes"], SIZE, SIZE))  # [b, m, 4]
    for i in range(len(gt)):
        for j in np.flatnonzero(batch["box_mask"][i]):
            best = int(np.argmax(np.asarray(box_ops.pairwise_iou(anchors, gt[i, j : j + 1]))))
            logits[i, best, batch["labels"][i, j]] = CONFIDENT
            target[i, best] = gt[i, j]
    deltas = box_ops.encode(jnp.asarray(target), jnp.asarray(anchors)[None])  # [b, n, 4]
    return {"logits": jnp.asarray(logits), "deltas": deltas}


def _fcos_oracle(task, batch) -> dict[str, jax.Array]:
    """Raw FCOS outputs that encode the ground truth at the point nearest each box centre."""
    points, strides = task.points((SIZE, SIZE))  # [n, 2], [n]
    b, n = len(batch["image"]), len(points)
    logits = np.full((b, n, NUM_CLASSES), -CONFIDENT, np.float32)
    quality = np.full((b, n), -CONFIDENT, np.float32)
    log_d = np.zeros((b, n, 4), np.float32)
    gt = np.asarray(detection.input_boxes(batch["boxes"], SIZE, SIZE))  # [b, m, 4]
    for i in range(b):
        for j in np.flatnonzero(batch["box_mask"][i]):
            center = (gt[i, j, :2] + gt[i, j, 2:]) / 2
            best = int(np.argmin(np.sum((points - center) ** 2, axis=-1)))
            d = np.asarray(box_ops.boxes_to_distances(points[best], gt[i, j]))  # [4]
            assert np.all(d > 0)
            log_d[i, best] = np.log(d / strides[best])
            logits[i, best, batch["labels"][i, j]] = CONFIDENT
            quality[i, best] = CONFIDENT
    return {
        "logits": jnp.asarray(logits),
        "box": jnp.asarray(log_d),
        "quality": jnp.asarray(quality),
    }


@pytest.mark.parametrize(
    ("config_name", "oracle"),
    [("retinanet_small", _retinanet_oracle), ("fcos_small", _fcos_oracle)],
)
def test_decoding_nms_and_evaluation_of_the_ground_truth_give_ap_one(config_name, oracle):
    config = _config(config_name)
    task = tasks.get_task(config.task)(config, META)
    batch = _batch(np.random.default_rng(0), boxes_per_image=(3, 2, 0, 1))
    det = task.detect(oracle(task, batch), (SIZE, SIZE))
    rows = jax.device_get(task.eval_rows(det, batch))
    assert rows["valid"].sum(axis=1).tolist() == [3, 2, 0, 1]
    metrics = task.summarize_eval_rows(rows)
    assert metrics["AP"] == pytest.approx(1.0)
    assert metrics["AP50"] == pytest.approx(1.0)
    assert metrics["VOC_AP50"] == pytest.approx(1.0)
    assert metrics["num_examples"] == 4


@pytest.mark.parametrize(
    ("config_name", "oracle"),
    [("retinanet_small", _retinanet_oracle), ("fcos_small", _fcos_oracle)],
)
def test_shifted_detections_lose_ap75_first(config_name, oracle):
    config = _config(config_name)
    task = tasks.get_task(config.task)(config, META)
    batch = _batch(np.random.default_rng(1), boxes_per_image=(3, 3))
    det = task.detect(oracle(task, batch), (SIZE, SIZE))
    w = det["boxes"][..., 2] - det["boxes"][..., 0]  # [b, k]
    shift = (0.15 * w)[..., None] * jnp.asarray([1.0, 0.0, 1.0, 0.0])  # IoU ~0.74
    det = {**det, "boxes": det["boxes"] + shift}
    metrics = task.summarize_eval_rows(jax.device_get(task.eval_rows(det, batch)))
    assert metrics["AP50"] == pytest.approx(1.0)
    assert metrics["AP75"] < 0.5


@pytest.mark.parametrize("config_name", ["retinanet_small", "fcos_small"])
def test_loss_and_gradients_are_finite_with_no_objects_and_degenerate_boxes(config_name):
    config = _config(config_name)
    task = tasks.get_task(config.task)(config, META)
    batch = _batch(np.random.default_rng(2), boxes_per_image=(0, 2))
    batch["boxes"][1, 1] = [0.5, 0.5, 0.5, 0.7]  # zero height, still marked real
    variables = jax.jit(task.init_variables)(jax.random.key(0), batch)["model"]
    params, state = variables["params"], {k: v for k, v in variables.items() if k != "params"}

    # One compilation serves both batches (same shapes): eager RetinaNet is slow.
    @jax.jit
    def value_and_grads(p, b):
        return jax.value_and_grad(lambda q: task.loss(q, state, b, jax.random.key(1))[0])(p)

    value, grads = value_and_grads(params, batch)
    assert np.isfinite(float(value)) and float(value) > 0
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
    empty = _batch(np.random.default_rng(3), boxes_per_image=(0, 0))
    empty_value, empty_grads = value_and_grads(params, empty)
    assert np.isfinite(float(empty_value))
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(empty_grads))


def test_boxes_map_back_through_letterbox_to_source_pixels():
    height, width = 40, 100
    source_box = np.asarray([10.0, 20.0, 30.0, 90.0])  # ymin, xmin, ymax, xmax pixels
    example = {
        "image": np.zeros((height, width, 3), np.uint8),
        "objects": {
            "bbox": (source_box / [height, width, height, width]).astype(np.float32)[None],
            "label": np.asarray([1]),
        },
    }
    op = preprocess.build(f"decode_detection|letterbox({SIZE})|pad_boxes({MAX_BOXES})")
    out = op(example, np.random.default_rng(0))
    assert out["image"].shape == (SIZE, SIZE, 3)
    in_pixels = detection.input_boxes(out["boxes"][None], SIZE, SIZE)  # [1, m, 4]
    back = detection.to_source_pixels(
        in_pixels, (SIZE, SIZE), out["orig_size"][None], out["image_window"][None]
    )
    expected_xyxy = source_box[[1, 0, 3, 2]]
    np.testing.assert_allclose(np.asarray(back)[0, 0], expected_xyxy, atol=1e-3)


def test_predict_pp_resizes_to_the_training_input_without_box_padding():
    config = _config("retinanet_small")
    config.dataset.eval_pp = "decode_detection|letterbox(96)"
    task = tasks.get_task(config.task)(config, META)
    spec = task.predict_pp((96, 96, 3))
    assert "pad_boxes" not in spec and spec.endswith("resize(96, 96)")
    out = preprocess.build(spec)(
        task.predict_features(np.zeros((50, 70, 3), np.uint8)), np.random.default_rng(0)
    )
    assert out["image"].shape == (96, 96, 3)
    assert out["orig_size"].tolist() == [50, 70]


def test_box_padding_reaches_the_pipeline_as_a_parameter():
    config = _config("fcos_small")
    config.detection.max_boxes = 7
    task = tasks.get_task(config.task)(config, META)
    assert task.max_boxes == 7
    assert "pad_boxes" not in task.train_pp and "pad_boxes" not in task.eval_pp
    raw = {
        "image": np.zeros((32, 32, 3), np.uint8),
        "objects": {"bbox": np.zeros((0, 4), np.float32), "label": np.zeros((0,), np.int64)},
    }
    out = preprocess.build(task.train_pp, max_boxes=task.max_boxes)(raw, np.random.default_rng(0))
    assert out["boxes"].shape == (7, 4) and not out["box_mask"].any()


def test_detector_configs_keep_their_keys_apart():
    retinanet, fcos = _config("retinanet_small"), _config("fcos_small")
    assert "anchors" in retinanet and "retinanet" in retinanet and "fcos" not in retinanet
    assert "anchors" not in fcos and "retinanet" not in fcos and "fcos" in fcos
    assert "size_ranges" not in fcos.detection and "foreground_iou" not in retinanet.detection


def test_a_renamed_task_gets_a_message():
    with pytest.raises(ValueError, match="now called 'fcos'"):
        tasks.get_task("yolo")
