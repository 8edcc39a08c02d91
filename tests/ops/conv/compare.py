"""Helpers of the conv lowering tests: arrays, outputs and gradients of several lowerings, and
the primitives of a jaxpr.

Each comparison compiles one function that returns the output and both gradients of every
lowering, so that the tests stay within seconds on CPU.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

RTOL = ATOL = 1e-5  # float32; inputs scaled so that outputs are O(1)


def arrays(x_shape, k_shape, seed=0):
    """Input, a fan-in scaled kernel."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(np.float32)
    fan_in = np.prod(k_shape[:-1])
    w = (rng.standard_normal(k_shape) / np.sqrt(fan_in)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(w)


def value_and_grads(fns, x, w):
    """(y, dL/dx, dL/dw) of each fn for L = <y, r>, a random linear functional; one jit.

    Fns with the same output shape share r.
    """
    shapes = [jax.eval_shape(fn, x, w).shape for fn in fns]
    distinct = list(dict.fromkeys(shapes))
    rs = [np.random.default_rng(1).standard_normal(s).astype(np.float32) for s in distinct]

    @jax.jit
    def run(x, w, rs):
        results = []
        for fn, shape in zip(fns, shapes, strict=True):
            y, vjp = jax.vjp(fn, x, w)
            results.append((y, *vjp(rs[distinct.index(shape)])))
        return results

    return run(x, w, rs)


def assert_close(results, names=("y", "dx", "dw")):
    """Every result of `value_and_grads` equals the first one."""
    reference, *others = results
    for other in others:
        for name, a, b in zip(names, reference, other, strict=True):
            assert a.shape == b.shape, (name, a.shape, b.shape)
            np.testing.assert_allclose(
                np.asarray(b), np.asarray(a), rtol=RTOL, atol=ATOL, err_msg=name
            )


def assert_jvp_and_kernel_hessian_match(conv, ref, x, w):
    """conv's forward-mode derivative, and Hessian of sum(conv^2) in the kernel, equal ref's."""
    np.testing.assert_allclose(
        jax.jvp(conv, (x, w), (x, w))[1], jax.jvp(ref, (x, w), (x, w))[1], RTOL, ATOL
    )
    hess = jax.jit(jax.hessian(lambda w: jnp.sum(conv(x, w) ** 2)))(w)  # jitted: eager
    hess_ref = jax.jit(jax.hessian(lambda w: jnp.sum(ref(x, w) ** 2)))(w)  # dispatch is slow
    np.testing.assert_allclose(hess, hess_ref, rtol=1e-4, atol=1e-4)


def eqns(jaxpr, name):
    """The equations named `name` in a jaxpr and its sub-jaxprs."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == name:
            found.append(eqn)
        for value in eqn.params.values():
            for sub in value if isinstance(value, tuple | list) else (value,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    found += eqns(inner, name)
    return found


def count(jaxpr, name):
    """Equations named `name` in a jaxpr and its sub-jaxprs."""
    return len(eqns(jaxpr, name))
