"""FCOS, the anchor-free detector, ResNet-50 FPN P3-P7, on COCO 2017 (FCOS 1x schedule).

Needs ``coco/2017`` prepared as ArrayRecord in the data_dir (see README), or your own data in
COCO format (``--config.dataset.name=coco_json``).

Run:
  python -m train --config=train/configs/fcos_resnet50_coco.py --workdir=runs/fcos \
    --config.dataset.data_dir=~/tensorflow_datasets
"""

from train.configs import detection_common


def get_config():
    c = detection_common.coco_config("fcos")
    c.model.kwargs.head_norm = "group"
    # FCOS's size ranges for P3-P7.
    c.fcos.size_ranges = [[0, 64], [64, 128], [128, 256], [256, 512], [512, 1e8]]
    return c
