"""RetinaNet detection: anchors over FPN levels, IoU matching, focal + box losses.

Targets per anchor: IoU >= ``retinanet.foreground_iou`` with a ground-truth box is
foreground (the best anchor of every box too: low-quality matches), IoU <
``retinanet.background_iou`` background, in between ignored. Classification: sigmoid
focal loss over foreground and background anchors, normalised by the number of
foreground anchors in the batch. Boxes: smooth-L1 on the encoded deltas or GIoU on the
decoded boxes (``retinanet.box_loss``) over foreground anchors.

Config keys (besides ``jaxvision.tasks.detection``'s): ``model.kwargs`` (RetinaNet
fields: ``min_level``, ``max_level``, ``fpn_features``, ``head_convs``, ``head_norm``),
``anchors.size_scale`` (anchor size = size_scale * stride; 4 in the paper),
``anchors.scales``, ``anchors.aspect_ratios``; ``retinanet.foreground_iou``,
``retinanet.background_iou``, ``retinanet.box_loss``, ``retinanet.smooth_l1_beta``.

Example:
  python -m train --config=train/configs/retinanet_small.py --workdir=/tmp/retinanet
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxvision.losses import detection as det_losses
from jaxvision.models.retinanet import RetinaNet
from jaxvision.ops import anchors as anchor_ops
from jaxvision.ops import boxes as box_ops
from jaxvision.ops import matching
from jaxvision.tasks.detection import DetectionTask

BOX_LOSSES = ("smooth_l1", "giou")
# Box-delta weights (the encoding of torchvision's RetinaNet).
DELTA_WEIGHTS = (1.0, 1.0, 1.0, 1.0)


class RetinaNetTask(DetectionTask):
    """RetinaNet (Lin et al., 2017)."""

    def _levels(self) -> range:
        kw = self.config.model.kwargs
        return range(kw.get("min_level", 3), kw.get("max_level", 7) + 1)

    def anchors(self, input_hw: tuple[int, int]) -> np.ndarray:
        """All anchors of an input size, xyxy pixels [n, 4] (static)."""
        cfg = self.config.anchors
        strides = [2**lvl for lvl in self._levels()]
        return anchor_ops.anchor_grid(
            tuple(input_hw),
            strides=strides,
            sizes=[cfg.size_scale * s for s in strides],
            scales=tuple(cfg.scales),
            aspect_ratios=tuple(cfg.aspect_ratios),
        )

    def build_detector(self, backbone: nn.Module, dtype: Any) -> nn.Module:
        cfg = self.config.anchors
        return RetinaNet(
            backbone=backbone,
            num_classes=self.meta.num_classes,
            num_anchors=anchor_ops.num_anchors_per_cell(cfg.scales, cfg.aspect_ratios),
            dtype=dtype,
            **self.config.model.kwargs,
        )

    def losses(self, outputs, gt_boxes, gt_labels, gt_valid, input_hw):
        cfg, rcfg = self.config.detection, self.config.retinanet
        if rcfg.box_loss not in BOX_LOSSES:
            raise ValueError(
                f"retinanet.box_loss must be one of {BOX_LOSSES}, got {rcfg.box_loss!r}"
            )
        anchors = jnp.asarray(self.anchors(input_hw))  # [n, 4]
        num_classes = outputs["logits"].shape[-1]

        def assign(boxes, labels, valid):  # [m, 4], [m], [m]
            iou = box_ops.pairwise_iou(anchors, boxes)  # [n, m]
            matched, kind = matching.match_anchors(
                iou, valid, rcfg.foreground_iou, rcfg.background_iou, allow_low_quality=True
            )  # [n], [n]
            target_boxes = boxes[matched]  # [n, 4]
            onehot = jax.nn.one_hot(labels[matched], num_classes)  # [n, k]
            return target_boxes, onehot * (kind == 1)[:, None], kind

        target_boxes, cls_targets, kind = jax.vmap(assign)(gt_boxes, gt_labels, gt_valid)
        foreground = kind == 1  # [b, n]
        num_fg = jnp.maximum(jnp.sum(foreground), 1.0)

        focal = det_losses.sigmoid_focal_loss(
            outputs["logits"], cls_targets, alpha=cfg.focal_alpha, gamma=cfg.focal_gamma
        )  # [b, n, k]
        cls_loss = jnp.sum(focal * (kind >= 0)[..., None]) / num_fg

        if rcfg.box_loss == "giou":
            pred = box_ops.decode(outputs["deltas"], anchors, DELTA_WEIGHTS)  # [b, n, 4]
            per_box = det_losses.giou_loss(pred, target_boxes)  # [b, n]
        else:
            target = box_ops.encode(target_boxes, anchors, DELTA_WEIGHTS)  # [b, n, 4]
            per_box = jnp.sum(
                det_losses.smooth_l1_loss(outputs["deltas"], target, beta=rcfg.smooth_l1_beta),
                axis=-1,
            )  # [b, n]
        box_loss = jnp.sum(per_box * foreground) / num_fg
        return {"cls_loss": cls_loss, "box_loss": cfg.box_loss_weight * box_loss}

    def decode(self, outputs, input_hw):
        anchors = jnp.asarray(self.anchors(input_hw))  # [n, 4]
        boxes = box_ops.decode(outputs["deltas"], anchors, DELTA_WEIGHTS)  # [b, n, 4]
        return boxes, jax.nn.sigmoid(outputs["logits"])  # [b, n, 4], [b, n, k]
