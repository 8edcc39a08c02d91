"""Face detection with five landmarks (RetinaFace): RetinaNet's anchors, matching and losses,
plus a landmark head.

The model is ``jaxvision.models.retinaface.RetinaFace``; anchors, IoU matching, the focal
face-score loss and the box loss are RetinaNet's (``jaxvision.tasks.retinanet``, its config
keys included), over one class, "face". Each foreground anchor also regresses its face's
landmarks, coded against the anchor (``jaxvision.ops.landmarks``), with a smooth-L1 loss
averaged over the foreground anchors whose face has known landmarks: faces without
landmarks (the TFDS ``wider_face`` schema, hidden points) train the score and the box only.

Batches are the detection schema (``jaxvision.tasks.detection``) plus ``landmarks``
[b, m, 5, 2] normalised (x, y) and ``landmark_mask`` [b, m] (``decode_faces``).

Evaluation: COCO box AP (``AP50`` ...) of the faces, and ``landmark_nme``, the mean NME of the
landmarks of the faces matched at IoU >= 0.5, normalised by the box diagonal
(``jaxvision.metrics.landmarks``), with ``landmark_faces``, the number of faces it averages.

Config keys (besides RetinaNet's): ``landmarks.loss_weight``, ``landmarks.code_weight``
(1 / RetinaFace's variance), ``landmarks.smooth_l1_beta``.

Example:
  python -m train --config=train/configs/face_detector_small.py --workdir=/tmp/faces
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax import lax

from jaxvision.data.preprocess.landmarks import LANDMARK_MASK_KEY, LANDMARKS_KEY
from jaxvision.data.sources import DatasetMeta
from jaxvision.losses import detection as det_losses
from jaxvision.metrics import landmarks as landmark_metrics
from jaxvision.models.retinaface import RetinaFace
from jaxvision.ops import anchors as anchor_ops
from jaxvision.ops import boxes as box_ops
from jaxvision.ops import landmarks as landmark_ops
from jaxvision.ops import matching, nms
from jaxvision.tasks.base import Batch, Metrics
from jaxvision.tasks.detection import EVAL_KEYS, TRAIN_KEYS, input_boxes, to_source_pixels
from jaxvision.tasks.retinanet import DELTA_WEIGHTS, RetinaNetTask

FACE_CLASSES = ("face",)
LANDMARK_KEYS = (LANDMARKS_KEY, LANDMARK_MASK_KEY)


def input_points(points: jax.Array, height: int, width: int) -> jax.Array:
    """Normalised (x, y) points [..., 2] -> pixels of the network input."""
    return points * jnp.asarray([width, height], points.dtype)


def points_to_source_pixels(
    points: jax.Array, input_hw: tuple[int, int], orig_size: jax.Array, window: jax.Array
) -> jax.Array:
    """Maps (x, y) points [b, k, p, 2] in network-input pixels to the source images' pixels
    (``detection.to_source_pixels`` on each point as a zero-size box; clipped to the image)."""
    b, k, p, _ = points.shape
    flat = points.reshape(b, k * p, 2)  # [b, kp, 2]
    boxes = jnp.concatenate([flat, flat], axis=-1)  # [b, kp, 4]
    return to_source_pixels(boxes, input_hw, orig_size, window)[..., :2].reshape(b, k, p, 2)


class FaceDetectionTask(RetinaNetTask):
    """RetinaFace (Deng et al., 2020): faces, their boxes and five landmarks."""

    train_keys = (*TRAIN_KEYS, *LANDMARK_KEYS)
    eval_keys = (*EVAL_KEYS, *LANDMARK_KEYS)

    def __init__(self, config: ml_collections.ConfigDict, meta: DatasetMeta):
        # Every box is a face, whatever the dataset calls its classes (wider_face: none).
        super().__init__(config, dataclasses.replace(meta, class_names=FACE_CLASSES))

    def build_detector(self, backbone: nn.Module, dtype: Any) -> nn.Module:
        cfg = self.config.anchors
        return RetinaFace(
            backbone=backbone,
            num_anchors=anchor_ops.num_anchors_per_cell(cfg.scales, cfg.aspect_ratios),
            dtype=dtype,
            **self.config.model.kwargs,
        )

    # -- training ------------------------------------------------------------------
    def loss(
        self, params: Any, model_state: Any, batch: Batch, rng: jax.Array
    ) -> tuple[jax.Array, tuple[Any, Metrics]]:
        del rng
        variables = {"params": params, **model_state}
        outputs, new_state = self.apply_model(
            variables, batch["image"], train=True, mutable=list(model_state)
        )
        h, w = batch["image"].shape[1:3]
        gt_boxes = input_boxes(batch["boxes"], h, w)  # [b, m, 4]
        gt_valid = batch["box_mask"] & ~batch["box_ignore"]  # [b, m]
        terms = self.losses(outputs, gt_boxes, batch["labels"], gt_valid, (h, w))
        gt_points = input_points(batch[LANDMARKS_KEY], h, w)  # [b, m, 5, 2]
        terms["landmark_loss"] = self.landmark_loss(
            outputs[LANDMARKS_KEY], gt_boxes, gt_valid, gt_points, batch[LANDMARK_MASK_KEY], (h, w)
        )
        return sum(terms.values()), (new_state, terms)

    def landmark_loss(
        self,
        codes: jax.Array,
        gt_boxes: jax.Array,
        gt_valid: jax.Array,
        gt_points: jax.Array,
        gt_point_mask: jax.Array,
        input_hw: tuple[int, int],
    ) -> jax.Array:
        """Weighted smooth-L1 loss of the landmark codes of foreground anchors.

        Args:
          codes: [b, n, k, 2] predicted codes.
          gt_boxes: [b, m, 4] xyxy input pixels.
          gt_valid: [b, m] boxes to train on.
          gt_points: [b, m, k, 2] (x, y) input pixels.
          gt_point_mask: [b, m] whether each box's landmarks are known.
          input_hw: (h, w) of the network input.

        Returns:
          The scalar loss, summed over the points' coordinates and averaged over the
          foreground anchors whose face has known landmarks.
        """
        rcfg, lcfg = self.config.retinanet, self.config.landmarks
        anchors = jnp.asarray(self.anchors(input_hw))  # [n, 4]

        def assign(boxes, valid):  # [m, 4], [m]
            iou = box_ops.pairwise_iou(anchors, boxes)  # [n, m]
            return matching.match_anchors(
                iou, valid, rcfg.foreground_iou, rcfg.background_iou, allow_low_quality=True
            )  # [n], [n]

        matched, kind = jax.vmap(assign)(gt_boxes, gt_valid)  # [b, n] each
        target_points = jnp.take_along_axis(
            gt_points, matched[:, :, None, None], axis=1
        )  # [b, n, k, 2]
        known = jnp.take_along_axis(gt_point_mask, matched, axis=1)  # [b, n]
        use = (kind == matching.FOREGROUND) & known  # [b, n]
        target = landmark_ops.encode_landmarks(target_points, anchors, lcfg.code_weight)
        per_anchor = jnp.sum(
            det_losses.smooth_l1_loss(codes, target, beta=lcfg.smooth_l1_beta), axis=(-2, -1)
        )  # [b, n]
        num = jnp.maximum(jnp.sum(use), 1.0)
        return lcfg.loss_weight * jnp.sum(jnp.where(use, per_anchor, 0.0)) / num

    # -- inference -----------------------------------------------------------------
    def detect(self, outputs: dict[str, jax.Array], input_hw: tuple[int, int]) -> dict:
        """Decode, clip, NMS (class-agnostic: one class), and the kept faces' landmarks.

        Returns:
          ``predict``'s dict: ``boxes`` [b, k, 4] xyxy input pixels, ``scores``, ``classes``
          (all 0), ``landmarks`` [b, k, 5, 2] (x, y) input pixels, ``valid`` [b, k] and
          ``num_valid`` [b], with ``k = detection.max_detections``.
        """
        cfg = self.config.detection
        anchors = jnp.asarray(self.anchors(input_hw))  # [n, 4]
        boxes = box_ops.decode(outputs["deltas"], anchors, DELTA_WEIGHTS)  # [b, n, 4]
        boxes = box_ops.clip(boxes, *input_hw)
        scores = jax.nn.sigmoid(outputs["logits"][..., 0])  # [b, n]
        points = landmark_ops.decode_landmarks(
            outputs[LANDMARKS_KEY], anchors, self.config.landmarks.code_weight
        )  # [b, n, k, 2]
        top_k = min(int(cfg.pre_nms_top_k), anchors.shape[0])

        def one_image(b, s, p):  # [n, 4], [n], [n, k, 2]
            top_scores, top = lax.top_k(s, top_k)  # [t] each
            keep, valid = nms.nms(
                b[top],
                top_scores,
                iou_threshold=cfg.nms_iou,
                max_outputs=cfg.max_detections,
                score_threshold=cfg.score_threshold,
            )  # [k] each
            index = top[keep]  # [k]
            return {
                "boxes": jnp.where(valid[:, None], b[index], 0.0),  # [k, 4]
                "scores": jnp.where(valid, top_scores[keep], 0.0),  # [k]
                "classes": jnp.zeros_like(keep),  # [k]
                LANDMARKS_KEY: jnp.where(valid[:, None, None], p[index], 0.0),  # [k, 5, 2]
                "valid": valid,
                "num_valid": jnp.sum(valid, dtype=jnp.int32),
            }

        return jax.vmap(one_image)(boxes, scores, points)

    # -- evaluation ----------------------------------------------------------------
    def eval_rows(self, det: dict[str, jax.Array], batch: Batch) -> dict[str, jax.Array]:
        """``DetectionTask.eval_rows`` plus ``landmarks`` [b, k, 5, 2], ``gt_landmarks``
        [b, m, 5, 2] (source pixels) and ``gt_landmark_mask`` [b, m]."""
        rows = super().eval_rows(det, batch)
        hw = batch["image"].shape[1:3]
        to_source = lambda p: points_to_source_pixels(  # noqa: E731
            p, hw, batch["orig_size"], batch["image_window"]
        )
        rows[LANDMARKS_KEY] = to_source(det[LANDMARKS_KEY])
        rows["gt_landmarks"] = to_source(input_points(batch[LANDMARKS_KEY], *hw))
        rows["gt_landmark_mask"] = batch[LANDMARK_MASK_KEY]
        return rows

    def summarize_eval_rows(self, rows: dict[str, np.ndarray]) -> dict[str, float]:
        """COCO metrics of the faces, plus ``landmark_nme`` and ``landmark_faces``."""
        metrics = super().summarize_eval_rows(rows)
        errors = []
        for i in range(len(rows["valid"])):
            keep = rows["valid"][i]
            gt = rows["gt_mask"][i] & ~rows["gt_ignore"][i]
            errors.append(
                landmark_metrics.image_landmark_errors(
                    rows["boxes"][i][keep],
                    rows["scores"][i][keep],
                    rows[LANDMARKS_KEY][i][keep],
                    rows["gt_boxes"][i][gt],
                    rows["gt_landmarks"][i][gt],
                    rows["gt_landmark_mask"][i][gt],
                )
            )
        return {**metrics, **landmark_metrics.mean_nme(errors)}

    def predict_features(self, image: np.ndarray) -> dict[str, Any]:
        """An image with no annotations, in the ``wider_face`` schema (``decode_faces``)."""
        empty = {"bbox": np.zeros((0, 4), np.float32), "invalid": np.zeros((0,), bool)}
        return {"image": image, "faces": empty}
