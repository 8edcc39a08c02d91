"""Face-crop metrics against NumPy: inter-ocular NME and per-attribute correctness."""

import jax.numpy as jnp
import numpy as np

from jaxvision.metrics.face_analysis import attribute_correct, interocular_nme


def test_interocular_nme_matches_numpy():
    rng = np.random.default_rng(0)
    true = rng.uniform(0, 64, (6, 5, 2))
    pred = true + rng.normal(0, 2, (6, 5, 2))
    interocular = np.linalg.norm(true[:, 1] - true[:, 0], axis=-1)
    expected = np.linalg.norm(pred - true, axis=-1).mean(axis=1) / np.maximum(interocular, 1.0)
    np.testing.assert_allclose(
        interocular_nme(jnp.asarray(pred), jnp.asarray(true)), expected, 1e-5
    )
    same_eyes = np.zeros((1, 5, 2))  # both eyes on one pixel: a finite error
    assert np.isfinite(interocular_nme(jnp.ones((1, 5, 2)), jnp.asarray(same_eyes))).all()


def test_attribute_correct():
    logits = jnp.array([[3.0, -2.0, 0.0, 0.1]])
    targets = jnp.array([[True, False, False, False]])
    np.testing.assert_array_equal(attribute_correct(logits, targets), [[1.0, 1.0, 1.0, 0.0]])
