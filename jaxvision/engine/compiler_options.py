"""XLA compiler options for the engine's compiled steps, chosen by backend.

Every step the engine compiles (`jaxvision.engine.steps`: train, eval, predict) passes
`for_backend()` (train) or `for_backend(inference=True)` (eval, predict) to
`jax.jit(..., compiler_options=...)`. The options apply to those
executables only; no process-wide `XLA_FLAGS` is set, and code outside the engine compiles as
JAX defaults.

On XLA:CPU the default sends each convolution to YNNPACK. On this project's benchmark machine
(2-core AMD EPYC Zen 4), YNNPACK's convolution runs a ResNet-18 train step (CIFAR stem,
batch 128) at 3.23 s against 2.94 s with XLA's own (Eigen) convolution. Its
forward + input and kernel gradients on a 32x32x64->64 3x3 conv at batch 128 run at 73 GFLOP/s
against Eigen's 132, its kernel gradient alone at 46 against 90 (`python -m
benchmarks.conv_lowering --nets=r18_32 --batch=128 --gradients --options=xla_default`, and
`--options=engine`). `CPU_OPTIONS` keeps YNNPACK for matmuls and
reductions, where it is fast, and leaves convolutions to XLA. `benchmarks/RESULTS.md` has the
whole-network measurements. `jaxvision.ops.conv.choose_impl` is tuned for XLA's convolution
under these options.

Inference (the eval step and `predict`, forward passes only) gets `CPU_INFERENCE_OPTIONS`: no
YNNPACK fusions at all. Without a backward pass between them, XLA gathers a whole stage's 1x1
convs (as dots), batch norms and ReLUs into one YNNPACK fusion (ResNet-50's stage 3: 13 dots),
and those run at 50 GFLOP/s or less. Predict, in one process with the variants interleaved,
s a batch: ResNet-50 224 px batch 32 1.65-1.85 against 3.28-3.36; RetinaNet R50 COCO 640 px
batch 2 2.13-2.15 against 3.04-3.10; YOLO R50 COCO 1.87-1.97 against 2.52-2.54; ViT-B/16
batch 8 1.53-1.54 against 1.98-2.04 (1.73-1.82 with YNNPACK reductions kept); CIFAR
ResNet-18 batch 128 0.80 against 0.84-0.87; the small models (demo, localizer,
retinanet_small) within 3%. In training the same dots fusions are what make ResNet-50 fast
(train step, batch 32: 6.9 s with them, 9.2 s without), so training keeps `CPU_OPTIONS`.

Override per run with the config key `compiler_options` (a dict of option -> value; an
empty value for a key removes it; set `compiler_options.use_defaults=False` to start from
nothing), or call `for_backend(overrides=...)` yourself. One override applies to the train
and the inference options alike. Mind that an empty value removes the option, which then
takes XLA's default (YNNPACK for convolutions too); it does not mean "no YNNPACK fusion" as
the value "" of `CPU_INFERENCE_OPTIONS` does.

Example:
  >>> for_backend("cpu")
  {'xla_cpu_experimental_ynn_fusion_type': 'LIBRARY_FUSION_TYPE_DOT,LIBRARY_FUSION_TYPE_REDUCE'}
  >>> fn = lambda x: jnp.tanh(x) * 2.0
  >>> step = jax.jit(fn, compiler_options=for_backend())  # jax.default_backend()'s options
  >>> step(jnp.zeros(2))
  Array([0., 0.], dtype=float32)
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
# Forward passes alone (eval, predict): no YNNPACK fusion ("" names none).
CPU_INFERENCE_OPTIONS: Mapping[str, Any] = MappingProxyType(
    {"xla_cpu_experimental_ynn_fusion_type": ""}
)
BACKEND_OPTIONS: Mapping[str, Mapping[str, Any]] = MappingProxyType({"cpu": CPU_OPTIONS})
INFERENCE_BACKEND_OPTIONS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {"cpu": CPU_INFERENCE_OPTIONS}
)
USE_DEFAULTS_KEY = "use_defaults"


def for_backend(
    backend: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    inference: bool = False,
) -> dict[str, Any]:
    """The compiler options of the engine's steps on `backend`.

    Args:
      backend: "cpu", "gpu", "tpu", ...; None means `jax.default_backend()`.
      overrides: option -> value, applied over the defaults; a value of None or "" drops
        that option; `use_defaults: False` drops every default first.
      inference: the options of a forward-only step (eval, predict) instead of a train step.

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
    defaults = INFERENCE_BACKEND_OPTIONS if inference else BACKEND_OPTIONS
    options = dict(defaults.get(backend, {})) if use_defaults else {}
    for key, value in overrides.items():
        if value is None or value == "":
            options.pop(key, None)
        else:
            options[key] = value
    return options
