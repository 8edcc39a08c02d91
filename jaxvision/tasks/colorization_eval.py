"""Evaluation of colorization: PSNR and SSIM of the colorized images against the originals,
the grayscale baseline, and the colourfulness ratio.

Each eval image sits at the top-left of a padded canvas (``pad_to_canvas``); only its real
pixels count. Eval lines carry ``psnr``, ``ssim`` (sRGB, 0-1), ``baseline_psnr`` (the
grayscale image itself: ab = 0), ``colorfulness`` (the outputs' mean Hasler-Suesstrunk
colourfulness), ``colorfulness_ratio`` (that over the originals' mean) and ``num_examples``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxvision.evaluators import MeanEvaluator
from jaxvision.metrics import restoration as metrics
from jaxvision.metrics.colorfulness import colorfulness
from jaxvision.tasks import colorization_data as data

# The originals' colourfulness, reduced into the ratio and not reported on its own.
TARGET_COLORFULNESS = "target_colorfulness"


def values(outputs: dict[str, jax.Array], batch) -> dict[str, jax.Array]:
    """Per-image values [b] from ``eval_forward``'s ``colorized``, ``gray``, ``targets`` (sRGB
    in [0, 1], [b, h, w, 3]) and ``image_size`` [b, 2]."""
    del batch
    valid_hw = outputs["image_size"]
    colorized, targets = outputs["colorized"], outputs["targets"]
    return {
        "psnr": metrics.psnr(colorized, targets, valid_hw=valid_hw),
        "ssim": metrics.ssim(colorized, targets, valid_hw=valid_hw),
        "baseline_psnr": metrics.psnr(outputs["gray"], targets, valid_hw=valid_hw),
        "colorfulness": colorfulness(colorized, valid_hw),
        TARGET_COLORFULNESS: colorfulness(targets, valid_hw),
    }


class ColorizationEvaluator(MeanEvaluator):
    """Means over the split, and ``colorfulness_ratio`` = mean colourfulness of the outputs
    over that of the originals (ratio of the means)."""

    def __init__(self):
        super().__init__("colorization", values)

    def result(self, accumulator) -> dict[str, float]:
        means = super().result(accumulator)
        target = means.pop(TARGET_COLORFULNESS)
        means["colorfulness_ratio"] = means["colorfulness"] / max(target, 1e-12)
        return means


def eval_outputs(colorized, lightness, targets, image_size) -> dict[str, jax.Array]:
    """The dict ``values`` reads: colorized, its grayscale baseline, targets and sizes."""
    return {
        "colorized": jnp.clip(colorized, 0.0, 1.0),
        "gray": data.gray(lightness),
        "targets": targets,
        "image_size": image_size,
    }
