"""Mask R-CNN (He et al., 2017) on a ResNet-FPN backbone, all inside ``jit`` with static shapes.

The stages, as in Detectron2's ``GeneralizedRCNN`` with its FPN defaults:

  1. backbone + FPN: P2-P5 (``jaxvision.models.fpn.FPN``) and P6 = P5 subsampled by 2
     (Detectron2's ``LastLevelMaxPool``), for the RPN only;
  2. RPN (``maskrcnn_heads.RPNHead``) over anchors of one size a level
     (``anchor_size_scale * stride``: 32 px at P2) and three aspect ratios;
  3. proposals (``jaxvision.ops.proposals``): per-level top-k, per-level NMS, top-k, in
     fixed-size buffers with validity masks;
  4. RoIAlign on each box's FPN level (``jaxvision.ops.roi_align.multilevel_roi_align``),
     a box head (class + class-specific deltas) and a mask head (one 28 x 28 map a class).

``__call__`` is inference: detections after class-aware NMS (``jaxvision.ops.nms``) and
each detection's mask probabilities over its box (paste them into the image with
``jaxvision.ops.mask_paste``). ``train_outputs`` is the training forward: it samples RPN
anchors and RoIs (``jaxvision.ops.roi_sampling``) from the ground truth and returns the
outputs and targets that ``jaxvision.losses.maskrcnn.maskrcnn_losses`` reads.

The registered variants (``jaxvision.models.get_model``) build their ResNet backbone:
``maskrcnn_resnet50_fpn`` (the paper's R50-FPN) and ``maskrcnn_resnet18_fpn``.

Example:
  >>> model = MaskRCNNResNet18FPN(num_classes=3, max_detections=5,
  ...                             backbone_kwargs={"num_filters": 8})
  >>> images = jnp.zeros((1, 64, 64, 3))
  >>> variables = jax.eval_shape(lambda: model.init(jax.random.key(0), images, train=False))
  >>> out = jax.eval_shape(lambda v: model.apply(v, images, train=False), variables)
  >>> out["boxes"].shape, out["masks"].shape
  ((1, 5, 4), (1, 5, 28, 28))
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxvision.models import layers, resnet
from jaxvision.models.fpn import FPN, level_name
from jaxvision.models.maskrcnn_heads import BoxHead, MaskHead, RPNHead
from jaxvision.ops import anchors as anchor_ops
from jaxvision.ops import boxes as box_ops
from jaxvision.ops import nms, proposals, roi_sampling
from jaxvision.ops.conv import ConvRules
from jaxvision.ops.roi_align import CANONICAL_BOX_SIZE, multilevel_roi_align

# The backbone's last stage is C5; FPN levels above it are subsampled (P6).
BACKBONE_TOP_LEVEL = 5
# P6 = P5[::2, ::2]: Detectron2's max pool of kernel 1, stride 2.
SUBSAMPLE = 2


class MaskRCNN(nn.Module):
    """Mask R-CNN.

    Attributes:
      backbone: a module mapping images to ``{"C{l}": features}`` (e.g.
        ``ResNet(features_only=True)``); it receives ``train``.
      num_classes: object classes K (the box head adds the background).
      fpn_features: FPN and RPN width.
      min_level: lowest pyramid level (RPN and RoI heads).
      max_level: highest RPN level (levels above 5 subsample P5).
      roi_max_level: highest level the RoI heads pool from.
      anchor_size_scale: anchor size = this * stride.
      anchor_aspect_ratios: anchor height / width ratios.
      rpn_pre_nms_top_k: (train, test) candidates a level before NMS.
      rpn_post_nms_top_k: (train, test) proposals an image.
      rpn_nms_iou: the RPN's NMS IoU.
      rpn_samples / rpn_positive_fraction: anchors the RPN trains on an image.
      roi_samples / roi_positive_fraction: RoIs the box head trains on an image.
      mask_samples: positive RoIs the mask head trains on an image, at most (None: every
        positive slot, ``int(roi_samples * roi_positive_fraction)``, as Detectron2).
      box_pool_size / mask_pool_size: RoIAlign output of the two heads.
      sampling_ratio: RoIAlign samples a bin along each axis.
      roi_align_impl: RoIAlign's form for the heads and the mask targets: "gather",
        "matmul" (dense matmuls, ``jaxvision.ops.roi_align_matmul``) or "auto" (the faster
        one for the feature and mask sizes on this backend).
      canonical_box_size: box size that pools from level 4 (FPN eq. 1).
      box_head_convs / box_head_fc / box_head_num_fc: the box head (``BoxHead``).
      mask_head_features / mask_head_convs: the mask head (``MaskHead``).
      head_norm: "none" or "group" in the box and mask heads' convs.
      score_threshold / nms_iou / max_detections / pre_nms_top_k: inference.
      dtype: compute dtype; outputs are float32.
      conv_impl: lowering of the FPN's and heads' convs (``layers.Conv``'s ``impl``).
    """

    backbone: nn.Module
    num_classes: int
    fpn_features: int = 256
    min_level: int = 2
    max_level: int = 6
    roi_max_level: int = 5
    anchor_size_scale: float = 8.0
    anchor_aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0)
    rpn_pre_nms_top_k: tuple[int, int] = (2000, 1000)
    rpn_post_nms_top_k: tuple[int, int] = (1000, 1000)
    rpn_nms_iou: float = 0.7
    rpn_samples: int = 256
    rpn_positive_fraction: float = 0.5
    roi_samples: int = 512
    roi_positive_fraction: float = 0.25
    mask_samples: int | None = None
    box_pool_size: int = 7
    mask_pool_size: int = 14
    sampling_ratio: int = 2
    roi_align_impl: str = "auto"
    canonical_box_size: float = CANONICAL_BOX_SIZE
    box_head_convs: int = 0
    box_head_fc: int = 1024
    box_head_num_fc: int = 2
    mask_head_features: int = 256
    mask_head_convs: int = 4
    head_norm: str = "none"
    score_threshold: float = 0.05
    nms_iou: float = 0.5
    max_detections: int = 100
    pre_nms_top_k: int = 1000
    dtype: Any = jnp.float32
    conv_impl: str | ConvRules = "auto"

    def setup(self):
        if not self.min_level <= self.roi_max_level <= self.max_level:
            raise ValueError(
                f"need min_level <= roi_max_level <= max_level, got {self.min_level}, "
                f"{self.roi_max_level}, {self.max_level}"
            )
        conv = functools.partial(layers.Conv, impl=self.conv_impl)
        conv_t = functools.partial(layers.ConvTranspose, impl=self.conv_impl)
        top = min(self.max_level, BACKBONE_TOP_LEVEL)
        self.fpn = FPN(self.fpn_features, self.min_level, top, dtype=self.dtype, conv=conv)
        self.rpn_head = RPNHead(len(self.anchor_aspect_ratios), dtype=self.dtype, conv=conv)
        self.box_head = BoxHead(
            self.num_classes,
            num_convs=self.box_head_convs,
            conv_features=self.fpn_features,
            num_fc=self.box_head_num_fc,
            fc_features=self.box_head_fc,
            norm=self.head_norm,
            dtype=self.dtype,
            conv=conv,
        )
        self.mask_head = MaskHead(
            self.num_classes,
            features=self.mask_head_features,
            num_convs=self.mask_head_convs,
            norm=self.head_norm,
            dtype=self.dtype,
            conv=conv,
            conv_transpose=conv_t,
        )

    # -- static geometry -------------------------------------------------------------
    def strides(self) -> list[int]:
        """The RPN levels' strides."""
        return [2**level for level in range(self.min_level, self.max_level + 1)]

    def anchors(self, image_hw: tuple[int, int]) -> tuple[np.ndarray, tuple[int, ...]]:
        """(anchors [n, 4] xyxy pixels, anchors of each level) for an input size (host)."""
        strides = self.strides()
        grid = anchor_ops.anchor_grid(
            tuple(image_hw),
            strides=strides,
            sizes=[self.anchor_size_scale * s for s in strides],
            scales=(1.0,),
            aspect_ratios=tuple(self.anchor_aspect_ratios),
        )
        counts = proposals.level_counts(image_hw, strides, len(self.anchor_aspect_ratios))
        return grid, counts

    # -- stages ----------------------------------------------------------------------
    def _pyramid(self, images: jax.Array, train: bool) -> dict[int, jax.Array]:
        """level -> [b, h_l, w_l, f] for min_level ... max_level."""
        fpn = self.fpn(self.backbone(images, train=train))
        top = min(self.max_level, BACKBONE_TOP_LEVEL)
        pyramid = {lvl: fpn[level_name(lvl)] for lvl in range(self.min_level, top + 1)}
        for lvl in range(top + 1, self.max_level + 1):
            pyramid[lvl] = pyramid[lvl - 1][:, ::SUBSAMPLE, ::SUBSAMPLE]
        return pyramid

    def _roi_features(self, pyramid, boxes: jax.Array, size: int) -> jax.Array:
        """[b, s, size, size, f] RoIAlign of boxes [b, s, 4] on their levels."""
        levels = {lvl: pyramid[lvl] for lvl in range(self.min_level, self.roi_max_level + 1)}
        return multilevel_roi_align(
            levels,
            jax.lax.stop_gradient(boxes),
            size,
            self.sampling_ratio,
            aligned=True,
            canonical_size=self.canonical_box_size,
            impl=self.roi_align_impl,
        )

    def _proposals(self, logits, deltas, image_hw, train: bool) -> dict[str, jax.Array]:
        """[b, post] proposals (``proposals.generate_proposals``), no gradient."""
        anchors, counts = self.anchors(image_hw)
        mode = 0 if train else 1
        run = functools.partial(
            proposals.generate_proposals,
            anchors=jnp.asarray(anchors),
            level_counts=counts,
            image_hw=image_hw,
            pre_nms_top_k=self.rpn_pre_nms_top_k[mode],
            post_nms_top_k=self.rpn_post_nms_top_k[mode],
            nms_iou=self.rpn_nms_iou,
        )
        return jax.vmap(run)(jax.lax.stop_gradient(logits), jax.lax.stop_gradient(deltas))

    def _detect(self, class_logits, box_deltas, props, image_hw) -> dict[str, jax.Array]:
        """Class-aware NMS over every proposal's per-class boxes and scores."""
        scores = jax.nn.softmax(class_logits, axis=-1)[..., : self.num_classes]  # [b, p, K]
        scores = jnp.where(props["valid"][..., None], scores, 0.0)
        boxes = box_ops.decode(
            box_deltas, props["boxes"][:, :, None, :], roi_sampling.ROI_DELTA_WEIGHTS
        )  # [b, p, K, 4]
        boxes = box_ops.clip(boxes, *image_hw)
        run = functools.partial(
            nms.multiclass_nms,
            iou_threshold=self.nms_iou,
            max_outputs=self.max_detections,
            score_threshold=self.score_threshold,
            pre_nms_top_k=self.pre_nms_top_k,
        )
        return jax.vmap(run)(boxes, scores)

    def __call__(self, images: jax.Array, train: bool = False) -> dict[str, jax.Array]:
        """Inference.

        Args:
          images: normalised images [b, h, w, 3].
          train: passed to the backbone (BatchNorm mode).

        Returns:
          ``boxes`` [b, k, 4] xyxy input pixels, ``scores`` [b, k], ``classes`` [b, k] int32,
          ``valid`` [b, k], ``num_valid`` [b] (``jaxvision.ops.nms.multiclass_nms``), and
          ``masks`` [b, k, M, M] float32 probabilities over each box of its class, with
          ``k = max_detections``, ``M = 2 * mask_pool_size``.
        """
        image_hw = tuple(images.shape[1:3])
        pyramid = self._pyramid(images, train)
        logits, deltas = self.rpn_head(pyramid)  # [b, n], [b, n, 4]
        props = self._proposals(logits, deltas, image_hw, train=False)  # [b, p, ...]
        class_logits, box_deltas = self.box_head(
            self._roi_features(pyramid, props["boxes"], self.box_pool_size)
        )  # [b, p, K + 1], [b, p, K, 4]
        detections = self._detect(class_logits, box_deltas, props, image_hw)
        mask_logits = self.mask_head(
            self._roi_features(pyramid, detections["boxes"], self.mask_pool_size)
        )  # [b, k, M, M, K]
        classes = detections["classes"][:, :, None, None, None]  # [b, k, 1, 1, 1]
        masks = jnp.take_along_axis(mask_logits, classes, axis=-1)[..., 0]  # [b, k, M, M]
        return {**detections, "masks": jax.nn.sigmoid(masks)}

    def train_outputs(
        self,
        images: jax.Array,
        gt_boxes: jax.Array,
        gt_labels: jax.Array,
        gt_valid: jax.Array,
        gt_masks: jax.Array,
        rng: jax.Array,
    ) -> dict[str, jax.Array]:
        """The training forward: sampled anchors and RoIs, their outputs and targets.

        Args:
          images: normalised images [b, h, w, 3] (the backbone runs in train mode).
          gt_boxes: [b, m, 4] xyxy input pixels.
          gt_labels: [b, m] class ids.
          gt_valid: [b, m] bool, the boxes to train on.
          gt_masks: [b, m, h, w] instance masks (nonzero inside), aligned with ``gt_boxes``.
          rng: a key (anchor and RoI sampling).

        Returns:
          The dict ``jaxvision.losses.maskrcnn.maskrcnn_losses`` reads: ``rpn_*`` [b, Sr],
          ``roi_*`` [b, S], ``mask_*`` [b, P, M, M] (see ``_rpn_outputs``, ``_roi_outputs``).
        """
        image_hw = tuple(images.shape[1:3])
        b = images.shape[0]
        rpn_rng, roi_rng = jax.random.split(rng)
        pyramid = self._pyramid(images, train=True)
        logits, deltas = self.rpn_head(pyramid)  # [b, n], [b, n, 4]
        anchors = jnp.asarray(self.anchors(image_hw)[0])  # [n, 4]
        outputs = self._rpn_outputs(
            logits, deltas, anchors, gt_boxes, gt_valid, jax.random.split(rpn_rng, b)
        )
        props = self._proposals(logits, deltas, image_hw, train=True)
        outputs.update(
            self._roi_outputs(pyramid, props, gt_boxes, gt_labels, gt_valid, gt_masks, roi_rng)
        )
        return outputs

    def _rpn_outputs(self, logits, deltas, anchors, gt_boxes, gt_valid, keys):
        """The sampled anchors' logits and deltas with their targets, [b, Sr] each."""
        sample = functools.partial(
            roi_sampling.rpn_targets,
            num_samples=self.rpn_samples,
            positive_fraction=self.rpn_positive_fraction,
        )
        targets = jax.vmap(sample, in_axes=(None, 0, 0, 0))(anchors, gt_boxes, gt_valid, keys)
        index = targets["indices"]  # [b, Sr]
        return {
            "rpn_logits": jnp.take_along_axis(logits, index, axis=1),  # [b, Sr]
            "rpn_deltas": jnp.take_along_axis(deltas, index[..., None], axis=1),  # [b, Sr, 4]
            "rpn_box_targets": targets["box_targets"],  # [b, Sr, 4]
            "rpn_valid": targets["valid"],
            "rpn_positive": targets["positive"],
        }

    def _roi_outputs(self, pyramid, props, gt_boxes, gt_labels, gt_valid, gt_masks, rng):
        """Sampled RoIs through the box and mask heads, with their targets."""
        sample = functools.partial(
            roi_sampling.sample_rois,
            num_classes=self.num_classes,
            num_samples=self.roi_samples,
            positive_fraction=self.roi_positive_fraction,
        )
        keys = jax.random.split(rng, gt_boxes.shape[0])
        rois = jax.vmap(sample)(
            props["boxes"], props["valid"], gt_boxes, gt_labels, gt_valid, keys
        )  # [b, S, ...]
        class_logits, box_deltas = self.box_head(
            self._roi_features(pyramid, rois["rois"], self.box_pool_size)
        )  # [b, S, K + 1], [b, S, K, 4]
        own = jnp.minimum(rois["labels"], self.num_classes - 1)  # [b, S] background -> any
        own_deltas = jnp.take_along_axis(box_deltas, own[..., None, None], axis=2)[:, :, 0]

        # Positives come first, in random order: the mask head reads the first p slots.
        p = max(int(self.roi_samples * self.roi_positive_fraction), 1)
        if self.mask_samples is not None:
            p = max(min(p, self.mask_samples), 1)
        mask_rois = rois["rois"][:, :p]  # [b, P, 4]
        mask_logits = self.mask_head(
            self._roi_features(pyramid, mask_rois, self.mask_pool_size)
        )  # [b, P, M, M, K]
        mask_logits = jnp.take_along_axis(mask_logits, own[:, :p, None, None, None], axis=-1)
        mask_size = mask_logits.shape[2:4]
        targets = jax.vmap(
            lambda m, g, r: roi_sampling.mask_targets(
                m, g, r, mask_size, self.sampling_ratio, self.roi_align_impl
            )
        )(gt_masks, rois["matched_gt"][:, :p], mask_rois)  # [b, P, M, M]
        return {
            "roi_logits": class_logits,  # [b, S, K + 1]
            "roi_labels": rois["labels"],  # [b, S]
            "roi_deltas": own_deltas,  # [b, S, 4]
            "roi_box_targets": rois["box_targets"],  # [b, S, 4]
            "roi_valid": rois["valid"],
            "roi_positive": rois["positive"],
            "mask_logits": mask_logits[..., 0],  # [b, P, M, M]
            "mask_targets": targets,  # [b, P, M, M]
            "mask_valid": rois["positive"][:, :p],  # [b, P]
        }


def maskrcnn_resnet_fpn(
    num_classes: int,
    backbone: str = "resnet50",
    dtype: Any = jnp.float32,
    backbone_kwargs: dict | None = None,
    **kwargs: Any,
) -> MaskRCNN:
    """A ``MaskRCNN`` on a ResNet (``features_only``) of this module's ``BACKBONES``.

    Args:
      num_classes: object classes.
      backbone: ``"resnet18"``, ``"resnet34"``, ``"resnet50"`` or ``"resnet101"``.
      dtype: compute dtype of the backbone and the heads.
      backbone_kwargs: ResNet fields (``num_filters``, ``conv_impl``, ``norm`` ...).
      **kwargs: ``MaskRCNN`` fields.

    Returns:
      The (unbound) module.
    """
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; valid: {sorted(BACKBONES)}")
    trunk = BACKBONES[backbone](
        num_classes=1, features_only=True, dtype=dtype, **(backbone_kwargs or {})
    )
    return MaskRCNN(backbone=trunk, num_classes=num_classes, dtype=dtype, **kwargs)


BACKBONES = {
    "resnet18": resnet.ResNet18,
    "resnet34": resnet.ResNet34,
    "resnet50": resnet.ResNet50,
    "resnet101": resnet.ResNet101,
}
MaskRCNNResNet18FPN = functools.partial(maskrcnn_resnet_fpn, backbone="resnet18")
MaskRCNNResNet50FPN = functools.partial(maskrcnn_resnet_fpn, backbone="resnet50")
