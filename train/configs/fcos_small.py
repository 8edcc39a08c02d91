"""FCOS, the anchor-free detector, small: a tiny ResNet + FPN P3-P5 + decoupled head.

Trained on the built-in ``jaxvision_shapes/detection`` split (128 px, 0-6 shapes of 8
classes, objects 15-51 px) in CPU minutes. FCOS assignment with centre sampling; the
size ranges are scaled to those small objects.

Run:
  python -m train --config=train/configs/fcos_small.py --workdir=runs/fcos_small

On COCO-format data of your own, as in ``retinanet_small.py``:
  python -m train --config=train/configs/fcos_small.py --workdir=runs/mine \
    --config.dataset.name=coco_json --config.dataset.data_dir=PATH \
    --config.dataset.eval_split=val
"""

from train.configs import detection_common


def get_config():
    c = detection_common.small_config("fcos")
    c.fcos.size_ranges = [[0.0, 24.0], [24.0, 48.0], [48.0, 1e8]]
    c.fcos.center_radius = 1.5
    return c
