"""Tests of the colour-space conversions against scikit-image."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.color

from jaxvision.ops.color import lab_to_rgb, rgb_to_lab, rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb


def _random_rgb(shape=(2, 9, 7, 3), seed=0):
    return np.random.default_rng(seed).uniform(0, 1, size=shape).astype(np.float32)


def test_rgb_to_ycbcr_matches_skimage():
    rgb = _random_rgb()
    ours = np.asarray(rgb_to_ycbcr(jnp.asarray(rgb)))
    reference = skimage.color.rgb2ycbcr(rgb.astype(np.float64)) / 255.0  # skimage: [0, 255]
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    # Studio swing: Y spans [16, 235] / 255 and chroma [16, 240] / 255 on the RGB cube.
    corners = np.array(np.meshgrid([0, 1], [0, 1], [0, 1])).reshape(3, -1).T  # [8, 3]
    ycbcr = np.asarray(rgb_to_ycbcr(jnp.asarray(corners, jnp.float32))) * 255
    np.testing.assert_allclose([ycbcr[:, 0].min(), ycbcr[:, 0].max()], [16, 235], atol=1e-3)
    np.testing.assert_allclose([ycbcr[:, 1:].min(), ycbcr[:, 1:].max()], [16, 240], atol=1e-3)


def test_ycbcr_to_rgb_matches_skimage_and_round_trips():
    rgb = _random_rgb(seed=1)
    ycbcr = skimage.color.rgb2ycbcr(rgb.astype(np.float64))  # [0, 255] units
    ours = np.asarray(ycbcr_to_rgb(jnp.asarray(ycbcr / 255.0, jnp.float32)))
    np.testing.assert_allclose(ours, skimage.color.ycbcr2rgb(ycbcr), atol=1e-5)
    round_trip = np.asarray(ycbcr_to_rgb(rgb_to_ycbcr(jnp.asarray(rgb))))
    np.testing.assert_allclose(round_trip, rgb, atol=1e-5)


def test_rgb_to_y_is_the_first_ycbcr_channel():
    rgb = jnp.asarray(_random_rgb(seed=2))
    y = rgb_to_y(rgb)
    assert y.shape == (*rgb.shape[:-1], 1) and y.dtype == jnp.float32
    np.testing.assert_allclose(
        np.asarray(y)[..., 0], np.asarray(rgb_to_ycbcr(rgb))[..., 0], atol=1e-6
    )
    gray = jnp.full((1, 1, 3), 0.5)
    np.testing.assert_allclose(float(rgb_to_y(gray)[0, 0, 0]), (16 + 0.5 * 219) / 255, atol=1e-6)


def test_rgb_to_lab_matches_skimage():
    rgb = _random_rgb(shape=(3, 8, 8, 3), seed=3)
    rgb[0, 0, :4] = [[0, 0, 0], [1, 1, 1], [0.01, 0.02, 0.03], [1, 0, 0]]  # both gamma branches
    ours = np.asarray(rgb_to_lab(jnp.asarray(rgb)))
    reference = skimage.color.rgb2lab(rgb.astype(np.float64))
    # float32: a = 500 (fx - fy) magnifies rounding to ~7e-5 at worst.
    np.testing.assert_allclose(ours, reference, atol=2e-4)
    assert ours[..., 0].min() >= 0 and ours[..., 0].max() <= 100 + 1e-4


def test_lab_to_rgb_matches_skimage_and_round_trips():
    rgb = _random_rgb(shape=(2, 8, 8, 3), seed=4)
    lab = skimage.color.rgb2lab(rgb.astype(np.float64))
    ours = np.asarray(lab_to_rgb(jnp.asarray(lab, jnp.float32)))
    np.testing.assert_allclose(ours, skimage.color.lab2rgb(lab), atol=1e-5)
    round_trip = np.asarray(lab_to_rgb(rgb_to_lab(jnp.asarray(rgb))))
    np.testing.assert_allclose(round_trip, rgb, atol=1e-5)


def test_lab_to_rgb_out_of_gamut_is_clipped_like_skimage():
    # Extreme a/b leave the sRGB gamut and drive Z below 0; skimage clips both.
    lab = np.array([[[50.0, 120.0, -120.0], [20.0, -100.0, 127.0], [90.0, 0.0, 127.0]]])
    with pytest.warns(UserWarning):  # skimage warns about Z < 0
        reference = skimage.color.lab2rgb(lab)
    ours = np.asarray(lab_to_rgb(jnp.asarray(lab, jnp.float32)))
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    assert ours.min() >= 0 and ours.max() <= 1


@pytest.mark.parametrize("fn", [rgb_to_ycbcr, ycbcr_to_rgb, rgb_to_y, rgb_to_lab, lab_to_rgb])
def test_shapes_jit_and_vmap(fn):
    images = jnp.asarray(_random_rgb(shape=(2, 3, 5, 4, 3), seed=5))  # [..., h, w, 3]
    out = jax.jit(fn)(images)
    assert out.shape[:-1] == images.shape[:-1] and out.dtype == jnp.float32
    batched = jax.vmap(fn)(images)
    np.testing.assert_allclose(np.asarray(batched), np.asarray(out), atol=1e-5)
    single = fn(images[0, 0])  # one [h, w, 3] image
    np.testing.assert_allclose(np.asarray(single), np.asarray(out[0, 0]), atol=1e-5)


@pytest.mark.parametrize("fn", [rgb_to_ycbcr, ycbcr_to_rgb, rgb_to_y, rgb_to_lab, lab_to_rgb])
def test_wrong_channel_count_raises(fn):
    with pytest.raises(ValueError, match="3 channels"):
        fn(jnp.zeros((4, 4, 4)))
