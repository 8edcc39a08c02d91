"""benchmarks.deblur_bound: a Wiener reference on a blur config's eval images."""

import json

import jax
import numpy as np

from benchmarks import deblur_bound, suite
from jaxvision.data import preprocess, sources
from jaxvision.metrics import restoration as restoration_metrics
from jaxvision.ops import degrade
from jaxvision.tasks import restoration_data


def _image_and_kernel():
    rng = np.random.default_rng(0)
    image = rng.random((40, 36, 2))  # [h, w, c]
    kernel = np.asarray(degrade.motion_blur_kernel(jax.random.key(3), 9))
    return image, kernel


def test_kernel_spectrum_is_degrade_blurs_convolution():
    image, kernel = _image_and_kernel()
    want = np.asarray(degrade.blur(image, kernel))
    spectrum = deblur_bound.kernel_spectrum(kernel, *image.shape[:2])
    got = np.fft.ifft2(np.fft.fft2(image, axes=(0, 1)) * spectrum[:, :, None], axes=(0, 1))
    # Equal where the kernel reads no padding (reflected there, wrapped around here).
    np.testing.assert_allclose(np.real(got)[8:-8, 8:-8], want[8:-8, 8:-8], atol=1e-5)


def test_wiener_undoes_a_periodic_blur():
    image, kernel = _image_and_kernel()
    spectrum = deblur_bound.kernel_spectrum(kernel, *image.shape[:2])
    blurred = np.fft.ifft2(np.fft.fft2(image, axes=(0, 1)) * spectrum[:, :, None], axes=(0, 1))
    blurred = np.real(blurred)  # the periodic model the filter inverts
    restored = deblur_bound.wiener(blurred, kernel, 1e-6)

    def score(estimate):
        return float(restoration_metrics.psnr(estimate, image))

    assert score(restored) > score(blurred) + 20.0


def test_rows_blur_as_the_eval_does(photos_data_dir, tmp_path):
    out = tmp_path / "bound.json"
    result = deblur_bound.main(["--data_dir", photos_data_dir, "--json", str(out)])
    rows = result["rows"]
    assert [row["index"] for row in rows] == [0, 1, 2]
    config = suite.load_config(deblur_bound.DEFAULT_CONFIG, {"dataset.data_dir": photos_data_dir})
    source, _ = sources.open_split("jaxvision_photos", "test", photos_data_dir)
    to_canvas = preprocess.build(config.dataset.eval_pp)
    for row in rows:
        # The eval's own path: the canvas, the blur of the index's key, the real region.
        example = to_canvas({"image": source[row["index"]]["image"]}, None)
        batch = {"image": example["image"][None], "index": np.array([row["index"]])}
        inputs, clean = restoration_data.pair(config.degradation, batch, None, train=False)
        border = config.restoration.eval_border
        size = example["image_size"][None]
        eval_psnr = float(restoration_metrics.psnr(inputs, clean, border=border, valid_hw=size)[0])
        assert abs(eval_psnr - row["blurred_psnr_eval"]) < 1e-3, row
        assert row["wiener_psnr_uint8"] > row["blurred_psnr"] + 3.0, row
        assert row["wiener_psnr"] >= row["wiener_psnr_uint8"] - 0.05, row
    written = json.loads(out.read_text())
    mean = np.mean([row["wiener_psnr"] for row in rows])
    assert abs(written["means"]["wiener_psnr"] - mean) < 1e-9
