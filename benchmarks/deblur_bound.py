"""What a blur allows: non-blind Wiener deconvolution of a deblurring config's eval images.

A deblurring config reports the blurred input as its baseline (`baseline_psnr`); this gives a
reference on the other side. Each eval image is blurred with the kernel the eval gives its
index (`restoration_data.eval_rng_keys` and `restoration_data.blur_kernel`), on its own
rather than on the eval's canvas: the same pixels wherever the canvas pads by reflection at
least the kernel's radius (`pad_to_canvas`, the photographs' 512 x 608), so that
`blurred_psnr_eval` (at the config's `restoration.eval_border`) is the eval's baseline.
Then it is deconvolved with that very kernel by a Wiener filter (each channel by FFT, the
image taken as periodic; the best of a grid of noise-to-signal ratios an image), from the
blurred image as the eval feeds it (float) and rounded to uint8 levels (as a saved file
holds it). A blind deblurrer has to infer the kernel from the image, so this is a
reference, not a bar. PSNR is measured without a `--border` px margin, where the periodic
model does not hold, on the blurred image and on the Wiener estimate alike.

Prints a row an image (its kernel's extent, blurred and Wiener PSNR) and the means, and
writes them as JSON with --json.

Run:
  python -m benchmarks.deblur_bound    # deblur_small.py's three eval photographs
  python -m benchmarks.deblur_bound --config=train/configs/deblurgan_small.py --json=bound.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks import suite
from jaxvision.data import sources
from jaxvision.metrics import restoration as restoration_metrics
from jaxvision.ops import degrade
from jaxvision.tasks import restoration_data

DEFAULT_CONFIG = "train/configs/deblur_small.py"
# Noise-to-signal ratios the filter tries on each image.
NSRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
DEFAULT_BORDER = 20


def kernel_spectrum(kernel: np.ndarray, height: int, width: int) -> np.ndarray:
    """The 2-D DFT [height, width] of `degrade.blur`'s convolution with `kernel` [kh, kw],
    on a periodic image: the kernel placed at the origin with its centre (index k // 2)."""
    placed = np.zeros((height, width))
    kh, kw = kernel.shape
    placed[:kh, :kw] = kernel
    return np.fft.fft2(np.roll(placed, (-(kh // 2), -(kw // 2)), axis=(0, 1)))


def wiener(blurred: np.ndarray, kernel: np.ndarray, nsr: float) -> np.ndarray:
    """Wiener deconvolution of `blurred` [h, w, c] by `kernel` [kh, kw] at noise-to-signal
    ratio `nsr`, each channel by FFT (the image taken as periodic); clipped to [0, 1].

    Example:
      >>> image = np.random.default_rng(0).random((16, 16, 1))
      >>> kernel = np.full((1, 3), 1 / 3)  # a periodic blur: the filter's own model
      >>> spectrum = kernel_spectrum(kernel, 16, 16)[:, :, None]
      >>> blurred = np.real(np.fft.ifft2(np.fft.fft2(image, axes=(0, 1)) * spectrum, axes=(0, 1)))
      >>> bool(np.abs(wiener(blurred, kernel, 1e-9) - image).max() < 1e-3)
      True
    """
    spectrum = kernel_spectrum(kernel, *blurred.shape[:2])  # [h, w]
    gain = np.conj(spectrum) / (np.abs(spectrum) ** 2 + nsr)
    channels = np.fft.fft2(blurred, axes=(0, 1)) * gain[:, :, None]
    return np.clip(np.real(np.fft.ifft2(channels, axes=(0, 1))), 0.0, 1.0)


def kernel_extent(kernel: np.ndarray, floor: float = 1e-3) -> tuple[int, int]:
    """Rows and columns spanned by the kernel's taps above `floor`."""
    rows, cols = np.nonzero(kernel > floor)
    return int(np.ptp(rows)) + 1, int(np.ptp(cols)) + 1


def _best_wiener(blurred: np.ndarray, kernel: np.ndarray, score) -> tuple[float, float]:
    """(best score, its noise-to-signal ratio) of the Wiener estimates over `NSRS`."""
    scores = {nsr: score(wiener(blurred, kernel, nsr)) for nsr in NSRS}
    best = max(scores, key=scores.get)
    return scores[best], best


def bound_row(
    image: np.ndarray, kernel: np.ndarray, border: int, eval_border: int = 0
) -> dict[str, Any]:
    """Blurred and best-Wiener PSNR of one clean image [h, w, c] in [0, 1] under `kernel`,
    without a `border` px margin (and the blurred image's with the eval's `eval_border`):
    from the blurred image as the eval feeds it (float) and as a saved file holds it
    (rounded to uint8 levels, the noise a real blurred photograph has at least)."""
    blurred = np.asarray(degrade.blur(image, kernel))  # [h, w, c]
    levels = np.round(blurred * restoration_data.MAX_PIXEL) / restoration_data.MAX_PIXEL

    def score(estimate: np.ndarray) -> float:
        return float(restoration_metrics.psnr(estimate, image, border=border))

    wiener_psnr, nsr = _best_wiener(blurred, kernel, score)
    wiener_uint8, nsr_uint8 = _best_wiener(levels, kernel, score)
    return {
        "kernel_extent": kernel_extent(kernel),
        "blurred_psnr": score(blurred),
        "blurred_psnr_eval": float(restoration_metrics.psnr(blurred, image, border=eval_border)),
        "wiener_psnr": wiener_psnr,
        "wiener_nsr": nsr,
        "wiener_psnr_uint8": wiener_uint8,
        "wiener_nsr_uint8": nsr_uint8,
    }


def evaluate(config: Any, border: int) -> list[dict[str, Any]]:
    """A row (`bound_row`, with the image's index and name) for every eval image of a blur
    config, each blurred with the kernel the eval gives its index."""
    degradation, ds = config.degradation, config.dataset
    source, _ = sources.open_split(ds.name, ds.eval_split, ds.data_dir)
    keys = restoration_data.eval_rng_keys(degradation, np.arange(len(source)))
    eval_border = config.restoration.eval_border
    rows = []
    for index in range(len(source)):
        example = source[index]
        image = np.asarray(example["image"], np.float32) / restoration_data.MAX_PIXEL
        kernel = np.asarray(restoration_data.blur_kernel(degradation, keys[index]))
        name = example.get("name", b"")
        name = name.decode() if isinstance(name, bytes) else str(name)
        row = bound_row(image, kernel, border, eval_border)
        rows.append({"index": index, "name": name, **row})
    return rows


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="a blur config file")
    parser.add_argument("--border", type=int, default=DEFAULT_BORDER, help="px left out")
    parser.add_argument("--data_dir", default="", help="the dataset's data_dir (the config's)")
    parser.add_argument("--json", default="", help="write the rows and means here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    overrides = {"dataset.data_dir": args.data_dir} if args.data_dir else {}
    config = suite.load_config(args.config, overrides)
    if config.degradation.kind not in restoration_data.BLUR_KINDS:
        raise SystemExit(f"{args.config}: degradation {config.degradation.kind!r} is no blur")
    rows = evaluate(config, args.border)
    means = {
        key: float(np.mean([row[key] for row in rows]))
        for key in ("blurred_psnr", "blurred_psnr_eval", "wiener_psnr", "wiener_psnr_uint8")
    }
    print(f"{args.config}, {len(rows)} images, PSNR without a {args.border} px border:")
    for row in rows:
        print(
            f"  {row['index']:3d} {row['name'][:24]:24s} kernel {row['kernel_extent'][0]}x"
            f"{row['kernel_extent'][1]}  blurred {row['blurred_psnr']:6.2f} (eval's "
            f"{row['blurred_psnr_eval']:6.2f})  wiener {row['wiener_psnr']:6.2f}"
            f" (nsr {row['wiener_nsr']:g}), from uint8 {row['wiener_psnr_uint8']:6.2f}"
        )
    print(
        f"  mean: blurred {means['blurred_psnr']:.2f} (eval's {means['blurred_psnr_eval']:.2f}),"
        f" wiener {means['wiener_psnr']:.2f}, from uint8 {means['wiener_psnr_uint8']:.2f}"
    )
    result = {"config": args.config, "border": args.border, "rows": rows, "means": means}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
