"""Model FLOP utilisation (MFU): the fraction of an accelerator's peak a training step uses.

MFU = FLOPs of one step x steps per second / the device's peak dense FLOP/s. The FLOPs of a
step are XLA's count for the compiled executable (`compiled.cost_analysis()["flops"]`:
forward, backward and optimizer update as compiled, including any recomputation), the peaks
are the vendors' dense (no sparsity) bfloat16 tensor-core figures per chip, keyed by JAX's
`device.device_kind`.

Example:
  >>> mfu(flops_per_step=3.0e12, step_time_s=0.05, peak_flops_per_s=989e12)
  0.0606...
"""

from __future__ import annotations

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


def compiled_flops(compiled: Any) -> float | None:
    """FLOPs of a compiled JAX executable (`jax.jit(f).lower(...).compile()`), or None.

    `cost_analysis()` returns a dict (a list of one dict on older JAX); backends that do not
    implement it return None or raise.
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
