"""Evaluation of restoration: PSNR and SSIM of the restored images, and a classical baseline.

Each eval image sits at the top-left of a padded canvas (``pad_to_canvas``); only its real
pixels, less ``restoration.eval_border`` on every side, count, optionally on the Y channel
(``restoration.eval_y_channel``: the super-resolution convention). The baseline, measured the
same way on the same images, is what the task must beat:

- noise: the best Gaussian filter over ``restoration.baseline_sigmas`` (the sigma with the
  best mean PSNR over the split);
- super-resolution: bicubic upsampling of the input;
- blur (and same-size pairs): the degraded input itself.

Eval lines carry ``psnr``, ``ssim``, ``baseline_psnr`` (and ``baseline_sigma`` for noise) and
``num_examples``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxvision.evaluators import MeanEvaluator
from jaxvision.metrics import restoration as metrics
from jaxvision.ops import degrade

NOISE_KINDS = ("gaussian_noise", "poisson_noise")
# Prefix of the per-sigma baseline values the evaluator reduces to the best one.
SIGMA_KEY = "baseline_psnr_sigma_"
# Gaussian filter size for a sigma: 2 * ceil(3 sigma) + 1 (the kernel's mass beyond 3 sigma
# is negligible).
GAUSSIAN_TRUNCATE = 3.0


def _metric_kwargs(config: Any, valid_hw) -> dict[str, Any]:
    """The measuring convention of ``config.restoration``: border, Y channel, real pixels."""
    cfg = config.restoration
    return dict(border=cfg.eval_border, y_channel=cfg.eval_y_channel, valid_hw=valid_hw)


def _measure(config: Any, restored, target, valid_hw) -> dict[str, jax.Array]:
    kwargs = _metric_kwargs(config, valid_hw)
    return {
        "psnr": metrics.psnr(restored, target, **kwargs),
        "ssim": metrics.ssim(restored, target, **kwargs),
    }


def _gaussian_filtered(images: jax.Array, sigma: float) -> jax.Array:
    size = 2 * int(np.ceil(GAUSSIAN_TRUNCATE * sigma)) + 1
    kernel = degrade.gaussian_kernel(sigma, size)
    return degrade.blur(images, kernel)  # [b, h, w, c]


def baseline_values(config: Any, inputs, target, valid_hw) -> dict[str, jax.Array]:
    """Per-image PSNR [b] of the classical baseline (per sigma for the noise filter)."""
    cfg = config.restoration
    kwargs = _metric_kwargs(config, valid_hw)
    if config.degradation.kind in NOISE_KINDS:
        return {
            f"{SIGMA_KEY}{sigma:g}": metrics.psnr(
                _gaussian_filtered(inputs, sigma), target, **kwargs
            )
            for sigma in cfg.baseline_sigmas
        }
    if inputs.shape != target.shape:  # super-resolution
        h, w = target.shape[1:3]
        upsampled = degrade.bicubic_resize(inputs, h, w, clip=True)  # [b, h, w, c]
        return {"baseline_psnr": metrics.psnr(upsampled, target, **kwargs)}
    return {"baseline_psnr": metrics.psnr(inputs, target, **kwargs)}


def values(config: Any, outputs: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """Per-image values of one eval batch from ``eval_forward``'s outputs: ``restored``,
    ``inputs``, ``targets`` (float [0, 1]) and ``image_size`` [b, 2]."""
    valid_hw = outputs["image_size"]
    out = _measure(config, outputs["restored"], outputs["targets"], valid_hw)
    out.update(baseline_values(config, outputs["inputs"], outputs["targets"], valid_hw))
    return out


class RestorationEvaluator(MeanEvaluator):
    """Mean PSNR, SSIM and baseline PSNR over the split; the noise baseline keeps its best
    sigma (``baseline_psnr``, ``baseline_sigma``)."""

    def __init__(self, config: Any):
        super().__init__("restoration", lambda outputs, batch: values(config, outputs))

    def result(self, accumulator: Any) -> dict[str, float]:
        means = super().result(accumulator)
        per_sigma = {k: v for k, v in means.items() if k.startswith(SIGMA_KEY)}
        if per_sigma:
            best = max(per_sigma, key=per_sigma.get)
            means = {k: v for k, v in means.items() if k not in per_sigma}
            means["baseline_psnr"] = per_sigma[best]
            means["baseline_sigma"] = float(best[len(SIGMA_KEY) :])
        return means


def eval_outputs(restored, inputs, targets, batch) -> dict[str, jax.Array]:
    """The dict ``values`` reads."""
    return {
        "restored": jnp.clip(restored.astype(jnp.float32), 0.0, 1.0),
        "inputs": inputs,
        "targets": targets,
        "image_size": batch["image_size"],
    }
