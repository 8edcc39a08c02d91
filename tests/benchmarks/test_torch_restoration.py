"""The PyTorch references of the restoration models (`benchmarks.torch_restoration`) equal the
Flax ones: same parameter tensors, output shapes and, with the same weights, outputs."""

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

from benchmarks import torch_restoration as tr
from jaxvision.models import get_model

NAMES = ("srresnet", "srresnet_x2", "deblurgan_generator")
TINY = {
    "srresnet": dict(num_blocks=2, features=8),
    "srresnet_x2": dict(num_blocks=2, features=8),
    "deblurgan_generator": dict(num_blocks=2, features=4),
}
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _seeded_single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the test machine's other core runs other tests
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def _flax_shapes(name: str, x_shape: tuple[int, ...], **fields):
    model = get_model(name, **fields)
    x = jax.ShapeDtypeStruct(x_shape, jnp.float32)
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), x)
    out = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, x)
    return variables, out


@pytest.mark.parametrize("name", NAMES)
def test_parameter_sizes_and_output_shapes_match_at_the_default_sizes(name):
    b, h, w, c = 1, 16, 20, 3
    variables, out = _flax_shapes(name, (b, h, w, c))
    flax_sizes = sorted(math.prod(p.shape) for p in jax.tree.leaves(variables["params"]))
    model = tr.build_model(name).eval()
    torch_sizes = sorted(p.numel() for p in model.parameters())
    assert torch_sizes == flax_sizes  # hence the same total
    with torch.inference_mode():
        y = model(torch.rand(b, c, h, w))
    assert (y.shape[0], *y.shape[2:], y.shape[1]) == out.shape
    assert y.dtype == torch.float32 and out.dtype == jnp.float32


def _flax_path(torch_key: str) -> tuple[str, ...]:
    """torch state-dict key -> Flax variable path (names mirror each other)."""
    parts = torch_key.split(".")
    if parts[0] in ("blocks", "upsample"):
        head = f"block{parts[1]}" if parts[0] == "blocks" else f"upsample{parts[1]}_{parts[2]}"
        parts = [head, *parts[2 if parts[0] == "blocks" else 3 :]]
    return tuple(parts)


def _to_flax(model: torch.nn.Module) -> dict:
    """Flax variables of a reference model: OIHW -> HWIO, transposed-conv kernels flipped."""
    modules = dict(model.named_modules())
    flat = {}
    for key, value in model.state_dict().items():
        *path, leaf = _flax_path(key)
        module = modules[key.rsplit(".", 1)[0]]
        value = value.numpy()
        if leaf == "num_batches_tracked":
            continue
        if isinstance(module, torch.nn.ConvTranspose2d) and leaf == "weight":
            flat[("params", *path, "kernel")] = value.transpose(2, 3, 0, 1)[::-1, ::-1]
        elif isinstance(module, torch.nn.Conv2d) and leaf == "weight":
            flat[("params", *path, "kernel")] = value.transpose(2, 3, 1, 0)
        elif isinstance(module, torch.nn.PReLU):
            flat[("params", *path, "negative_slope")] = value
        elif isinstance(module, torch.nn.BatchNorm2d):
            names = {"weight": ("params", "scale"), "bias": ("params", "bias")}
            names |= {
                "running_mean": ("batch_stats", "mean"),
                "running_var": ("batch_stats", "var"),
            }
            collection, leaf = names[leaf]
            flat[(collection, *path, leaf)] = value
        else:
            flat[("params", *path, leaf)] = value
    return traverse_util.unflatten_dict({k: jnp.asarray(v.copy()) for k, v in flat.items()})


def _randomize(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
            elif isinstance(module, torch.nn.PReLU):
                module.weight.uniform_(0.0, 0.5)
            elif isinstance(module, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
                module.weight.normal_(0.0, 1.0 / math.sqrt(module.weight[0].numel()))
                module.bias is not None and module.bias.normal_(0.0, 0.1)
    return model.eval()


@pytest.mark.parametrize(
    "name, kwargs",
    [(name, TINY[name]) for name in NAMES]
    + [("deblurgan_generator", {**TINY["deblurgan_generator"], "norm": "none"})],
)
@pytest.mark.parametrize("channels_last", [False, True])
def test_same_weights_give_the_same_outputs(name, kwargs, channels_last):
    model = _randomize(tr.build_model(name, **kwargs))
    x = torch.rand(2, 3, 12, 16, generator=torch.Generator().manual_seed(1))
    if channels_last:
        model, x = (
            model.to(memory_format=torch.channels_last),
            x.contiguous(memory_format=torch.channels_last),
        )
    with torch.inference_mode():
        expected = model(x).permute(0, 2, 3, 1).numpy()
    variables = _to_flax(model.to(memory_format=torch.contiguous_format))
    flax_model = get_model(name, **kwargs)
    y = jax.jit(lambda v, x: flax_model.apply(v, x, train=False))(
        variables, jnp.asarray(x.permute(0, 2, 3, 1).numpy())
    )
    assert float(np.std(expected)) > 0.05  # the outputs are not saturated constants
    np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-4, atol=2e-5)


def test_build_model_names_match_the_registry():
    assert set(tr.MODELS) == set(NAMES)
    assert tr.build_model("srresnet", num_blocks=1).upsample.__len__() == 2
    assert len(tr.build_model("srresnet_x2", num_blocks=1).upsample) == 1
    with pytest.raises(ValueError, match="valid names"):
        tr.build_model("esrgan")
    with pytest.raises(ValueError, match="multiples of 4"):
        tr.build_model("deblurgan_generator", num_blocks=1, features=4)(torch.zeros(1, 3, 10, 12))


def test_the_reference_module_does_not_load_jax():
    code = "import sys, benchmarks.torch_restoration; assert 'jax' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)


def test_suite_run_times_train_and_inference_on_pairs():
    job = {
        "torch_config": {
            "model": {"name": "srresnet", "kwargs": {"num_blocks": 1, "features": 8}},
            "optimizer": {"learning_rate": 1e-3},
        },
        "cpu_batch_size": 2,
        "image_size": 16,
        "scale": 4,
        "steps": 2,
        "warmup": 0,
    }
    records = tr.run(job, threads=1)
    for mode in ("train", "inference"):
        assert records[mode]["images_per_s"] > 0
        assert len(records[mode]["step_times_s"]) == 2


def test_without_norms_every_conv_starts_from_he_init_over_its_inputs():
    # As the Flax model's he_normal on [kh, kw, cin, cout]: std sqrt(2 / (cin * k * k)), for the
    # transposed convs too (torch's [in, out, k, k] weight).
    model = tr.build_model("deblurgan_generator", features=16, num_blocks=1, norm="none")
    for name in ("conv_in", "down2", "up1", "up2"):
        module = getattr(model, name)
        w = module.weight.detach()
        cin = w.shape[0] if isinstance(module, torch.nn.ConvTranspose2d) else w.shape[1]
        want = math.sqrt(2.0 / (cin * w.shape[2] * w.shape[3]))
        assert float(w.std()) == pytest.approx(want, rel=0.1), name
