"""The classic U-Net (Ronneberger et al.), small, on the built-in shapes (background + 8 classes).

The built-in ``jaxvision_shapes/segmentation`` split: 128 px images with 0-6 shapes; every
pixel is background or its shape's class. A five-level U-Net (widths 8-128, batch norm):
narrow at full resolution, where the convs cost the most, and a stride-16 bottleneck whose
receptive field covers the largest shapes (51 px). It learns the shapes' extent quickly but
which shape a pixel belongs to slowly (``unet_small.py``, on a residual encoder, learns both);
it is the U-Net the benchmark suite times against the same network in plain ``torch.nn``.
Eval lines carry ``mIoU``, ``pixel_accuracy`` and ``iou/<class>``.

Run:
  python -m train --config=train/configs/unet_plain_small.py --workdir=runs/unet_plain_small
  python -m train.predict --workdir=runs/unet_plain_small IMAGE.png   # -> IMAGE.png, IMAGE_mask.png

On a folder of your own (``PATH/{train,test}/{images,masks}/<name>``, optional
``PATH/classes.txt``; see ``jaxvision.data.segmentation_folder``), at 128 px:
  python -m train --config=train/configs/unet_plain_small.py --workdir=runs/mine \
    --config.dataset.name=segmentation_folder --config.dataset.data_dir=PATH
"""

from train.configs import segmentation_common


def get_config():
    c = segmentation_common.segmentation_config()
    c.total_steps = 2400
    c.model.name = "unet"
    c.model.kwargs.features = (8, 16, 32, 64, 128)
    c.model.kwargs.norm = "batch"
    return c
