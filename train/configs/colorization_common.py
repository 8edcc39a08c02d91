"""The keys the colorization configs share (autoencoder and GAN).

``colorization_config(task)`` adds to ``common.base_config()``:

- ``colorization``: ``mode`` (regression: ab values; classification: ab bins, as Zhang et
  al.), ``loss`` (regression's pixel loss on ab: l1, l2, charbonnier), ``temperature`` (the
  annealed mean's), ``grid`` (ab bin size), ``rebalance`` (class rebalancing of the bins),
  ``size_multiple`` (``predict`` pads images to a multiple of it: the U-Net's total stride).
- GAN configs (``colorization_gan``) also: ``discriminator`` (``name``, ``kwargs``), ``gan``
  (``loss``, ``d_steps``, ``adversarial_weight``, ``gp_weight``, ``conditional``), one
  optimizer a network and an EMA of the generator.

The built-in data is the restoration configs' ``jaxvision_photos``: 96 px patches of the
photographs that ship inside scikit-image for training, ``astronaut``, ``coffee`` and
``chelsea`` whole for evaluation. Any colour dataset works the same way
(``--config.dataset.name=image_folder --config.dataset.data_dir=PATH``, TFDS ``celeb_a``,
``imagenet2012``): images are converted to Lab on the device.
"""

from __future__ import annotations

import ml_collections

from train.configs import common, restoration_common


def colorization_config(task: str = "colorization") -> ml_collections.ConfigDict:
    """``common.base_config()`` with the colorization keys and the built-in photos."""
    c = common.base_config()
    c.task = task
    c.batch_size = 16
    c.eval_batch_size = 3
    c.log_every = 100
    c.checkpoint_every = 500
    c.model.name = "unet"
    c.model.kwargs = ml_collections.ConfigDict()
    c.colorization = ml_collections.ConfigDict(
        {
            "mode": "regression",
            "loss": "l1",
            "temperature": 0.38,
            "grid": 10.0,
            "rebalance": True,
            "size_multiple": 16,
        }
    )
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 1e-3
    c.optimizer.schedule = "warmup_cosine"
    c.optimizer.warmup_steps = 100
    c.dataset.name = restoration_common.PHOTOS
    c.dataset.train_pp = "random_crop(64)|flip_lr"
    canvas = restoration_common.EVAL_CANVAS
    c.dataset.eval_pp = f"pad_to_canvas({canvas[0]}, {canvas[1]})"
    return c


def gan_config() -> ml_collections.ConfigDict:
    """``colorization_config("colorization_gan")`` with the GAN keys (Nazeri et al.)."""
    c = colorization_config("colorization_gan")
    c.discriminator = ml_collections.ConfigDict({"name": "patchgan", "kwargs": {}})
    c.gan = ml_collections.ConfigDict(
        {
            "loss": "non_saturating",
            "d_steps": 1,
            "adversarial_weight": 0.01,
            "gp_weight": 0.0,
            "conditional": True,
        }
    )
    c.optimizers.generator = restoration_common.adam(2e-4, b1=0.5)
    c.optimizers.discriminator = restoration_common.adam(2e-4, b1=0.5)
    c.ema = ml_collections.ConfigDict({"generator": 0.999})
    return c
