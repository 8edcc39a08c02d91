"""FCOS anchor-free detection (Tian et al., 2019) with centre sampling.

Every feature-map point of levels P3..P5 predicts class logits, the distances to the
four sides of its box and a quality logit. Assignment is FCOS's with centre sampling:
a point is positive for a box when it lies inside it, within ``fcos.center_radius``
strides of its centre, and the box's extent from the point falls in the level's size
range (``fcos.size_ranges``); the smallest such box wins.

Losses: sigmoid focal loss on the classes (normalised by the number of positives);
GIoU loss on the decoded boxes of positives, weighted by their centerness target;
binary cross-entropy on the quality logit against the centerness target. Detection
score: ``sqrt(sigmoid(class) * sigmoid(quality))``.

Config keys (besides ``jaxvision.tasks.detection``'s): ``model.kwargs`` (``FCOS``
fields: ``min_level``, ``max_level``, ``fpn_features``, ``head_convs``, ``head_norm``);
``fcos.size_ranges``, ``fcos.center_radius``.

Example:
  python -m train --config=train/configs/fcos_small.py --workdir=/tmp/fcos
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxvision.losses import detection as det_losses
from jaxvision.models.fcos import FCOS
from jaxvision.ops import anchors as anchor_ops
from jaxvision.ops import boxes as box_ops
from jaxvision.ops import matching
from jaxvision.tasks.detection import DetectionTask

# Largest predicted log-distance in strides (exp(8) ~ 3000 strides): keeps exp finite.
MAX_LOG_DISTANCE = 8.0
# Guards the centerness target's divisions on degenerate distances.
CENTERNESS_EPS = 1e-6


def centerness(distances: jax.Array) -> jax.Array:
    """FCOS centerness of (left, top, right, bottom) distances [..., 4] -> [...] in [0, 1]."""
    d = jnp.maximum(distances, 0.0)
    lr = jnp.minimum(d[..., 0], d[..., 2]) / jnp.maximum(
        jnp.maximum(d[..., 0], d[..., 2]), CENTERNESS_EPS
    )
    tb = jnp.minimum(d[..., 1], d[..., 3]) / jnp.maximum(
        jnp.maximum(d[..., 1], d[..., 3]), CENTERNESS_EPS
    )
    return jnp.sqrt(lr * tb)


class FCOSTask(DetectionTask):
    """Anchor-free single-shot detector with a decoupled head."""

    def _strides(self) -> list[int]:
        kw = self.config.model.kwargs
        return [2**lvl for lvl in range(kw.get("min_level", 3), kw.get("max_level", 5) + 1)]

    def points(self, input_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Points [n, 2] (x, y) and their strides [n] for an input size (static)."""
        return anchor_ops.point_grid(tuple(input_hw), self._strides())

    def build_detector(self, backbone: nn.Module, dtype: Any) -> nn.Module:
        return FCOS(
            backbone=backbone,
            num_classes=self.meta.num_classes,
            dtype=dtype,
            **self.config.model.kwargs,
        )

    def _boxes(self, outputs: dict[str, jax.Array], input_hw) -> jax.Array:
        points, strides = (jnp.asarray(a) for a in self.points(input_hw))  # [n, 2], [n]
        log_d = jnp.minimum(outputs["box"], MAX_LOG_DISTANCE)  # [b, n, 4]
        distances = jnp.exp(log_d) * strides[:, None]  # [b, n, 4]
        return box_ops.distances_to_boxes(points, distances)  # [b, n, 4]

    def losses(self, outputs, gt_boxes, gt_labels, gt_valid, input_hw):
        cfg, fcos = self.config.detection, self.config.fcos
        points, point_strides = (jnp.asarray(a) for a in self.points(input_hw))
        size_ranges = [tuple(r) for r in fcos.size_ranges]
        strides = self._strides()
        if len(size_ranges) != len(strides):
            raise ValueError(
                f"fcos.size_ranges has {len(size_ranges)} ranges for {len(strides)} levels"
            )
        num_classes = outputs["logits"].shape[-1]

        def assign(boxes, labels, valid):  # [m, 4], [m], [m]
            matched, positive = matching.fcos_targets(
                points, point_strides, boxes, valid, size_ranges, strides, fcos.center_radius
            )  # [n], [n]
            onehot = jax.nn.one_hot(labels[matched], num_classes) * positive[:, None]  # [n, k]
            return boxes[matched], onehot, positive

        target_boxes, cls_targets, positive = jax.vmap(assign)(gt_boxes, gt_labels, gt_valid)
        pos = positive.astype(jnp.float32)  # [b, n]
        num_pos = jnp.maximum(jnp.sum(pos), 1.0)

        focal = det_losses.sigmoid_focal_loss(
            outputs["logits"], cls_targets, alpha=cfg.focal_alpha, gamma=cfg.focal_gamma
        )  # [b, n, k]
        cls_loss = jnp.sum(focal) / num_pos

        ctr = centerness(box_ops.boxes_to_distances(points, target_boxes)) * pos  # [b, n]
        pred = self._boxes(outputs, input_hw)  # [b, n, 4]
        giou = det_losses.giou_loss(pred, target_boxes)  # [b, n]
        box_loss = jnp.sum(giou * ctr) / jnp.maximum(jnp.sum(ctr), CENTERNESS_EPS)
        bce = optax.sigmoid_binary_cross_entropy(outputs["quality"], ctr)  # [b, n]
        quality_loss = jnp.sum(bce * pos) / num_pos
        return {
            "cls_loss": cls_loss,
            "box_loss": cfg.box_loss_weight * box_loss,
            "quality_loss": quality_loss,
        }

    def decode(self, outputs, input_hw):
        boxes = self._boxes(outputs, input_hw)  # [b, n, 4]
        scores = jnp.sqrt(
            jax.nn.sigmoid(outputs["logits"]) * jax.nn.sigmoid(outputs["quality"])[..., None]
        )  # [b, n, k]
        return boxes, scores
