"""The tiny GAN of ``tests/engine/tiny_gan.py`` on 16 px built-in shapes: seconds on a CPU.

Run:
  python -m train --config=tests/engine/tiny_gan_config.py --workdir=/tmp/tiny_gan \
    --config.dataset.data_dir=DIR
"""

import ml_collections

from jaxvision import optim
from train.configs import common


def _adam(learning_rate: float) -> ml_collections.ConfigDict:
    opt = optim.default_config()
    opt.update(name="adam", learning_rate=learning_rate, b1=0.5, b2=0.999, schedule="constant")
    return opt


def get_config():
    c = common.base_config()
    c.task = "tests.engine.tiny_gan:TinyGANTask"
    c.total_steps = 12
    c.batch_size = 16
    c.eval_batch_size = 24
    c.log_every = 1
    c.checkpoint_every = 4
    c.model.name = "tiny_gan"
    c.model.kwargs = ml_collections.ConfigDict()
    c.optimizers.generator = _adam(2e-3)
    c.optimizers.discriminator = _adam(1e-3)
    c.ema = ml_collections.ConfigDict({"generator": 0.9})
    c.gan = ml_collections.ConfigDict()
    c.gan.d_steps = 2
    c.gan.latent_dim = 16
    c.gan.feature_weight = 0.1
    c.gan.nan_at_step = 0
    c.dataset.name = "jaxvision_shapes/classification"
    c.dataset.train_split = "train[:512]"
    c.dataset.eval_split = "test[:50]"
    c.dataset.train_pp = "resize(16)|flip_lr"
    c.dataset.eval_pp = "resize(16)"
    return c
