"""Tuning of the host a run starts on: XLA compiler options and the heap's huge pages.

The library (``jaxvision``) compiles with JAX's defaults; the entry points (``python -m
train``, ``python -m train.predict``) and the benchmarks apply two host tunings:

- **Compiler options.** ``for_backend()`` gives the XLA options of the compiled train step,
  ``for_backend(inference=True)`` those of the eval step and ``predict``, and
  ``init_options()`` those of the program that initialises the state (on XLA:CPU, LLVM
  optimization level 1: the program runs once, and level 1 compiles it faster and runs it
  as fast). On XLA:CPU,
  training hands convolutions to XLA's own kernels rather than YNNPACK's and keeps
  YNNPACK's matmul and reduction fusions; forward-only steps use no YNNPACK fusion at all.
  Elsewhere they are empty. The config key ``compiler_options`` overrides them (an option
  set there applies to all three steps; ``""`` removes one; ``use_defaults: False`` starts
  from none). Figures: ``benchmarks/RESULTS.md``, "Compiler options (CPU)".
- **Huge pages.** XLA:CPU allocates each step's buffers afresh and every 4 KiB page of a
  fresh mapping faults on first touch; glibc's ``glibc.malloc.hugetlb=1`` tunable backs the
  heap with 2 MiB transparent huge pages. glibc reads tunables at process start, so the
  entry points re-execute themselves once with ``GLIBC_TUNABLES`` extended
  (``reexec_with_tuned_malloc``) and the benchmarks give ``tuned_environ()`` to their
  children, PyTorch's included. ``JAXVISION_MALLOC_TUNING=0`` opts out; nothing changes off
  Linux. Figures: ``benchmarks/RESULTS.md``, "Heap huge pages (CPU)".

Example:
  >>> for_backend("cpu")
  {'xla_cpu_experimental_ynn_fusion_type': 'LIBRARY_FUSION_TYPE_DOT,LIBRARY_FUSION_TYPE_REDUCE'}
  >>> for_backend("gpu")
  {}
  >>> tuned_environ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, "linux")["GLIBC_TUNABLES"]
  'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1'
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

# JAX and the engine are imported where used: the benchmarks' PyTorch children import this
# module for `tuned_environ` and must not load JAX.

# YNNPACK library fusions kept in training on XLA:CPU (all but INDIVIDUAL_CONVOLUTION).
CPU_YNN_FUSIONS = ("LIBRARY_FUSION_TYPE_DOT", "LIBRARY_FUSION_TYPE_REDUCE")
YNN_FUSION_OPTION = "xla_cpu_experimental_ynn_fusion_type"
CPU_OPTIONS: Mapping[str, Any] = MappingProxyType({YNN_FUSION_OPTION: ",".join(CPU_YNN_FUSIONS)})
# Forward passes alone (eval, predict): no YNNPACK fusion ("" names none).
CPU_INFERENCE_OPTIONS: Mapping[str, Any] = MappingProxyType({YNN_FUSION_OPTION: ""})
# The one-off init program: most of its compile time is LLVM optimizing the threefry hashes
# of every parameter's draw; level 1 (not XLA:CPU's default 2) compiles it faster and runs it
# as fast, level 0 would run the draws unoptimized (RESULTS.md, "Compiler options (CPU)").
CPU_INIT_OPTIONS: Mapping[str, Any] = MappingProxyType({"xla_backend_optimization_level": 1})
BACKEND_OPTIONS = MappingProxyType({"cpu": CPU_OPTIONS})
INIT_BACKEND_OPTIONS = MappingProxyType({"cpu": CPU_INIT_OPTIONS})
INFERENCE_BACKEND_OPTIONS = MappingProxyType({"cpu": CPU_INFERENCE_OPTIONS})
USE_DEFAULTS_KEY = "use_defaults"

TUNABLES_VAR = "GLIBC_TUNABLES"
HUGETLB_TUNABLE = "glibc.malloc.hugetlb"
HUGETLB_SETTING = f"{HUGETLB_TUNABLE}=1"
OPT_OUT_VAR = "JAXVISION_MALLOC_TUNING"


def for_backend(
    backend: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    inference: bool = False,
) -> dict[str, Any]:
    """The compiler options of the engine's steps on ``backend``.

    Args:
      backend: "cpu", "gpu", "tpu", ...; None means ``jax.default_backend()``.
      overrides: option -> value, applied over the defaults; a value of None or "" drops
        that option; ``use_defaults: False`` drops every default first.
      inference: the options of a forward-only step (eval, predict) instead of a train step.

    Returns:
      A fresh dict for ``jax.jit(..., compiler_options=...)``.

    Example:
      >>> for_backend("cpu", {"use_defaults": False})
      {}
    """
    import jax

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


def init_options(backend: str | None = None) -> dict[str, Any]:
    """The compiler options of the program that initialises a run's state on ``backend``
    (None: ``jax.default_backend()``): on XLA:CPU, LLVM optimization level 1; elsewhere none.

    Example:
      >>> init_options("cpu"), init_options("tpu")
      ({'xla_backend_optimization_level': 1}, {})
    """
    import jax

    return dict(INIT_BACKEND_OPTIONS.get((backend or jax.default_backend()).lower(), {}))


def compiler_options(config: Any) -> Any:
    """The train, inference and init options of a run (a
    ``jaxvision.engine.loop.CompilerOptions``): the backend's, the first two under
    ``config.compiler_options`` (``use_defaults: False`` also drops the init's)."""
    from jaxvision.engine.loop import CompilerOptions

    overrides = config.get("compiler_options")
    use_defaults = (overrides or {}).get(USE_DEFAULTS_KEY, True)
    return CompilerOptions(
        train=for_backend(overrides=overrides),
        inference=for_backend(overrides=overrides, inference=True),
        init=init_options() if use_defaults else {},
    )


def malloc_tuning_enabled(
    environ: Mapping[str, str] | None = None, platform: str | None = None
) -> bool:
    """Whether to tune the heap: on Linux, unless ``JAXVISION_MALLOC_TUNING=0``."""
    environ = os.environ if environ is None else environ
    return (platform or sys.platform).startswith("linux") and environ.get(OPT_OUT_VAR) != "0"


def tuned_environ(
    environ: Mapping[str, str] | None = None, platform: str | None = None
) -> dict[str, str]:
    """A copy of ``environ`` (default ``os.environ``) whose ``GLIBC_TUNABLES`` asks for huge
    pages; a hugetlb value already set and other tunables are kept; unchanged when tuning is
    off.

    Args:
      environ: the environment to extend.
      platform: ``sys.platform`` (for tests).

    Returns:
      The new environment, a dict.
    """
    env = dict(os.environ if environ is None else environ)
    if not malloc_tuning_enabled(env, platform):
        return env
    current = env.get(TUNABLES_VAR, "")
    names = {item.split("=", 1)[0] for item in current.split(":") if item}
    if HUGETLB_TUNABLE not in names:
        env[TUNABLES_VAR] = f"{current}:{HUGETLB_SETTING}" if current else HUGETLB_SETTING
    return env


def reexec_with_tuned_malloc(module: str, args: Sequence[str]) -> None:
    """Re-runs ``python -m module *args`` with ``tuned_environ()``, unless it is in effect.

    Call it first thing in an entry point's ``if __name__ == "__main__":`` block; it does not
    return when it re-executes (the process image is replaced, same PID).

    Args:
      module: the entry point's module, e.g. "train".
      args: its command-line arguments (``sys.argv[1:]``).
    """
    env = tuned_environ()
    if env == dict(os.environ):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", module, *args], env)
