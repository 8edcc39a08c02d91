"""`conv_impl` of ResNet and ViT reaches every conv's lowering; all lowerings agree."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.extend
import numpy as np
import pytest

from jaxvision.models import get_model, resnet, vit
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
    with pytest.raises(ValueError, match="xla, im2col, auto"):
        resnet.ResNetTiny(num_classes=5, conv_impl="cudnn").init(jax.random.key(0), x)
    with pytest.raises(ValueError, match="xla, im2col, auto"):
        _tiny_vit(conv_impl="cudnn").init(jax.random.key(0), x)
    # "winograd" computes 3x3 stride-1 convs only: no model-wide conv_impl.
    with pytest.raises(ValueError, match="xla, im2col, auto"):
        resnet.ResNetTiny(num_classes=5, conv_impl="winograd").init(jax.random.key(0), x)
    with pytest.raises(ValueError, match="needs conv=layers.Conv"):
        resnet.ResNetTiny(num_classes=5, conv=nn.Conv, conv_impl="xla").init(jax.random.key(0), x)


def test_base_config_declares_the_model_options_for_overrides():
    config = common.base_config()
    assert config.model.kwargs.conv_impl == "auto"
    assert config.model.kwargs.remat is False
    # What `--config.model.kwargs.conv_impl=xla --config.model.kwargs.remat=True` builds.
    kwargs = {**config.model.kwargs.to_dict(), "conv_impl": "xla", "remat": True}
    model = get_model(config.model.name, num_classes=3, **kwargs)
    assert (model.conv_impl, model.remat) == ("xla", True)
    jax.eval_shape(functools.partial(model.init, train=False), jax.random.key(0), _images())
