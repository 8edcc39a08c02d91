"""Restoration models (denoise, deblurgan, srgan, vgg): shapes, value ranges, dtypes, conv
lowerings, jit and the registry. Tiny widths keep every case a few seconds on a CPU."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxvision.models import MODELS, deblurgan, denoise, get_model, srgan, vgg

TINY = {
    "denoising_autoencoder": dict(features=(4, 8, 8)),
    "dncnn": dict(depth=4, features=8),
    "deblurgan_generator": dict(features=4, num_blocks=1),
    "patchgan": dict(features=4),
    "srresnet": dict(num_blocks=1, features=8),
    "srresnet_x2": dict(num_blocks=1, features=8),
    "srgan_discriminator": dict(features=4, hidden=16),
    "vgg19": dict(widths=(4, 4, 8, 8, 8)),
}
BATCH_NORM = ("dncnn", "srresnet", "srresnet_x2", "srgan_discriminator")
IMAGE_OUTPUTS = ("denoising_autoencoder", "dncnn", "deblurgan_generator", "srresnet", "srresnet_x2")
# Parameter counts at the default sizes (the papers' widths and depths): DeblurGAN's and
# pix2pix's networks, 11_378_179 and 2_764_737; torchvision's vgg19().features, 20_024_384.
DEFAULT_PARAMS = {
    "denoising_autoencoder": 258_051,
    "dncnn": 558_400,
    "deblurgan_generator": 11_378_179,
    "patchgan": 2_764_737,
    "srresnet": 1_548_547,
    "srresnet_x2": 1_400_771,
    "srgan_discriminator": 5_213_569,
    "vgg19": 20_024_384,
}


def _images(shape, seed: int = 0) -> jnp.ndarray:
    return jnp.asarray(np.random.default_rng(seed).uniform(0, 1, shape).astype(np.float32))


def _key() -> jax.Array:
    return jax.random.key(0, impl="rbg")  # compiles much faster than threefry on a CPU


def _init(model, *args, **kwargs):
    """The model's variables, initialised under jit."""
    return jax.jit(functools.partial(model.init, **kwargs))(_key(), *args)


def _expected_shape(name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    b, h, w, c = shape
    if name in ("srresnet", "srresnet_x2"):
        s = 4 if name == "srresnet" else 2
        return (b, h * s, w * s, c)
    if name == "patchgan":
        return (b, deblurgan.patchgan_output_size(h, 3), deblurgan.patchgan_output_size(w, 3), 1)
    if name == "srgan_discriminator":
        return (b,)
    if name == "vgg19":
        return (b, h // 16, w // 16, 8)
    return shape


def _forward(model, name: str, train: bool = False):
    """(variables, images) -> the output array (VGG's relu5_4)."""
    if name == "vgg19":
        return lambda v, x: model.apply(v, x)["relu5_4"]
    if train and name in BATCH_NORM:
        return lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"])[0]
    return lambda v, x: model.apply(v, x, train=train)


ODD_SHAPES = {
    "denoising_autoencoder": [(2, 17, 23, 3), (1, 31, 40, 1)],
    "dncnn": [(2, 17, 23, 1), (1, 9, 12, 3)],
    "deblurgan_generator": [(1, 20, 36, 3), (2, 16, 16, 3)],
    "patchgan": [(2, 27, 35, 3), (1, 64, 48, 3)],
    "srresnet": [(2, 7, 9, 3), (1, 12, 10, 3)],
    "srresnet_x2": [(2, 7, 9, 3), (1, 12, 10, 1)],
    "srgan_discriminator": [(2, 17, 23, 3), (1, 40, 40, 3)],
    "vgg19": [(2, 33, 47, 3), (1, 16, 16, 3)],
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_output_shapes_and_dtypes(name):
    """Shapes only (traced, not compiled), for odd sizes where the model allows them."""
    for shape in ODD_SHAPES[name]:
        x = jax.ShapeDtypeStruct(shape, jnp.float32)
        for dtype in (jnp.float32, jnp.bfloat16):
            model = get_model(name, **TINY[name], dtype=dtype)
            kwargs = {} if name == "vgg19" else {"train": False}
            variables = jax.eval_shape(functools.partial(model.init, **kwargs), _key(), x)
            for train in (False, True):
                y = jax.eval_shape(_forward(model, name, train), variables, x)
                assert y.shape == _expected_shape(name, shape), (shape, dtype, train)
                assert y.dtype == jnp.float32, (shape, dtype, train)


@pytest.mark.parametrize("name", sorted(TINY))
def test_values_lowerings_and_bfloat16(name):
    """In range; conv_impl "xla" and "auto" agree; bfloat16 compute is close to float32."""
    x = _images((2, 32, 32, 3))
    kwargs = {} if name == "vgg19" else {"train": False}
    variables = _init(get_model(name, **TINY[name], conv_impl="xla"), x, **kwargs)
    outputs = {
        (impl, dtype): jax.jit(
            _forward(get_model(name, **TINY[name], conv_impl=impl, dtype=dtype), name)
        )(variables, x)
        for impl, dtype in [("xla", jnp.float32), ("auto", jnp.float32), ("auto", jnp.bfloat16)]
    }
    y = outputs["xla", jnp.float32]
    assert y.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(y)))
    if name in IMAGE_OUTPUTS:
        assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    np.testing.assert_allclose(outputs["auto", jnp.float32], y, rtol=1e-4, atol=1e-5)
    y16 = outputs["auto", jnp.bfloat16]
    assert y16.dtype == jnp.float32
    assert jax.tree.all(jax.tree.map(lambda p: p.dtype == jnp.float32, variables["params"]))
    assert float(jnp.abs(y16 - y).max()) < 0.1 * (float(jnp.abs(y).max()) + 1e-3)
    if name in BATCH_NORM:  # batch statistics
        y_train = jax.jit(_forward(get_model(name, **TINY[name]), name, train=True))(variables, x)
        assert y_train.shape == y.shape and bool(jnp.all(jnp.isfinite(y_train)))


def test_registry_defaults_and_parameter_counts():
    x = jnp.zeros((1, 32, 32, 3))
    counts = {}
    for name in TINY:
        model = get_model(name)
        kwargs = {} if name == "vgg19" else {"train": False}
        shapes = jax.eval_shape(functools.partial(model.init, **kwargs), _key(), x)
        counts[name] = sum(math.prod(p.shape) for p in jax.tree.leaves(shapes["params"]))
    assert counts == DEFAULT_PARAMS
    assert get_model("srresnet").scale == 4 and get_model("srresnet_x2").scale == 2
    assert get_model("srresnet", scale=2).scale == 2
    assert set(TINY) <= set(MODELS)


def test_dncnn_subtracts_the_predicted_noise():
    x = _images((1, 11, 13, 1))
    model = get_model("dncnn", **TINY["dncnn"])
    variables = _init(model, x, train=False)
    params = dict(variables["params"])
    params["conv3"] = {"kernel": jnp.zeros_like(params["conv3"]["kernel"])}  # no noise
    y = model.apply({**variables, "params": params}, x, train=False)
    np.testing.assert_allclose(y, x, atol=1e-7)
    noise = 0.25
    params["conv0"] = {
        "kernel": jnp.zeros_like(params["conv0"]["kernel"]),
        "bias": jnp.ones_like(params["conv0"]["bias"]),
    }
    params["conv3"] = {"kernel": jnp.zeros_like(params["conv3"]["kernel"]).at[1, 1, 0, 0].set(1)}
    stats = jax.tree.map(jnp.zeros_like, variables["batch_stats"])  # BN(y) = scale * y
    stats = {k: {"mean": v["mean"], "var": v["var"] + 1 - 1e-5} for k, v in stats.items()}
    for i in (1, 2):
        params[f"conv{i}"] = {
            "kernel": jnp.zeros_like(params[f"conv{i}"]["kernel"]).at[1, 1, 0, 0].set(1)
        }
        params[f"bn{i}"] = {"scale": jnp.ones(8), "bias": jnp.zeros(8)}
    params["bn2"] = {"scale": jnp.full(8, noise), "bias": jnp.zeros(8)}
    y = model.apply({"params": params, "batch_stats": stats}, x, train=False)
    np.testing.assert_allclose(y, jnp.clip(x - noise, 0, 1), atol=1e-5)


def test_deblurgan_global_skip_in_zero_one_units():
    x = _images((1, 16, 20, 3))
    model = get_model("deblurgan_generator", **TINY["deblurgan_generator"])
    variables = _init(model, x)
    params = dict(variables["params"])
    residual = 0.5  # tanh(y) in the paper's [-1, 1] units: +0.25 in [0, 1] units
    params["conv_out"] = {
        "kernel": jnp.zeros_like(params["conv_out"]["kernel"]),
        "bias": jnp.full((3,), np.arctanh(residual), jnp.float32),
    }
    y = model.apply({"params": params}, x)
    np.testing.assert_allclose(y, jnp.clip(x + residual / 2, 0, 1), atol=1e-6)
    # The paper's clip(x' + tanh, -1, 1) on x' = 2x - 1, mapped back to [0, 1].
    paper = (jnp.clip(2 * x - 1 + residual, -1, 1) + 1) / 2
    np.testing.assert_allclose(y, paper, atol=1e-6)


def test_deblurgan_needs_multiples_of_four_and_dropout_needs_an_rng():
    model = deblurgan.DeblurGANGenerator(features=4, num_blocks=1, dropout_rate=0.5)
    with pytest.raises(ValueError, match="multiples of 4"):
        model.init(_key(), jnp.zeros((1, 18, 20, 3)))
    x = _images((1, 16, 16, 3))
    variables = _init(model, x, train=False)
    a = model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(1)})
    b = model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(2)})
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(
        model.apply(variables, x, train=False), model.apply(variables, x, train=False)
    )


def test_deblurgan_without_norm_has_the_same_parameters_and_no_normalization():
    x = _images((2, 16, 16, 3))
    paper = deblurgan.DeblurGANGenerator(features=4, num_blocks=1)
    plain = deblurgan.DeblurGANGenerator(features=4, num_blocks=1, norm="none")
    variables = {name: _init(model, x) for name, model in (("paper", paper), ("plain", plain))}
    assert jax.tree.map(np.shape, variables["paper"]) == jax.tree.map(np.shape, variables["plain"])
    # He's init without norms, N(0, 0.02) with them.
    stds = {k: np.std(v["params"]["block0"]["conv1"]["kernel"]) for k, v in variables.items()}
    assert stds["paper"] == pytest.approx(0.02, rel=0.3)
    assert stds["plain"] == pytest.approx(np.sqrt(2 / (9 * 16)), rel=0.3)

    # Instance norm makes the paper's generator blind to a uniform scaling of conv_in's
    # output (up to the norm's epsilon); without it, the scaling reaches the output.
    def scaled(v):
        params = dict(v["params"])
        params["conv_in"] = jax.tree.map(lambda a: 3.0 * a, params["conv_in"])
        return {"params": params}

    p, q = variables["paper"], variables["plain"]
    np.testing.assert_allclose(paper.apply(p, x), paper.apply(scaled(p), x), atol=1e-4)
    assert np.abs(plain.apply(q, x) - plain.apply(scaled(q), x)).max() > 1e-2
    with pytest.raises(ValueError, match="norm"):
        deblurgan.DeblurGANGenerator(features=4, num_blocks=1, norm="batch").init(_key(), x)


def test_patchgan_condition_and_errors():
    model = deblurgan.PatchGANDiscriminator(features=4)
    x, gray = _images((2, 32, 40, 3)), _images((2, 32, 40, 1), seed=1)
    variables = _init(model, x, gray)
    assert variables["params"]["conv0"]["kernel"].shape == (4, 4, 4, 4)  # 1 + 3 channels in
    assert model.apply(variables, x, gray).shape == (2, 2, 3, 1)
    with pytest.raises(ValueError, match="condition"):
        model.apply(variables, x, gray[:, :16])
    with pytest.raises(ValueError, match="too small"):
        model.init(_key(), jnp.zeros((1, 23, 64, 3)))
    assert deblurgan.patchgan_output_size(256, 3) == 30


def test_autoencoder_skip_is_optional_and_changes_nothing_in_the_parameters():
    x = _images((1, 15, 18, 3))
    with_skip = denoise.DenoisingAutoencoder(features=(4, 8, 8))
    without = denoise.DenoisingAutoencoder(features=(4, 8, 8), skip=False)
    variables = _init(with_skip, x)
    assert jax.tree.map(np.shape, variables) == jax.tree.map(
        np.shape, jax.eval_shape(without.init, _key(), x)
    )
    assert not np.allclose(with_skip.apply(variables, x), without.apply(variables, x))
    gray = denoise.DenoisingAutoencoder(features=(4,), out_channels=1)
    assert gray.apply(_init(gray, x), x).shape == (1, 15, 18, 1)


def test_prelu_is_per_channel_like_torch():
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype(np.float32)
    slopes = np.linspace(-0.5, 0.5, 5).astype(np.float32)
    torch_prelu = torch.nn.PReLU(5)
    with torch.no_grad():
        torch_prelu.weight.copy_(torch.from_numpy(slopes))
        expected = torch_prelu(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    y = srgan.PReLU().apply({"params": {"negative_slope": jnp.asarray(slopes)}}, jnp.asarray(x))
    np.testing.assert_allclose(y, expected.numpy(), rtol=1e-6)


def test_srresnet_scales_and_errors():
    with pytest.raises(ValueError, match="scale"):
        srgan.SRResNet(scale=3, num_blocks=1, features=4).init(
            _key(), jnp.zeros((1, 8, 8, 3)), train=False
        )
    model = srgan.SRResNet(scale=2, num_blocks=2, features=4)
    variables = _init(model, jnp.zeros((1, 8, 8, 3)), train=False)
    assert sorted(variables["params"])[:4] == ["block0", "block1", "bn_mid", "conv_in"]
    assert variables["params"]["upsample0_conv"]["kernel"].shape == (3, 3, 4, 16)
    assert "upsample1_conv" not in variables["params"]
    y, updates = model.apply(variables, _images((2, 8, 8, 3)), mutable=["batch_stats"])
    assert y.shape == (2, 16, 16, 3) and "block1" in updates["batch_stats"]


def test_vgg_avg_pool_and_bfloat16_features():
    x = _images((1, 16, 16, 3))
    model = vgg.VGG19(widths=(4, 4, 8, 8, 8), pool="avg", dtype=jnp.bfloat16)
    variables = _init(model, x)
    out = model.apply(variables, x, layers=("pool1", "conv2_1"))
    assert out["pool1"].dtype == jnp.float32 and out["pool1"].shape == (1, 8, 8, 4)
    with pytest.raises(ValueError, match="Unknown pool"):
        vgg.VGG19(pool="min").init(_key(), x)
