"""Restoration losses against NumPy: the pixel losses and the frequency loss, and the
frequency loss's weight in a restoration task's content loss."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.losses import restoration as losses
from tests.engine import runs


def _pair(seed: int = 0, shape=(2, 8, 6, 3)):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=shape).astype(np.float32), rng.uniform(size=shape).astype(np.float32)


@pytest.mark.parametrize(
    "kind, reference",
    [
        ("l1", lambda d: np.abs(d).mean()),
        ("l2", lambda d: (d**2).mean()),
        ("charbonnier", lambda d: np.sqrt(d**2 + losses.CHARBONNIER_EPS**2).mean()),
    ],
)
def test_pixel_losses_match_numpy(kind, reference):
    pred, target = _pair()
    got = float(losses.pixel_loss(kind, jnp.asarray(pred), jnp.asarray(target)))
    np.testing.assert_allclose(got, reference(pred - target), rtol=1e-5)


def test_frequency_loss_matches_numpy_spectra():
    pred, target = _pair(1)
    spectrum = np.fft.rfft2(pred - target, axes=(1, 2), norm="ortho")  # [2, 8, 4, 3]
    want = (np.abs(spectrum.real) + np.abs(spectrum.imag)).mean()
    got = float(losses.frequency_loss(jnp.asarray(pred), jnp.asarray(target)))
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_without_a_weight_the_task_has_no_frequency_loss():
    from jaxvision.data.sources import DatasetMeta
    from jaxvision.engine import build
    from jaxvision.engine import mesh as mesh_lib

    config = runs.named_config("deblur_small", {})
    task = build.build(config, DatasetMeta("synthetic", (), 2), mesh_lib.make_mesh()).task
    pred, target = (jnp.asarray(a) for a in _pair(3))
    total, metrics = task.content(pred, target, None)
    assert set(metrics) == {"pixel_loss"}
    assert float(total) == float(losses.pixel_loss("l1", pred, target))


def test_the_task_adds_the_weighted_frequency_loss():
    from jaxvision.data.sources import DatasetMeta
    from jaxvision.engine import build
    from jaxvision.engine import mesh as mesh_lib

    config = runs.named_config("deblur_small", {"restoration.fft_weight": 0.5})
    task = build.build(config, DatasetMeta("synthetic", (), 2), mesh_lib.make_mesh()).task
    pred, target = (jnp.asarray(a) for a in _pair(2))
    total, metrics = task.content(pred, target, None)
    assert set(metrics) == {"pixel_loss", "fft_loss"}
    np.testing.assert_allclose(
        float(total), float(metrics["pixel_loss"] + 0.5 * metrics["fft_loss"]), rtol=1e-6
    )
    np.testing.assert_allclose(
        float(metrics["fft_loss"]), float(losses.frequency_loss(pred, target)), rtol=1e-6
    )
