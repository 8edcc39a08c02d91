"""Tests of the device-side image ops."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.ops.image import IMAGENET_MEAN, IMAGENET_STD, normalize


def test_normalize_matches_numpy():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 5, 6, 3), dtype=np.uint8)
    out = normalize(jnp.asarray(images))
    assert out.shape == images.shape and out.dtype == jnp.float32
    mean = np.array([0.485, 0.456, 0.406]) * 255
    std = np.array([0.229, 0.224, 0.225]) * 255
    np.testing.assert_allclose(np.asarray(out), (images - mean) / std, rtol=1e-5, atol=1e-5)


def test_normalize_hand_values_and_custom_stats():
    images = jnp.array([[[[0, 128, 255]]]], jnp.uint8)  # [1, 1, 1, 3]
    out = normalize(images, mean=(127.5, 127.5, 127.5), std=(127.5, 127.5, 127.5))
    np.testing.assert_allclose(np.asarray(out).ravel(), [-1.0, 0.5 / 127.5, 1.0], rtol=1e-6)
    # Per-channel statistics are applied to their own channel.
    out = normalize(jnp.full((2, 2, 3), 10.0), mean=(0.0, 10.0, 20.0), std=(1.0, 2.0, 5.0))
    np.testing.assert_allclose(np.asarray(out)[0, 0], [10.0, 0.0, -2.0])


def test_normalize_imagenet_mean_maps_to_zero():
    images = jnp.broadcast_to(jnp.asarray(IMAGENET_MEAN, jnp.float32), (3, 4, 3))
    np.testing.assert_allclose(np.asarray(normalize(images)), 0.0, atol=1e-6)
    plus_std = images + jnp.asarray(IMAGENET_STD, jnp.float32)
    np.testing.assert_allclose(np.asarray(normalize(plus_std)), 1.0, atol=1e-5)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
def test_normalize_dtype(dtype):
    images = np.random.default_rng(1).integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    out = normalize(jnp.asarray(images), dtype=dtype)
    assert out.dtype == dtype
    reference = (images - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    tolerance = 1e-5 if dtype == jnp.float32 else 2e-2
    np.testing.assert_allclose(
        np.asarray(out, np.float32), reference, rtol=tolerance, atol=tolerance
    )


def test_normalize_float_input_and_jit():
    images = np.random.default_rng(2).uniform(0, 255, size=(1, 3, 3, 3)).astype(np.float32)
    out = jax.jit(normalize)(jnp.asarray(images))
    reference = (images - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(np.asarray(out), reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("channels", "mean", "std"),
    [
        (1, IMAGENET_MEAN, IMAGENET_STD),
        (4, IMAGENET_MEAN, IMAGENET_STD),
        (3, (0.0, 0.0), IMAGENET_STD),
        (3, IMAGENET_MEAN, (1.0,)),
    ],
)
def test_normalize_channel_mismatch_raises(channels, mean, std):
    with pytest.raises(ValueError, match="channels"):
        normalize(jnp.zeros((2, 2, channels), jnp.uint8), mean=mean, std=std)


def test_normalize_single_channel():
    out = normalize(jnp.full((2, 2, 1), 100, jnp.uint8), mean=(50.0,), std=(25.0,))
    np.testing.assert_allclose(np.asarray(out), 2.0)
