"""Mask R-CNN, small: a tiny ResNet + FPN P2-P5 on the built-in instance data (CPU minutes).

The built-in ``jaxvision_shapes/segmentation`` split: the 128 px detection scenes (0-6
shapes of 8 classes, objects 15-51 px) with an ``instance_map`` that ``decode_detection``
turns into ``instance_masks``. Anchors are 4x the stride (16-128 px, three aspect ratios);
the heads are narrow and the proposal and RoI budgets small for images that hold at most
6 objects.

Run:
  python -m train --config=train/configs/maskrcnn_small.py --workdir=runs/maskrcnn_small

On COCO-format instance data of your own (polygons or RLE; see ``jaxvision.data.coco_json``),
at 128 px:
  python -m train --config=train/configs/maskrcnn_small.py --workdir=runs/mine \\
    --config.dataset.name=coco_json --config.dataset.data_dir=PATH \\
    --config.dataset.eval_split=val
"""

from train.configs import detection_common


def get_config():
    c = detection_common.small_config("maskrcnn")
    c.total_steps = 1000
    c.batch_size = 16
    c.eval_batch_size = 50
    c.optimizer.learning_rate = 1e-3
    c.optimizer.warmup_steps = 100
    kw = c.model.kwargs
    kw.min_level = 2
    kw.max_level = 5
    kw.roi_max_level = 5
    kw.fpn_features = 64
    kw.anchor_size_scale = 4.0
    kw.rpn_pre_nms_top_k = [256, 256]  # (train, test) a level
    kw.rpn_post_nms_top_k = [64, 100]  # (train, test) an image
    kw.rpn_samples = 128
    # RoI budgets for at most 6 objects an image (Detectron2: 512 RoIs, every positive
    # for the masks): the RoI heads, not the backbone, dominate a CPU step.
    kw.roi_samples = 64
    kw.roi_positive_fraction = 0.25
    kw.mask_samples = 16
    kw.box_head_fc = 128
    kw.mask_head_features = 32
    kw.mask_head_convs = 2
    # The FPN's and heads' convs by the "auto" lowering, not XLA's: XLA:CPU computes the
    # weight gradient of the mask head's 2x2 stride-2 deconv as a slow dilated conv, "auto"
    # as a matmul. RoIAlign keeps roi_align_impl="auto" (dense matmuls on these small maps).
    kw.conv_impl = "auto"
    # Delete keys the retinanet / fcos configs use but Mask R-CNN does not read.
    for key in ("head_convs", "head_norm"):
        del kw[key]
    c.detection.max_detections = 20
    c.detection.pre_nms_top_k = 400
    c.dataset.name = "jaxvision_shapes/segmentation"
    return c
