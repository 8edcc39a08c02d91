"""Tests of jaxvision.models.layers: `Conv` / `ConvTranspose` are drop-in `nn.Conv` /
`nn.ConvTranspose` under every impl, a `ConvRules` included."""

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.models import get_model, layers
from jaxvision.ops.conv import DEFAULT_RULES

LAYER_CONFIGS = [
    dict(features=6, kernel_size=(3, 3)),
    dict(features=6, kernel_size=(3, 3), strides=2, padding=((1, 1), (1, 1)), use_bias=False),
    dict(features=8, kernel_size=(5, 3), padding="VALID", kernel_dilation=(2, 1)),
    dict(features=8, kernel_size=(3, 3), feature_group_count=2, padding=1),
    dict(features=4, kernel_size=(1, 1), strides=(2, 2), bias_init=nn.initializers.normal(1.0)),
    dict(features=4, kernel_size=(3, 3), padding="CIRCULAR"),
    dict(features=4, kernel_size=(3, 3), padding="REFLECT", dtype=jnp.bfloat16),
]
# Every conv to im2col on the CPU: the rules object takes another path than "auto".
ALL_IM2COL = dataclasses.replace(
    DEFAULT_RULES, im2col_max_out_pixels=2**31, im2col_max_out_pixels_strided=2**31
)
IMPLS = ("xla", "im2col", "auto", ALL_IM2COL)


def _same_tree(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for leaf_a, leaf_b in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert leaf_a.shape == leaf_b.shape and leaf_a.dtype == leaf_b.dtype
        np.testing.assert_array_equal(np.asarray(leaf_a), np.asarray(leaf_b))


def _check_drop_in(reference_cls, cls, config, x):
    """cls(**config, impl=...) has reference_cls(**config)'s variables and outputs."""
    key = jax.random.key(0, impl="rbg")  # cheaper to compile than threefry on CPU

    @jax.jit
    def run(x):
        expected, variables = reference_cls(**config).init_with_output(key, x)
        init = cls(**config).init(key, x)  # the impl does not change the variables
        outs = [cls(**config, impl=impl).apply(variables, x) for impl in IMPLS]
        return variables, expected, init, outs

    variables, expected, init, outs = run(x)
    _same_tree(init, variables)
    tol = 1e-2 if config.get("dtype") == jnp.bfloat16 else 1e-5
    for y in outs:
        assert y.shape == expected.shape and y.dtype == expected.dtype
        np.testing.assert_allclose(
            np.asarray(y, np.float32), np.asarray(expected, np.float32), rtol=tol, atol=tol
        )


@pytest.mark.parametrize("config", LAYER_CONFIGS, ids=lambda c: str(sorted(c)))
def test_layers_conv_is_a_drop_in_nn_conv(config):
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 7, 6, 4)), jnp.float32)
    _check_drop_in(nn.Conv, layers.Conv, config, x)


@pytest.mark.parametrize(
    "config",
    [
        dict(features=5, kernel_size=(3, 3), strides=(2, 2)),
        dict(features=5, kernel_size=(4, 4), strides=(2, 2), padding="VALID", use_bias=False),
        dict(features=5, kernel_size=(2, 2), strides=(2, 2), kernel_dilation=(1, 2)),
        dict(features=5, kernel_size=(3, 3), strides=(2, 2), padding="CIRCULAR"),
        dict(features=5, kernel_size=(3, 3), padding=((1, 2), (0, 1))),
        dict(features=5, kernel_size=(3, 2), strides=(2, 1), transpose_kernel=True),
        dict(
            features=5,
            kernel_size=(4, 4),
            strides=(2, 2),
            padding="CIRCULAR",
            transpose_kernel=True,
        ),
    ],
    ids=lambda c: str(sorted(c)),
)
def test_layers_conv_transpose_is_a_drop_in_nn_conv_transpose(config):
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 5, 4, 3)), jnp.float32)
    _check_drop_in(nn.ConvTranspose, layers.ConvTranspose, config, x)


def test_layers_conv_1d_causal():
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 9, 3)), jnp.float32)
    config = dict(features=4, kernel_size=3, kernel_dilation=2, padding="CAUSAL")
    _check_drop_in(nn.Conv, layers.Conv, config, x)


def test_layers_conv_extra_batch_dims():
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 3, 5, 5, 4)), jnp.float32)
    _check_drop_in(nn.Conv, layers.Conv, dict(features=6, kernel_size=(3, 3)), x)
    # No batch dim: like flax, one is added and removed.
    variables = {"params": {"kernel": jnp.ones((3, 3, 4, 6)), "bias": jnp.zeros(6)}}
    assert layers.Conv(6, (3, 3)).apply(variables, x[0, 0]).shape == (5, 5, 6)


def test_a_rules_field_is_hashable_and_static():
    conv = layers.Conv(4, (3, 3), impl=ALL_IM2COL)
    same = layers.Conv(4, (3, 3), impl=dataclasses.replace(ALL_IM2COL))
    assert hash(conv) == hash(same) and conv == same
    x = jnp.ones((1, 6, 6, 2))
    variables = conv.init(jax.random.key(0), x)
    apply = jax.jit(lambda module, v, x: module.apply(v, x), static_argnums=0)
    np.testing.assert_allclose(
        apply(conv, variables, x), layers.Conv(4, (3, 3), impl="xla").apply(variables, x), 1e-5
    )


def test_bad_impl_names_the_valid_ones():
    x = jnp.ones((1, 6, 6, 2))
    with pytest.raises(ValueError, match="valid: xla, im2col, auto or a .*ConvRules"):
        layers.Conv(4, (3, 3), impl="cudnn").init(jax.random.key(0), x)
    with pytest.raises(ValueError, match="valid: xla, im2col, auto or a .*ConvRules"):
        layers.ConvTranspose(4, (3, 3), impl="winograd").init(jax.random.key(0), x)


def test_resnet_convs_have_nn_conv_parameters():
    model = get_model("resnet_tiny", num_classes=10, stem="cifar")
    x = jax.ShapeDtypeStruct((2, 32, 32, 3), jnp.float32)
    key = jax.random.key(0)
    params = jax.eval_shape(functools.partial(model.init, train=False), key, x)["params"]
    convs = []

    def as_nn_conv(tree):  # each conv's parameters as nn.Conv(use_bias=False) declares them
        if isinstance(tree, dict) and getattr(tree.get("kernel"), "ndim", 0) == 4:
            kh, kw, cin, cout = tree["kernel"].shape
            convs.append(cout)
            image = jax.ShapeDtypeStruct((1, 8, 8, cin), jnp.float32)
            return jax.eval_shape(nn.Conv(cout, (kh, kw), use_bias=False).init, key, image)[
                "params"
            ]
        return {k: as_nn_conv(v) for k, v in tree.items()} if isinstance(tree, dict) else tree

    reference = as_nn_conv(params)
    assert len(convs) == 1 + 4 * 2 + 3  # stem, two a block, three downsampling shortcuts
    assert jax.tree.structure(params) == jax.tree.structure(reference)
    assert jax.tree.map(lambda a: a.shape, params) == jax.tree.map(lambda a: a.shape, reference)
