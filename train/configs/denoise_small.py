"""Blind Gaussian denoising with a convolutional autoencoder on the built-in photos.

Trained on noise of sigma 0-50 (of 255), drawn per image; evaluated at sigma 25 on the three
held-out photographs against the best Gaussian filter (``baseline_psnr``, ``baseline_sigma``).
The autoencoder halves the resolution twice (widths 32, 64, 128) with skips from each encoder
level; inputs are padded to a multiple of 8 (``restoration.size_multiple``).

Run:
  python -m train --config=train/configs/denoise_small.py --workdir=runs/denoise_small

The residual denoiser (``jaxvision.models.denoise.DnCNN``) instead: a copy of this file with
``c.model.name = "dncnn"``, ``c.model.kwargs = {"depth": 17, "features": 64}`` and
``c.restoration.size_multiple = 1``.
"""

from train.configs import restoration_common


def get_config():
    c = restoration_common.restoration_config()
    c.total_steps = 3000
    c.model.name = "denoising_autoencoder"
    c.model.kwargs.features = (32, 64, 128)
    c.degradation.kind = "gaussian_noise"
    c.degradation.sigma = 25.0
    c.degradation.sigma_range = [0.0, 50.0]
    c.restoration.loss = "l2"
    c.restoration.size_multiple = 8
    # Chosen on the validation split (jaxvision_photos/tune); benchmarks/RESULTS.md.
    c.optimizer.learning_rate = 4e-3
    return c
