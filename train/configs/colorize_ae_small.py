"""A colorization autoencoder on the built-in photos: a U-Net regresses Lab ab from L.

Trained on 64 px patches of scikit-image's photographs with an L1 loss on ab, evaluated on the
three held-out photographs whole: PSNR of the colorized image, the grayscale image itself as
the baseline (``baseline_psnr``) and ``colorfulness_ratio`` (outputs over originals).

  python -m train --config=train/configs/colorize_ae_small.py --workdir=runs/colorize_ae
  python -m train.predict --workdir=runs/colorize_ae IMAGE... --output_dir=OUT

Zhang et al.'s classification over ab bins, rebalanced, decoded by the annealed mean:
``--config.colorization.mode=classification``.
"""

from train.configs import colorization_common


def get_config():
    c = colorization_common.colorization_config()
    c.total_steps = 600
    c.model.name = "unet"
    c.model.kwargs.features = (32, 64, 128, 256)
    c.colorization.size_multiple = 8
    c.optimizer.learning_rate = 1e-3
    return c
