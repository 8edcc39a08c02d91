"""The face detection task's pieces: landmark loss masking, decoding + NMS, AP50 and NME."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision import tasks
from jaxvision.data.sources import DatasetMeta
from jaxvision.ops import boxes as box_ops
from jaxvision.ops import landmarks as landmark_ops
from jaxvision.tasks import detection
from train.configs import face_detector_small

SIZE = 64
MAX_BOXES = 4
META = DatasetMeta("jaxvision_faces_scene", (), 10)  # wider_face has no class names
CONFIDENT = 12.0


def _task():
    config = face_detector_small.get_config()
    config.model.backbone_kwargs.num_filters = 8
    config.model.kwargs.fpn_features = 16
    config.model.kwargs.head_convs = 1
    config.detection.max_boxes = MAX_BOXES
    return tasks.get_task(config.task)(config, META)


def _batch(rng, faces_per_image=(3, 0), known=True):
    """Faces in horizontal bands (never overlapping) inside the letterbox window, with points
    inside their boxes."""
    b = len(faces_per_image)
    boxes = np.zeros((b, MAX_BOXES, 4), np.float32)
    points = np.zeros((b, MAX_BOXES, 5, 2), np.float32)
    for i, n in enumerate(faces_per_image):
        for j in range(n):
            top, left = 0.26 + 0.16 * j, rng.uniform(0.0, 0.5)
            h, w = 0.14, rng.uniform(0.2, 0.4)
            boxes[i, j] = [top, left, top + h, left + w]
            points[i, j] = [left, top] + rng.uniform(0.1, 0.9, (5, 2)) * [w, h]
    mask = np.arange(MAX_BOXES)[None] < np.asarray(faces_per_image)[:, None]
    return {
        "image": rng.integers(0, 256, (b, SIZE, SIZE, 3), dtype=np.uint8),
        "boxes": boxes,
        "labels": np.where(mask, 0, -1).astype(np.int32),
        "box_mask": mask,
        "box_ignore": np.zeros_like(mask),
        "landmarks": points,
        "landmark_mask": mask & known,
        # A letterboxed 32 x 64 source: the window is the middle half of the rows.
        "orig_size": np.tile(np.asarray([[32, 64]], np.int32), (b, 1)),
        "image_window": np.tile(np.asarray([[0.25, 0, 0.75, 1]], np.float32), (b, 1)),
        "num_dropped_boxes": np.zeros((b,), np.int32),
        "mask": np.ones((b,), np.float32),
    }


def _oracle(task, batch):
    """Raw outputs that encode each face's box and points at its best anchor."""
    anchors = task.anchors((SIZE, SIZE))  # [n, 4]
    b, n = len(batch["image"]), len(anchors)
    logits = np.full((b, n, 1), -CONFIDENT, np.float32)
    boxes = np.zeros((b, n, 4), np.float32)
    points = np.zeros((b, n, 5, 2), np.float32)
    gt = np.asarray(detection.input_boxes(batch["boxes"], SIZE, SIZE))  # [b, m, 4]
    for i in range(b):
        for j in np.flatnonzero(batch["box_mask"][i]):
            best = int(np.argmax(np.asarray(box_ops.pairwise_iou(anchors, gt[i, j : j + 1]))))
            logits[i, best] = CONFIDENT
            boxes[i, best] = gt[i, j]
            points[i, best] = batch["landmarks"][i, j] * SIZE
    weight = task.config.landmarks.code_weight
    return {
        "logits": jnp.asarray(logits),
        "deltas": box_ops.encode(jnp.asarray(boxes), jnp.asarray(anchors)[None]),
        "landmarks": landmark_ops.encode_landmarks(jnp.asarray(points), anchors, weight),
    }


@pytest.fixture(scope="module")
def face_task():
    return _task()


@pytest.fixture(scope="module")
def eval_rows(face_task):
    """The task's detect + eval_rows, compiled once for the tests' batch shapes; the
    landmarks of the detections may be shifted by (dx, dy) input pixels."""

    def rows(outputs, batch, shift):
        det = face_task.detect(outputs, (SIZE, SIZE))
        det = {**det, "landmarks": det["landmarks"] + shift}
        return face_task.eval_rows(det, batch)

    compiled = jax.jit(rows)
    return lambda outputs, batch, shift=(0.0, 0.0): jax.device_get(
        compiled(outputs, batch, jnp.asarray(shift))
    )


def test_ground_truth_gives_ap_one_and_zero_nme_in_source_pixels(face_task, eval_rows):
    task = face_task
    assert task.meta.class_names == ("face",)
    batch = _batch(np.random.default_rng(0), faces_per_image=(3, 2, 0, 1))
    batch["landmark_mask"][1, 1] = False  # unknown points: not measured
    rows = eval_rows(_oracle(task, batch), batch)
    assert rows["landmarks"].shape == (4, task.config.detection.max_detections, 5, 2)
    assert rows["valid"].sum(axis=1).tolist() == [3, 2, 0, 1]
    # Source pixels: x scales by 64 / 64, y by 32 / 32 after removing the window's offset.
    first = rows["gt_landmarks"][0, 0]
    expected = (batch["landmarks"][0, 0] - [0, 0.25]) / [1, 0.5] * [64, 32]
    np.testing.assert_allclose(first, expected, atol=1e-4)
    metrics = task.summarize_eval_rows(rows)
    assert metrics["AP50"] == pytest.approx(1.0)
    assert metrics["landmark_faces"] == 5
    assert metrics["landmark_nme"] < 1e-5


def test_shifted_points_give_their_nme(face_task, eval_rows):
    task = face_task
    batch = _batch(np.random.default_rng(1), faces_per_image=(2, 1, 0, 3))
    rows = eval_rows(_oracle(task, batch), batch, shift=(3.0, 0.0))  # 3 input px right
    gt = rows["gt_boxes"][rows["gt_mask"]]  # [6, 4] source pixels; x scale 1
    expected = np.mean(3.0 / np.hypot(gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]))
    assert task.summarize_eval_rows(rows)["landmark_nme"] == pytest.approx(expected, rel=1e-4)


def test_landmark_loss_is_masked_where_landmarks_are_unknown(face_task):
    task = face_task
    batch = _batch(np.random.default_rng(2), faces_per_image=(2, 1))
    n = len(task.anchors((SIZE, SIZE)))
    codes = jax.random.normal(jax.random.key(0), (2, n, 5, 2))
    gt_boxes = detection.input_boxes(batch["boxes"], SIZE, SIZE)  # [b, m, 4]

    landmark_loss = jax.jit(task.landmark_loss, static_argnums=5)

    def loss(points, known, codes=codes):
        return float(
            landmark_loss(codes, gt_boxes, batch["box_mask"], points * SIZE, known, (SIZE, SIZE))
        )

    known = batch["landmark_mask"]
    full = loss(batch["landmarks"], known)
    assert full > 0
    assert loss(batch["landmarks"] + 0.05, known) != full  # the targets count
    assert loss(batch["landmarks"], np.zeros_like(known)) == 0.0  # nothing known: no loss
    # An unknown face's points do not count, whatever they are.
    partly = known.copy()
    partly[0, 1] = False
    moved = batch["landmarks"].copy()
    moved[0, 1] += 0.3
    assert loss(moved, partly) == pytest.approx(loss(batch["landmarks"], partly))
    # The oracle's codes of each face's best anchor, everywhere else the random ones: lower.
    oracle = _oracle(task, batch)["landmarks"]
    best = np.abs(np.asarray(oracle)).sum(axis=(2, 3)) > 0  # [b, n]
    mixed = jnp.where(best[..., None, None], oracle, codes)
    assert loss(batch["landmarks"], known, codes=mixed) < full


def test_config_names_the_face_task_and_its_data():
    config = face_detector_small.get_config()
    assert config.task == "face_detection" and config.dataset.name == "jaxvision_faces_scene"
    assert config.dataset.train_pp.startswith("decode_faces|")
    assert {"loss_weight", "code_weight", "smooth_l1_beta"} <= set(config.landmarks)
