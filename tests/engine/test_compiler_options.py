"""Tests of jaxvision.engine.compiler_options and of its use by the engine's compiled steps."""

import re

import jax
import jax.numpy as jnp
import ml_collections
import pytest
from jax import lax

from jaxvision.engine import compiler_options

# The YNNPACK checks compile for the default backend: XLA:CPU only.
cpu_only = pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU options")
YNN_FUSION = re.compile(r"^\s*%ynn_fusion[\w.]* = .*calls=%?([\w.\-]+)", re.M)


def _conv_grad(x, w):
    conv = lambda x, w: lax.conv_general_dilated(  # noqa: E731
        x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    return jax.grad(lambda x, w: jnp.sum(conv(x, w) ** 2), argnums=(0, 1))(x, w)


def _ynn_convolutions(hlo: str) -> int:
    """How many YNNPACK fusions of a compiled module's text compute a convolution."""
    bodies = {}
    for block in re.split(r"\n(?=\S)", hlo):
        name = re.match(r"^(?:ENTRY )?%?([\w.\-]+)", block)
        if name:
            bodies[name.group(1)] = block
    return sum(" convolution(" in bodies.get(c, "") for c in YNN_FUSION.findall(hlo))


def _compiled_text(options):
    x, w = jnp.ones((8, 16, 16, 32)), jnp.ones((3, 3, 32, 32))  # large enough for YNNPACK
    return jax.jit(_conv_grad, compiler_options=options).lower(x, w).compile().as_text()


def test_defaults_by_backend():
    assert compiler_options.for_backend("gpu") == {}
    assert compiler_options.for_backend("tpu") == {}
    cpu = compiler_options.for_backend("cpu")
    assert cpu == dict(compiler_options.CPU_OPTIONS)
    cpu["x"] = 1  # a fresh dict each call
    assert "x" not in compiler_options.for_backend("cpu")
    inference = compiler_options.for_backend("cpu", inference=True)
    assert inference == dict(compiler_options.CPU_INFERENCE_OPTIONS) != cpu
    assert compiler_options.for_backend("gpu", inference=True) == {}
    # Overrides apply to the inference options alike.
    fast = compiler_options.for_backend("cpu", {"xla_cpu_enable_fast_math": True}, inference=True)
    assert fast == {**inference, "xla_cpu_enable_fast_math": True}


def test_overrides_add_drop_and_replace():
    key = "xla_cpu_experimental_ynn_fusion_type"
    assert compiler_options.for_backend("cpu", {key: ""}) == {}
    assert compiler_options.for_backend("cpu", {key: None}) == {}
    assert compiler_options.for_backend("cpu", {"use_defaults": False}) == {}
    assert compiler_options.for_backend("gpu", {"xla_gpu_foo": 1}) == {"xla_gpu_foo": 1}
    both = compiler_options.for_backend("cpu", {"xla_cpu_enable_fast_math": False})
    assert both[key] and both["xla_cpu_enable_fast_math"] is False
    config = ml_collections.ConfigDict({"use_defaults": False, "xla_cpu_enable_fast_math": True})
    assert compiler_options.for_backend("cpu", config) == {"xla_cpu_enable_fast_math": True}


@cpu_only
def test_cpu_options_keep_convolutions_out_of_ynnpack():
    # XLA:CPU's default hands convolutions to YNNPACK; the engine's options leave them to XLA.
    assert _ynn_convolutions(_compiled_text({})) > 0
    assert _ynn_convolutions(_compiled_text(compiler_options.for_backend("cpu"))) == 0


def test_options_give_the_same_numbers():
    rng = jax.random.split(jax.random.key(0))
    x = jax.random.normal(rng[0], (2, 9, 9, 5))
    w = jax.random.normal(rng[1], (3, 3, 5, 6)) * 0.2
    ref = jax.jit(_conv_grad, compiler_options={})(x, w)
    new = jax.jit(_conv_grad, compiler_options=compiler_options.for_backend("cpu"))(x, w)
    for a, b in zip(ref, new, strict=True):
        assert jnp.allclose(a, b, rtol=1e-5, atol=1e-4)


def _dot_chain(x, w):
    return jnp.sum(jax.nn.relu(jax.nn.relu(x @ w) @ w), axis=-1)


@cpu_only
def test_inference_options_leave_out_every_ynnpack_fusion():
    # Train options keep YNNPACK's dot fusions; the forward-only steps get none.
    x, w = jnp.ones((512, 256)), jnp.ones((256, 256))

    def text(options):
        return jax.jit(_dot_chain, compiler_options=options).lower(x, w).compile().as_text()

    ynn_fusion = re.compile(r"%ynn_fusion[\w.]* = ")  # also a ROOT instruction
    assert ynn_fusion.search(text(compiler_options.for_backend("cpu")))
    assert not ynn_fusion.search(text(compiler_options.for_backend("cpu", inference=True)))
    ref = jax.jit(_dot_chain, compiler_options=compiler_options.for_backend("cpu"))(x * 0.01, w)
    new = jax.jit(_dot_chain, compiler_options=compiler_options.for_backend("cpu", inference=True))(
        x * 0.01, w
    )
    assert jnp.allclose(ref, new, rtol=1e-5)


@cpu_only
def test_eval_and_predict_steps_default_to_the_inference_options():
    from types import SimpleNamespace

    from jaxvision.engine import mesh as mesh_lib
    from jaxvision.engine import steps

    mesh = mesh_lib.make_mesh(jax.devices()[:1])
    task = SimpleNamespace(
        predict=lambda w, x: _dot_chain(x, w),
        eval_mode="sums",
        eval_sums=lambda w, batch: {"s": jnp.sum(_dot_chain(batch["x"], w))},
    )
    x, w = jnp.ones((512, 256)), jnp.ones((256, 256))
    ynn_fusion = re.compile(r"%ynn_fusion[\w.]* = ")

    def text(jitted, *args):
        return jitted.lower(*args).compile().as_text()

    assert not ynn_fusion.search(text(steps.compile_predict(task, mesh), w, x))
    assert not ynn_fusion.search(text(steps.compile_eval_step(task, mesh), w, {"x": x}))
    # The train options, passed explicitly, keep YNNPACK's dot fusions.
    train_options = compiler_options.for_backend("cpu")
    assert ynn_fusion.search(text(steps.compile_predict(task, mesh, train_options), w, x))
