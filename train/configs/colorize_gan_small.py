"""A colorization GAN on the built-in photos (Nazeri et al.): a U-Net generator regresses ab
from L against a PatchGAN that sees ab given L; L1 + adversarial loss (20 : 1).

It starts from a ``colorize_ae_small.py`` run (the same U-Net trained on L1 alone), as SRGAN
starts from SRResNet, and evaluates the generator's EMA:

  python -m train --config=train/configs/colorize_ae_small.py --workdir=runs/colorize_ae
  python -m train --config=train/configs/colorize_gan_small.py --workdir=runs/colorize_gan

From scratch instead: ``--config.init_from.workdir= --config.total_steps=3000``.
"""

from train.configs import colorization_common


def get_config():
    c = colorization_common.gan_config()
    c.total_steps = 300
    c.model.name = "unet"
    c.model.kwargs.features = (32, 64, 128, 256)
    c.colorization.size_multiple = 8
    c.discriminator.kwargs.features = 32
    c.discriminator.kwargs.num_layers = 2
    # Nazeri et al.'s 100 : 1 keeps the short run's colours at the autoencoder's mean; 20 : 1
    # lets the critic push them out.
    c.gan.adversarial_weight = 0.05
    # An EMA horizon of ~100 steps: 0.999 over a 300-step run would keep 74% of the start.
    c.ema.generator = 0.99
    c.init_from.workdir = "runs/colorize_ae"
    c.init_from.networks = {"generator": "model"}
    return c
