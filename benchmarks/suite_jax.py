"""The JAX side of the benchmark suite: one entry, timed in this process.

Builds the task as `python -m train` does (`jaxvision.engine.build.build` and
`init_state`), then compiles and times the engine's train step and predict function on a
synthetic batch of the task's schema, with the compiler options `python -m train` uses
(`train/host_tuning.py`). Called by `benchmarks.suite` in a child process (one
process per model, so its peak RSS is the model's).
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks import mfu as mfu_lib
from benchmarks import synthetic, throughput
from benchmarks.suite import load_config

CPU_BACKEND = "cpu"
TRAIN_SEED = 0
INIT_SEED = 0
BYTES_PER_MIB = 2**20


def memory_mib(compiled: Any) -> dict[str, float] | None:
    """XLA's memory analysis of a compiled executable, in MiB, or None where unsupported.

    Returns:
      `argument_mib`, `output_mib`, `temp_mib` (scratch), `alias_mib` (outputs that reuse
      donated arguments), `code_mib` and `total_mib` = arguments + outputs + temp - alias.
    """
    try:
        stats = compiled.memory_analysis()
    except Exception:  # not implemented on this backend
        return None
    if stats is None:
        return None
    fields = {
        "argument_mib": "argument_size_in_bytes",
        "output_mib": "output_size_in_bytes",
        "temp_mib": "temp_size_in_bytes",
        "alias_mib": "alias_size_in_bytes",
        "code_mib": "generated_code_size_in_bytes",
    }
    out = {k: getattr(stats, v, 0) / BYTES_PER_MIB for k, v in fields.items()}
    out["total_mib"] = out["argument_mib"] + out["output_mib"] + out["temp_mib"] - out["alias_mib"]
    return out


def _compile(jitted: Any, *example_args: Any) -> tuple[Any, Any, float]:
    """`(traced, compiled, seconds)`: `jitted.trace(*args)` (its jaxpr gives the model FLOPs),
    its `.lower().compile()` and their wall time (tracing + XLA compilation)."""
    start = time.perf_counter()
    traced = jitted.trace(*example_args)
    compiled = traced.lower().compile()
    return traced, compiled, time.perf_counter() - start


def _timed(batch_size: int, timing: throughput.Timing, compile_s: float) -> dict[str, Any]:
    return {
        "images_per_s": batch_size / timing.median_s,
        "step_time_median_s": timing.median_s,
        "step_time_min_s": timing.min_s,
        "step_times_s": list(timing.steps_s),
        "first_step_s": timing.first_s,
        "compile_time_s": compile_s,
    }


def build_synthetic(config: Any, *batch_args: Any) -> tuple[Any, dict[str, Any], Any]:
    """A task as `python -m train` builds it, on a synthetic batch of its schema, with its
    initial state.

    Args:
      config: the task's config (`benchmarks.suite.load_config`); its `batch_size` is set.
      *batch_args: `synthetic_setup`'s batch_size, image_size, num_classes[, max_boxes[,
        scale]].

    Returns:
      (the `jaxvision.engine.build.Setup`, the batch on its mesh, the initial state).

    Raises:
      ValueError: a batch size the devices do not divide.
    """
    import jax

    from jaxvision.engine import build
    from train import host_tuning

    setup, batch = synthetic_setup(config, *batch_args)
    state = build.init_state(setup, batch, jax.random.key(INIT_SEED), host_tuning.init_options())
    return setup, batch, state


def synthetic_setup(
    config: Any,
    batch_size: int,
    image_size: int,
    num_classes: int,
    max_boxes: int | None = None,
    scale: int | None = None,
) -> tuple[Any, dict[str, Any]]:
    """`build_synthetic`'s setup and batch, before any state.

    Args:
      config: the task's config; its `batch_size` is set.
      batch_size, image_size, num_classes, max_boxes, scale: the batch
        (`benchmarks.synthetic`).

    Returns:
      (the `jaxvision.engine.build.Setup`, the batch on its mesh).

    Raises:
      ValueError: a batch size the devices do not divide.
    """
    from jaxvision.data.sources import DatasetMeta
    from jaxvision.engine import build
    from jaxvision.engine import mesh as mesh_lib

    config.batch_size = batch_size
    class_names = tuple(f"class_{i}" for i in range(num_classes))
    meta = DatasetMeta("synthetic", class_names, batch_size)
    mesh = mesh_lib.make_mesh()
    if batch_size % mesh.size:
        raise ValueError(f"batch size {batch_size} is not divisible by {mesh.size} devices")
    setup = build.build(config, meta, mesh)
    local = synthetic.make_batch(config.task, batch_size, image_size, num_classes, max_boxes, scale)
    return setup, mesh_lib.global_batch(local, mesh)


def run(job: dict[str, Any]) -> dict[str, Any]:
    """Times one suite job's train step and predict function.

    Args:
      job: from `benchmarks.suite.make_job` (config file, overrides, sizes, step counts).

    Returns:
      The record: `train` and `inference` (images/s, step times, compile time; `train` also
      `flops_per_step` (model FLOPs, `benchmarks.mfu`), `compiled_flops_per_step` (what
      XLA's optimised program counts), `mfu`, `xla_memory`), `backend`, `devices`, `device_kind`,
      `batch_size`, `image_size`, `peak_rss_mib`.
    """
    import jax

    from jaxvision.engine import steps
    from jaxvision.engine.sharding import shardings_of
    from train import host_tuning

    backend = jax.default_backend()
    batch_size = job["cpu_batch_size"] if backend == CPU_BACKEND else job["accel_batch_size"]
    config = load_config(job["config"], job["overrides"])
    setup, batch, state = build_synthetic(
        config,
        batch_size,
        job["image_size"],
        job["num_classes"],
        job["max_boxes"],
        job.get("scale"),
    )
    task, mesh = setup.task, setup.mesh
    options = host_tuning.compiler_options(config)
    rng = jax.random.key(TRAIN_SEED)

    train_step = steps.compile_train_step(task, mesh, shardings_of(state), options.train)
    traced, compiled, compile_s = _compile(train_step, state, batch, rng)
    flops = mfu_lib.jaxpr_flops(traced.jaxpr)  # model FLOPs, from the one trace
    train_memory = memory_mib(compiled)
    timing, (state, _) = throughput.time_steps(
        lambda carry: compiled(carry[0], batch, rng),
        (state, None),
        steps=job["steps"],
        warmup=job["warmup"],
        sync=jax.block_until_ready,
    )
    device_kind = jax.devices()[0].device_kind
    peak = mfu_lib.peak_flops(device_kind, job.get("peak_flops"))
    train = _timed(batch_size, timing, compile_s)
    train.update(
        flops_per_step=flops,
        compiled_flops_per_step=mfu_lib.compiled_flops(compiled),
        peak_flops_per_s=peak,
        mfu=None if flops is None or peak is None else mfu_lib.mfu(flops, timing.median_s, peak),
        xla_memory=train_memory,
    )

    variables = state.eval_variables()
    images = batch["image"] if "image" in batch else batch["input"]  # restoration: the input
    predict = steps.compile_predict(task, mesh, options.inference)
    _, compiled_predict, predict_compile_s = _compile(predict, variables, images)
    timing, _ = throughput.time_steps(
        lambda _: compiled_predict(variables, images),
        None,
        steps=job["steps"],
        warmup=job["warmup"],
        sync=jax.block_until_ready,
    )
    inference = _timed(batch_size, timing, predict_compile_s)
    inference["xla_memory"] = memory_mib(compiled_predict)
    return {
        "train": train,
        "inference": inference,
        "backend": backend,
        "devices": [str(d) for d in jax.devices()],
        "device_kind": device_kind,
        "batch_size": batch_size,
        "image_size": job["image_size"],
        "peak_rss_mib": throughput.peak_rss_mib(),
    }
