"""Model FLOP utilisation (MFU): the fraction of an accelerator's peak a training step uses.

MFU = model FLOPs of one step x steps per second / the device's peak dense FLOP/s.

The model FLOPs of a step are counted on its jaxpr (`model_flops`): 2 x the multiply-adds of
every matrix product (`dot_general`) and convolution (`conv_general_dilated`) of the forward
pass, the backward pass and the optimizer update, as traced. Elementwise work is left out, as
in the usual "ResNet-50: 4.1 GMACs" figures. The count depends on the program alone, not on
the backend. XLA's own cost analysis is no substitute: XLA's GPU backend hands convolutions to
cuDNN and most matrix products to cuBLAS as custom calls, which the compiled executable's cost
analysis does not count (on an H200 with JAX 0.11.2: 1.06e11 FLOPs for a ResNet-50 train step
of batch 256, against 6.2e12 here), and the lowered program's cost analysis returned nothing
there. The peaks are the vendors' dense (no sparsity) bfloat16 tensor-core figures per chip,
keyed by JAX's `device.device_kind`.

Example:
  >>> mfu(flops_per_step=3.0e12, step_time_s=0.05, peak_flops_per_s=989e12)
  0.0606...
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

# Peak dense bfloat16 FLOP/s per device, from the vendors' data sheets. Matched against
# `device.device_kind` by the first key (lower-case) it contains, in this order: put the more
# specific names first ("h100 pcie" before "h100").
PEAK_BF16_FLOPS: dict[str, float] = {
    "h100 pcie": 756e12,
    "h100": 989e12,  # H100 SXM
    "h200": 989e12,
    "gh200": 989e12,
    "b200": 2250e12,
    "a100": 312e12,
    "l4": 121e12,
    "a10g": 70e12,
    "v100": 125e12,  # float16 tensor cores (no bfloat16)
    "tpu v4": 275e12,
    "tpu v5 lite": 197e12,  # v5e
    "tpu v5p": 459e12,
    "tpu v5": 459e12,
    "tpu v6 lite": 918e12,  # Trillium (v6e)
}


def peak_flops(device_kind: str, override: float | None = None) -> float | None:
    """The peak dense bf16 FLOP/s of a device kind, or None when the table does not know it.

    Args:
      device_kind: `jax.devices()[0].device_kind`, e.g. "NVIDIA H100 80GB HBM3".
      override: a peak to use instead (for an unlisted device, or a fake peak in tests).

    Returns:
      FLOP/s, or None.
    """
    if override is not None:
        return override
    kind = device_kind.lower()
    for key, flops in PEAK_BF16_FLOPS.items():
        if key in kind:
            return flops
    return None


def mfu(flops_per_step: float, step_time_s: float, peak_flops_per_s: float) -> float:
    """Model FLOP utilisation of a step.

    Args:
      flops_per_step: FLOPs of one step (XLA's cost analysis).
      step_time_s: seconds per step (steady state).
      peak_flops_per_s: the device's peak.

    Returns:
      The fraction of the peak used, in [0, 1] for a correct peak.

    Raises:
      ValueError: a non-positive step time or peak.
    """
    if step_time_s <= 0 or peak_flops_per_s <= 0:
        raise ValueError(f"need positive step time and peak, got {step_time_s}, {peak_flops_per_s}")
    return flops_per_step / step_time_s / peak_flops_per_s


def _sub_jaxprs(value: Any) -> Iterator[Any]:
    """The jaxprs inside an equation parameter (a Jaxpr, a ClosedJaxpr, or tuples of them)."""
    if hasattr(value, "eqns"):  # Jaxpr
        yield value
    elif hasattr(value, "jaxpr") and hasattr(value.jaxpr, "eqns"):  # ClosedJaxpr
        yield value.jaxpr
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _sub_jaxprs(item)


def _dot_flops(eqn: Any) -> float:
    # out: [batch..., lhs free..., rhs free...]; each output element sums over the contraction.
    (lhs_contract, _), _ = eqn.params["dimension_numbers"]
    lhs_shape = eqn.invars[0].aval.shape
    contracted = math.prod(lhs_shape[d] for d in lhs_contract)
    return 2.0 * math.prod(eqn.outvars[0].aval.shape) * contracted


def _conv_flops(eqn: Any) -> float:
    # Each output element sums over the kernel's taps and input features:
    # rhs elements / output features (the rhs's in-features already are per group). An input
    # dilated by `lhs_dilation` (the input gradient of a strided conv) is mostly inserted
    # zeros: only 1 / prod(lhs_dilation) of the taps meet real inputs.
    rhs_shape = eqn.invars[1].aval.shape
    rhs_out_dim = eqn.params["dimension_numbers"].rhs_spec[0]
    taps = math.prod(rhs_shape) / rhs_shape[rhs_out_dim]
    taps /= math.prod(eqn.params["lhs_dilation"])
    return 2.0 * math.prod(eqn.outvars[0].aval.shape) * taps


def jaxpr_flops(jaxpr: Any) -> float:
    """Model FLOPs of a jaxpr: 2 x multiply-adds of its matrix products and convolutions.

    Sub-jaxprs count where they run: a `scan` body `length` times, the costliest branch of a
    `cond`, a `while` body once (its trip count is not known when traced); `jit`,
    `custom_vjp`, `checkpoint` (recomputation included) and other calls once each.

    Args:
      jaxpr: a `jax.core.Jaxpr` or `ClosedJaxpr` (`jax.make_jaxpr(f)(*args)`).

    Returns:
      FLOPs.
    """
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    total = 0.0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "dot_general":
            total += _dot_flops(eqn)
        elif name == "conv_general_dilated":
            total += _conv_flops(eqn)
        elif name == "cond":
            total += max((jaxpr_flops(b) for b in eqn.params["branches"]), default=0.0)
        else:
            inner = sum(
                jaxpr_flops(sub) for value in eqn.params.values() for sub in _sub_jaxprs(value)
            )
            total += inner * (eqn.params["length"] if name == "scan" else 1)
    return total


def model_flops(fn: Callable[..., Any], *args: Any) -> float:
    """Model FLOPs of one call of `fn(*args)` (`jaxpr_flops` of its trace; nothing runs).

    Args:
      fn: a JAX-traceable function (a `jax.jit` step included).
      *args: its arguments, arrays or `jax.ShapeDtypeStruct`s.

    Returns:
      FLOPs.

    Example:
      >>> import jax.numpy as jnp
      >>> model_flops(jnp.matmul, jnp.ones((64, 32)), jnp.ones((32, 16)))
      65536.0
    """
    import jax

    if hasattr(fn, "trace"):  # a `jax.jit` function: its own trace (compiler options and all)
        return jaxpr_flops(fn.trace(*args).jaxpr)
    return jaxpr_flops(jax.make_jaxpr(fn)(*args))


def compiled_flops(compiled: Any) -> float | None:
    """XLA's FLOP count of a lowered or compiled JAX program, or None.

    Args:
      compiled: `jax.jit(f).lower(...)` or its `.compile()`. The compiled count leaves out
        what the backend hands to libraries (cuDNN, cuBLAS on GPUs): see the module doc.

    Returns:
      FLOPs, or None where the backend has no cost analysis. `cost_analysis()` returns a dict
      (a list of one dict on older JAX); backends that do not implement it return None or
      raise.
    """
    try:
        cost = compiled.cost_analysis()
    except Exception:  # not implemented on this backend
        return None
    if isinstance(cost, list | tuple):
        cost = cost[0] if cost else None
    if not cost or "flops" not in cost:
        return None
    return float(cost["flops"])


def report_lines(report: dict[str, Any]) -> list[str]:
    """One line per trained entry of a `benchmarks.suite` report: images/s and MFU.

    Args:
      report: the suite's JSON report.

    Returns:
      Lines like "imagenet_resnet50 bfloat16 batch 256 on NVIDIA H100: 5210.0 img/s,
      MFU 41.3% (FLOPs/step 3.1e+12, peak 9.9e+14)".
    """
    lines = []
    for entry in report["entries"]:
        if entry["status"] != "ok":
            lines.append(f"{entry['name']}: {entry['status']} ({entry['reason']})")
            continue
        jax_rec = entry["jax"]
        train = jax_rec["train"]
        value = train.get("mfu")
        mfu_text = "MFU unknown (device not in PEAK_BF16_FLOPS)" if value is None else (
            f"MFU {100 * value:.1f}%"
        )  # fmt: skip
        lines.append(
            f"{entry['name']} {entry['dtype']} batch {jax_rec['batch_size']} on "
            f"{jax_rec['device_kind']}: {train['images_per_s']:.1f} img/s, {mfu_text} "
            f"(FLOPs/step {train['flops_per_step'] or 0:.2e}, "
            f"peak {train['peak_flops_per_s'] or 0:.2e})"
        )
    return lines


def main(paths: list[str]) -> None:
    """Prints `report_lines` of each suite JSON report named on the command line."""
    import json
    from pathlib import Path

    for path in paths:
        for line in report_lines(json.loads(Path(path).read_text())):
            print(line)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
