"""`jaxvision.convert.torch_vgg` against a torchvision-layout VGG-19 in plain torch.nn."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from benchmarks.torch_restoration import vgg_features
from jaxvision.convert.torch_vgg import convert_state_dict, load_torch_vgg19, torch_feature_indices
from jaxvision.models import vgg

SIZE = 32
MEAN = torch.tensor(vgg.IMAGENET_MEAN).reshape(1, 3, 1, 1)
STD = torch.tensor(vgg.IMAGENET_STD).reshape(1, 3, 1, 1)


def _random_features(seed: int = 0) -> torch.nn.Sequential:
    """torchvision's vgg19().features with He-normal weights (activations keep their scale)."""
    torch.manual_seed(seed)
    features = vgg_features()
    with torch.no_grad():
        for module in features:
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                module.bias.normal_(0.0, 0.1)
    return features.eval()


def _torch_activations(features: torch.nn.Sequential, images: torch.Tensor) -> dict:
    """Every named activation of the torch stack, NHWC numpy."""
    names = iter(vgg.layer_names(vgg.VGG19_BLOCK_SIZES))
    out = {}
    y = (images - MEAN) / STD
    with torch.no_grad():
        for module in features:
            y = module(y)
            out[next(names)] = y.numpy().transpose(0, 2, 3, 1).copy()  # before any inplace ReLU
    return out


def _state_dict(features: torch.nn.Sequential) -> dict[str, torch.Tensor]:
    return {f"features.{k}": v for k, v in features.state_dict().items()}


def test_indices_are_torchvisions():
    indices = torch_feature_indices()
    assert len(indices) == 16
    assert [indices[f"conv{b}_1"] for b in range(1, 6)] == [0, 5, 10, 19, 28]
    assert indices["conv5_4"] == 34
    features = vgg_features()
    assert all(isinstance(features[i], torch.nn.Conv2d) for i in indices.values())


@pytest.mark.parametrize("conv_impl", ["auto", "xla"])
def test_every_activation_matches_torch(tmp_path, conv_impl):
    features = _random_features()
    path = tmp_path / "vgg19.pth"
    state_dict = _state_dict(features)
    state_dict["classifier.0.weight"] = torch.zeros(8, 4)  # torchvision's head: ignored
    torch.save(state_dict, path)
    variables = load_torch_vgg19(path)

    images = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    expected = _torch_activations(features, images)
    model = vgg.VGG19(conv_impl=conv_impl)
    names = tuple(expected)
    got = jax.jit(lambda v, x: model.apply(v, x, layers=names))(
        variables, jnp.asarray(images.numpy().transpose(0, 2, 3, 1))
    )
    assert set(got) == set(names) and len(names) == 16 * 2 + 5
    for name in names:
        scale = np.abs(expected[name]).max()
        assert scale > 0.1, name  # not a comparison of vanishing numbers
        assert got[name].dtype == jnp.float32 and got[name].shape == expected[name].shape
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-4, atol=1e-4 * scale)


def test_converted_tree_is_the_models():
    variables = convert_state_dict(_state_dict(vgg_features()))
    reference = jax.eval_shape(vgg.VGG19().init, jax.random.key(0), jnp.zeros((1, SIZE, SIZE, 3)))
    shapes = jax.tree.map(np.shape, variables)
    assert shapes == jax.tree.map(lambda s: s.shape, reference)
    kernel = variables["params"]["conv2_1"]["kernel"]
    assert kernel.shape == (3, 3, 64, 128) and kernel.dtype == np.float32


def test_kernel_is_the_transposed_weight():
    features = _random_features()
    variables = convert_state_dict(_state_dict(features))
    np.testing.assert_array_equal(
        variables["params"]["conv2_1"]["kernel"],
        features[5].weight.detach().numpy().transpose(2, 3, 1, 0),
    )
    np.testing.assert_array_equal(
        variables["params"]["conv5_4"]["bias"], features[34].bias.detach().numpy()
    )


def test_shallower_layers_compute_and_create_less():
    model = vgg.VGG19()
    x = jnp.zeros((1, 20, 20, 3))
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x, layers="relu2_1"))
    assert sorted(variables["params"]) == ["conv1_1", "conv1_2", "conv2_1"]
    full = convert_state_dict(_state_dict(vgg_features()))
    out = model.apply(full, x, layers=("pool4", "conv1_1"))
    assert set(out) == {"pool4", "conv1_1"}
    assert out["pool4"].shape == (1, 1, 1, 512) and out["conv1_1"].shape == (1, 20, 20, 64)


def test_missing_misshaped_and_unexpected_keys_are_named():
    state_dict = _state_dict(vgg_features())
    del state_dict["features.21.bias"]
    state_dict["features.0.weight"] = state_dict["features.0.weight"][:, :1]
    state_dict["features.37.weight"] = torch.zeros(1)
    with pytest.raises(ValueError) as error:
        convert_state_dict(state_dict)
    message = str(error.value)
    assert "Missing keys: ['features.21.bias']" in message
    assert "Unexpected keys: ['features.37.weight']" in message
    assert "features.0.weight: (64, 1, 3, 3), expected (64, 3, 3, 3)" in message


def test_load_npz_and_errors(tmp_path):
    state_dict = _state_dict(_random_features())
    path = tmp_path / "vgg19.npz"
    np.savez(path, **{k: v.numpy() for k, v in state_dict.items()})
    jax.tree.map(
        np.testing.assert_array_equal, load_torch_vgg19(path), convert_state_dict(state_dict)
    )
    with pytest.raises(FileNotFoundError):
        load_torch_vgg19(tmp_path / "absent.pth")


def test_unknown_layer_is_an_error():
    with pytest.raises(ValueError, match="Unknown layers \\['relu6_1'\\]; valid: conv1_1"):
        vgg.VGG19().init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)), layers=("relu6_1",))
