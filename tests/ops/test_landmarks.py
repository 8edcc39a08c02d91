"""Landmark coding against anchors: the formula, the round trip, broadcasting, bad input."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.ops import landmarks


def _anchors(rng: np.random.Generator, n: int) -> np.ndarray:
    lo = rng.uniform(0, 100, (n, 2))
    return np.concatenate([lo, lo + rng.uniform(4, 60, (n, 2))], axis=-1).astype(np.float32)


@pytest.mark.parametrize("weight", [1.0, 10.0])
def test_round_trip_and_formula(weight):
    rng = np.random.default_rng(0)
    anchors = _anchors(rng, 7)  # [n, 4]
    points = rng.uniform(-20, 180, (3, 7, 5, 2)).astype(np.float32)  # [b, n, 5, 2]
    codes = landmarks.encode_landmarks(points, anchors, weight)  # anchors broadcast over b
    assert codes.shape == (3, 7, 5, 2)
    centre = (anchors[:, :2] + anchors[:, 2:]) / 2  # [n, 2]
    size = anchors[:, 2:] - anchors[:, :2]  # [n, 2]
    expected = weight * (points - centre[:, None]) / size[:, None]  # [b, n, 5, 2]
    np.testing.assert_allclose(np.asarray(codes), expected, rtol=1e-5, atol=1e-5)
    back = landmarks.decode_landmarks(codes, anchors, weight)
    np.testing.assert_allclose(np.asarray(back), points, rtol=1e-5, atol=1e-3)


def test_degenerate_anchor_gives_finite_codes():
    codes = landmarks.encode_landmarks(jnp.ones((5, 2)), jnp.zeros(4))
    assert np.all(np.isfinite(np.asarray(codes)))


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"\[\.\.\., k, 2\]"):
        landmarks.encode_landmarks(jnp.zeros((5, 3)), jnp.zeros(4))
    with pytest.raises(ValueError, match="xyxy"):
        landmarks.decode_landmarks(jnp.zeros((5, 2)), jnp.zeros(3))
    with pytest.raises(ValueError, match="weight"):
        landmarks.encode_landmarks(jnp.zeros((5, 2)), jnp.zeros(4), weight=0.0)
