"""`remat=True` recomputes ResNet blocks in the backward pass: same values, a remat in the jaxpr."""

from __future__ import annotations

import functools

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np

from jaxvision.models import resnet, vit

# Names of jax.checkpoint's primitive in a jaxpr ("remat2" once differentiated).
REMAT_PRIMITIVES = ("checkpoint", "remat", "remat2")


def _primitives(jaxpr) -> list[str]:
    """Names of every primitive of a jaxpr, nested jaxprs included."""
    names = []
    for eqn in jaxpr.eqns:
        names.append(eqn.primitive.name)
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            names.extend(_primitives(sub))
    return names


def _images() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(np.float32)


def _loss_and_grads(model, variables, x):
    def loss(params):
        logits, _ = model.apply(
            {**variables, "params": params}, x, train=True, mutable=["batch_stats"]
        )  # [b, classes]
        return jnp.mean(logits**2)

    return jax.value_and_grad(loss)(variables["params"])


def test_resnet_remat_gives_the_same_loss_and_gradients_and_is_in_the_jaxpr():
    x = _images()
    plain = resnet.ResNetTiny(num_classes=5, stem="cifar")
    remat = resnet.ResNetTiny(num_classes=5, stem="cifar", remat=True)
    variables = jax.jit(functools.partial(plain.init, train=False))(
        jax.random.key(0, impl="rbg"), x
    )
    remat_shapes = jax.eval_shape(functools.partial(remat.init, train=False), jax.random.key(0), x)
    assert jax.tree.structure(remat_shapes) == jax.tree.structure(variables)

    fns = {m.remat: functools.partial(_loss_and_grads, m) for m in (plain, remat)}
    for on, fn in fns.items():
        names = _primitives(jax.make_jaxpr(fn)(variables, x).jaxpr)
        assert any(n in REMAT_PRIMITIVES for n in names) == on

    # One jit for both: compiling is most of this test's time on CPU.
    both = jax.jit(lambda v: (fns[False](v, x), fns[True](v, x)))
    (value, grads), (remat_value, remat_grads) = both(variables)
    np.testing.assert_allclose(remat_value, value, rtol=1e-6)
    jax.tree.map(
        functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6), remat_grads, grads
    )


def test_vit_remat_is_in_the_jaxpr():
    x = _images()
    models = {
        on: vit.ViT(
            patch_size=8,
            hidden_size=16,
            num_layers=2,
            num_heads=2,
            mlp_dim=32,
            num_classes=5,
            remat=on,
        )
        for on in (False, True)
    }
    variables = jax.eval_shape(
        functools.partial(models[False].init, train=False), jax.random.key(0), x
    )
    for on, model in models.items():

        def loss(params, model=model):
            return jnp.mean(model.apply({"params": params}, x, train=False) ** 2)

        jaxpr = jax.make_jaxpr(jax.grad(loss))(variables["params"])
        assert any(n in REMAT_PRIMITIVES for n in _primitives(jaxpr.jaxpr)) == on
