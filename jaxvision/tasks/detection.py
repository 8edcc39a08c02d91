"""What every multi-object detector shares: targets, decoding + NMS, COCO evaluation.

A detector task (``jaxvision.tasks.retinanet``, ``jaxvision.tasks.fcos``) supplies its
model, its per-location losses and its decoding of raw outputs into boxes and class
scores; this base turns batches into targets, runs class-aware NMS inside ``jit``,
maps detections back to the source images' pixels and evaluates them with the COCO
evaluator (``jaxvision.metrics.detection``: pycocotools' AP, AP50, AP75, AP by size,
AR, plus VOC-style AP50) through a ``GatherEvaluator`` named ``coco``.

Batches follow the schema of ``jaxvision.data.preprocess.detection_ops``: ``boxes``
[b, m, 4] normalised (ymin, xmin, ymax, xmax) of the network input, ``labels``
[b, m] (-1 padding), ``box_mask`` / ``box_ignore`` [b, m], and for evaluation
``orig_size`` [b, 2] and ``image_window`` [b, 4]. Inside the tasks boxes are absolute
(x1, y1, x2, y2) pixels of the network input.

Config keys read (besides the engine's): ``model.dtype``, ``model.backbone``,
``model.backbone_kwargs``, ``model.kwargs`` (detector fields: levels, widths, head);
``detection.max_boxes`` (the input pipeline pads every example's targets to it),
``detection.score_threshold``, ``detection.nms_iou``, ``detection.max_detections``,
``detection.pre_nms_top_k``, ``detection.focal_alpha``, ``detection.focal_gamma``,
``detection.box_loss_weight``.
"""

from __future__ import annotations

import abc
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxvision.evaluators import Evaluator, GatherEvaluator
from jaxvision.metrics.detection import DetectionEvaluator
from jaxvision.ops import boxes as box_ops
from jaxvision.ops import nms
from jaxvision.tasks.backbones import build_backbone
from jaxvision.tasks.base import MODEL, Batch, Metrics, SingleNetworkTask, Variables, compute_dtype

# Keys of the (unnormalised) target tensors the losses receive.
TRAIN_KEYS = ("image", "boxes", "labels", "box_mask", "box_ignore")
EVAL_KEYS = (*TRAIN_KEYS, "orig_size", "image_window", "num_dropped_boxes")


def input_boxes(boxes_yxyx: jax.Array, height: int, width: int) -> jax.Array:
    """Normalised (ymin, xmin, ymax, xmax) [..., 4] -> absolute xyxy pixels [..., 4]."""
    xyxy = box_ops.convert_format(boxes_yxyx, "yxyx", "xyxy")  # [..., 4]
    return box_ops.scale(xyxy, height, width)  # [..., 4]


def to_source_pixels(
    boxes: jax.Array, input_hw: tuple[int, int], orig_size: jax.Array, window: jax.Array
) -> jax.Array:
    """Maps xyxy boxes in network-input pixels to the source image's pixels.

    Args:
      boxes: [b, k, 4] xyxy pixels of the network input.
      input_hw: (h, w) of the network input.
      orig_size: [b, 2] (height, width) of the source images.
      window: [b, 4] normalised (ymin, xmin, ymax, xmax): the part of the input that
        shows the whole source image (letterbox padding lies outside it).

    Returns:
      [b, k, 4] xyxy pixels of the source images, clipped to them.
    """
    h, w = input_hw
    norm = boxes / jnp.asarray([w, h, w, h], boxes.dtype)  # [b, k, 4] in [0, 1]
    wy0, wx0, wy1, wx1 = (window[:, i, None] for i in range(4))  # [b, 1] each
    x0 = (norm[..., 0] - wx0) / (wx1 - wx0)  # [b, k]
    y0 = (norm[..., 1] - wy0) / (wy1 - wy0)
    x1 = (norm[..., 2] - wx0) / (wx1 - wx0)
    y1 = (norm[..., 3] - wy0) / (wy1 - wy0)
    oh = orig_size[:, 0, None].astype(boxes.dtype)  # [b, 1]
    ow = orig_size[:, 1, None].astype(boxes.dtype)
    out = jnp.stack([x0 * ow, y0 * oh, x1 * ow, y1 * oh], axis=-1)  # [b, k, 4]
    return jnp.clip(out, 0.0, jnp.stack([ow, oh, ow, oh], axis=-1))


class DetectionTask(SingleNetworkTask):
    """Base of the multi-object detectors.

    Subclasses implement ``build_detector``, ``losses`` and ``decode``.
    """

    train_keys = TRAIN_KEYS
    eval_keys = EVAL_KEYS

    # -- what a detector supplies ------------------------------------------------
    @abc.abstractmethod
    def build_detector(self, backbone: nn.Module, dtype: Any) -> nn.Module:
        """The flax detector around ``backbone``."""

    @abc.abstractmethod
    def losses(
        self,
        outputs: dict[str, jax.Array],
        gt_boxes: jax.Array,
        gt_labels: jax.Array,
        gt_valid: jax.Array,
        input_hw: tuple[int, int],
    ) -> dict[str, jax.Array]:
        """Scalar loss terms (summed into the loss) for raw model outputs.

        Args:
          outputs: the model's raw outputs.
          gt_boxes: [b, m, 4] xyxy input pixels.
          gt_labels: [b, m] class ids (-1 on padding).
          gt_valid: [b, m] boxes to train on (real, not crowd/difficult).
          input_hw: (h, w) of the network input.
        """

    @abc.abstractmethod
    def decode(
        self, outputs: dict[str, jax.Array], input_hw: tuple[int, int]
    ) -> tuple[jax.Array, jax.Array]:
        """Raw outputs -> (boxes [b, n, 4] xyxy input pixels, class scores [b, n, k] in [0, 1])."""

    # -- the Task interface -----------------------------------------------------
    @property
    def max_boxes(self) -> int:
        """``detection.max_boxes``: the input pipeline pads every example's targets to it."""
        return int(self.config.detection.max_boxes)

    @property
    def model(self) -> nn.Module:
        cfg = self.config.model
        return self.build_detector(build_backbone(cfg), compute_dtype(cfg.dtype))

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
        total = sum(terms.values())
        return total, (new_state, terms)

    def detect(self, outputs: dict[str, jax.Array], input_hw: tuple[int, int]) -> dict:
        """Post-processing of the model's raw outputs: decode, clip, class-aware NMS.

        Args:
          outputs: ``apply_model``'s outputs for a batch of ``input_hw`` images.
          input_hw: (height, width) of the model's input.

        Returns:
          ``predict``'s dict: ``boxes`` [b, k, 4], ``scores``, ``classes``, ``valid`` [b, k],
          ``num_valid`` [b].
        """
        boxes, scores = self.decode(outputs, input_hw)  # [b, n, 4], [b, n, k]
        boxes = box_ops.clip(boxes, *input_hw)
        cfg = self.config.detection
        run = lambda b, s: nms.multiclass_nms(  # noqa: E731
            b,
            s,
            iou_threshold=cfg.nms_iou,
            max_outputs=cfg.max_detections,
            score_threshold=cfg.score_threshold,
            pre_nms_top_k=cfg.pre_nms_top_k,
        )
        return jax.vmap(run)(boxes, scores)

    def predict(self, variables: dict[str, Variables], images: jax.Array) -> dict[str, jax.Array]:
        """Detections for uint8 images [b, h, w, 3], after class-aware NMS.

        Returns:
          ``boxes`` [b, k, 4] xyxy input pixels, ``scores`` [b, k], ``classes`` [b, k],
          ``valid`` [b, k] and ``num_valid`` [b], with ``k = detection.max_detections``.
        """
        outputs = self.apply_model(variables[MODEL], images, train=False)
        return self.detect(outputs, images.shape[1:3])

    def eval_forward(self, variables: dict[str, Variables], batch: Batch) -> dict[str, jax.Array]:
        """``eval_rows`` of the batch's detections."""
        return self.eval_rows(self.predict(variables, batch["image"]), batch)

    def eval_rows(self, det: dict[str, jax.Array], batch: Batch) -> dict[str, jax.Array]:
        """Detections and ground truth of a batch in source pixels, for the evaluator.

        Args:
          det: ``predict``'s output for ``batch["image"]``.
          batch: an eval batch (with ``orig_size``, ``image_window``).

        Returns:
          Per-image rows [b, ...]: ``boxes``, ``scores``, ``classes``, ``valid``,
          ``gt_boxes``, ``gt_labels``, ``gt_mask``, ``gt_ignore``, ``orig_size``,
          ``num_dropped_boxes``.
        """
        hw = batch["image"].shape[1:3]
        gt = input_boxes(batch["boxes"], *hw)  # [b, m, 4]
        to_source = lambda b: to_source_pixels(  # noqa: E731
            b, hw, batch["orig_size"], batch["image_window"]
        )
        return {
            "boxes": to_source(det["boxes"]),  # [b, k, 4]
            "scores": det["scores"],
            "classes": det["classes"],
            "valid": det["valid"],
            "gt_boxes": to_source(gt),  # [b, m, 4]
            "gt_labels": batch["labels"],
            "gt_mask": batch["box_mask"],
            "gt_ignore": batch["box_ignore"],
            "orig_size": batch["orig_size"],
            "num_dropped_boxes": batch["num_dropped_boxes"],
        }

    def evaluators(self) -> list[Evaluator]:
        return [GatherEvaluator("coco", lambda rows, batch: rows, self.summarize_eval_rows)]

    def summarize_eval_rows(self, rows: dict[str, np.ndarray]) -> dict[str, float]:
        """COCO metrics (pycocotools) of every real eval image's ``eval_rows``, plus
        ``num_examples`` and ``dropped_boxes``."""
        n = len(rows["valid"])
        if n == 0:
            raise ValueError("the eval split has no examples")
        evaluator = DetectionEvaluator(self.meta.class_names)
        for i in range(n):
            keep, gt = rows["valid"][i], rows["gt_mask"][i]
            h, w = (int(v) for v in rows["orig_size"][i])
            evaluator.add(
                image_id=i,
                height=h,
                width=w,
                gt_boxes=rows["gt_boxes"][i][gt],
                gt_labels=rows["gt_labels"][i][gt],
                gt_ignore=rows["gt_ignore"][i][gt],
                boxes=rows["boxes"][i][keep],
                scores=rows["scores"][i][keep],
                labels=rows["classes"][i][keep],
            )
        metrics = evaluator.compute()
        metrics["num_examples"] = float(n)
        metrics["dropped_boxes"] = float(np.sum(rows["num_dropped_boxes"]))
        return metrics

    def predict_features(self, image: np.ndarray) -> dict[str, Any]:
        """An image with no annotations, in the raw TFDS detection schema."""
        empty = {"bbox": np.zeros((0, 4), np.float32), "label": np.zeros((0,), np.int64)}
        return {"image": image, "objects": empty}
