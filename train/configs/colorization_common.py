"""The keys the colorization configs share (autoencoder and GAN).

``colorization_config(task)`` adds to ``restoration_common.photos_config`` (the run keys and
the built-in photos it shares with the restoration configs):

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

from train.configs import restoration_common


def colorization_config(task: str = "colorization") -> ml_collections.ConfigDict:
    """``restoration_common.photos_config(task, "unet")`` with the colorization keys."""
    c = restoration_common.photos_config(task, "unet")
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
    c.dataset.train_pp = "random_crop(64)|flip_lr"
    return c


def gan_config() -> ml_collections.ConfigDict:
    """``colorization_config("colorization_gan")`` with the GAN keys (Nazeri et al.)."""
    c = colorization_config("colorization_gan")
    return restoration_common.add_gan_keys(
        c, "non_saturating", 0.01, conditional=True, learning_rate=2e-4, b1=0.5
    )
