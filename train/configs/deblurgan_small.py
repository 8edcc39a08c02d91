"""DeblurGAN on the built-in photos: motion blur along random camera-shake trajectories.

A small DeblurGAN generator (ResNet blocks, global skip) against a PatchGAN critic,
LSGAN-style adversarial loss and an L1 content loss (the paper's perceptual loss needs VGG19
weights: ``--config.restoration.perceptual_weight=... --config.restoration.vgg_weights=FILE``;
its WGAN-GP: ``--config.gan.loss=wgan --config.gan.gp_weight=10 --config.gan.d_steps=5``).
Evaluated on the three held-out photographs, blurred with fixed kernels, against the blurred
input itself (``baseline_psnr``); evaluation and prediction use an EMA of the generator.

Starts from a ``deblur_small.py`` run (the same generator trained for L1 alone), as SRGAN
starts from SRResNet:

  python -m train --config=train/configs/deblur_small.py --workdir=runs/deblur_small
  python -m train --config=train/configs/deblurgan_small.py --workdir=runs/deblurgan_small

From scratch instead: ``--config.init_from.workdir= --config.total_steps=4000
--config.optimizers.generator.learning_rate=1e-3``.

On GoPro-style pairs (``PATH/{train,test}/{input,target}/<name>.png``):
  python -m train --config=train/configs/deblurgan_small.py --workdir=runs/gopro \
    --config.init_from.workdir= \
    --config.dataset.name=paired_folder --config.dataset.data_dir=PATH \
    --config.degradation.kind=none --config.degradation.scale=1 \
    --config.dataset.train_pp="paired_random_crop(128)|flip_lr" \
    --config.dataset.eval_pp="pad_to_canvas(720, 1280)"
"""

from train.configs import restoration_common


def get_config():
    c = restoration_common.gan_config()
    c.total_steps = 1500
    c.model.name = "deblurgan_generator"
    c.model.kwargs.features = 16
    c.model.kwargs.num_blocks = 4
    # Start as the identity (the global skip) when trained from scratch.
    c.model.kwargs.zero_init_output = True
    c.model.kwargs.norm = "none"  # as deblur_small.py's; "instance" is the paper's
    c.discriminator.name = "patchgan"
    c.discriminator.kwargs.features = 32
    c.discriminator.kwargs.num_layers = 2
    c.degradation.kind = "motion_blur"
    c.degradation.kernel_size = 15
    c.restoration.loss = "l1"
    c.restoration.size_multiple = 4
    c.init_from.workdir = "runs/deblur_small"
    c.init_from.networks = {"generator": "model"}
    c.gan.loss = "lsgan"
    c.gan.adversarial_weight = 1e-3
    c.optimizers.generator = restoration_common.adam(1e-4, b1=0.5)
    c.optimizers.discriminator = restoration_common.adam(2e-4, b1=0.5)
    return c
