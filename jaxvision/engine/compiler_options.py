"""XLA compiler options for the engine's compiled steps, chosen by backend.

Every step the engine compiles (`jaxvision.engine.steps`: train, eval, predict) passes
`for_backend()` to `jax.jit(..., compiler_options=...)`. The options apply to those
executables only; no process-wide `XLA_FLAGS` is set, and code outside the engine compiles as
JAX defaults.

On XLA:CPU the default sends each convolution to YNNPACK. On this project's benchmark machine
(2-core AMD EPYC Zen 4), YNNPACK's convolution runs a ResNet-18 train step (CIFAR stem,
batch 128) at 3.23 s against 2.94 s with XLA's own (Eigen) convolution. Its
forward + backward on a 32x32x64->64 3x3 conv at batch 128 is 60 GFLOP/s against Eigen's
190 (`python -m benchmarks.conv_lowering`). `CPU_OPTIONS` keeps YNNPACK for matmuls and
reductions, where it is fast, and leaves convolutions to XLA. `benchmarks/RESULTS.md` has the
whole-network measurements. `jaxvision.ops.conv.choose_impl` is tuned for XLA's convolution
under these options.

Override per run with the config key `compiler_options` (a dict of option -> value; an
empty value for a key removes it; set `compiler_options.use_defaults=False` to start from
nothing), or call `for_backend(overrides=...)` yourself.

Example:
  >>> options = for_backend("cpu")
  >>> step = jax.jit(fn, compiler_options=options)
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import jax

# YNNPACK library fusions to keep on XLA:CPU (all but INDIVIDUAL_CONVOLUTION).
CPU_YNN_FUSIONS = ("LIBRARY_FUSION_TYPE_DOT", "LIBRARY_FUSION_TYPE_REDUCE")
CPU_OPTIONS: Mapping[str, Any] = MappingProxyType(
    {"xla_cpu_experimental_ynn_fusion_type": ",".join(CPU_YNN_FUSIONS)}
)
BACKEND_OPTIONS: Mapping[str, Mapping[str, Any]] = MappingProxyType({"cpu": CPU_OPTIONS})
USE_DEFAULTS_KEY = "use_defaults"


def for_backend(
    backend: str | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The compiler options of the engine's steps on `backend`.

    Args:
      backend: "cpu", "gpu", "tpu", ...; None means `jax.default_backend()`.
      overrides: option -> value, applied over the defaults; a value of None or "" drops
        that option; `use_defaults: False` drops every default first.

    Returns:
      A fresh dict for `jax.jit(..., compiler_options=...)` (empty off the CPU unless
      overridden).

    Example:
      >>> for_backend("gpu")
      {}
      >>> for_backend("cpu", {"use_defaults": False})
      {}
    """
    backend = (backend or jax.default_backend()).lower()
    overrides = dict(overrides.to_dict() if hasattr(overrides, "to_dict") else overrides or {})
    use_defaults = overrides.pop(USE_DEFAULTS_KEY, True)
    options = dict(BACKEND_OPTIONS.get(backend, {})) if use_defaults else {}
    for key, value in overrides.items():
        if value is None or value == "":
            options.pop(key, None)
        else:
            options[key] = value
    return options
