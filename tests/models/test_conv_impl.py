"""`conv_impl` of ResNet and ViT (a name or a `ConvRules`) reaches every conv's lowering; all
lowerings agree."""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.extend
import numpy as np
import pytest

from jaxvision.models import get_model, resnet, vit
from jaxvision.ops.conv import DEFAULT_RULES, ConvRules
from train.configs import common

XLA_CONV = "conv_general_dilated"
IMAGE = 32


def _primitives(jaxpr) -> list[str]:
    """Names of every primitive of a closed jaxpr, nested jaxprs included."""
    names = []
    for eqn in jaxpr.eqns:
        names.append(eqn.primitive.name)
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            names.extend(_primitives(sub))
    return names


def _images(batch: int = 2) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(batch, IMAGE, IMAGE, 3)).astype(np.float32)


def _tiny_vit(**kwargs) -> nn.Module:
    return vit.ViT(
        patch_size=8, hidden_size=16, num_layers=1, num_heads=2, mlp_dim=32, num_classes=5, **kwargs
    )


MODELS = {
    "resnet": lambda **kw: resnet.ResNetTiny(num_classes=5, stem="cifar", **kw),
    "vit": _tiny_vit,
}


@pytest.mark.parametrize("family", sorted(MODELS))
def test_conv_impl_reaches_the_lowering_and_impls_agree(family):
    x = _images()
    build = MODELS[family]
    variables = jax.jit(functools.partial(build().init, train=False))(
        jax.random.key(0, impl="rbg"), x
    )
    outputs, counts = {}, {}
    for impl in ("xla", "im2col"):
        apply = functools.partial(build(conv_impl=impl).apply, train=False)
        counts[impl] = _primitives(jax.make_jaxpr(apply)(variables, x).jaxpr).count(XLA_CONV)
        outputs[impl] = jax.jit(apply)(variables, x)
    assert counts["im2col"] == 0
    assert counts["xla"] > 0
    np.testing.assert_allclose(outputs["im2col"], outputs["xla"], rtol=1e-4, atol=1e-5)


def test_every_resnet_conv_gets_the_impl():
    x = _images()
    model = resnet.ResNetTiny(num_classes=5, stem="cifar", conv_impl="xla")
    variables = jax.eval_shape(functools.partial(model.init, train=False), jax.random.key(0), x)
    conv_kernels = [
        leaf for leaf in jax.tree.leaves(variables["params"]) if leaf.ndim == 4
    ]  # [kh, kw, cin, cout] each
    jaxpr = jax.make_jaxpr(functools.partial(model.apply, train=False))(variables, x)
    assert _primitives(jaxpr.jaxpr).count(XLA_CONV) == len(conv_kernels)


def test_vit_patch_embedding_keeps_nn_conv_parameters():
    model = _tiny_vit(conv_impl="im2col")
    x = _images()
    variables = jax.eval_shape(functools.partial(model.init, train=False), jax.random.key(0), x)
    embedding = variables["params"]["embedding"]
    reference = jax.eval_shape(
        nn.Conv(16, (8, 8), strides=(8, 8), padding="VALID").init, jax.random.key(0), x
    )["params"]
    assert jax.tree.map(lambda s: s.shape, embedding) == jax.tree.map(lambda s: s.shape, reference)


def test_unknown_or_unusable_conv_impl_raises():
    x = _images()
    # The convs check the impl, and name the valid values.
    valid = "valid: xla, im2col, auto or a jaxvision.ops.conv.ConvRules"
    with pytest.raises(ValueError, match=valid):
        resnet.ResNetTiny(num_classes=5, conv_impl="cudnn").init(jax.random.key(0), x)
    with pytest.raises(ValueError, match=valid):
        _tiny_vit(conv_impl="cudnn").init(jax.random.key(0), x)
    # "winograd" computes 3x3 stride-1 convs only: no model-wide conv_impl.
    with pytest.raises(ValueError, match="impl='winograd' computes 2-D 3x3 convs of stride 1"):
        resnet.ResNetTiny(num_classes=5, conv_impl="winograd").init(jax.random.key(0), x)
    # ResNet always builds layers.Conv: no conv module field to pass.
    with pytest.raises(TypeError, match="conv"):
        resnet.ResNetTiny(num_classes=5, conv=nn.Conv)


def _count_convs(model, variables, x) -> int:
    apply = functools.partial(model.apply, train=False)
    return _primitives(jax.make_jaxpr(apply)(variables, x).jaxpr).count(XLA_CONV)


@pytest.mark.parametrize("family", sorted(MODELS))
def test_rules_as_conv_impl_change_the_lowering_not_the_result(family):
    # Winograd for every 3x3 stride-1 conv of 8 channels or more, and none: the same logits.
    winograd_on = dataclasses.replace(
        DEFAULT_RULES, winograd_min_channels=8, winograd_min_matmul_macs=0
    )
    winograd_off = dataclasses.replace(winograd_on, winograd_min_channels=2**31)
    x = _images()
    build = MODELS[family]
    variables = jax.jit(functools.partial(build().init, train=False))(
        jax.random.key(0, impl="rbg"), x
    )
    models = {name: build(conv_impl=r) for name, r in (("on", winograd_on), ("off", winograd_off))}
    counts = {name: _count_convs(m, variables, x) for name, m in models.items()}
    if family == "resnet" and jax.default_backend() == "cpu":
        assert counts["on"] < counts["off"]  # the 3x3 stride-1 convs left XLA's conv
    else:  # the ViT's patch embedding is no 3x3 conv; elsewhere "auto" is XLA's conv
        assert counts["on"] == counts["off"]
    outputs = {
        name: jax.jit(functools.partial(m.apply, train=False))(variables, x)
        for name, m in models.items()
    }
    np.testing.assert_allclose(outputs["on"], outputs["off"], rtol=1e-4, atol=1e-5)


def test_a_model_with_rules_is_hashable_and_remats():
    rules = dataclasses.replace(DEFAULT_RULES, batch_chunks=False)
    model = resnet.ResNetTiny(num_classes=5, stem="cifar", conv_impl=rules, remat=True)
    same = resnet.ResNetTiny(num_classes=5, stem="cifar", conv_impl=ConvRules(batch_chunks=False))
    assert hash(model.conv_impl) == hash(same.conv_impl)
    x = _images()
    variables = jax.jit(functools.partial(model.init, train=False))(jax.random.key(0), x)
    apply = jax.jit(lambda m, v, x: m.apply(v, x, train=False), static_argnums=0)
    reference = resnet.ResNetTiny(num_classes=5, stem="cifar", conv_impl="xla")
    np.testing.assert_allclose(
        apply(model, variables, x), apply(reference, variables, x), rtol=1e-4, atol=1e-5
    )


def test_base_config_declares_the_model_options_for_overrides():
    config = common.base_config()
    assert config.model.kwargs.conv_impl == "auto"
    assert config.model.kwargs.remat is False
    # What `--config.model.kwargs.conv_impl=xla --config.model.kwargs.remat=True` builds.
    kwargs = {**config.model.kwargs.to_dict(), "conv_impl": "xla", "remat": True}
    model = get_model(config.model.name, num_classes=3, **kwargs)
    assert (model.conv_impl, model.remat) == ("xla", True)
    jax.eval_shape(functools.partial(model.init, train=False), jax.random.key(0), _images())
