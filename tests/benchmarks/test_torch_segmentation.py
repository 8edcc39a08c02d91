"""The PyTorch U-Net (`benchmarks.torch_segmentation`) equals the Flax one: same parameter
tensors and, with the same random weights, the same logits."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import traverse_util

from benchmarks import torch_segmentation as ts
from jaxvision.models import get_model

FEATURES = (4, 8, 16)
NUM_CLASSES = 3
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _seeded_single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the test machine's other core runs other tests
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def _to_flax(model: torch.nn.Module) -> dict:
    """Flax variables of the reference: OIHW -> HWIO, transposed-conv kernels flipped."""
    modules = dict(model.named_modules())
    flat = {}
    for key, value in model.state_dict().items():
        name, leaf = key.rsplit(".", 1)
        module, value = modules[name], value.numpy()
        if isinstance(module, torch.nn.ConvTranspose2d) and leaf == "weight":
            flat[("params", name, "kernel")] = value.transpose(2, 3, 0, 1)[::-1, ::-1]
        elif isinstance(module, torch.nn.Conv2d) and leaf == "weight":
            flat[("params", name, "kernel")] = value.transpose(2, 3, 1, 0)
        elif isinstance(module, torch.nn.BatchNorm2d):
            names = {"weight": ("params", "scale"), "bias": ("params", "bias")}
            names |= {
                "running_mean": ("batch_stats", "mean"),
                "running_var": ("batch_stats", "var"),
            }
            if leaf in names:
                collection, leaf = names[leaf]
                flat[(collection, name, leaf)] = value
        elif isinstance(module, torch.nn.GroupNorm):
            flat[("params", name, "norm", {"weight": "scale", "bias": "bias"}[leaf])] = value
        else:
            flat[("params", name, leaf)] = value
    return traverse_util.unflatten_dict({k: jnp.asarray(v.copy()) for k, v in flat.items()})


def _randomize(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d | torch.nn.GroupNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
            elif isinstance(module, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
                module.weight.normal_(0.0, 1.0 / math.sqrt(module.weight[0].numel()))
                if module.bias is not None:
                    module.bias.normal_(0.0, 0.1)
    return model.eval()


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_same_weights_give_the_same_logits_at_an_odd_size(norm):
    model = _randomize(ts.build_model("unet", NUM_CLASSES, features=FEATURES, norm=norm))
    x = torch.randn(2, 3, 19, 26, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = model(x).permute(0, 2, 3, 1).numpy()
    variables = _to_flax(model)
    flax_model = get_model("unet", num_classes=NUM_CLASSES, features=FEATURES, norm=norm)
    reference = jax.eval_shape(
        lambda: flax_model.init(jax.random.key(0), jnp.zeros((1, 19, 26, 3)), train=False)
    )
    assert jax.tree.map(jnp.shape, variables) == jax.tree.map(lambda s: s.shape, reference)
    logits = jax.jit(lambda v, x: flax_model.apply(v, x, train=False))(
        variables, jnp.asarray(x.permute(0, 2, 3, 1).numpy())
    )
    assert logits.shape == (2, 19, 26, NUM_CLASSES) and float(np.std(expected)) > 0.05
    np.testing.assert_allclose(np.asarray(logits), expected, rtol=1e-4, atol=1e-4)


def test_registry_names_and_defaults():
    small = ts.build_model("unet_small", 9, conv_impl="xla")  # lowering fields are dropped
    assert small.features == (8, 16, 32, 64, 128)
    flax_small = get_model("unet_small", num_classes=9)
    assert tuple(flax_small.features) == small.features
    with pytest.raises(ValueError, match="valid names"):
        ts.build_model("segformer", 2)


def test_the_reference_module_does_not_load_jax():
    code = "import sys, benchmarks.torch_segmentation; assert 'jax' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)


def test_suite_run_times_train_and_inference():
    job = {
        "torch_config": {
            "model": {"name": "unet", "kwargs": {"features": [4, 8], "conv_impl": "auto"}},
            "optimizer": {"learning_rate": 1e-3, "weight_decay": 1e-4},
        },
        "cpu_batch_size": 2,
        "image_size": 16,
        "num_classes": 3,
        "steps": 2,
        "warmup": 0,
    }
    records = ts.run(job, threads=1)
    for mode in ("train", "inference"):
        assert records[mode]["images_per_s"] > 0
        assert len(records[mode]["step_times_s"]) == 2
