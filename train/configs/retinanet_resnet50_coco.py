"""RetinaNet ResNet-50 FPN P3-P7 on COCO 2017 (the paper's 1x schedule, 90k steps at batch 16).

Needs ``coco/2017`` prepared as ArrayRecord in the data_dir (see README), or your own data in
COCO format (``--config.dataset.name=coco_json``). Import ImageNet weights for the backbone
with ``jaxvision.convert.torch_resnet`` (``include_head=False``).

Run (one host, all its accelerators):
  python -m train --config=train/configs/retinanet_resnet50_coco.py --workdir=runs/retinanet \
    --config.dataset.data_dir=~/tensorflow_datasets
"""

from train.configs import detection_common


def get_config():
    c = detection_common.coco_config("retinanet")
    c.model.kwargs.head_norm = "none"
    return c
