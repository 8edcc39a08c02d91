"""DeepLabV3+, small: a narrow atrous ResNet-18 at output stride 16 on the built-in shapes.

The built-in ``jaxvision_shapes/segmentation`` split (128 px, background + 8 shape classes).
ASPP at rates 6, 12, 18 on the 8 px stride-16 map, a decoder on the stride-4 features.
Eval lines carry ``mIoU``, ``pixel_accuracy`` and ``iou/<class>``.

Run:
  python -m train --config=train/configs/deeplabv3plus_small.py --workdir=runs/deeplab_small

Output stride 8 (a larger, slower map): ``--config.model.kwargs.output_stride=8``. A folder
of your own: ``--config.dataset.name=segmentation_folder --config.dataset.data_dir=PATH``.
"""

import ml_collections

from train.configs import segmentation_common


def get_config():
    c = segmentation_common.segmentation_config()
    c.total_steps = 5000
    c.model.name = "deeplabv3plus"
    c.model.kwargs.backbone = "resnet18"
    c.model.kwargs.backbone_kwargs = ml_collections.ConfigDict({"num_filters": 32})
    c.model.kwargs.output_stride = 16
    c.model.kwargs.aspp_features = 64
    c.model.kwargs.low_level_features = 32
    c.model.kwargs.decoder_features = 64
    c.model.kwargs.dropout_rate = 0.1
    return c
