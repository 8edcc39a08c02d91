"""RetinaNet, small: a tiny ResNet + FPN P3-P5 on the built-in detection data (CPU minutes).

The built-in ``jaxvision_shapes/detection`` split: 128 px images with 0-6 shapes of 8
classes, objects 15-51 px. Anchors are 2x the stride (16-64 px, times 3 octave scales: up
to 101 px) for objects that small.
Box loss: GIoU on the decoded boxes.

Run:
  python -m train --config=train/configs/retinanet_small.py --workdir=runs/retinanet_small

On COCO-format data of your own (``PATH/annotations/instances_train.json`` + ``PATH/train/``,
same for ``val``; see ``jaxvision.data.coco_json``), at 128 px:
  python -m train --config=train/configs/retinanet_small.py --workdir=runs/mine \
    --config.dataset.name=coco_json --config.dataset.data_dir=PATH \
    --config.dataset.eval_split=val
"""

from train.configs import detection_common


def get_config():
    c = detection_common.small_config("retinanet")
    c.anchors.size_scale = 2.0
    c.retinanet.box_loss = "giou"
    c.detection.box_loss_weight = 2.0
    return c
