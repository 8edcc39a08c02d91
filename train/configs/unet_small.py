"""U-Net, small: semantic segmentation of the built-in shapes (background + 8 classes).

The built-in ``jaxvision_shapes/segmentation`` split: 128 px images with 0-6 shapes; every
pixel is background or its shape's class. A U-Net on a residual encoder
(``jaxvision.models.unet_resnet``, the segmentation_models_pytorch form): a narrow ResNet-18
(32-256 channels, strides 4-32) and a decoder of 128-16 channels back to full resolution,
with skips from the stride-16, 8 and 4 stages. Classes are balanced by square-root
median-frequency weights counted from the labels (``segmentation.balance_classes``).
The classic Ronneberger U-Net is ``unet_plain_small.py``.
Eval lines carry ``mIoU``, ``pixel_accuracy`` and ``iou/<class>``.

Run:
  python -m train --config=train/configs/unet_small.py --workdir=runs/unet_small
  python -m train.predict --workdir=runs/unet_small IMAGE.png   # -> IMAGE.png, IMAGE_mask.png

On a folder of your own (``PATH/{train,test}/{images,masks}/<name>``, optional
``PATH/classes.txt``; see ``jaxvision.data.segmentation_folder``), at 128 px:
  python -m train --config=train/configs/unet_small.py --workdir=runs/mine \\
    --config.dataset.name=segmentation_folder --config.dataset.data_dir=PATH
"""

import ml_collections

from train.configs import segmentation_common


def get_config():
    c = segmentation_common.segmentation_config()
    c.total_steps = 3600
    c.model.name = "unet_resnet"
    c.model.kwargs.backbone = "resnet18"
    c.model.kwargs.backbone_kwargs = ml_collections.ConfigDict({"num_filters": 32})
    c.model.kwargs.decoder_features = (128, 64, 32, 16, 16)
    return c
