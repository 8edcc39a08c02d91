"""The keys the detection configs share (imported by retinanet_*.py and fcos_*.py)."""

from __future__ import annotations

import ml_collections

from train.configs import common


def detection_config(task: str) -> ml_collections.ConfigDict:
    """``common.base_config()`` plus the detection keys, with the paper defaults.

    Keys added:
      model.backbone / model.backbone_kwargs: the backbone (``jaxvision.models.MODELS``,
        built with ``features_only=True``; ``conv_impl``, ``remat`` ...);
        ``model.kwargs`` holds the detector's fields (levels, widths, head, ``conv_impl``).
      detection (every detector): ``max_boxes`` (boxes an image after padding: the input
        pipeline pads every example's targets to it), ``score_threshold``, ``nms_iou``,
        ``max_detections``, ``pre_nms_top_k`` (inference), ``focal_alpha``, ``focal_gamma``,
        ``box_loss_weight``.
      retinanet (RetinaNet only): ``foreground_iou``, ``background_iou``, ``box_loss``
        ("smooth_l1" | "giou"), ``smooth_l1_beta``.
      anchors (RetinaNet only): ``size_scale`` (anchor size = size_scale * stride),
        ``scales`` and ``aspect_ratios`` (height / width).
      fcos (FCOS only): ``size_ranges`` (one [lo, hi] a level, pixels), ``center_radius``
        (strides).
      maskrcnn (Mask R-CNN only): ``smooth_l1_beta`` (box losses; 0: L1),
        ``mask_loss_weight``; its model fields (levels, anchors, proposals, sampling, heads)
        go in ``model.kwargs`` (``jaxvision.models.maskrcnn.MaskRCNN``).
    """
    c = common.base_config()
    c.task = task
    c.model.name = task
    c.model.backbone = "resnet50"
    # The backbone gets the ResNet keys of common.base_config; the detector its own.
    c.model.backbone_kwargs = c.model.kwargs
    c.model.kwargs = ml_collections.ConfigDict({"conv_impl": "auto"})

    c.detection = ml_collections.ConfigDict()
    c.detection.max_boxes = 100
    c.detection.score_threshold = 0.05
    c.detection.nms_iou = 0.5
    c.detection.max_detections = 100
    c.detection.pre_nms_top_k = 1000
    c.detection.focal_alpha = 0.25
    c.detection.focal_gamma = 2.0
    c.detection.box_loss_weight = 1.0

    if task == "retinanet":
        c.retinanet = ml_collections.ConfigDict()
        c.retinanet.foreground_iou = 0.5
        c.retinanet.background_iou = 0.4
        c.retinanet.box_loss = "smooth_l1"
        c.retinanet.smooth_l1_beta = 1.0 / 9.0
        c.anchors = ml_collections.ConfigDict()
        c.anchors.size_scale = 4.0
        c.anchors.scales = [1.0, 2 ** (1 / 3), 2 ** (2 / 3)]
        c.anchors.aspect_ratios = [0.5, 1.0, 2.0]
    elif task == "fcos":
        c.fcos = ml_collections.ConfigDict()
        c.fcos.size_ranges = [[0.0, 64.0], [64.0, 128.0], [128.0, 1e8]]
        c.fcos.center_radius = 1.5
    elif task == "maskrcnn":
        c.maskrcnn = ml_collections.ConfigDict()
        c.maskrcnn.smooth_l1_beta = 0.0
        c.maskrcnn.mask_loss_weight = 1.0
    else:
        raise ValueError(f"unknown detector {task!r}; valid: retinanet, fcos, maskrcnn")

    c.dataset.name = "jaxvision_shapes/detection"
    return c


# The small configs: the built-in 128 px detection shapes (objects 15-51 px), CPU minutes.
SMALL_IMAGE_SIZE = 128
SMALL_MAX_BOXES = 16
# The COCO configs: 640 px letterboxed inputs, up to 100 objects an image.
COCO_IMAGE_SIZE = 640
COCO_MAX_BOXES = 100


def small_config(task: str) -> ml_collections.ConfigDict:
    """A tiny ResNet + FPN P3-P5 detector on ``jaxvision_shapes/detection`` (CPU minutes).

    The backbone and the detector use XLA's own convolution (``conv_impl="xla"``), as fast as
    "auto" on this network (``python -m benchmarks.suite --only=retinanet_small --set
    model.kwargs.conv_impl=auto --set model.backbone_kwargs.conv_impl=auto``). ``letterbox``
    is a no-op on the 128 px built-in images; it sizes a user's images.
    """
    c = detection_config(task)
    c.total_steps = 1200
    c.batch_size = 32
    c.eval_batch_size = 100
    c.log_every = 100
    c.checkpoint_every = 400
    c.model.backbone = "resnet_tiny"
    c.model.backbone_kwargs.num_filters = 32
    c.model.backbone_kwargs.conv_impl = "xla"
    c.model.kwargs.conv_impl = "xla"
    c.model.kwargs.min_level = 3
    c.model.kwargs.max_level = 5
    c.model.kwargs.fpn_features = 64
    c.model.kwargs.head_convs = 2
    c.model.kwargs.head_norm = "group"
    c.detection.max_boxes = SMALL_MAX_BOXES
    c.optimizer.name = "adamw"
    c.optimizer.learning_rate = 2e-3
    c.optimizer.weight_decay = 1e-4
    c.optimizer.schedule = "warmup_cosine"
    c.optimizer.warmup_steps = 200
    c.optimizer.grad_clip_norm = 10.0
    c.dataset.name = "jaxvision_shapes/detection"
    c.dataset.train_pp = f"decode_detection|flip_lr|letterbox({SMALL_IMAGE_SIZE})"
    c.dataset.eval_pp = f"decode_detection|letterbox({SMALL_IMAGE_SIZE})"
    return c


def coco_config(task: str) -> ml_collections.ConfigDict:
    """A ResNet-50 FPN P3-P7 detector on COCO 2017, the 1x schedule (90k steps of 16)."""
    c = detection_config(task)
    c.total_steps = 90_000
    c.batch_size = 16
    c.eval_batch_size = 16
    c.log_every = 100
    c.eval_every = 10_000
    c.checkpoint_every = 5_000
    c.model.backbone = "resnet50"
    c.model.kwargs.min_level = 3
    c.model.kwargs.max_level = 7
    c.model.kwargs.fpn_features = 256
    c.model.kwargs.head_convs = 4
    c.detection.max_boxes = COCO_MAX_BOXES
    c.optimizer.name = "sgd"
    c.optimizer.learning_rate = 0.01
    c.optimizer.momentum = 0.9
    c.optimizer.weight_decay = 1e-4
    c.optimizer.schedule = "piecewise"
    c.optimizer.warmup_steps = 1000
    c.optimizer.piecewise_boundaries = [2 / 3, 8 / 9]  # steps 60k and 80k
    c.optimizer.piecewise_factor = 0.1
    c.dataset.name = "coco/2017"
    c.dataset.train_split = "train"
    c.dataset.eval_split = "validation"
    c.dataset.train_pp, c.dataset.eval_pp = coco_pp(COCO_IMAGE_SIZE)
    return c


def coco_pp(size: int) -> tuple[str, str]:
    """(train_pp, eval_pp) for COCO-style data at a square input ``size``.

    Training: flip and large-scale jitter; eval: letterbox (aspect kept, padded).
    """
    train = f"decode_detection|flip_lr|scale_jitter({size})"
    evaluation = f"decode_detection|letterbox({size})"
    return train, evaluation
