"""Tests of jaxvision.models.resnet (shapes through jax.eval_shape, numerics on ResNetTiny)."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.models import get_model, resnet

# torchvision.models.resnet{18,50}(num_classes=1000): sum of p.numel() over parameters().
TORCHVISION_RESNET18_PARAMS = 11_689_512
TORCHVISION_RESNET50_PARAMS = 25_557_032


def _shapes(model: nn.Module, x_shape: tuple[int, ...]):
    """(variables, output) as ShapeDtypeStructs, without computing anything."""
    x = jax.ShapeDtypeStruct(x_shape, jnp.float32)
    variables = jax.eval_shape(functools.partial(model.init, train=False), jax.random.key(0), x)
    out = jax.eval_shape(functools.partial(model.apply, train=False), variables, x)
    return variables, out


def _init(model: nn.Module, x: jnp.ndarray, **kwargs):
    """`model.init` compiled once, with an rbg key.

    XLA:CPU compiles the default threefry PRNG slowly (a second or more per parameter shape);
    rbg makes these inits several times cheaper, and no test here depends on the PRNG.
    """
    return jax.jit(functools.partial(model.init, **kwargs))(jax.random.key(0, impl="rbg"), x)


def _images(batch: int = 2, size: int = 32) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(batch, size, size, 3)).astype(np.float32)


def _num_params(params) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(params))


@pytest.mark.parametrize("name", ["resnet_tiny", "resnet18", "resnet50"])
@pytest.mark.parametrize("stem", ["imagenet", "cifar"])
def test_logits_shape(name, stem):
    model = get_model(name, num_classes=7, stem=stem)
    _, logits = _shapes(model, (2, 32, 32, 3))
    assert logits.shape == (2, 7)
    assert logits.dtype == jnp.float32


@pytest.mark.parametrize(
    "variant, expected",
    [
        (resnet.ResNet18, TORCHVISION_RESNET18_PARAMS),
        (resnet.ResNet50, TORCHVISION_RESNET50_PARAMS),
    ],
)
def test_param_count_matches_torchvision(variant, expected):
    variables, _ = _shapes(variant(num_classes=1000), (1, 64, 64, 3))
    assert _num_params(variables["params"]) == expected


@pytest.mark.parametrize(
    "variant, stem, channels, strides",
    [
        (resnet.ResNet18, "imagenet", (64, 128, 256, 512), (4, 8, 16, 32)),
        (resnet.ResNet50, "imagenet", (256, 512, 1024, 2048), (4, 8, 16, 32)),
        (resnet.ResNetTiny, "cifar", (16, 32, 64, 128), (1, 2, 4, 8)),
    ],
)
def test_features_only(variant, stem, channels, strides):
    size = 64
    model = variant(num_classes=10, stem=stem, features_only=True)
    variables, features = _shapes(model, (2, size, size, 3))
    assert list(features) == ["C2", "C3", "C4", "C5"]
    for feature, c, s in zip(features.values(), channels, strides, strict=True):
        assert feature.shape == (2, size // s, size // s, c)
    assert "head" not in variables["params"]


@pytest.fixture(scope="module")
def tiny_variables():
    """Variables of ResNetTiny(num_classes=10), shared: a real init costs seconds on CPU."""
    return _init(resnet.ResNetTiny(num_classes=10), _images(), train=False)


def test_bfloat16_compute_keeps_float32_params_and_logits(tiny_variables):
    model = resnet.ResNetTiny(num_classes=10, dtype=jnp.bfloat16)
    variables, _ = _shapes(model, (2, 32, 32, 3))
    assert {leaf.dtype for leaf in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}

    x = _images()  # [b, h, w, c]
    logits = jax.jit(functools.partial(model.apply, train=False))(tiny_variables, x)
    assert logits.dtype == jnp.float32
    reference = resnet.ResNetTiny(num_classes=10).apply(tiny_variables, x, train=False)
    np.testing.assert_allclose(logits, reference, rtol=0.05, atol=0.05)

    features_model = resnet.ResNetTiny(num_classes=10, dtype=jnp.bfloat16, features_only=True)
    features = jax.eval_shape(
        functools.partial(features_model.apply, train=False), tiny_variables, x
    )
    assert features["C5"].dtype == jnp.bfloat16


def test_train_updates_batch_stats_and_eval_does_not_need_them_mutable(tiny_variables):
    model = resnet.ResNetTiny(num_classes=10)
    x = _images() * 3.0 + 1.0  # [b, h, w, c]: far from the initial running stats (0, 1)

    logits, updates = model.apply(tiny_variables, x, train=True, mutable=["batch_stats"])
    assert logits.shape == (2, 10)
    before = jax.tree.leaves(tiny_variables["batch_stats"])
    after = jax.tree.leaves(updates["batch_stats"])
    assert len(before) == len(after) > 0
    assert all(not np.allclose(b, a) for b, a in zip(before, after, strict=True))

    # Eval uses the running averages: nothing to mutate, the same answer twice.
    out1 = model.apply(tiny_variables, x, train=False)
    out2 = model.apply(tiny_variables, x, train=False)
    np.testing.assert_array_equal(out1, out2)


@pytest.mark.parametrize(
    "block_cls, filters", [(resnet.BasicBlock, 8), (resnet.BottleneckBlock, 2)]
)
def test_zero_init_residual_makes_a_block_start_as_the_identity(block_cls, filters):
    block = block_cls(
        filters=filters,
        conv=functools.partial(nn.Conv, use_bias=False),
        norm=functools.partial(nn.BatchNorm, use_running_average=True),
        zero_init_residual=True,
    )
    x = _images(batch=1, size=4)[..., [0, 1, 2, 0, 1, 2, 0, 1]]  # [1, 4, 4, 8]
    variables = _init(block, x)
    last_norm = "norm3" if block_cls is resnet.BottleneckBlock else "norm2"
    np.testing.assert_array_equal(variables["params"][last_norm]["scale"], 0.0)
    np.testing.assert_array_equal(variables["params"]["norm1"]["scale"], 1.0)
    # The residual branch is zero, so the block is relu(identity shortcut).
    np.testing.assert_allclose(block.apply(variables, x), np.maximum(x, 0.0), atol=1e-6)


def test_conv_init_is_kaiming_normal_fan_out(tiny_variables):
    kernel = tiny_variables["params"]["stage4_block0"]["conv2"]["kernel"]  # [3, 3, 128, 128]
    fan_out = 3 * 3 * 128
    np.testing.assert_allclose(np.std(kernel), np.sqrt(2.0 / fan_out), rtol=0.02)
    np.testing.assert_allclose(np.mean(kernel), 0.0, atol=1e-3)
    np.testing.assert_array_equal(tiny_variables["params"]["stem_norm"]["scale"], 1.0)


def test_group_norm_gets_no_batch_norm_arguments():
    norm = functools.partial(nn.GroupNorm, num_groups=4)
    variables, logits = _shapes(resnet.ResNetTiny(num_classes=3, norm=norm), (2, 32, 32, 3))
    assert logits.shape == (2, 3)
    assert "batch_stats" not in variables


def test_bad_stem_raises():
    model = resnet.ResNetTiny(num_classes=10, stem="tiny")
    with pytest.raises(ValueError, match="imagenet, cifar"):
        model.init(jax.random.key(0), jnp.ones((1, 32, 32, 3)))


def test_non_nhwc_input_raises():
    with pytest.raises(ValueError, match="NHWC"):
        resnet.ResNetTiny(num_classes=10).init(jax.random.key(0), jnp.ones((32, 32, 3)))


def test_get_model_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="resnet18.*vit_b16"):
        get_model("resnet19", num_classes=10)


def test_get_model_passes_kwargs_through():
    model = get_model("resnet34", num_classes=5, stem="cifar", dtype=jnp.bfloat16)
    assert isinstance(model, resnet.ResNet)
    assert (model.num_classes, model.stem, model.dtype) == (5, "cifar", jnp.bfloat16)
    assert tuple(model.stage_sizes) == (3, 4, 6, 3)
