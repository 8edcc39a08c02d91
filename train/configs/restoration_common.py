"""The keys the restoration configs share (denoise, SRResNet, SRGAN, DeblurGAN).

``photos_config(task, model)`` holds the run keys of every config on the built-in photos (these
and the colorization ones); ``restoration_config(task)`` adds to it:

- ``degradation``: how clean images become inputs (``jaxvision.tasks.restoration_data``):
  ``kind``, ``sigma``, ``sigma_range``, ``peak``, ``kernel_size``, ``motion_exposures``,
  ``blur_sigma``, ``disk_radius``, ``scale``, ``eval_seed``.
- ``restoration``: ``loss`` (l1, l2, charbonnier), ``fft_weight`` (MIMO-UNet's frequency
  loss, the L1 distance of the 2-D spectra, added with this weight; 0: off),
  ``perceptual_weight`` (0: off),
  ``perceptual_layers`` (VGG19 layer -> weight), ``vgg_weights`` (a torchvision VGG19
  state-dict file, needed when ``perceptual_weight`` > 0), ``eval_border`` (pixels cropped
  from every side before measuring), ``eval_y_channel`` (PSNR/SSIM on Y), ``baseline_sigmas``
  (the Gaussian filters the noise baseline tries), ``size_multiple`` (``predict`` pads inputs
  to a multiple of it: the model's total stride), ``self_ensemble`` (evaluation and
  prediction average the outputs over 1, 2, 4 or 8 flips and transposes of the input).
- GAN tasks (``restoration_gan``; ``add_gan_keys``, shared with colorization) also:
  ``discriminator`` (``name``, ``kwargs``) and ``gan`` (``loss``, ``d_steps``,
  ``adversarial_weight``, ``gp_weight``, ``conditional``), and one optimizer a network
  (``optimizers.generator``, ``optimizers.discriminator``), an EMA of the generator
  (``ema.generator``).

The built-in data is ``jaxvision_photos``: 96 px patches of the photographs that ship inside
scikit-image for training, and ``astronaut``, ``coffee`` and ``chelsea`` whole for evaluation
(padded to a 512 x 608 canvas; only their own pixels are measured).
"""

from __future__ import annotations

import ml_collections

from jaxvision import optim
from train.configs import common

# Every eval image of the built-in data fits (512 x 512, 400 x 600, 300 x 451), and the canvas
# divides by 32: the strides of every restoration model here.
EVAL_CANVAS = (512, 608)
PHOTOS = "jaxvision_photos"


def photos_config(task: str, model: str) -> ml_collections.ConfigDict:
    """``common.base_config()`` with the run keys of the tasks trained on the built-in photos
    (restoration and colorization): batch 16, the 3 eval photos in one batch padded to
    ``EVAL_CANVAS``, Adam at 1e-3 with a warmup-cosine schedule, ``model`` without kwargs.
    Each task adds its own keys and ``dataset.train_pp``."""
    c = common.base_config()
    c.task = task
    c.batch_size = 16
    c.eval_batch_size = 3
    c.log_every = 100
    c.checkpoint_every = 500
    c.model.name = model
    c.model.kwargs = ml_collections.ConfigDict()
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 1e-3
    c.optimizer.schedule = "warmup_cosine"
    c.optimizer.warmup_steps = 100
    c.dataset.name = PHOTOS
    c.dataset.eval_pp = f"pad_to_canvas({EVAL_CANVAS[0]}, {EVAL_CANVAS[1]})"
    return c


def restoration_config(task: str = "restoration") -> ml_collections.ConfigDict:
    """``photos_config(task, "dncnn")`` with the restoration keys."""
    c = photos_config(task, "dncnn")
    c.degradation = ml_collections.ConfigDict(
        {
            "kind": "gaussian_noise",
            "sigma": 25.0,
            "sigma_range": [],
            "peak": 30.0,
            "kernel_size": 17,
            "motion_exposures": [1.0],
            "blur_sigma": 2.0,
            "disk_radius": 3.0,
            "scale": 4,
            "eval_seed": 0,
        }
    )
    c.restoration = ml_collections.ConfigDict(
        {
            "loss": "l1",
            "fft_weight": 0.0,
            "perceptual_weight": 0.0,
            "perceptual_layers": {"relu5_4": 1.0},
            "vgg_weights": "",
            "eval_border": 0,
            "eval_y_channel": False,
            "baseline_sigmas": [0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0],
            "size_multiple": 1,
            "self_ensemble": 1,
        }
    )
    c.dataset.train_pp = "random_crop(64)|flip_lr|rot90"
    return c


def adam(learning_rate: float, b1: float = 0.9, schedule: str = "constant", warmup: int = 0):
    """An Adam optimizer sub-tree (GAN configs give each network one)."""
    opt = optim.default_config()
    opt.update(
        name="adam", learning_rate=learning_rate, b1=b1, schedule=schedule, warmup_steps=warmup
    )
    return opt


def add_gan_keys(
    c: ml_collections.ConfigDict,
    loss: str,
    adversarial_weight: float,
    conditional: bool,
    learning_rate: float,
    b1: float = 0.9,
) -> ml_collections.ConfigDict:
    """Adds the GAN keys to a generator's config ``c`` (in place; returns it): a PatchGAN
    ``discriminator``, ``gan`` (one discriminator step, no gradient penalty), an Adam
    optimizer for each network (``adam(learning_rate, b1)``) and an EMA of the generator."""
    c.discriminator = ml_collections.ConfigDict({"name": "patchgan", "kwargs": {}})
    c.gan = ml_collections.ConfigDict(
        {
            "loss": loss,
            "d_steps": 1,
            "adversarial_weight": adversarial_weight,
            "gp_weight": 0.0,
            "conditional": conditional,
        }
    )
    c.optimizers.generator = adam(learning_rate, b1=b1)
    c.optimizers.discriminator = adam(learning_rate, b1=b1)
    c.ema = ml_collections.ConfigDict({"generator": 0.999})
    return c


def gan_config() -> ml_collections.ConfigDict:
    """``restoration_config("restoration_gan")`` with the GAN keys."""
    c = restoration_config("restoration_gan")
    return add_gan_keys(c, "lsgan", 1e-3, conditional=False, learning_rate=1e-4)
