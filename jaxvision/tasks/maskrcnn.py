"""Mask R-CNN instance segmentation: RPN + box + mask heads (``jaxvision.models.maskrcnn``).

Batches are the detection schema (``jaxvision.tasks.detection``) plus ``instance_masks``
[b, max_boxes, h, w] (nonzero on each box's object pixels, aligned with ``boxes``; all 0 on
padding), as ``decode_detection`` makes them from an ``instance_map`` or from COCO
polygons / RLE. The train step samples anchors and RoIs with this step's key and sums the
five losses of ``jaxvision.losses.maskrcnn``. Prediction returns the detections and their
masks pasted into the input image; evaluation reports COCO box metrics (``AP``, ``AP50``
...) and mask metrics (``mask_AP``, ``mask_AP50`` ...) from pycocotools, in source pixels.

Config keys (besides ``jaxvision.tasks.detection``'s): ``model.kwargs`` (``MaskRCNN``
fields: levels, anchors, proposal and sampling sizes, head widths), the inference keys of
``detection`` (``score_threshold``, ``nms_iou``, ``max_detections``, ``pre_nms_top_k``)
and ``maskrcnn.smooth_l1_beta``, ``maskrcnn.mask_loss_weight``.

Example:
  python -m train --config=train/configs/maskrcnn_small.py --workdir=/tmp/maskrcnn
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import numpy as np

from jaxvision.evaluators import Evaluator
from jaxvision.losses.maskrcnn import maskrcnn_losses
from jaxvision.metrics.mask_coco import MaskEvaluator
from jaxvision.models.maskrcnn import MaskRCNN
from jaxvision.ops.image import normalize
from jaxvision.ops.mask_paste import paste_masks
from jaxvision.tasks import maskrcnn_eval
from jaxvision.tasks.base import MODEL, Batch, Metrics, Variables, compute_dtype
from jaxvision.tasks.detection import EVAL_KEYS, TRAIN_KEYS, DetectionTask, input_boxes

INSTANCE_MASKS = "instance_masks"
# Model fields that are (train, test) pairs or sequences in the config (lists there).
_TUPLE_FIELDS = ("rpn_pre_nms_top_k", "rpn_post_nms_top_k", "anchor_aspect_ratios")


class MaskRCNNTask(DetectionTask):
    """Mask R-CNN (He et al., 2017) on a ResNet-FPN backbone."""

    train_keys = (*TRAIN_KEYS, INSTANCE_MASKS)
    eval_keys = (*EVAL_KEYS, INSTANCE_MASKS)

    def build_detector(self, backbone: nn.Module, dtype: Any) -> nn.Module:
        det = self.config.detection
        kwargs = dict(self.config.model.kwargs)
        for name in _TUPLE_FIELDS:
            if name in kwargs:
                kwargs[name] = tuple(kwargs[name])
        return MaskRCNN(
            backbone=backbone,
            num_classes=self.meta.num_classes,
            dtype=dtype,
            score_threshold=det.score_threshold,
            nms_iou=det.nms_iou,
            max_detections=det.max_detections,
            pre_nms_top_k=det.pre_nms_top_k,
            **kwargs,
        )

    def loss(
        self, params: Any, model_state: Any, batch: Batch, rng: jax.Array
    ) -> tuple[jax.Array, tuple[Any, Metrics]]:
        if INSTANCE_MASKS not in batch:
            raise ValueError(
                f"Mask R-CNN trains on {INSTANCE_MASKS!r} [b, max_boxes, h, w]; the batch has "
                f"{sorted(batch)} (use a dataset with instance masks, e.g. "
                "jaxvision_shapes/segmentation)"
            )
        variables = {"params": params, **model_state}
        h, w = batch["image"].shape[1:3]
        gt_boxes = input_boxes(batch["boxes"], h, w)  # [b, m, 4]
        gt_valid = batch["box_mask"] & ~batch["box_ignore"]  # [b, m]
        images = normalize(batch["image"], dtype=compute_dtype(self.config.model.dtype))
        outputs, new_state = self.model.apply(
            variables,
            images,
            gt_boxes,
            batch["labels"],
            gt_valid,
            batch[INSTANCE_MASKS],
            rng,
            method=MaskRCNN.train_outputs,
            mutable=list(model_state),
        )
        terms = self.losses(outputs, gt_boxes, batch["labels"], gt_valid, (h, w))
        return sum(terms.values()), (new_state, terms)

    def losses(self, outputs, gt_boxes, gt_labels, gt_valid, input_hw):
        """The five loss terms of ``MaskRCNN.train_outputs``' dict (the targets are in it)."""
        del gt_boxes, gt_labels, gt_valid, input_hw
        cfg = self.config.maskrcnn
        terms = maskrcnn_losses(outputs, beta=cfg.smooth_l1_beta)
        terms["mask_loss"] = cfg.mask_loss_weight * terms["mask_loss"]
        return terms

    def decode(self, outputs, input_hw):
        raise NotImplementedError(
            "Mask R-CNN decodes inside its model (MaskRCNN.__call__: box head, NMS, mask head)"
        )

    def detect(self, outputs: dict[str, jax.Array], input_hw: tuple[int, int]) -> dict:
        """The model's detections (already after NMS) with their masks pasted into the input."""
        masks = paste_masks(outputs["masks"], outputs["boxes"], input_hw)  # [b, k, h, w]
        return {**outputs, "masks": masks}

    def predict(self, variables: dict[str, Variables], images: jax.Array) -> dict[str, jax.Array]:
        """Detections and masks for uint8 images [b, h, w, 3].

        Returns:
          ``boxes`` [b, k, 4] xyxy input pixels, ``scores``, ``classes``, ``valid`` [b, k],
          ``num_valid`` [b] and ``masks`` [b, k, h, w] bool, ``k = detection.max_detections``.
        """
        outputs = self.apply_model(variables[MODEL], images, train=False)
        return self.detect(outputs, images.shape[1:3])

    def eval_forward(self, variables: dict[str, Variables], batch: Batch) -> dict[str, jax.Array]:
        """Detection rows plus each detection's mask probabilities and the gt masks."""
        outputs = self.apply_model(variables[MODEL], batch["image"], train=False)
        rows = self.eval_rows(outputs, batch)
        rows[maskrcnn_eval.MASK_PROBS] = outputs["masks"]  # [b, k, M, M]
        rows[maskrcnn_eval.GT_INPUT_MASKS] = batch[INSTANCE_MASKS]  # [b, m, h, w]
        rows["image_window"] = batch["image_window"]  # [b, 4]
        return rows

    def evaluators(self) -> list[Evaluator]:
        return [
            maskrcnn_eval.InstanceRowsEvaluator(
                "coco", lambda rows, batch: rows, self.summarize_eval_rows
            )
        ]

    def summarize_eval_rows(self, rows: dict[str, np.ndarray]) -> dict[str, float]:
        """COCO box metrics (``DetectionTask``'s) and mask metrics of the split's rows."""
        metrics = super().summarize_eval_rows(rows)
        evaluator = MaskEvaluator(self.meta.class_names)
        for i in range(len(rows["valid"])):
            keep, gt = rows["valid"][i], rows["gt_mask"][i]
            h, w = (int(v) for v in rows["orig_size"][i])
            evaluator.add(
                image_id=i,
                height=h,
                width=w,
                gt_masks=rows[maskrcnn_eval.GT_MASK_RLES][i],
                gt_labels=rows["gt_labels"][i][gt],
                gt_ignore=rows["gt_ignore"][i][gt],
                masks=rows[maskrcnn_eval.MASK_RLES][i],
                scores=rows["scores"][i][keep],
                labels=rows["classes"][i][keep],
            )
        return {**metrics, **evaluator.compute()}
