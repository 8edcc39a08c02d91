"""SRGAN x4 on the built-in photos: SRResNet fine-tuned against a discriminator.

Starts from a ``srresnet_small.py`` run (the PSNR-oriented phase, as SRGAN does): its network
"model" becomes this run's generator. Train that run first:

  python -m train --config=train/configs/srresnet_small.py --workdir=runs/srresnet_small
  python -m train --config=train/configs/srgan_small.py --workdir=runs/srgan_small

The content loss is L1 on pixels (the paper's VGG54 loss needs VGG19 weights:
``--config.restoration.perceptual_weight=0.006 --config.restoration.vgg_weights=FILE`` with
torchvision's ``vgg19-dcbb9e9d.pth``); the adversarial loss is non-saturating with weight 1e-3;
evaluation and prediction use an EMA of the generator.
"""

from train.configs import restoration_common


def get_config():
    c = restoration_common.gan_config()
    c.total_steps = 700
    c.model.name = "srresnet"
    c.model.kwargs.num_blocks = 6
    c.model.kwargs.features = 32
    c.model.kwargs.bicubic_residual = True
    c.discriminator.name = "srgan_discriminator"
    c.discriminator.kwargs.features = 32
    c.discriminator.kwargs.hidden = 256
    c.degradation.kind = "bicubic"
    c.degradation.scale = 4
    c.restoration.loss = "l1"
    c.restoration.eval_border = 4
    c.restoration.eval_y_channel = True
    c.gan.loss = "non_saturating"
    c.gan.adversarial_weight = 1e-3
    c.optimizers.generator = restoration_common.adam(1e-4)
    c.optimizers.discriminator = restoration_common.adam(1e-4)
    c.init_from.workdir = "runs/srresnet_small"
    c.init_from.networks = {"generator": "model"}
    c.dataset.train_pp = "random_crop(96)|flip_lr|rot90"
    return c
