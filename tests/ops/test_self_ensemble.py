"""The geometric self-ensemble against an explicit loop over the dihedral group in NumPy."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.ops.self_ensemble import TRANSFORM_COUNTS, self_ensemble


def _anisotropic(y):
    """Nearest 2x upsampling, then running sums along the width and (squared) the height:
    no flip or transpose commutes with it. NumPy or JAX arrays."""
    up = y.repeat(2, axis=1).repeat(2, axis=2)
    return up + 0.1 * up.cumsum(axis=2) + 0.01 * up.cumsum(axis=1) ** 2


def _group(transforms: int):
    """(transpose, flip rows, flip columns) of the first ``transforms`` group elements."""
    flips = [(False, False), (False, True), (True, False), (True, True)]
    if transforms < 8:
        return [(False, r, c) for r, c in flips[:transforms]]
    return [(t, r, c) for t, (r, c) in itertools.product((False, True), flips)]


def dihedral_mean(fn, x, transforms: int = 8) -> np.ndarray:
    """The ensemble by hand: ``fn`` on each transform of ``x`` [b, h, w, c] (NumPy or JAX), its
    output mapped back, one at a time; the NumPy mean."""
    outs = []
    for t, r, c in _group(transforms):
        y = x.swapaxes(1, 2) if t else x
        y = y[:, ::-1] if r else y
        y = y[:, :, ::-1] if c else y
        out = fn(y)
        out = out[:, :, ::-1] if c else out
        out = out[:, ::-1] if r else out
        outs.append(np.asarray(out.swapaxes(1, 2) if t else out))
    return np.mean(outs, axis=0)


@pytest.mark.parametrize("transforms", TRANSFORM_COUNTS)
def test_matches_an_explicit_loop_over_the_group(transforms):
    x = np.random.default_rng(0).uniform(size=(2, 3, 5, 2)).astype(np.float32)
    got = self_ensemble(_anisotropic, jnp.asarray(x), transforms)
    assert got.shape == (2, 6, 10, 2)
    want = dihedral_mean(_anisotropic, x, transforms)  # in NumPy
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
    if transforms > 1:  # the function is not equivariant: the ensemble changes its output
        assert not np.allclose(np.asarray(got), _anisotropic(x), atol=1e-3)


def test_an_equivariant_function_is_unchanged():
    x = jnp.asarray(np.random.default_rng(1).uniform(size=(1, 4, 6, 3)), jnp.float32)
    np.testing.assert_allclose(self_ensemble(jnp.sqrt, x), jnp.sqrt(x), rtol=1e-6)


def test_the_mean_is_float32_whatever_the_network_returns():
    x = jnp.ones((1, 2, 4, 1), jnp.bfloat16)
    out = self_ensemble(lambda y: (y * 3).astype(jnp.bfloat16), x, 8)
    assert out.dtype == jnp.float32 and float(out[0, 0, 0, 0]) == 3.0


def test_the_network_runs_once_per_orientation():
    shapes = []

    def fn(y):
        shapes.append(y.shape)
        return y

    jax.jit(lambda x: self_ensemble(fn, x, 8))(jnp.zeros((3, 4, 6, 1)))
    assert shapes == [(12, 4, 6, 1), (12, 6, 4, 1)]


def test_an_unknown_count_is_refused():
    with pytest.raises(ValueError, match="one of"):
        self_ensemble(lambda y: y, jnp.zeros((1, 2, 2, 1)), transforms=3)
