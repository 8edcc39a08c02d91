"""Tests of the degradations: noise statistics, blur kernels, blur, bicubic resizing vs PIL."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage
from PIL import Image

from jaxvision.ops.degrade import (
    add_blind_gaussian_noise,
    add_gaussian_noise,
    add_poisson_noise,
    bicubic_downsample,
    bicubic_resize,
    bicubic_upsample,
    blur,
    disk_kernel,
    gaussian_blur,
    gaussian_kernel,
    motion_blur_kernel,
    resample_matrix,
)


def _random_image(shape=(16, 12, 3), seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(0, 1, shape).astype(np.float32))


# --- noise -------------------------------------------------------------------------------


def test_gaussian_noise_has_the_requested_sigma():
    image = jnp.full((128, 128, 3), 0.5)
    sigma = 25 / 255
    noisy = add_gaussian_noise(jax.random.key(0), image, sigma)
    residual = np.asarray(noisy - image)
    assert noisy.shape == image.shape and noisy.dtype == jnp.float32
    np.testing.assert_allclose(residual.std(), sigma, rtol=0.02)
    assert abs(residual.mean()) < 3 * sigma / np.sqrt(residual.size)
    other = add_gaussian_noise(jax.random.key(1), image, sigma)
    assert not np.allclose(np.asarray(other), np.asarray(noisy))
    np.testing.assert_array_equal(add_gaussian_noise(jax.random.key(0), image, sigma), noisy)


def test_noise_is_not_clipped_unless_asked():
    image = jnp.full((64, 64, 1), 0.02)
    noisy = add_gaussian_noise(jax.random.key(0), image, 0.1)
    assert float(noisy.min()) < 0  # the DnCNN convention keeps negative values
    clipped = add_gaussian_noise(jax.random.key(0), image, 0.1, clip=True)
    np.testing.assert_array_equal(clipped, jnp.clip(noisy, 0, 1))
    poisson = add_poisson_noise(jax.random.key(0), jnp.full((64, 64, 1), 0.98), 20.0)
    assert float(poisson.max()) > 1
    assert float(add_poisson_noise(jax.random.key(0), image + 0.96, 20.0, clip=True).max()) <= 1


def test_blind_noise_draws_a_uniform_level_per_key():
    sigma_min, sigma_max = 5 / 255, 55 / 255
    keys = jax.random.split(jax.random.key(0), 256)
    image = jnp.full((32, 32, 3), 0.5)
    draw = functools.partial(
        add_blind_gaussian_noise, sigma_min=sigma_min, sigma_max=sigma_max, return_sigma=True
    )
    noisy, sigmas = jax.jit(jax.vmap(draw, in_axes=(0, None)))(keys, image)
    sigmas = np.asarray(sigmas)
    assert noisy.shape == (256, 32, 32, 3) and sigmas.shape == (256,)
    assert sigmas.min() >= sigma_min and sigmas.max() <= sigma_max
    spread = sigma_max - sigma_min
    assert sigmas.min() < sigma_min + 0.05 * spread and sigmas.max() > sigma_max - 0.05 * spread
    np.testing.assert_allclose(sigmas.mean(), (sigma_min + sigma_max) / 2, rtol=0.05)
    # Each image carries noise of its own drawn level.
    stds = np.asarray(noisy - image).reshape(256, -1).std(axis=1)
    np.testing.assert_allclose(stds, sigmas, rtol=0.06)
    with pytest.raises(ValueError, match="exceeds"):
        add_blind_gaussian_noise(keys[0], image, 0.2, 0.1)


def test_poisson_noise_statistics():
    peak, level = 50.0, 0.3
    image = jnp.full((128, 128, 3), level)
    noisy = np.asarray(add_poisson_noise(jax.random.key(0), image, peak))
    np.testing.assert_allclose(noisy.mean(), level, rtol=0.01)
    np.testing.assert_allclose(noisy.var(), level / peak, rtol=0.05)  # Poisson: var = mean
    counts = noisy * peak
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-4)  # whole photon counts
    assert float(add_poisson_noise(jax.random.key(0), jnp.zeros((8, 8, 1)), peak).max()) == 0
    with pytest.raises(ValueError, match="peak"):
        add_poisson_noise(jax.random.key(0), image, 0.0)


def test_noise_functions_jit_and_vmap_over_images():
    keys = jax.random.split(jax.random.key(3), 4)
    images = jnp.stack([_random_image(seed=s) for s in range(4)])  # [4, 16, 12, 3]
    for fn in (
        lambda k, x: add_gaussian_noise(k, x, 0.1),
        lambda k, x: add_blind_gaussian_noise(k, x, 0.0, 0.2),
        lambda k, x: add_poisson_noise(k, x, 30.0),
    ):
        batched = jax.jit(jax.vmap(fn))(keys, images)
        assert batched.shape == images.shape
        np.testing.assert_allclose(batched[2], fn(keys[2], images[2]), atol=1e-6)


# --- kernels -------------------------------------------------------------------------------


def test_gaussian_kernel_values():
    sigma, size = 1.3, 7
    kernel = np.asarray(gaussian_kernel(sigma, size))
    x = np.arange(size) - 3
    reference = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma**2))
    np.testing.assert_allclose(kernel, reference / reference.sum(), atol=1e-7)
    np.testing.assert_allclose(kernel.sum(), 1.0, atol=1e-6)
    assert kernel.argmax() == size * size // 2
    traced = jax.jit(gaussian_kernel, static_argnums=1)(jnp.float32(sigma), size)
    np.testing.assert_allclose(traced, kernel, atol=1e-7)


def test_disk_kernel_is_an_antialiased_disk():
    radius, size = 5.0, 13
    kernel = np.asarray(disk_kernel(radius, size))
    np.testing.assert_allclose(kernel.sum(), 1.0, atol=1e-6)
    rows, cols = np.mgrid[:size, :size] - 6
    distance = np.hypot(rows, cols)
    assert (kernel[distance >= radius + 0.5] == 0).all()
    inner = kernel[distance <= radius - 0.5]
    np.testing.assert_allclose(inner, inner[0])  # flat inside
    edge = kernel[(distance > radius - 0.5) & (distance < radius + 0.5)]
    assert ((edge > 0) & (edge < inner[0])).all()  # partial coverage on the rim
    np.testing.assert_allclose(1 / kernel.max(), np.pi * radius**2, rtol=0.03)  # its area
    delta = np.asarray(disk_kernel(0.2, 5))
    assert delta[2, 2] == 1 and delta.sum() == 1
    with pytest.raises(ValueError, match="radius"):
        disk_kernel(-1.0, 5)


def _second_moments(kernel):
    """Eigenvalues (ascending) of the kernel's spatial covariance."""
    rows, cols = np.mgrid[: kernel.shape[0], : kernel.shape[1]]
    coords = np.stack([rows.ravel(), cols.ravel()], axis=1).astype(np.float64)
    weights = np.asarray(kernel, np.float64).ravel()
    mean = weights @ coords
    centred = coords - mean
    return np.linalg.eigvalsh((centred * weights[:, None]).T @ centred)


def test_motion_blur_kernel_sums_to_one_and_varies_with_the_key():
    kernels = jax.vmap(lambda k: motion_blur_kernel(k, 21))(jax.random.split(jax.random.key(0), 8))
    kernels = np.asarray(kernels)
    assert kernels.shape == (8, 21, 21) and kernels.dtype == np.float32
    np.testing.assert_allclose(kernels.sum(axis=(1, 2)), 1.0, atol=1e-5)
    assert (kernels >= 0).all()
    assert ((kernels > 0).sum(axis=(1, 2)) > 10).all()  # a path, not a point
    assert not np.allclose(kernels[0], kernels[1])
    single = motion_blur_kernel(jax.random.split(jax.random.key(0), 8)[3], 21)
    np.testing.assert_allclose(single, kernels[3], atol=1e-6)
    for kernel in kernels:  # the path's bounding box is centred
        rows, cols = np.nonzero(kernel > 0)
        assert abs(rows.min() + rows.max() - 20) <= 2 and abs(cols.min() + cols.max() - 20) <= 2


def test_motion_blur_without_anxiety_is_a_straight_line_of_the_given_length():
    kernel = motion_blur_kernel(jax.random.key(5), 31, max_length=20.0, anxiety=0.0)
    low, high = _second_moments(kernel)
    assert low < 0.01 * high
    # A uniform segment of length L has variance L^2 / 12 along it.
    np.testing.assert_allclose(np.sqrt(12 * high), 20.0, rtol=0.05)
    # With anxiety the path bends away from a line.
    curved = jax.vmap(lambda k: motion_blur_kernel(k, 31, max_length=20.0, anxiety=0.01))(
        jax.random.split(jax.random.key(6), 8)
    )
    ratios = [np.divide(*_second_moments(k)) for k in np.asarray(curved)]
    assert max(ratios) > 0.05


def test_motion_blur_exposure_shortens_the_path_and_long_paths_fit():
    key = jax.random.key(7)
    full = np.asarray(motion_blur_kernel(key, 31, anxiety=0.0))
    short = np.asarray(motion_blur_kernel(key, 31, anxiety=0.0, exposure=0.25))
    np.testing.assert_allclose(short.sum(), 1.0, atol=1e-5)
    ratio = np.sqrt(_second_moments(short)[1] / _second_moments(full)[1])
    np.testing.assert_allclose(ratio, 0.25, rtol=0.1)
    # A path longer than the kernel is shrunk to fit: no mass piles up on the border.
    long = np.asarray(motion_blur_kernel(key, 15, max_length=60.0, anxiety=0.0))
    np.testing.assert_allclose(long.sum(), 1.0, atol=1e-5)
    assert long.max() < 0.2


def test_motion_blur_kernel_jit_traced_parameters_and_errors():
    jitted = jax.jit(motion_blur_kernel, static_argnames=("size", "num_steps"))
    kernel = jitted(jax.random.key(0), size=17, anxiety=jnp.float32(0.008), exposure=0.5)
    eager = motion_blur_kernel(jax.random.key(0), 17, anxiety=0.008, exposure=0.5)
    np.testing.assert_allclose(kernel, eager, atol=1e-5)
    with pytest.raises(ValueError, match="size"):
        motion_blur_kernel(jax.random.key(0), 2)
    with pytest.raises(ValueError, match="exposure"):
        motion_blur_kernel(jax.random.key(0), 9, exposure=0.0)


# --- blur --------------------------------------------------------------------------------


@pytest.mark.parametrize("kernel_shape", [(5, 5), (4, 6), (3, 1)])
def test_blur_matches_scipy_convolve_with_mirror_padding(kernel_shape):
    image = _random_image(seed=1)
    kernel = np.random.default_rng(2).uniform(0, 1, kernel_shape).astype(np.float32)
    ours = np.asarray(blur(image, jnp.asarray(kernel)))
    reference = np.stack(
        [
            scipy.ndimage.convolve(np.asarray(image[..., c], np.float64), kernel, mode="mirror")
            for c in range(3)
        ],
        axis=-1,
    )
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_blur_keeps_constant_images_and_shapes():
    image = jnp.full((2, 10, 9, 3), 0.7)
    kernel = motion_blur_kernel(jax.random.key(0), 7)
    out = jax.jit(blur)(image, kernel)
    assert out.shape == image.shape
    np.testing.assert_allclose(out, 0.7, atol=1e-6)  # sum-1 kernel, reflect padding
    images = jnp.stack([_random_image(seed=s) for s in range(3)])  # [3, 16, 12, 3]
    kernels = jnp.stack([gaussian_kernel(s, 5) for s in (0.5, 1.0, 2.0)])  # [3, 5, 5]
    batched = jax.vmap(blur)(images, kernels)
    np.testing.assert_allclose(batched[1], blur(images[1], kernels[1]), atol=1e-6)
    with pytest.raises(ValueError, match="larger"):
        blur(jnp.zeros((4, 4, 1)), jnp.ones((5, 5)))


def test_gaussian_blur_through_dm_pix_equals_blur_with_the_kernel():
    image = _random_image(shape=(2, 16, 12, 3), seed=3)
    ours = jax.jit(gaussian_blur, static_argnums=2)(image, 1.5, 7)
    np.testing.assert_allclose(ours, blur(image, gaussian_kernel(1.5, 7)), atol=1e-5)
    with pytest.raises(ValueError, match="odd"):
        gaussian_blur(image, 1.0, 4)


# --- bicubic ---------------------------------------------------------------------------------


def _pil_resize(channel: np.ndarray, height: int, width: int) -> np.ndarray:
    return np.asarray(Image.fromarray(channel).resize((width, height), Image.Resampling.BICUBIC))


@pytest.mark.parametrize(
    ("in_hw", "out_hw"),
    [((24, 36), (12, 18)), ((24, 36), (8, 12)), ((24, 36), (6, 9)), ((8, 6), (16, 12)),
     ((8, 6), (32, 24)), ((17, 23), (10, 7)), ((9, 10), (9, 20))],
)  # fmt: skip
def test_bicubic_resize_matches_pil_in_float(in_hw, out_hw):
    image = np.asarray(_random_image(shape=(*in_hw, 3), seed=4))
    ours = np.asarray(bicubic_resize(jnp.asarray(image), *out_hw))
    reference = np.stack([_pil_resize(image[..., c], *out_hw) for c in range(3)], axis=-1)
    assert ours.shape == (*out_hw, 3)
    np.testing.assert_allclose(ours, reference, atol=2e-6)  # PIL mode "F": no rounding


def _smooth_uint8_image(height, width, seed=0):
    """A photo-like uint8 image: smooth gradients and waves, no pixel-level noise."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:height, :width] / max(height, width)
    channels = [
        0.5
        + 0.35 * np.sin(rng.uniform(3, 9) * rows + rng.uniform(0, 6) * cols + rng.uniform(0, 6))
        + 0.1 * np.cos(rng.uniform(5, 15) * cols)
        for _ in range(3)
    ]
    return np.round(np.clip(np.stack(channels, -1), 0, 1) * 255).astype(np.uint8)


UINT8_CASES = [(2, False), (3, False), (4, False), (2, True), (4, True)]


def _pil_uint8(image: np.ndarray, height: int, width: int) -> np.ndarray:
    resized = Image.fromarray(image).resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(resized).astype(np.int32)


@pytest.mark.parametrize(("scale", "up"), UINT8_CASES)
def test_bicubic_matches_pil_uint8_within_one_level(scale, up):
    image = _smooth_uint8_image(48, 60, seed=scale)
    height, width = (48 * scale, 60 * scale) if up else (48 // scale, 60 // scale)
    reference = _pil_uint8(image, height, width)
    resize = bicubic_upsample if up else bicubic_downsample
    ours = resize(jnp.asarray(image, jnp.float32) / 255, scale, clip=True)
    ours = np.round(np.asarray(ours) * 255).astype(np.int32)
    assert ours.shape == reference.shape
    # PIL rounds to uint8 between its two passes and we do not: up to 1 level apart.
    assert np.abs(ours - reference).max() <= 1
    assert np.mean(ours == reference) > 0.7


@pytest.mark.parametrize(("scale", "up"), UINT8_CASES)
def test_resample_matrices_reproduce_pils_uint8_passes(scale, up):
    # PIL on uint8: horizontal pass, round half up and clip to [0, 255], vertical pass, again.
    # Replayed with our matrices on noise (which overshoots, so the clipping matters), it
    # matches PIL but for its 22-bit fixed-point weights.
    image = np.random.default_rng(scale).integers(0, 256, (48, 60, 3), dtype=np.uint8)
    height, width = (48 * scale, 60 * scale) if up else (48 // scale, 60 // scale)
    passes = [
        ("Ww,hwc->hWc", resample_matrix(60, width)),
        ("Hh,hwc->Hwc", resample_matrix(48, height)),
    ]
    replay = image.astype(np.float64)
    for subscripts, matrix in passes:
        replay = np.clip(np.floor(np.einsum(subscripts, matrix, replay) + 0.5), 0, 255)
    reference = _pil_uint8(image, height, width)
    assert np.abs(replay - reference).max() <= 1
    assert np.mean(replay == reference) > 0.99


def test_resample_matrix_rows_sum_to_one_and_widen_when_shrinking():
    for in_size, out_size in ((12, 4), (5, 20), (7, 7), (10, 3)):
        matrix = resample_matrix(in_size, out_size)
        assert matrix.shape == (out_size, in_size)
        np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(resample_matrix(7, 7), np.eye(7))
    # Downsampling by 4 spreads the filter over 4 * 4 input pixels (anti-aliasing).
    assert (resample_matrix(64, 16)[8] != 0).sum() == 16
    assert (resample_matrix(16, 64)[32] != 0).sum() == 4


def test_bicubic_downsample_shapes_jit_vmap_and_errors():
    images = jnp.stack([_random_image(shape=(12, 24, 3), seed=s) for s in range(2)])
    for scale in (2, 3, 4):
        out = jax.jit(bicubic_downsample, static_argnums=1)(images, scale)
        assert out.shape == (2, 12 // scale, 24 // scale, 3) and out.dtype == jnp.float32
        np.testing.assert_allclose(
            jax.vmap(lambda x, s=scale: bicubic_downsample(x, s))(images), out, atol=1e-6
        )
    constant = bicubic_downsample(jnp.full((12, 12, 1), 0.3), 3)
    np.testing.assert_allclose(constant, 0.3, atol=1e-6)  # normalised weights keep flat areas
    with pytest.raises(ValueError, match="13x24"):
        bicubic_downsample(jnp.zeros((13, 24, 3)), 2)
    with pytest.raises(ValueError, match="scale"):
        bicubic_downsample(images, 2.0)
