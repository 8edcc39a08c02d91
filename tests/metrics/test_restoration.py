"""Tests of PSNR / SSIM against scikit-image, with border crops, Y channel and padded canvases."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from jaxvision.metrics.restoration import psnr, ssim
from jaxvision.ops.color import rgb_to_y

SKIMAGE_SSIM = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)


def _pair(shape=(3, 24, 20, 3), noise=0.08, seed=0):
    """Clean images with smooth structure and a noisy copy, both float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[: shape[1], : shape[2]]
    base = 0.5 + 0.3 * np.sin(rows[..., None] / rng.uniform(2, 5, shape[-1]) + cols[..., None] / 3)
    clean = np.clip(base[None] + 0.1 * rng.uniform(-1, 1, shape), 0, 1)
    noisy = np.clip(clean + noise * rng.standard_normal(shape), 0, 1)
    return clean.astype(np.float32), noisy.astype(np.float32)


def _skimage_ssim(a, b):
    channel_axis = -1 if a.shape[-1] > 1 else None
    a, b = (a.astype(np.float64), b.astype(np.float64))
    if channel_axis is None:
        a, b = a[..., 0], b[..., 0]
    return structural_similarity(a, b, channel_axis=channel_axis, **SKIMAGE_SSIM)


def test_psnr_matches_skimage():
    clean, noisy = _pair()
    ours = np.asarray(psnr(jnp.asarray(clean), jnp.asarray(noisy)))
    reference = [
        peak_signal_noise_ratio(c, n, data_range=1.0) for c, n in zip(clean, noisy, strict=True)
    ]
    assert ours.shape == (3,)
    np.testing.assert_allclose(ours, reference, atol=1e-3)


def test_ssim_matches_skimage():
    clean, noisy = _pair(seed=1)
    ours = np.asarray(ssim(jnp.asarray(clean), jnp.asarray(noisy)))
    reference = [_skimage_ssim(c, n) for c, n in zip(clean, noisy, strict=True)]
    assert ours.shape == (3,)
    np.testing.assert_allclose(ours, reference, atol=1e-3)
    assert min(reference) > 0.2 and max(reference) < 0.95  # a discriminating range


def test_y_channel_and_border_match_skimage_on_cropped_y():
    clean, noisy = _pair(shape=(2, 30, 28, 3), seed=2)
    border = 4
    crop = (slice(None), slice(border, -border), slice(border, -border))
    clean_y = np.asarray(rgb_to_y(jnp.asarray(clean)))[crop]  # [b, h', w', 1]
    noisy_y = np.asarray(rgb_to_y(jnp.asarray(noisy)))[crop]
    kwargs = dict(border=border, y_channel=True)
    ours_psnr = np.asarray(psnr(jnp.asarray(clean), jnp.asarray(noisy), **kwargs))
    ours_ssim = np.asarray(ssim(jnp.asarray(clean), jnp.asarray(noisy), **kwargs))
    ref_psnr = [
        peak_signal_noise_ratio(c, n, data_range=1.0) for c, n in zip(clean_y, noisy_y, strict=True)
    ]
    ref_ssim = [_skimage_ssim(c, n) for c, n in zip(clean_y, noisy_y, strict=True)]
    np.testing.assert_allclose(ours_psnr, ref_psnr, atol=1e-3)
    np.testing.assert_allclose(ours_ssim, ref_ssim, atol=1e-3)
    # Cropping and Y actually change the numbers.
    assert np.abs(ours_psnr - np.asarray(psnr(jnp.asarray(clean), jnp.asarray(noisy)))).min() > 0.05


def test_max_value_scales_the_peak():
    clean, noisy = _pair(seed=3)
    a, b = jnp.asarray(clean) * 255, jnp.asarray(noisy) * 255
    np.testing.assert_allclose(
        psnr(a, b, max_value=255.0), psnr(jnp.asarray(clean), jnp.asarray(noisy)), atol=1e-3
    )
    np.testing.assert_allclose(
        ssim(a, b, max_value=255.0), ssim(jnp.asarray(clean), jnp.asarray(noisy)), atol=1e-4
    )
    reference = peak_signal_noise_ratio(np.asarray(a[0]), np.asarray(b[0]), data_range=255.0)
    np.testing.assert_allclose(float(psnr(a[0], b[0], max_value=255.0)), reference, atol=1e-3)


@pytest.mark.parametrize(("border", "y_channel"), [(0, False), (3, True)])
def test_valid_hw_equals_the_unpadded_images(border, y_channel):
    sizes = [(20, 17), (32, 28), (18, 25)]  # real sizes on a 32x28 canvas
    canvas_clean = np.zeros((3, 32, 28, 3), np.float32)
    canvas_noisy = np.zeros_like(canvas_clean)
    rng = np.random.default_rng(4)
    expected_psnr, expected_ssim = [], []
    for i, (h, w) in enumerate(sizes):
        clean, noisy = _pair(shape=(1, h, w, 3), seed=10 + i)
        canvas_clean[i, :h, :w], canvas_noisy[i, :h, :w] = clean[0], noisy[0]
        canvas_noisy[i, h:] = rng.uniform(0, 1, canvas_noisy[i, h:].shape)  # garbage padding
        canvas_noisy[i, :, w:] = rng.uniform(0, 1, canvas_noisy[i, :, w:].shape)
        kwargs = dict(border=border, y_channel=y_channel)
        expected_psnr.append(float(psnr(jnp.asarray(clean), jnp.asarray(noisy), **kwargs)[0]))
        expected_ssim.append(float(ssim(jnp.asarray(clean), jnp.asarray(noisy), **kwargs)[0]))
    valid_hw = jnp.asarray(sizes, jnp.int32)  # [b, 2]
    measure = jax.jit(
        lambda a, b, hw: (
            psnr(a, b, border=border, y_channel=y_channel, valid_hw=hw),
            ssim(a, b, border=border, y_channel=y_channel, valid_hw=hw),
        )
    )
    ours_psnr, ours_ssim = measure(jnp.asarray(canvas_clean), jnp.asarray(canvas_noisy), valid_hw)
    np.testing.assert_allclose(ours_psnr, expected_psnr, atol=1e-4)
    np.testing.assert_allclose(ours_ssim, expected_ssim, atol=1e-5)
    # The padding would count without the mask.
    unmasked = np.asarray(psnr(jnp.asarray(canvas_clean), jnp.asarray(canvas_noisy)))
    assert np.abs(unmasked[[0, 2]] - np.asarray(expected_psnr)[[0, 2]]).min() > 1.0


def test_identical_images_and_single_image_input():
    clean, noisy = _pair(seed=5)
    a = jnp.asarray(clean)
    assert np.isinf(np.asarray(psnr(a, a))).all()
    np.testing.assert_allclose(ssim(a, a), 1.0, atol=1e-6)
    single = psnr(a[1], jnp.asarray(noisy[1]))
    assert single.shape == ()
    np.testing.assert_allclose(single, psnr(a, jnp.asarray(noisy))[1], atol=1e-5)
    assert ssim(a[1], jnp.asarray(noisy[1]), valid_hw=jnp.array([24, 20])).shape == ()


def test_vmap_over_batches_matches_the_batched_call():
    clean, noisy = _pair(shape=(4, 24, 20, 3), seed=6)
    a = jnp.asarray(clean).reshape(2, 2, 24, 20, 3)
    b = jnp.asarray(noisy).reshape(2, 2, 24, 20, 3)
    for metric in (psnr, ssim):
        mapped = jax.vmap(lambda x, y, m=metric: m(x, y, border=2))(a, b)  # [2, 2]
        flat = metric(jnp.asarray(clean), jnp.asarray(noisy), border=2)  # [4]
        np.testing.assert_allclose(np.asarray(mapped).ravel(), flat, atol=1e-5)


def test_bad_inputs_raise():
    a = jnp.zeros((2, 16, 16, 3))
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(a, jnp.zeros((2, 16, 15, 3)))
    with pytest.raises(ValueError, match="below the 11x11"):
        ssim(a, a, border=3)  # 10x10 left
    with pytest.raises(ValueError, match="3 channels"):
        psnr(a[..., :1], a[..., :1], y_channel=True)
    with pytest.raises(ValueError, match="border"):
        psnr(a, a, border=-1)
