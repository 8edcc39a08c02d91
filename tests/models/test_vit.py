"""Tests of jaxvision.models.vit (a 2-layer, 32-wide ViT; ViT-B/16 through jax.eval_shape)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.models import get_model, vit

# timm's vit_base_patch16_224 (num_classes=1000): sum of p.numel() over parameters().
VIT_B16_PARAMS = 86_567_656

TinyViT = functools.partial(
    vit.ViT,
    patch_size=8,
    hidden_size=32,
    num_layers=2,
    num_heads=2,
    mlp_dim=64,
    num_classes=10,
    head_zeroinit=False,
)


def _images(batch: int = 2, size: int = 32) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(batch, size, size, 3)).astype(np.float32)


def _key(seed: int) -> jax.Array:
    """An rbg key: XLA:CPU compiles the default threefry PRNG slowly (a second or more per
    shape); rbg makes inits and dropout masks several times cheaper to compile, and no test
    here depends on which PRNG draws the numbers."""
    return jax.random.key(seed, impl="rbg")


def _init(model, x):
    return jax.jit(functools.partial(model.init, train=False))(_key(0), x)


@pytest.fixture(scope="module")
def tiny_variables():
    """Variables of TinyViT() ("token"), shared: a real init costs seconds on CPU."""
    return _init(TinyViT(), _images())


@pytest.mark.parametrize("classifier, num_tokens", [("token", 17), ("gap", 16)])
def test_logits_and_position_embedding_shapes(classifier, num_tokens, tiny_variables):
    model = TinyViT(classifier=classifier)
    x = _images()  # [2, 32, 32, 3]: 16 patches of 8x8
    if classifier == "token":
        variables = tiny_variables
    else:
        variables = _init(model, x)
    assert variables["params"]["pos_embedding"].shape == (1, num_tokens, 32)
    assert ("cls" in variables["params"]) == (classifier == "token")
    logits = model.apply(variables, x, train=False)
    assert logits.shape == (2, 10)
    assert logits.dtype == jnp.float32


def test_param_count_of_vit_b16_matches_timm():
    model = vit.ViT_B16(num_classes=1000)
    x = jax.ShapeDtypeStruct((1, 224, 224, 3), jnp.float32)
    variables = jax.eval_shape(functools.partial(model.init, train=False), jax.random.key(0), x)
    num_params = sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(variables["params"]))
    assert num_params == VIT_B16_PARAMS


def test_head_is_zero_initialised_by_default():
    # The smallest ViT that has a head; no encoder block is needed to look at its init.
    model = vit.ViT(
        patch_size=8, hidden_size=8, num_layers=0, num_heads=1, mlp_dim=8, num_classes=3
    )
    variables = _init(model, _images(batch=1, size=8))
    np.testing.assert_array_equal(variables["params"]["head"]["kernel"], 0.0)


def test_dropout_is_deterministic_given_the_rng(tiny_variables):
    model = TinyViT(dropout_rate=0.2, attention_dropout_rate=0.2)
    x = _images()

    def run(seed):
        return model.apply(tiny_variables, x, train=True, rngs={"dropout": _key(seed)})

    np.testing.assert_array_equal(run(3), run(3))
    assert not np.allclose(run(3), run(4))
    # Eval needs no dropout rng and is deterministic.
    np.testing.assert_array_equal(
        model.apply(tiny_variables, x, train=False), model.apply(tiny_variables, x, train=False)
    )


def test_remat_gives_the_same_outputs_and_gradients(tiny_variables):
    x = _images()
    plain, remat = TinyViT(dropout_rate=0.1), TinyViT(dropout_rate=0.1, remat=True)
    remat_shapes = jax.eval_shape(functools.partial(remat.init, train=False), _key(0), x)
    assert jax.tree.structure(remat_shapes) == jax.tree.structure(tiny_variables)

    def loss_and_grads(params, model):
        def loss(params):
            rngs = {"dropout": _key(5)}
            logits = model.apply({"params": params}, x, train=True, rngs=rngs)  # [b, classes]
            return jnp.mean(logits**2)

        return jax.value_and_grad(loss)(params)

    # One jit for both: compiling is most of this test's time on CPU.
    both = jax.jit(lambda params: (loss_and_grads(params, plain), loss_and_grads(params, remat)))
    (value, grads), (remat_value, remat_grads) = both(tiny_variables["params"])
    np.testing.assert_allclose(remat_value, value, rtol=1e-5)
    jax.tree.map(
        functools.partial(np.testing.assert_allclose, rtol=1e-4, atol=1e-5), remat_grads, grads
    )


def test_bfloat16_compute_keeps_float32_params_and_logits(tiny_variables):
    model = TinyViT(dtype=jnp.bfloat16)
    x = _images()
    shapes = jax.eval_shape(functools.partial(model.init, train=False), _key(0), x)
    assert {leaf.dtype for leaf in jax.tree.leaves(shapes)} == {jnp.dtype(jnp.float32)}
    logits = jax.jit(functools.partial(model.apply, train=False))(tiny_variables, x)
    assert logits.dtype == jnp.float32
    reference = TinyViT().apply(tiny_variables, x, train=False)
    np.testing.assert_allclose(logits, reference, rtol=0.05, atol=0.05)


def test_bad_classifier_raises():
    with pytest.raises(ValueError, match="token, gap"):
        TinyViT(classifier="map").init(_key(0), _images(), train=False)


def test_patch_size_must_divide_image():
    with pytest.raises(ValueError, match="patch_size 8"):
        TinyViT().init(_key(0), _images(size=36), train=False)


@pytest.mark.parametrize(
    "name, width, patch", [("vit_ti16", 192, 16), ("vit_s32", 384, 32), ("vit_b32", 768, 32)]
)
def test_registry_variants(name, width, patch):
    model = get_model(name, num_classes=10)
    assert (model.hidden_size, model.patch_size) == (width, patch)
