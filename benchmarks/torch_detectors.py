"""PyTorch references of the jaxvision localizer and detectors, for the benchmark suite.

Plain `torch.nn` re-implementations, layer for layer, of `jaxvision.models.localizer.Localizer`,
`jaxvision.models.retinanet.RetinaNet` (with `jaxvision.models.fpn.FPN`) and
`jaxvision.models.fcos.FCOS` over the ResNet of `benchmarks.torch_models` (its blocks and
stages, less the classifier head): same layers, widths, norms, activations and parameter
count, channels-first. Around each model, the work of its task (`jaxvision.tasks`):

- training: the config's optimizer (AdamW or SGD with momentum, weight decay on the leaves
  with more than one dimension, the config's learning-rate schedule and gradient clipping)
  on the task's loss: RetinaNet's IoU anchor matching, sigmoid focal loss and GIoU or
  smooth-L1 box loss; FCOS centre-sampling assignment, focal, centerness-weighted
  GIoU and quality BCE; the localizer's cross-entropy + L1 + GIoU. Everything is
  vectorised over the batch, the anchors and the boxes.
- inference: eval-mode forward, box decoding, clipping, and for the detectors the
  class-aware NMS of `jaxvision.ops.nms.multiclass_nms` (pre-NMS top-k pairs, score
  threshold, greedy loop of at most `max_detections` steps, batched over the images).

Configs arrive as plain nested dicts (`ConfigDict.to_dict()`, or the subset
`benchmarks.suite.torch_config` passes to the PyTorch child), so this module never imports
JAX; the anchor and point grids come from `jaxvision.ops.anchors`, which is NumPy only.

Example:
  >>> from benchmarks import suite, synthetic
  >>> config = suite.torch_config(suite.load_config("train/configs/fcos_small.py"))
  >>> reference = build_reference(config, num_classes=8, image_hw=(64, 64))
  >>> batch = to_torch(synthetic.make_batch("fcos", 2, 64, 8, max_boxes=16))
  >>> loss = make_train_step(reference, config, batch)(None)
  >>> make_predict_step(reference, batch)(None)["boxes"].shape
  torch.Size([2, 100, 4])
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks import synthetic, throughput, torch_models
from jaxvision.ops import anchors as anchor_ops

Tensor = torch.Tensor
Outputs = dict[str, Tensor]
Batch = dict[str, Tensor]
Config = Mapping[str, Any]

# Tasks with a reference here (config `task`).
TASKS = ("localization", "retinanet", "fcos")
# Defaults of the flax modules' fields (jaxvision.models.*), for keys a config leaves out.
RETINANET_DEFAULTS = {
    "min_level": 3,
    "max_level": 7,
    "fpn_features": 256,
    "head_convs": 4,
    "head_norm": "none",
}
FCOS_DEFAULTS = {
    "min_level": 3,
    "max_level": 5,
    "fpn_features": 128,
    "head_convs": 2,
    "head_norm": "group",
}
LOCALIZER_DEFAULT_HIDDEN = 256
# Detector fields that only choose a JAX lowering (no counterpart here).
JAX_ONLY_KWARGS = ("conv_impl",)
DEFAULT_STEM = "imagenet"
# jaxvision.models.retinanet: prior probability, head init std, GroupNorm groups.
PRIOR_PROB = 0.01
HEAD_INIT_STD = 0.01
HEAD_NORM_GROUPS = 32
# flax.linen.GroupNorm's epsilon (torch's default is 1e-5).
GROUP_NORM_EPS = 1e-6
# jaxvision.ops.boxes: denominators floored at EPS; decode clamps log-scales at this.
BOX_EPS = 1e-9
MAX_LOG_SCALE = math.log(1000.0 / 16)
# jaxvision.tasks.fcos.
MAX_LOG_DISTANCE = 8.0
CENTERNESS_EPS = 1e-6
# jaxvision.ops.matching labels.
FOREGROUND, BACKGROUND, IGNORE = 1, 0, -1
_PADDED_IOU = -1.0
_REMOVED = -math.inf
# Seeds of the parameters (the batch is `benchmarks.synthetic`'s, seeded there).
INIT_SEED = 0
AUTOCAST_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


# Models. --------------------------------------------------------------------------------
def _lecun_normal_(module: nn.Conv2d | nn.Linear) -> None:
    """flax's default init (variance 1 / fan_in, zero bias), untruncated."""
    nn.init.kaiming_normal_(module.weight, nonlinearity="linear")
    nn.init.zeros_(module.bias)


def _head_conv(cin: int, cout: int, bias: float = 0.0) -> nn.Conv2d:
    """A 3x3 head conv with RetinaNet's init: normal(0.01) kernel, constant bias."""
    conv = nn.Conv2d(cin, cout, 3, padding=1)
    nn.init.normal_(conv.weight, std=HEAD_INIT_STD)
    nn.init.constant_(conv.bias, bias)
    return conv


def prior_bias(prior_prob: float) -> float:
    """The classification bias making sigmoid(bias) == prior_prob."""
    return -math.log((1.0 - prior_prob) / prior_prob)


class ResNetFeatures(torch_models.ResNet):
    """`torch_models.ResNet` without its head: the stage outputs (`ResNet(features_only)`).

    Args:
      block: `torch_models.BasicBlock` or `torch_models.Bottleneck`.
      layers: blocks per stage.
      width: channels of the stem and the first stage.
      stem: "imagenet" or "cifar".
    """

    def __init__(
        self,
        block: type[torch_models.BasicBlock] | type[torch_models.Bottleneck],
        layers: list[int],
        width: int,
        stem: str = DEFAULT_STEM,
    ):
        super().__init__(block, layers, num_classes=1, width=width, stem=stem)
        del self.avgpool, self.fc
        self.channels = {i + 2: width * 2**i * block.expansion for i in range(len(layers))}

    def forward(self, x: Tensor) -> dict[int, Tensor]:
        """Args: x: [b, 3, h, w]. Returns: {level l: C_l [b, c_l, h / 2**l, w / 2**l]}."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        features = {}
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
            features[i + 2] = x
        return features


def _upsample_to(x: Tensor, height: int, width: int) -> Tensor:
    """Nearest 2x upsampling of [b, c, h, w], cropped to [b, c, height, width]."""
    return F.interpolate(x, scale_factor=2, mode="nearest")[:, :, :height, :width]


class FPN(nn.Module):
    """`jaxvision.models.fpn.FPN`: laterals, top-down sum, 3x3 outputs, stride-2 extras.

    Args:
      in_channels: {level l: channels of C_l}.
      features: channels of every output level.
      min_level: lowest output level.
      max_level: highest output level (above the backbone's: stride-2 convs on P_top,
        ReLU before all but the first).
    """

    def __init__(
        self, in_channels: Mapping[int, int], features: int, min_level: int, max_level: int
    ):
        super().__init__()
        self.min_level, self.max_level = min_level, max_level
        self.top = min(max(in_channels), max_level)
        levels = range(min_level, self.top + 1)
        self.lateral = nn.ModuleDict(
            {str(lvl): nn.Conv2d(in_channels[lvl], features, 1) for lvl in levels}
        )
        self.output = nn.ModuleDict(
            {str(lvl): nn.Conv2d(features, features, 3, padding=1) for lvl in levels}
        )
        self.extra = nn.ModuleDict(
            {
                str(lvl): nn.Conv2d(features, features, 3, stride=2, padding=1)
                for lvl in range(self.top + 1, max_level + 1)
            }
        )
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                _lecun_normal_(module)

    def forward(self, inputs: Mapping[int, Tensor]) -> list[Tensor]:
        """Args: inputs: {l: C_l}. Returns: [P_min, ..., P_max], each [b, features, h_l, w_l]."""
        merged = {self.top: self.lateral[str(self.top)](inputs[self.top])}
        for level in range(self.top - 1, self.min_level - 1, -1):
            lateral = self.lateral[str(level)](inputs[level])  # [b, f, h_l, w_l]
            merged[level] = lateral + _upsample_to(merged[level + 1], *lateral.shape[2:])
        outputs = [
            self.output[str(lvl)](merged[lvl]) for lvl in range(self.min_level, self.top + 1)
        ]
        x = outputs[-1]
        for level in range(self.top + 1, self.max_level + 1):
            x = self.extra[str(level)](F.relu(x) if level > self.top + 1 else x)
            outputs.append(x)  # [b, f, ceil(h / 2), ceil(w / 2)]
        return outputs


class ConvTower(nn.Module):
    """`jaxvision.models.retinanet.ConvTower`: num_convs x (3x3 conv, [GroupNorm], ReLU).

    Args:
      features: channels.
      num_convs: depth.
      norm: "none" or "group" (gcd(32, features) groups).
    """

    def __init__(self, features: int, num_convs: int, norm: str):
        super().__init__()
        if norm not in ("none", "group"):
            raise ValueError(f"head norm must be 'none' or 'group', got {norm!r}")
        layers: list[nn.Module] = []
        for _ in range(num_convs):
            layers.append(_head_conv(features, features))
            if norm == "group":
                groups = math.gcd(HEAD_NORM_GROUPS, features)
                layers.append(nn.GroupNorm(groups, features, eps=GROUP_NORM_EPS))
            layers.append(nn.ReLU(inplace=True))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


def _per_location(x: Tensor, values: int) -> Tensor:
    """A head's [b, A * values, h, w] -> [b, h * w * A, values] (anchors.py's order)."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, values)


class RetinaNet(nn.Module):
    """`jaxvision.models.retinanet.RetinaNet`: backbone, FPN, class and box subnets.

    Args:
      backbone: a `ResNetFeatures`.
      num_classes: object classes (sigmoid outputs).
      num_anchors: anchors a location.
      min_level, max_level, fpn_features, head_convs, head_norm: as the flax module's.
      prior_prob: initial foreground probability.
    """

    def __init__(
        self,
        backbone: ResNetFeatures,
        num_classes: int,
        num_anchors: int,
        min_level: int,
        max_level: int,
        fpn_features: int,
        head_convs: int,
        head_norm: str,
        prior_prob: float = PRIOR_PROB,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.backbone = backbone
        self.fpn = FPN(backbone.channels, fpn_features, min_level, max_level)
        self.cls_tower = ConvTower(fpn_features, head_convs, head_norm)
        self.box_tower = ConvTower(fpn_features, head_convs, head_norm)
        self.cls_logits = _head_conv(
            fpn_features, num_anchors * num_classes, prior_bias(prior_prob)
        )
        self.box_deltas = _head_conv(fpn_features, num_anchors * 4)

    def forward(self, images: Tensor) -> Outputs:
        """Args: images [b, 3, h, w]. Returns: logits [b, n, k], deltas [b, n, 4] (float32)."""
        logits, deltas = [], []
        for p in self.fpn(self.backbone(images)):  # [b, f, h_l, w_l]
            logits.append(_per_location(self.cls_logits(self.cls_tower(p)), self.num_classes))
            deltas.append(_per_location(self.box_deltas(self.box_tower(p)), 4))
        return {
            "logits": torch.cat(logits, dim=1).float(),  # [b, n, k]
            "deltas": torch.cat(deltas, dim=1).float(),  # [b, n, 4]
        }


class FCOS(nn.Module):
    """`jaxvision.models.fcos.FCOS`: backbone, FPN, decoupled head, per-level scales.

    Args:
      backbone: a `ResNetFeatures`.
      num_classes: object classes.
      min_level, max_level, fpn_features, head_convs, head_norm: as the flax module's.
      prior_prob: initial foreground probability.
    """

    def __init__(
        self,
        backbone: ResNetFeatures,
        num_classes: int,
        min_level: int,
        max_level: int,
        fpn_features: int,
        head_convs: int,
        head_norm: str,
        prior_prob: float = PRIOR_PROB,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.backbone = backbone
        self.fpn = FPN(backbone.channels, fpn_features, min_level, max_level)
        self.cls_tower = ConvTower(fpn_features, head_convs, head_norm)
        self.reg_tower = ConvTower(fpn_features, head_convs, head_norm)
        self.cls_logits = _head_conv(fpn_features, num_classes, prior_bias(prior_prob))
        self.box = _head_conv(fpn_features, 4)
        self.quality = _head_conv(fpn_features, 1)
        self.scales = nn.ParameterList(
            [nn.Parameter(torch.ones(())) for _ in range(min_level, max_level + 1)]
        )

    def forward(self, images: Tensor) -> Outputs:
        """Args: images [b, 3, h, w].

        Returns:
          float32 logits [b, n, k], box [b, n, 4] (scaled log-distances l, t, r, b in
          strides) and quality [b, n].
        """
        logits, boxes, quality = [], [], []
        for p, scale in zip(self.fpn(self.backbone(images)), self.scales, strict=True):
            c, r = self.cls_tower(p), self.reg_tower(p)  # [b, f, h_l, w_l]
            logits.append(_per_location(self.cls_logits(c), self.num_classes))  # [b, hw, k]
            boxes.append(_per_location(self.box(r).float() * scale, 4))  # [b, hw, 4]
            quality.append(_per_location(self.quality(r), 1)[..., 0])  # [b, hw]
        return {
            "logits": torch.cat(logits, dim=1).float(),
            "box": torch.cat(boxes, dim=1),
            "quality": torch.cat(quality, dim=1).float(),
        }


class Localizer(nn.Module):
    """`jaxvision.models.localizer.Localizer`: pooled top stage, class head, box head.

    Args:
      backbone: a `ResNetFeatures`.
      num_classes: classes.
      hidden: width of the box head's hidden layer (0: linear box head).
    """

    def __init__(self, backbone: ResNetFeatures, num_classes: int, hidden: int):
        super().__init__()
        self.backbone = backbone
        channels = backbone.channels[max(backbone.channels)]
        self.cls_head = nn.Linear(channels, num_classes)
        self.box_hidden = nn.Linear(channels, hidden) if hidden else None
        self.box_head = nn.Linear(hidden or channels, 4)
        for module in (self.cls_head, self.box_hidden, self.box_head):
            if module is not None:
                _lecun_normal_(module)

    def forward(self, images: Tensor) -> Outputs:
        """Args: images [b, 3, h, w]. Returns: logits [b, k], box [b, 4] (cx, cy, w, h)."""
        features = self.backbone(images)
        x = features[max(features)].float().mean(dim=(2, 3))  # [b, c]
        h = F.relu(self.box_hidden(x)) if self.box_hidden is not None else x
        return {"logits": self.cls_head(x), "box": torch.sigmoid(self.box_head(h))}


def build_backbone(model_config: Config) -> ResNetFeatures:
    """The ResNet feature extractor of `config["model"]` (backbone, backbone_kwargs).

    Raises:
      ValueError: the backbone is not one of `torch_models`' ResNets.
    """
    name = model_config["backbone"]
    if name not in torch_models._CONFIGS:
        raise ValueError(f"no PyTorch backbone {name!r}; valid: {sorted(torch_models._CONFIGS)}")
    block, layers, width = torch_models._CONFIGS[name]
    kwargs = model_config.get("backbone_kwargs", {})
    return ResNetFeatures(
        block, layers, kwargs.get("num_filters", width), kwargs.get("stem", DEFAULT_STEM)
    )


def _detector_kwargs(model_config: Config, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """`model.kwargs` over the flax module's defaults, less the JAX-only fields."""
    kwargs = {k: v for k, v in model_config.get("kwargs", {}).items() if k not in JAX_ONLY_KWARGS}
    return {**defaults, **kwargs}


def build_model(config: Config, num_classes: int) -> nn.Module:
    """The PyTorch twin of the flax model a config's task builds.

    Args:
      config: the config as nested dicts (`task`, `model`, and for RetinaNet `anchors`).
      num_classes: classes of the dataset.

    Returns:
      The module, in training mode.

    Raises:
      ValueError: a task without a reference here.
    """
    task, model_config = config["task"], config["model"]
    backbone = build_backbone(model_config)
    if task == "localization":
        hidden = model_config.get("kwargs", {}).get("hidden", LOCALIZER_DEFAULT_HIDDEN)
        return Localizer(backbone, num_classes, hidden)
    if task == "retinanet":
        anchors = config["anchors"]
        num_anchors = anchor_ops.num_anchors_per_cell(anchors["scales"], anchors["aspect_ratios"])
        kwargs = _detector_kwargs(model_config, RETINANET_DEFAULTS)
        return RetinaNet(backbone, num_classes, num_anchors, **kwargs)
    if task == "fcos":
        return FCOS(backbone, num_classes, **_detector_kwargs(model_config, FCOS_DEFAULTS))
    raise ValueError(f"no PyTorch reference for task {task!r}; valid: {TASKS}")


# Boxes. ---------------------------------------------------------------------------------
def yxyx_to_xyxy_pixels(boxes: Tensor, height: int, width: int) -> Tensor:
    """Normalised (ymin, xmin, ymax, xmax) [..., 4] -> absolute xyxy pixels [..., 4]."""
    scale = boxes.new_tensor([width, height, width, height])
    return boxes[..., [1, 0, 3, 2]] * scale


def box_area(boxes: Tensor) -> Tensor:
    """Areas of xyxy boxes [..., 4] -> [...]; negative sides count as 0."""
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(
        min=0
    )


def iou_and_union(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Elementwise (IoU, union) of broadcastable xyxy boxes [..., 4] -> [...] each."""
    inter_w = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(
        min=0
    )
    inter_h = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp(
        min=0
    )
    inter = inter_w * inter_h  # [...]
    union = box_area(a) + box_area(b) - inter  # [...]
    return inter / union.clamp(min=BOX_EPS), union


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise IoU of broadcastable xyxy boxes [..., 4] -> [...]."""
    return iou_and_union(a, b)[0]


def pairwise_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of every pair: a [..., n, 4], b [..., m, 4] -> [..., n, m]."""
    return box_iou(a[..., :, None, :], b[..., None, :, :])


def giou(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise generalised IoU of broadcastable xyxy boxes [..., 4] -> [...] in [-1, 1]."""
    iou, union = iou_and_union(a, b)
    enc_w = (torch.maximum(a[..., 2], b[..., 2]) - torch.minimum(a[..., 0], b[..., 0])).clamp(min=0)
    enc_h = (torch.maximum(a[..., 3], b[..., 3]) - torch.minimum(a[..., 1], b[..., 1])).clamp(min=0)
    enclosing = enc_w * enc_h  # [...]
    return iou - (enclosing - union) / enclosing.clamp(min=BOX_EPS)


def _centers_sizes(boxes: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(cx, cy, w, h) of xyxy boxes [..., 4], sides floored at BOX_EPS."""
    w = (boxes[..., 2] - boxes[..., 0]).clamp(min=BOX_EPS)
    h = (boxes[..., 3] - boxes[..., 1]).clamp(min=BOX_EPS)
    return boxes[..., 0] + 0.5 * w, boxes[..., 1] + 0.5 * h, w, h


def encode_boxes(boxes: Tensor, anchors: Tensor) -> Tensor:
    """Deltas (dx, dy, dw, dh) [..., 4] of xyxy boxes against anchors (unit weights)."""
    bx, by, bw, bh = _centers_sizes(boxes)
    ax, ay, aw, ah = _centers_sizes(anchors)
    return torch.stack([(bx - ax) / aw, (by - ay) / ah, (bw / aw).log(), (bh / ah).log()], -1)


def decode_deltas(deltas: Tensor, anchors: Tensor) -> Tensor:
    """xyxy boxes [..., 4] from deltas against anchors; the inverse of `encode_boxes`."""
    ax, ay, aw, ah = _centers_sizes(anchors)
    cx = ax + deltas[..., 0] * aw  # [...]
    cy = ay + deltas[..., 1] * ah
    half_w = 0.5 * deltas[..., 2].clamp(max=MAX_LOG_SCALE).exp() * aw
    half_h = 0.5 * deltas[..., 3].clamp(max=MAX_LOG_SCALE).exp() * ah
    return torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=-1)


def boxes_to_distances(points: Tensor, boxes: Tensor) -> Tensor:
    """(left, top, right, bottom) [..., 4] from points [..., 2] to xyxy boxes [..., 4]."""
    x, y = points[..., 0], points[..., 1]
    return torch.stack(
        [x - boxes[..., 0], y - boxes[..., 1], boxes[..., 2] - x, boxes[..., 3] - y], -1
    )


def distances_to_boxes(points: Tensor, distances: Tensor) -> Tensor:
    """xyxy boxes [..., 4] from points [..., 2] and (l, t, r, b) distances [..., 4]."""
    x, y = points[..., 0], points[..., 1]
    return torch.stack(
        [
            x - distances[..., 0],
            y - distances[..., 1],
            x + distances[..., 2],
            y + distances[..., 3],
        ],
        dim=-1,
    )


def clip_boxes(boxes: Tensor, height: int, width: int) -> Tensor:
    """xyxy pixel boxes [..., 4] clipped to [0, width] x [0, height]."""
    upper = boxes.new_tensor([width, height, width, height])
    return torch.minimum(boxes.clamp(min=0), upper)


def _gather_rows(values: Tensor, index: Tensor) -> Tensor:
    """values [b, m, ...] at index [b, n] -> [b, n, ...]."""
    rows = torch.arange(values.shape[0], device=values.device)[:, None]  # [b, 1]
    return values[rows, index]


# Losses. --------------------------------------------------------------------------------
def sigmoid_focal_loss(logits: Tensor, targets: Tensor, alpha: float, gamma: float) -> Tensor:
    """Per-element sigmoid focal loss (torchvision's formula) [..., k] -> [..., k].

    Args:
      logits: [..., k] logits.
      targets: [..., k] targets in [0, 1].
      alpha: weight of positives (negative: no weighting).
      gamma: focusing exponent.
    """
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss


def smooth_l1(pred: Tensor, target: Tensor, beta: float) -> Tensor:
    """Elementwise smooth L1 (`jaxvision.losses.detection.smooth_l1_loss`)."""
    return F.smooth_l1_loss(pred, target, reduction="none", beta=beta)


def match_anchors(
    iou: Tensor, gt_valid: Tensor, foreground_iou: float, background_iou: float
) -> tuple[Tensor, Tensor]:
    """IoU matching with low-quality matches (`jaxvision.ops.matching.match_anchors`).

    Args:
      iou: [b, n, m] IoU of every anchor with every (padded) gt, m >= 1.
      gt_valid: [b, m] real gts.
      foreground_iou: lowest IoU of a foreground match.
      background_iou: IoU below which an anchor is background.

    Returns:
      (matched gt [b, n] int64, 0 where an image has no gt; kind [b, n]: 1 foreground,
      0 background, -1 ignored).
    """
    masked = torch.where(gt_valid[:, None, :], iou, _PADDED_IOU)  # [b, n, m]
    best_iou, matched = masked.max(dim=2)  # [b, n] each
    kind = torch.where(
        best_iou >= foreground_iou,
        FOREGROUND,
        torch.where(best_iou < background_iou, BACKGROUND, IGNORE),
    )  # [b, n]
    best_per_gt = masked.max(dim=1).values  # [b, m]
    is_best = (masked == best_per_gt[:, None, :]) & ((best_per_gt > 0) & gt_valid)[:, None, :]
    kind = torch.where(is_best.any(dim=2), FOREGROUND, kind)  # [b, n]
    matched = torch.where(gt_valid.any(dim=1, keepdim=True), matched, 0)  # [b, n]
    return matched, kind


def fcos_targets(
    points: Tensor,
    point_strides: Tensor,
    size_lo: Tensor,
    size_hi: Tensor,
    gt_boxes: Tensor,
    gt_valid: Tensor,
    center_radius: float,
) -> tuple[Tensor, Tensor]:
    """FCOS assignment with centre sampling (`jaxvision.ops.matching.fcos_targets`).

    Args:
      points: [n, 2] (x, y) points.
      point_strides: [n] stride of each point's level.
      size_lo: [n] lower bound of max(l, t, r, b) at each point's level.
      size_hi: [n] upper bound.
      gt_boxes: [b, m, 4] xyxy pixels.
      gt_valid: [b, m] real gts.
      center_radius: half-side of the sampling square, in strides.

    Returns:
      (matched gt [b, n] int64, 0 for negatives; positive [b, n] bool).
    """
    p = points[None, :, None, :]  # [1, n, 1, 2]
    boxes = gt_boxes[:, None, :, :]  # [b, 1, m, 4]
    distances = boxes_to_distances(p, boxes)  # [b, n, m, 4]
    inside_box = distances.amin(dim=-1) > 0  # [b, n, m]
    max_distance = distances.amax(dim=-1)  # [b, n, m]
    in_range = (max_distance >= size_lo[:, None]) & (max_distance <= size_hi[:, None])
    center = 0.5 * (boxes[..., :2] + boxes[..., 2:])  # [b, 1, m, 2]
    radius = (center_radius * point_strides)[None, :, None, None]  # [1, n, 1, 1]
    region_lo = torch.maximum(center - radius, boxes[..., :2])  # [b, n, m, 2]
    region_hi = torch.minimum(center + radius, boxes[..., 2:])  # [b, n, m, 2]
    inside_center = torch.minimum((p - region_lo).amin(-1), (region_hi - p).amin(-1)) > 0
    candidate = inside_box & inside_center & in_range & gt_valid[:, None, :]  # [b, n, m]
    areas = torch.where(candidate, box_area(gt_boxes)[:, None, :], math.inf)  # [b, n, m]
    matched = areas.argmin(dim=2)  # [b, n]
    positive = candidate.any(dim=2)  # [b, n]
    return torch.where(positive, matched, 0), positive


def centerness(distances: Tensor) -> Tensor:
    """FCOS centerness of (l, t, r, b) distances [..., 4] -> [...] in [0, 1]."""
    d = distances.clamp(min=0)
    lr = torch.minimum(d[..., 0], d[..., 2]) / torch.maximum(d[..., 0], d[..., 2]).clamp(
        min=CENTERNESS_EPS
    )
    tb = torch.minimum(d[..., 1], d[..., 3]) / torch.maximum(d[..., 1], d[..., 3]).clamp(
        min=CENTERNESS_EPS
    )
    return (lr * tb).sqrt()


def _class_targets(labels: Tensor, positive: Tensor, num_classes: int) -> Tensor:
    """One-hot [b, n, k] float of labels [b, n], zero where not positive."""
    classes = torch.arange(num_classes, device=labels.device)
    return ((labels[..., None] == classes) & positive[..., None]).float()


def retinanet_losses(
    outputs: Outputs,
    gt_boxes: Tensor,
    gt_labels: Tensor,
    gt_valid: Tensor,
    anchors: Tensor,
    cfg: Config,
) -> dict[str, Tensor]:
    """`jaxvision.tasks.retinanet.RetinaNetTask.losses`.

    Args:
      outputs: logits [b, n, k], deltas [b, n, 4].
      gt_boxes: [b, m, 4] xyxy pixels.
      gt_labels: [b, m] int64 (-1 padding).
      gt_valid: [b, m] bool.
      anchors: [n, 4] xyxy pixels.
      cfg: `config["detection"]` with `config["retinanet"]` merged in.

    Returns:
      cls_loss and box_loss (weighted), scalars.
    """
    logits, deltas = outputs["logits"], outputs["deltas"]  # [b, n, k], [b, n, 4]
    iou = pairwise_iou(anchors, gt_boxes)  # [b, n, m]
    matched, kind = match_anchors(iou, gt_valid, cfg["foreground_iou"], cfg["background_iou"])
    target_boxes = _gather_rows(gt_boxes, matched)  # [b, n, 4]
    foreground = kind == FOREGROUND  # [b, n]
    cls_targets = _class_targets(_gather_rows(gt_labels, matched), foreground, logits.shape[-1])
    num_fg = foreground.sum().clamp(min=1).float()
    focal = sigmoid_focal_loss(logits, cls_targets, cfg["focal_alpha"], cfg["focal_gamma"])
    cls_loss = (focal * (kind >= 0)[..., None]).sum() / num_fg
    if cfg["box_loss"] == "giou":
        per_box = 1.0 - giou(decode_deltas(deltas, anchors), target_boxes)  # [b, n]
    elif cfg["box_loss"] == "smooth_l1":
        target = encode_boxes(target_boxes, anchors)  # [b, n, 4]
        per_box = smooth_l1(deltas, target, cfg["smooth_l1_beta"]).sum(dim=-1)  # [b, n]
    else:
        raise ValueError(f"unknown retinanet.box_loss {cfg['box_loss']!r}")
    box_loss = (per_box * foreground).sum() / num_fg
    return {"cls_loss": cls_loss, "box_loss": cfg["box_loss_weight"] * box_loss}


def fcos_boxes(box: Tensor, points: Tensor, point_strides: Tensor) -> Tensor:
    """Decoded xyxy boxes [b, n, 4] of the FCOS head's scaled log-distances [b, n, 4]."""
    distances = box.clamp(max=MAX_LOG_DISTANCE).exp() * point_strides[:, None]  # [b, n, 4]
    return distances_to_boxes(points, distances)


def fcos_losses(
    outputs: Outputs,
    gt_boxes: Tensor,
    gt_labels: Tensor,
    gt_valid: Tensor,
    grid: Mapping[str, Tensor],
    cfg: Config,
) -> dict[str, Tensor]:
    """`jaxvision.tasks.fcos.FCOSTask.losses`.

    Args:
      outputs: logits [b, n, k], box [b, n, 4], quality [b, n].
      gt_boxes: [b, m, 4] xyxy pixels.
      gt_labels: [b, m] int64 (-1 padding).
      gt_valid: [b, m] bool.
      grid: `points` [n, 2], `strides` [n], `size_lo` [n], `size_hi` [n].
      cfg: `config["detection"]` with `config["fcos"]` merged in.

    Returns:
      cls_loss, box_loss (weighted) and quality_loss, scalars.
    """
    points, strides = grid["points"], grid["strides"]
    matched, positive = fcos_targets(
        points, strides, grid["size_lo"], grid["size_hi"], gt_boxes, gt_valid, cfg["center_radius"]
    )  # [b, n] each
    target_boxes = _gather_rows(gt_boxes, matched)  # [b, n, 4]
    logits = outputs["logits"]
    cls_targets = _class_targets(_gather_rows(gt_labels, matched), positive, logits.shape[-1])
    pos = positive.float()  # [b, n]
    num_pos = pos.sum().clamp(min=1.0)
    focal = sigmoid_focal_loss(logits, cls_targets, cfg["focal_alpha"], cfg["focal_gamma"])
    cls_loss = focal.sum() / num_pos
    ctr = centerness(boxes_to_distances(points, target_boxes)) * pos  # [b, n]
    per_box = 1.0 - giou(fcos_boxes(outputs["box"], points, strides), target_boxes)  # [b, n]
    box_loss = (per_box * ctr).sum() / ctr.sum().clamp(min=CENTERNESS_EPS)
    bce = F.binary_cross_entropy_with_logits(outputs["quality"], ctr, reduction="none")
    quality_loss = (bce * pos).sum() / num_pos
    return {
        "cls_loss": cls_loss,
        "box_loss": cfg["box_loss_weight"] * box_loss,
        "quality_loss": quality_loss,
    }


def localization_losses(
    outputs: Outputs, batch: Batch, cfg: Config, label_smoothing: float
) -> dict[str, Tensor]:
    """`jaxvision.tasks.localization.LocalizationTask.loss`: CE + L1 + GIoU.

    Args:
      outputs: logits [b, k], box [b, 4] normalised (cx, cy, w, h).
      batch: `label` [b] int64, `bbox` [b, 4] normalised yxyx.
      cfg: `config["localization"]` (l1_weight, giou_weight).
      label_smoothing: of the cross-entropy.

    Returns:
      cls_loss, l1_loss and giou_loss (weighted), scalars.
    """
    pred = cxcywh_to_xyxy(outputs["box"])  # [b, 4]
    true = batch["bbox"][:, [1, 0, 3, 2]]  # [b, 4]
    cls_loss = F.cross_entropy(outputs["logits"], batch["label"], label_smoothing=label_smoothing)
    l1 = (pred - true).abs().sum(dim=-1).mean()
    giou_loss = (1.0 - giou(pred, true)).mean()
    return {
        "cls_loss": cls_loss,
        "l1_loss": cfg["l1_weight"] * l1,
        "giou_loss": cfg["giou_weight"] * giou_loss,
    }


def cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    """(cx, cy, w, h) [..., 4] -> (x1, y1, x2, y2) [..., 4]."""
    center, half = boxes[..., :2], 0.5 * boxes[..., 2:]
    return torch.cat([center - half, center + half], dim=-1)


# Non-maximum suppression. ---------------------------------------------------------------
def batched_nms(
    boxes: Tensor,
    scores: Tensor,
    classes: Tensor,
    *,
    iou_threshold: float,
    max_outputs: int,
    score_threshold: float = -math.inf,
) -> tuple[Tensor, Tensor]:
    """Class-aware greedy NMS of every image of a batch at once (`jaxvision.ops.nms`).

    Each step takes every image's highest remaining score (ties: lowest index), records it,
    and removes its own candidate and every remaining one of its class with IoU >
    `iou_threshold`. At most `max_outputs` steps, each O(b * k); the loop stops once no
    image has a candidate left.

    Args:
      boxes: [b, k, 4] xyxy boxes.
      scores: [b, k] scores; candidates need score > score_threshold (NaN never is).
      classes: [b, k] integer classes.
      iou_threshold: IoU above which a box of the same class is suppressed.
      max_outputs: detections an image.
      score_threshold: candidates at or below it are dropped first.

    Returns:
      (indices [b, max_outputs] int64 into k, score descending, 0 where padded;
      valid [b, max_outputs] bool).
    """
    b, k = scores.shape
    indices = torch.zeros(b, max_outputs, dtype=torch.long, device=scores.device)
    valid = torch.zeros(b, max_outputs, dtype=torch.bool, device=scores.device)
    if k == 0:
        return indices, valid
    remaining = torch.where(scores > score_threshold, scores.float(), _REMOVED)  # [b, k]
    rows = torch.arange(b, device=scores.device)  # [b]
    for step in range(max_outputs):
        best_score, best = remaining.max(dim=1)  # [b] each
        alive = best_score > _REMOVED  # [b]
        if not bool(alive.any()):
            break
        overlap = box_iou(boxes, boxes[rows, best][:, None, :])  # [b, k]
        same_class = classes == classes[rows, best][:, None]  # [b, k]
        remaining = remaining.masked_fill((overlap > iou_threshold) & same_class, _REMOVED)
        remaining[rows, best] = _REMOVED
        indices[:, step] = torch.where(alive, best, 0)
        valid[:, step] = alive
    return indices, valid


def multiclass_nms(
    boxes: Tensor,
    scores: Tensor,
    *,
    iou_threshold: float,
    max_outputs: int,
    score_threshold: float,
    pre_nms_top_k: int | None,
) -> dict[str, Tensor]:
    """Per-class NMS of dense multi-label detections (`jaxvision.ops.nms.multiclass_nms`).

    Every (box, class) pair is a candidate; the `pre_nms_top_k` best pairs of an image go
    through `batched_nms`.

    Args:
      boxes: [b, n, 4] xyxy boxes shared by the classes.
      scores: [b, n, c] per-class scores.
      iou_threshold: IoU above which a box of the same class is suppressed.
      max_outputs: detections an image.
      score_threshold: pairs at or below it are dropped.
      pre_nms_top_k: pairs an image kept before NMS (None: all).

    Returns:
      boxes [b, max_outputs, 4], scores [b, max_outputs], classes [b, max_outputs],
      valid [b, max_outputs], num_valid [b]; padding is zeros with valid False.
    """
    b, n, c = scores.shape
    num_pairs = n * c
    top_k = num_pairs if pre_nms_top_k is None else min(pre_nms_top_k, num_pairs)
    top_scores, pairs = scores.reshape(b, num_pairs).topk(top_k, dim=1)  # [b, k] each
    top_boxes = _gather_rows(boxes, pairs // c)  # [b, k, 4]
    top_classes = pairs % c  # [b, k]
    keep, valid = batched_nms(
        top_boxes,
        top_scores,
        top_classes,
        iou_threshold=iou_threshold,
        max_outputs=max_outputs,
        score_threshold=score_threshold,
    )  # [b, max_outputs] each
    return {
        "boxes": _gather_rows(top_boxes, keep) * valid[..., None],  # [b, max_outputs, 4]
        "scores": _gather_rows(top_scores, keep) * valid,  # [b, max_outputs]
        "classes": _gather_rows(top_classes, keep) * valid,  # [b, max_outputs]
        "valid": valid,
        "num_valid": valid.sum(dim=1),  # [b]
    }


def detect(boxes: Tensor, scores: Tensor, image_hw: tuple[int, int], cfg: Config) -> dict:
    """`DetectionTask.detect`: clip decoded boxes [b, n, 4], then `multiclass_nms`."""
    return multiclass_nms(
        clip_boxes(boxes, *image_hw),
        scores,
        iou_threshold=cfg["nms_iou"],
        max_outputs=cfg["max_detections"],
        score_threshold=cfg["score_threshold"],
        pre_nms_top_k=cfg["pre_nms_top_k"],
    )


# Tasks. ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Reference:
    """A task's PyTorch reference.

    Attributes:
      model: the module (channels-first normalised images in, the flax model's outputs out).
      losses: (outputs, batch) -> scalar loss terms, summed into the loss.
      postprocess: outputs -> the task's `predict` output (detections after NMS, or the
        localizer's class, probability and box).
    """

    model: nn.Module
    losses: Callable[[Outputs, Batch], dict[str, Tensor]]
    postprocess: Callable[[Outputs], dict[str, Tensor]]


def detection_targets(batch: Batch, image_hw: tuple[int, int]) -> tuple[Tensor, Tensor, Tensor]:
    """(gt boxes [b, m, 4] xyxy pixels, labels [b, m], valid [b, m]) of a detection batch."""
    boxes = yxyx_to_xyxy_pixels(batch["boxes"], *image_hw)
    return boxes, batch["labels"], batch["box_mask"] & ~batch["box_ignore"]


def anchor_grid(config: Config, image_hw: tuple[int, int]) -> Tensor:
    """RetinaNetTask.anchors: [n, 4] xyxy anchors of the config's levels."""
    kwargs = _detector_kwargs(config["model"], RETINANET_DEFAULTS)
    strides = [2**level for level in range(kwargs["min_level"], kwargs["max_level"] + 1)]
    cfg = config["anchors"]
    anchors = anchor_ops.anchor_grid(
        tuple(image_hw),
        strides=strides,
        sizes=[cfg["size_scale"] * s for s in strides],
        scales=tuple(cfg["scales"]),
        aspect_ratios=tuple(cfg["aspect_ratios"]),
    )
    return torch.from_numpy(anchors)


def point_grid(config: Config, image_hw: tuple[int, int]) -> dict[str, Tensor]:
    """FCOSTask.points and each point's size range: points [n, 2], strides, size_lo, size_hi [n]."""
    kwargs = _detector_kwargs(config["model"], FCOS_DEFAULTS)
    strides = [2**level for level in range(kwargs["min_level"], kwargs["max_level"] + 1)]
    ranges = config["fcos"]["size_ranges"]
    if len(ranges) != len(strides):
        raise ValueError(f"fcos.size_ranges has {len(ranges)} ranges for {len(strides)} levels")
    points, point_strides = anchor_ops.point_grid(tuple(image_hw), strides)  # [n, 2], [n]
    level = np.searchsorted(np.asarray(strides, np.float32), point_strides)  # [n]
    bounds = np.asarray(ranges, np.float32)[level]  # [n, 2]
    return {
        "points": torch.from_numpy(points),
        "strides": torch.from_numpy(point_strides),
        "size_lo": torch.from_numpy(np.ascontiguousarray(bounds[:, 0])),
        "size_hi": torch.from_numpy(np.ascontiguousarray(bounds[:, 1])),
    }


def _retinanet_losses(outputs, batch, *, anchors, image_hw, cfg):
    """`retinanet_losses` of a batch (targets from its boxes, labels and masks)."""
    return retinanet_losses(outputs, *detection_targets(batch, image_hw), anchors, cfg)


def _retinanet_predict(outputs, *, anchors, image_hw, cfg):
    """`RetinaNetTask.predict` after the forward: decode, sigmoid, clip, NMS."""
    boxes = decode_deltas(outputs["deltas"], anchors)  # [b, n, 4]
    return detect(boxes, torch.sigmoid(outputs["logits"]), image_hw, cfg)


def _fcos_losses(outputs, batch, *, grid, image_hw, cfg):
    """`fcos_losses` of a batch (targets from its boxes, labels and masks)."""
    return fcos_losses(outputs, *detection_targets(batch, image_hw), grid, cfg)


def _fcos_predict(outputs, *, grid, image_hw, cfg):
    """`FCOSTask.predict` after the forward: decode, sqrt(class * quality), clip, NMS."""
    boxes = fcos_boxes(outputs["box"], grid["points"], grid["strides"])  # [b, n, 4]
    scores = (
        torch.sigmoid(outputs["logits"]) * torch.sigmoid(outputs["quality"])[..., None]
    ).sqrt()
    return detect(boxes, scores, image_hw, cfg)


def _localization_predict(outputs: Outputs, *, image_hw: tuple[int, int]) -> dict[str, Tensor]:
    """`LocalizationTask.predict`: class, probability and clipped pixel box of each image."""
    probs = torch.softmax(outputs["logits"], dim=-1)  # [b, k]
    h, w = image_hw
    boxes = cxcywh_to_xyxy(outputs["box"]) * outputs["box"].new_tensor([w, h, w, h])
    probabilities, classes = probs.max(dim=-1)  # [b] each
    return {"classes": classes, "probabilities": probabilities, "boxes": clip_boxes(boxes, h, w)}


def build_reference(config: Config, num_classes: int, image_hw: tuple[int, int]) -> Reference:
    """The model, loss and post-processing of a config's task at an input size.

    Args:
      config: the config as nested dicts (`task`, `model`, `detection`, `anchors`,
        `localization`, `label_smoothing`; see `benchmarks.suite.torch_config`).
      num_classes: classes of the dataset.
      image_hw: (height, width) of the input (anchor and point grids are static).

    Returns:
      The `Reference`; its model is in training mode.
    """
    model = build_model(config, num_classes)
    task = config["task"]
    if task == "localization":
        losses = functools.partial(
            localization_losses,
            cfg=config["localization"],
            label_smoothing=config.get("label_smoothing", 0.0),
        )
        return Reference(model, losses, functools.partial(_localization_predict, image_hw=image_hw))
    # The shared detection keys and the detector's own sub-config ("retinanet", "fcos").
    cfg = {**config["detection"], **config.get(task, {})}
    if task == "retinanet":
        static = {"anchors": anchor_grid(config, image_hw), "image_hw": image_hw, "cfg": cfg}
        return Reference(
            model,
            functools.partial(_retinanet_losses, **static),
            functools.partial(_retinanet_predict, **static),
        )
    static = {"grid": point_grid(config, image_hw), "image_hw": image_hw, "cfg": cfg}
    return Reference(
        model,
        functools.partial(_fcos_losses, **static),
        functools.partial(_fcos_predict, **static),
    )


# Optimizer. -----------------------------------------------------------------------------
def learning_rate(step: int, cfg: Config, total_steps: int) -> float:
    """`jaxvision.optim.make_schedule`'s learning rate at an optimizer step.

    Args:
      step: optimizer updates so far.
      cfg: `config["optimizer"]` (learning_rate, schedule, warmup_steps, ...).
      total_steps: optimizer updates of the run.
    """
    lr = cfg["learning_rate"]
    warmup = cfg.get("warmup_steps", 0)
    kind = cfg.get("schedule", "warmup_cosine")
    if kind == "warmup_cosine":
        if step < warmup:
            return lr * step / warmup
        end = lr * cfg.get("end_learning_rate_factor", 0.0)
        span = total_steps - warmup
        progress = min(step - warmup, span) / span
        return end + (lr - end) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if kind == "piecewise":
        for fraction in cfg.get("piecewise_boundaries", ()):
            if step >= round(fraction * total_steps):
                lr *= cfg.get("piecewise_factor", 0.1)
    elif kind != "constant":
        raise ValueError(f"unknown schedule {kind!r}")
    return lr * min(step / warmup, 1.0) if warmup else lr


def make_optimizer(model: nn.Module, cfg: Config) -> torch.optim.Optimizer:
    """AdamW or SGD (momentum) with weight decay on the leaves of more than one dimension.

    As `jaxvision.optim.make_optimizer` (decay mask "no_bias_no_norm" or "all"; SGD's decay
    is L2 on the gradient, AdamW's decoupled). The learning rate is the schedule's peak;
    `make_train_step` scales it each step.

    Raises:
      ValueError: another optimizer, or gradient accumulation.
    """
    if cfg.get("accumulation_steps", 1) != 1:
        raise ValueError("gradient accumulation has no PyTorch reference")
    decay_all = cfg.get("decay_mask", "no_bias_no_norm") == "all"
    params = list(model.parameters())
    decayed = [p for p in params if decay_all or p.ndim > 1]
    others = [p for p in params if not (decay_all or p.ndim > 1)]
    groups = [
        {"params": decayed, "weight_decay": cfg.get("weight_decay", 0.0)},
        {"params": others, "weight_decay": 0.0},
    ]
    lr = cfg["learning_rate"]
    if cfg["name"] == "adamw":
        betas = (cfg.get("b1", 0.9), cfg.get("b2", 0.999))
        return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=cfg.get("eps", 1e-8))
    if cfg["name"] == "sgd":
        return torch.optim.SGD(
            groups, lr=lr, momentum=cfg.get("momentum", 0.9), nesterov=cfg.get("nesterov", False)
        )
    raise ValueError(f"optimizer {cfg['name']!r} has no PyTorch reference; adamw or sgd")


# Steps. ---------------------------------------------------------------------------------
def to_torch(batch: Mapping[str, np.ndarray]) -> Batch:
    """A `benchmarks.synthetic` batch as tensors (integer labels as int64)."""
    out = {}
    for key, value in batch.items():
        tensor = torch.from_numpy(np.ascontiguousarray(value))
        out[key] = tensor.long() if key in ("label", "labels") else tensor
    return out


def normalize_images(images: Tensor) -> Tensor:
    """uint8 [b, h, w, 3] -> ImageNet-normalised float32 [b, 3, h, w]."""
    mean = images.new_tensor(throughput.IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    inv_std = 1.0 / images.new_tensor(throughput.IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1)
    return (images.permute(0, 3, 1, 2).float() - mean) * inv_std


def _autocast(dtype: str) -> contextlib.AbstractContextManager:
    """CPU autocast to the config's compute dtype (none for float32)."""
    if dtype not in AUTOCAST_DTYPES:
        return contextlib.nullcontext()
    return torch.autocast("cpu", AUTOCAST_DTYPES[dtype])


def _float32(outputs: Outputs) -> Outputs:
    """The outputs in float32 (the flax models' outputs are, whatever the compute dtype)."""
    return {k: v.float() for k, v in outputs.items()}


def make_train_step(
    reference: Reference, config: Config, batch: Batch, dtype: str = "float32"
) -> Callable[[Any], Tensor]:
    """One training step on a fixed batch: forward, the task's loss, backward, update.

    Args:
      reference: from `build_reference`.
      config: the config as nested dicts (`optimizer`, `total_steps`).
      batch: tensors of the task's schema (`to_torch`), uint8 images.
      dtype: compute dtype ("float32", "bfloat16": autocast).

    Returns:
      `step(_) -> loss` (detached), for `benchmarks.throughput.time_steps`.
    """
    model = reference.model.train()
    opt_cfg = config["optimizer"]
    optimizer = make_optimizer(model, opt_cfg)
    total_steps = config.get("total_steps", 1)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: learning_rate(s, opt_cfg, total_steps) / opt_cfg["learning_rate"]
    )
    clip = opt_cfg.get("grad_clip_norm", 0.0)
    params = [p for p in model.parameters() if p.requires_grad]

    def step(_: Any) -> Tensor:
        optimizer.zero_grad(set_to_none=True)
        with _autocast(dtype):
            outputs = model(normalize_images(batch["image"]))
        loss = sum(reference.losses(_float32(outputs), batch).values())
        loss.backward()
        if clip > 0:
            nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        schedule.step()
        return loss.detach()

    return step


def make_predict_step(
    reference: Reference, batch: Batch, dtype: str = "float32"
) -> Callable[[Any], dict[str, Tensor]]:
    """The task's `predict` on a fixed batch: eval-mode forward, decoding, NMS.

    Args:
      reference: from `build_reference`.
      batch: tensors with uint8 `image` [b, h, w, 3].
      dtype: compute dtype of the forward.

    Returns:
      `step(_) -> predictions`, for `benchmarks.throughput.time_steps`.
    """
    model = reference.model.eval()

    def step(_: Any) -> dict[str, Tensor]:
        with torch.inference_mode():
            with _autocast(dtype):
                outputs = model(normalize_images(batch["image"]))
            return reference.postprocess(_float32(outputs))

    return step


def _record(args: argparse.Namespace, timing: throughput.Timing) -> dict[str, Any]:
    """`throughput.run_torch`'s record of a timed step."""
    record = throughput._result(throughput.TORCH, args, timing, compile_s=timing.first_s)
    record.update(device="cpu", num_threads=torch.get_num_threads(), channels_last=False)
    return record


def run(job: Mapping[str, Any], threads: int) -> dict[str, dict[str, Any]]:
    """Times a suite job's reference: training, then inference with the trained weights.

    As the JAX side (`benchmarks.suite_jax.run`) predicts with the state its timed training
    left, the inference here uses the model after the same number of training steps (the
    scores, and so the candidates NMS sees, come from comparably trained heads).

    Args:
      job: from `benchmarks.suite.make_job` (with `torch_config`).
      threads: PyTorch intra-op threads.

    Returns:
      {"train": record, "inference": record}, records as `throughput.run_torch`'s; the
      inference record adds `detections_per_image` (mean valid detections, detectors only).
    """
    torch.set_num_threads(threads)
    torch.manual_seed(INIT_SEED)
    config = job["torch_config"]
    batch_size, size = job["cpu_batch_size"], job["image_size"]
    numpy_batch = synthetic.make_batch(
        job["task"], batch_size, size, job["num_classes"], job["max_boxes"]
    )
    batch = to_torch(numpy_batch)
    reference = build_reference(config, job["num_classes"], (size, size))
    args = argparse.Namespace(batch_size=batch_size, threads=threads)
    timing, _ = throughput.time_steps(
        make_train_step(reference, config, batch, job["dtype"]),
        None,
        steps=job["steps"],
        warmup=job["warmup"],
        sync=lambda _: None,
    )
    train = _record(args, timing)
    timing, predictions = throughput.time_steps(
        make_predict_step(reference, batch, job["dtype"]),
        None,
        steps=job["steps"],
        warmup=job["warmup"],
        sync=lambda _: None,
    )
    inference = _record(args, timing)
    if "num_valid" in predictions:
        inference["detections_per_image"] = float(predictions["num_valid"].float().mean())
    return {"train": train, "inference": inference}
