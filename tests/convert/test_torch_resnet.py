"""Tests of jaxvision.convert.torch_resnet against the reference torch ResNets."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from benchmarks.torch_models import torch_resnet
from jaxvision.convert.torch_resnet import (
    convert_resnet_state_dict,
    load_torch_resnet_checkpoint,
)
from jaxvision.models import get_model

NUM_CLASSES = 10
ATOL = 1e-4


def _random_torch_resnet(name: str, stem: str, seed: int = 0) -> torch.nn.Module:
    """A torch ResNet in eval mode with random weights and random BatchNorm running stats.

    The ranges keep the logits of order 1 to 30 (so an absolute tolerance means something)
    without letting the activations blow up through the residual stream.
    """
    torch.manual_seed(seed)
    model = torch_resnet(name, NUM_CLASSES, stem=stem)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.0)
                module.bias.normal_(0.0, 0.1)
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(1.0, 2.0)
        model.fc.weight.normal_(0.0, 1.0)
        model.fc.bias.normal_(0.0, 0.1)
    return model.eval()


def _reference_variables(name: str, stem: str, size: int, **kwargs):
    """ShapeDtypeStructs of the Flax model's variables."""
    model = get_model(name, num_classes=NUM_CLASSES, stem=stem, **kwargs)
    x = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
    return jax.eval_shape(functools.partial(model.init, train=False), jax.random.key(0), x)


@pytest.mark.parametrize(
    "name, stem, size",
    [
        ("resnet_tiny", "cifar", 32),
        ("resnet_tiny", "imagenet", 32),
        ("resnet18", "cifar", 32),
        ("resnet18", "imagenet", 64),
        ("resnet50", "imagenet", 64),  # bottleneck blocks
    ],
)
def test_converted_logits_match_torch(name, stem, size):
    torch_model = _random_torch_resnet(name, stem)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))  # [b, c, h, w]
    with torch.no_grad():
        expected = torch_model(x).numpy()  # [b, num_classes]

    reference = _reference_variables(name, stem, size)
    variables = convert_resnet_state_dict(torch_model.state_dict(), reference=reference)
    model = get_model(name, num_classes=NUM_CLASSES, stem=stem)
    logits = model.apply(variables, jnp.asarray(x.numpy().transpose(0, 2, 3, 1)), train=False)

    assert np.abs(expected).max() > 1.0  # the comparison is not between near-zero numbers
    np.testing.assert_allclose(np.asarray(logits), expected, rtol=0, atol=ATOL)


def test_layouts_and_batch_stats():
    torch_model = _random_torch_resnet("resnet_tiny", "imagenet")
    state_dict = torch_model.state_dict()
    variables = convert_resnet_state_dict(state_dict)

    params, stats = variables["params"], variables["batch_stats"]
    np.testing.assert_array_equal(
        params["stem_conv"]["kernel"], state_dict["conv1.weight"].numpy().transpose(2, 3, 1, 0)
    )
    np.testing.assert_array_equal(params["head"]["kernel"], state_dict["fc.weight"].numpy().T)
    np.testing.assert_array_equal(
        stats["stage2_block0"]["downsample_norm"]["var"],
        state_dict["layer2.0.downsample.1.running_var"].numpy(),
    )
    assert params["stage1_block0"]["norm1"]["scale"].dtype == np.float32


def test_numpy_state_dict_without_num_batches_tracked():
    state_dict = _random_torch_resnet("resnet_tiny", "cifar").state_dict()
    from_torch = convert_resnet_state_dict(state_dict)
    numpy_state_dict = {
        key: value.numpy() for key, value in state_dict.items() if "num_batches_tracked" not in key
    }
    from_numpy = convert_resnet_state_dict(numpy_state_dict)
    jax.tree.map(np.testing.assert_array_equal, from_numpy, from_torch)


def test_without_head_for_a_features_only_backbone():
    state_dict = _random_torch_resnet("resnet_tiny", "imagenet").state_dict()
    reference = _reference_variables("resnet_tiny", "imagenet", 32, features_only=True)
    variables = convert_resnet_state_dict(state_dict, reference=reference, include_head=False)
    assert "head" not in variables["params"]


def test_missing_key_is_named():
    state_dict = dict(_random_torch_resnet("resnet_tiny", "cifar").state_dict())
    del state_dict["layer3.0.bn2.running_var"]
    del state_dict["fc.bias"]
    with pytest.raises(
        ValueError, match=r"Missing keys: \['fc.bias', 'layer3.0.bn2.running_var'\]"
    ):
        convert_resnet_state_dict(state_dict)


def test_unexpected_key_is_named():
    state_dict = dict(_random_torch_resnet("resnet_tiny", "cifar").state_dict())
    state_dict["layer1.0.se.fc1.weight"] = np.zeros((4, 16))
    with pytest.raises(ValueError, match=r"Unexpected keys: \['layer1.0.se.fc1.weight'\]"):
        convert_resnet_state_dict(state_dict)


def test_missing_projection_shortcut_is_detected():
    state_dict = dict(_random_torch_resnet("resnet_tiny", "cifar").state_dict())
    for key in [k for k in state_dict if k.startswith("layer2.0.downsample.")]:
        del state_dict[key]
    with pytest.raises(ValueError, match="layer2.0.downsample.0.weight"):
        convert_resnet_state_dict(state_dict)


def test_shape_mismatch_against_reference():
    state_dict = _random_torch_resnet("resnet_tiny", "cifar").state_dict()
    # Weights of the cifar stem (3x3 conv) against a model built with the imagenet stem (7x7).
    reference = _reference_variables("resnet_tiny", "imagenet", 32)
    with pytest.raises(ValueError, match=r"stem_conv/kernel: converted \(3, 3, 3, 16\)"):
        convert_resnet_state_dict(state_dict, reference=reference)


def test_tree_mismatch_against_reference():
    state_dict = _random_torch_resnet("resnet_tiny", "cifar").state_dict()
    reference = _reference_variables("resnet18", "cifar", 32)  # two blocks a stage
    with pytest.raises(ValueError, match="Missing: .*stage1_block1"):
        convert_resnet_state_dict(state_dict, reference=reference)


def test_wrong_rank_is_an_error():
    state_dict = dict(_random_torch_resnet("resnet_tiny", "cifar").state_dict())
    state_dict["fc.weight"] = state_dict["fc.weight"][:, :, None, None]
    with pytest.raises(ValueError, match="fc.weight has shape"):
        convert_resnet_state_dict(state_dict)


@pytest.mark.parametrize("suffix", [".pth", ".npz"])
def test_load_checkpoint_unwraps_and_strips_ddp_prefix(tmp_path, suffix):
    state_dict = _random_torch_resnet("resnet_tiny", "cifar").state_dict()
    expected = convert_resnet_state_dict(state_dict)
    path = tmp_path / f"checkpoint{suffix}"
    if suffix == ".pth":
        wrapped = {"state_dict": {f"module.{k}": v for k, v in state_dict.items()}, "epoch": 3}
        torch.save(wrapped, path)
    else:
        np.savez(path, **{k: v.numpy() for k, v in state_dict.items()})

    variables = load_torch_resnet_checkpoint(path)
    jax.tree.map(np.testing.assert_array_equal, variables, expected)


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_torch_resnet_checkpoint(tmp_path / "absent.pth")
    path = tmp_path / "weights.ckpt"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"\.pth, \.pt, \.safetensors, \.npz"):
        load_torch_resnet_checkpoint(path)
