"""Tests of train/host_tuning.py: compiler options of the compiled steps, heap huge pages."""

import os
import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import pytest
from jax import lax

from train import host_tuning as compiler_options

REPO_ROOT = Path(__file__).resolve().parents[2]

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
def test_eval_and_predict_steps_compile_with_the_inference_options():
    from types import SimpleNamespace

    from jaxvision.engine import mesh as mesh_lib
    from jaxvision.engine import steps
    from jaxvision.evaluators import MeanEvaluator

    mesh = mesh_lib.make_mesh(jax.devices()[:1])
    task = SimpleNamespace(
        predict=lambda w, x: _dot_chain(x, w),
        eval_forward=lambda w, batch: _dot_chain(batch["x"], w),
    )
    evaluators = [MeanEvaluator("s", lambda out, batch: {"s": out})]
    x, w = jnp.ones((512, 256)), jnp.ones((256, 256))
    batch = {"x": x, "mask": jnp.ones(512)}
    ynn_fusion = re.compile(r"%ynn_fusion[\w.]* = ")

    def text(jitted, *args):
        return jitted.lower(*args).compile().as_text()

    options = compiler_options.compiler_options(ml_collections.ConfigDict({}))
    assert options.train == compiler_options.for_backend("cpu")
    assert not ynn_fusion.search(text(steps.compile_predict(task, mesh, options.inference), w, x))
    eval_step = steps.compile_eval_step(task, evaluators, mesh, options.inference)
    assert not ynn_fusion.search(text(eval_step, w, batch))
    # The train options keep YNNPACK's dot fusions.
    assert ynn_fusion.search(text(steps.compile_predict(task, mesh, options.train), w, x))
    # A config's compiler_options reach both.
    config = ml_collections.ConfigDict({"compiler_options": {"xla_cpu_enable_fast_math": True}})
    both = compiler_options.compiler_options(config)
    assert both.train["xla_cpu_enable_fast_math"] is True
    assert both.inference["xla_cpu_enable_fast_math"] is True


def test_tuned_environ_adds_hugetlb_and_keeps_the_rest():
    env = compiler_options.tuned_environ({"PATH": "/bin"}, platform="linux")
    assert env == {"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    env = compiler_options.tuned_environ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, "linux")
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"


def test_user_setting_opt_out_and_other_platforms_win():
    mine = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}
    assert compiler_options.tuned_environ(mine, "linux") == mine
    off = {"JAXVISION_MALLOC_TUNING": "0"}
    assert compiler_options.tuned_environ(off, "linux") == off
    assert compiler_options.tuned_environ({}, "darwin") == {}


def test_reexec_sets_the_tunable_once():
    # A module that re-executes itself, then reports what glibc was asked for.
    code = (
        "import os, sys\n"
        "from train import host_tuning\n"
        "if __name__ == '__main__':\n"
        "    host_tuning.reexec_with_tuned_malloc('reexec_probe', sys.argv[1:])\n"
        "    print(os.environ.get('GLIBC_TUNABLES'), sys.argv[1:], os.getpid())\n"
    )
    probe_dir = REPO_ROOT / ".pytest_cache" / "malloc_probe"
    probe_dir.mkdir(parents=True, exist_ok=True)
    (probe_dir / "reexec_probe.py").write_text(code)
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES",)}
    env["PYTHONPATH"] = os.pathsep.join([str(probe_dir), str(REPO_ROOT)])
    env.pop("JAXVISION_MALLOC_TUNING", None)
    out = subprocess.run(
        [sys.executable, "-m", "reexec_probe", "--flag=1"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    expected = "glibc.malloc.hugetlb=1" if sys.platform.startswith("linux") else "None"
    assert out[0] == expected
    assert out[1] == "['--flag=1']"


@cpu_only
def test_the_init_options_reach_the_init_program_and_keep_its_values():
    import numpy as np

    from jaxvision.data.sources import DatasetMeta
    from jaxvision.engine import build
    from jaxvision.engine import mesh as mesh_lib
    from train.configs import demo

    config = demo.get_config()
    config.model.kwargs.num_filters = 4
    options = compiler_options.compiler_options(config)
    assert options.init == {"xla_backend_optimization_level": 1}
    setup = build.build(config, DatasetMeta("shapes", ("a", "b"), 8), mesh_lib.make_mesh())
    batch = {"image": np.zeros((2, 16, 16, 3), np.uint8), "label": np.zeros(2, np.int32)}
    tuned = build.init_state(setup, batch, jax.random.key(0), options.init)
    plain = build.init_state(setup, batch, jax.random.key(0))
    for a, b in zip(jax.tree.leaves(tuned), jax.tree.leaves(plain), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(Exception, match="no_such_option"):  # the options reach XLA
        build.init_state(setup, batch, jax.random.key(0), {"xla_no_such_option": 1})
    off = ml_collections.ConfigDict({"compiler_options": {"use_defaults": False}})
    assert compiler_options.compiler_options(off).init == {}
