"""DeblurGAN's generator trained for fidelity alone (L1), on the built-in photos.

The PSNR-oriented counterpart of ``deblurgan_small.py``: the same small generator and motion
blur, no discriminator. ``deblurgan_small.py`` can start from it
(``--config.init_from.workdir=runs/deblur_small``).

Run:
  python -m train --config=train/configs/deblur_small.py --workdir=runs/deblur_small
"""

from train.configs import restoration_common


def get_config():
    c = restoration_common.restoration_config()
    c.total_steps = 7500
    c.model.name = "deblurgan_generator"
    c.model.kwargs.features = 16
    c.model.kwargs.num_blocks = 4
    # Start as the identity (the global skip): the blurred input is already a fair estimate.
    c.model.kwargs.zero_init_output = True
    # No instance norms ("instance" is the paper's): a tie on the validation split, and the
    # output depends less on the canvas an eval image is padded to (the norms' statistics take
    # in all of its reflected padding) and on the crop size.
    c.model.kwargs.norm = "none"
    c.degradation.kind = "motion_blur"
    c.degradation.kernel_size = 15
    c.restoration.loss = "l1"
    c.restoration.size_multiple = 4
    c.optimizer.learning_rate = 1e-3
    return c
