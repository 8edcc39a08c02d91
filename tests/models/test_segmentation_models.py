"""U-Net, DeepLabV3+ and the atrous ResNet: shapes at any size, and the dilated ResNet against
the PyTorch reference dilated by torchvision's rule."""

from __future__ import annotations

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from benchmarks import torch_models
from jaxvision.convert.torch_resnet import convert_resnet_state_dict
from jaxvision.models import deeplab, get_model, resnet
from jaxvision.models.unet import UNet

NUM_CLASSES = 5


def _shape_of_apply(model, x_shape, dtype=jnp.float32):
    x = jax.ShapeDtypeStruct(x_shape, dtype)
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), x)
    return jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, x)


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_unet_logits_have_the_input_size_at_odd_sizes(norm):
    model = UNet(num_classes=NUM_CLASSES, features=(8, 16, 32), norm=norm, dtype=jnp.bfloat16)
    out = _shape_of_apply(model, (2, 37, 50, 3))
    assert out.shape == (2, 37, 50, NUM_CLASSES) and out.dtype == jnp.float32


def test_unet_trains_its_batch_stats_and_refuses_bad_input():
    model = get_model("unet", num_classes=3, features=(4, 8))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 16, 16, 3)), jnp.float32)
    variables = jax.jit(lambda x: model.init(jax.random.key(0), x, train=False))(x)
    apply = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))
    logits, updates = apply(variables, x)
    assert logits.shape == (2, 16, 16, 3) and np.isfinite(np.asarray(logits)).all()
    before, after = (jax.tree.leaves(v) for v in (variables["batch_stats"], updates))
    assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True))
    with pytest.raises(ValueError, match="NHWC"):
        model.init(jax.random.key(0), jnp.zeros((16, 16, 3)))
    with pytest.raises(ValueError, match="unknown norm"):
        UNet(num_classes=2, features=(4,), norm="layer").init(jax.random.key(0), x)


@pytest.mark.parametrize("size", [(37, 50), (64, 64)])
def test_resnet_unet_logits_at_input_size_with_skips_from_the_encoder(size):
    model = get_model(
        "unet_resnet", num_classes=NUM_CLASSES, backbone="resnet_tiny",
        backbone_kwargs={"num_filters": 8}, decoder_features=(16, 8, 8, 4, 4),
    )  # fmt: skip
    out = _shape_of_apply(model, (2, *size, 3), jnp.bfloat16)
    assert out.shape == (2, *size, NUM_CLASSES) and out.dtype == jnp.float32
    variables = jax.eval_shape(
        lambda: model.init(jax.random.key(0), jnp.zeros((1, *size, 3)), train=False)
    )
    params = variables["params"]
    # Level 0 reads C5 (64 ch) upsampled + C4 (32 ch); level 3 (stride 2) has no skip.
    assert params["dec0_conv1"]["kernel"].shape == (3, 3, 64 + 32, 16)
    assert params["dec3_conv1"]["kernel"].shape == (3, 3, 8, 4)
    assert "encoder" in params and "head" in params
    with pytest.raises(ValueError, match="five|5 widths"):
        get_model("unet_resnet", num_classes=2, decoder_features=(8, 8)).init(
            jax.random.key(0), jnp.zeros((1, 32, 32, 3))
        )


@pytest.mark.parametrize("output_stride", [16, 8])
def test_deeplab_logits_at_input_size_and_backbone_at_its_output_stride(output_stride):
    kwargs = dict(aspp_features=8, low_level_features=4, decoder_features=8)
    model = deeplab.DeepLabV3Plus(
        num_classes=NUM_CLASSES, backbone="resnet_tiny", output_stride=output_stride, **kwargs
    )
    assert _shape_of_apply(model, (1, 72, 40, 3)).shape == (1, 72, 40, NUM_CLASSES)
    backbone = resnet.ResNetTiny(
        num_classes=1,
        features_only=True,
        replace_stride_with_dilation=deeplab.DILATION_OF_OUTPUT_STRIDE[output_stride],
    )
    features = _shape_of_apply(backbone, (1, 64, 64, 3))
    assert features["C2"].shape[1] == 16 and features["C5"].shape[1] == 64 // output_stride
    with pytest.raises(ValueError, match="output_stride"):
        _shape_of_apply(deeplab.DeepLabV3Plus(num_classes=2, output_stride=32), (1, 32, 32, 3))


def _dilate_torch(model: torch.nn.Module, flags, basic: bool) -> None:
    """torchvision's replace_stride_with_dilation, applied in place: a dilated stage's
    strided conv gets stride 1, its first block the previous rate, the others twice it."""
    rate = 1
    for stage, dilate in enumerate(flags, start=2):
        previous = rate
        if not dilate:
            continue
        rate *= 2
        for j, block in enumerate(getattr(model, f"layer{stage}")):
            conv = block.conv1 if basic else block.conv2
            r = previous if j == 0 else rate
            conv.stride, conv.dilation, conv.padding = (1, 1), (r, r), (r, r)
            if block.downsample is not None:
                block.downsample[0].stride = (1, 1)


def _torch_c5(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        y = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        for i in range(1, 5):
            y = getattr(model, f"layer{i}")(y)
    return y.permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize(
    "block, flags",
    [("bottleneck", (False, True, True)), ("basic", (False, False, True))],
)
def test_dilated_resnet_matches_the_dilated_torch_reference(block, flags):
    torch.manual_seed(0)
    basic = block == "basic"
    cls, flax_cls = (
        (torch_models.BasicBlock, resnet.BasicBlock)
        if basic
        else (torch_models.Bottleneck, resnet.BottleneckBlock)
    )
    stages = (1, 2, 1, 2)
    reference = torch_models.ResNet(cls, list(stages), NUM_CLASSES, width=8).eval()
    with torch.no_grad():
        for module in reference.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(1.0, 2.0)
    _dilate_torch(reference, flags, basic)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    expected = _torch_c5(reference, x)

    model = resnet.ResNet(
        stage_sizes=stages,
        block_cls=flax_cls,
        num_classes=NUM_CLASSES,
        num_filters=8,
        features_only=True,
        replace_stride_with_dilation=flags,
    )
    variables = convert_resnet_state_dict(reference.state_dict())
    apply = jax.jit(lambda v, x: model.apply(v, x, train=False)["C5"])
    c5 = apply(variables, jnp.asarray(x.numpy().transpose(0, 2, 3, 1)))
    assert c5.shape == expected.shape and c5.shape[1] == 64 // (8 if flags[1] else 16)
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(np.asarray(c5), expected, rtol=1e-4, atol=1e-4)


def test_no_dilation_flags_change_nothing():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(1, 32, 32, 3)), jnp.float32)
    plain = resnet.ResNetTiny(num_classes=3)
    flagged = resnet.ResNetTiny(num_classes=3, replace_stride_with_dilation=(False,) * 3)
    variables = jax.jit(lambda x: plain.init(jax.random.key(0), x, train=False))(x)
    both = jax.jit(lambda v, x: [m.apply(v, x, train=False) for m in (plain, flagged)])
    np.testing.assert_array_equal(*both(variables, x))
    with pytest.raises(ValueError, match="one flag per stage"):
        resnet.ResNetTiny(num_classes=3, replace_stride_with_dilation=(True,)).init(
            jax.random.key(0), x, train=False
        )


def _conv_count(apply, variables, x) -> int:
    def primitives(jaxpr):
        names = []
        for eqn in jaxpr.eqns:
            names.append(eqn.primitive.name)
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                names.extend(primitives(sub))
        return names

    return primitives(jax.make_jaxpr(apply)(variables, x).jaxpr).count("conv_general_dilated")


@pytest.mark.parametrize("name", ["unet", "deeplabv3plus", "unet_resnet"])
def test_conv_impl_reaches_every_conv_and_the_lowerings_agree(name):
    kwargs = {
        "unet": dict(features=(4, 8), norm="group"),
        "unet_resnet": dict(
            backbone="resnet_tiny",
            backbone_kwargs={"num_filters": 4},
            decoder_features=(8, 4, 4, 4, 4),
        ),
        "deeplabv3plus": dict(
            backbone="resnet_tiny", aspp_features=4, low_level_features=4, decoder_features=4
        ),
    }[name]
    x = jnp.asarray(np.random.default_rng(0).normal(size=(1, 32, 32, 3)), jnp.float32)
    base = get_model(name, num_classes=3, conv_impl="xla", **kwargs)
    variables = jax.jit(lambda x: base.init(jax.random.key(0), x, train=False))(x)
    outputs = {}
    for impl in ("xla", "im2col"):
        model = get_model(name, num_classes=3, conv_impl=impl, **kwargs)
        apply = lambda v, x, model=model: model.apply(v, x, train=False)  # noqa: E731
        assert (_conv_count(apply, variables, x) == 0) == (impl == "im2col")
        outputs[impl] = jax.jit(apply)(variables, x)
    np.testing.assert_allclose(outputs["im2col"], outputs["xla"], rtol=1e-4, atol=1e-4)
