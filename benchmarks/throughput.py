"""Training (or inference) throughput of a jaxvision model, beside its PyTorch reference.

Times the steady-state step after compilation: for training, forward + backward + SGD-momentum
update with BatchNorm statistics updated, exactly the step `python -m train` runs (the
`ClassificationTask` loss through `jaxvision.engine.steps.compile_train_step`, state donated,
uint8 images normalised inside the step); with `--inference`, the eval-mode forward of
`ClassificationTask.predict` (logits, softmax, top-5). The PyTorch side runs the same
architecture (`benchmarks.torch_models.torch_resnet`) with the same optimizer, loss and input
normalisation in eager mode, on the CPU, or on a CUDA GPU with `--torch-device=cuda` (bfloat16
through `torch.autocast`, each step synchronised with `torch.cuda.synchronize`).

Each framework runs in its own child process (`--framework=jax|torch`, JSON on stdout), one
after the other, so that peak memory is measured per framework and neither shares threads or
caches with the other. With `--rounds=R` the children take turns R times (jax, torch, jax,
...), so that a shared machine's drift hits both alike, and each framework reports its round of
median images/s. With `--threads=N` below the number of usable CPUs, each child is pinned
to the same N CPUs before its framework loads (XLA:CPU sizes its thread pool from the CPU
affinity; it has no thread-count option), and PyTorch also gets `torch.set_num_threads(N)`.

Every step is synchronised (`jax.block_until_ready`) before the clock stops, so a step time is
the latency of one step; images/s come from the median step time.

Run:
  python -m benchmarks.throughput --model=resnet18 --image-size=32 --batch-size=128 \
      --compare=torch --json=/tmp/throughput.json
  python -m benchmarks.throughput --model=resnet50 --image-size=224 --batch-size=32 \
      --dtype=bfloat16 --inference --compare=torch --torch-channels-last
  python -m benchmarks.throughput --model=resnet18 --image-size=32 --batch-size=128 \
      --compare=torch --rounds=3        # 3 rounds each, taking turns; median round

Output JSON (`--json`)::

  {
    "benchmark": "throughput",
    "mode": "train" | "inference",
    "config": {"model", "image_size", "batch_size", "stem", "num_classes", "dtype", "steps",
               "warmup", "threads", "torch_channels_last", "torch_device", "compare"},
    "results": {
      "jax" | "torch": {
        "framework", "images_per_s", "step_time_median_s", "step_time_mean_s",
        "step_time_min_s", "step_times_s", "first_step_s", "compile_time_s", "peak_rss_mib",
        "threads", "cpu_affinity",
        # jax only: "backend", "devices", "stem" (null: the model has none), "conv_impl";
        # torch only: "device" ("cpu" | "cuda"), "num_threads", "channels_last"
      }
    },
    "ratio_jax_over_torch": jax images/s / torch images/s (null without --compare=torch),
    "rounds": {"jax", "torch": [images/s a round], "ratio": [a round]} (with --rounds above 1),
    "machine": {"platform", "processor", "cpu_model", "cpu_count", "python", "jax_devices",
                "versions": {"jax", "jaxlib", "flax", "optax", "torch"}, "date"}
  }

`compile_time_s` is, for JAX, the first call's time minus the median steady step (tracing,
compilation and the first run's extra cost), floored at 0; for PyTorch (eager, nothing to
compile) the first step's time.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from train import host_tuning

# Frameworks and choices. ----------------------------------------------------------------
JAX = "jax"
TORCH = "torch"
FRAMEWORKS = (JAX, TORCH)
COMPARE_CHOICES = ("none", TORCH)
DTYPES = ("float32", "bfloat16")
STEMS = ("cifar", "imagenet")
TORCH_DEVICES = ("cpu", "cuda")
# Models with a PyTorch reference in `benchmarks.torch_models`.
TORCH_MODEL_PREFIX = "resnet"

# Defaults. ------------------------------------------------------------------------------
DEFAULT_MODEL = "resnet18"
DEFAULT_IMAGE_SIZE = 32
DEFAULT_BATCH_SIZE = 128
DEFAULT_STEPS = 10
DEFAULT_WARMUP = 2
# Images at most this large get the "cifar" stem by default, larger ones the "imagenet" stem.
CIFAR_STEM_MAX_IMAGE_SIZE = 32
NUM_CLASSES_BY_STEM = {"cifar": 10, "imagenet": 1000}

# The training step: SGD with momentum at a constant learning rate, no weight decay, plain
# softmax cross-entropy (the same in both frameworks).
LEARNING_RATE = 0.1
MOMENTUM = 0.9
LABEL_SMOOTHING = 0.0
# Classes `predict` returns in inference mode (jaxvision.tasks.classification.TOP_K).
INFERENCE_TOP_K = 5
# jaxvision.ops.image.IMAGENET_MEAN / IMAGENET_STD ([0, 255] units). Repeated here rather than
# imported: importing jaxvision would load JAX into the PyTorch child and inflate its memory.
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
NUM_CHANNELS = 3
DATA_SEED = 0
INIT_SEED = 0

# Child processes print their result on one stdout line behind this marker.
RESULT_MARKER = "THROUGHPUT_RESULT "
# Lines of a failed child's stderr quoted in the error.
ERROR_TAIL_LINES = 40
# ru_maxrss is in KiB on Linux and in bytes on macOS.
BYTES_PER_MIB = 2**20
KIB_PER_MIB = 2**10
REPO_ROOT = Path(__file__).resolve().parents[1]

T = TypeVar("T")


# Timing. --------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Timing:
    """Wall-clock times of a benchmarked step.

    Attributes:
      first_s: the first call (JAX: tracing + compilation + one run).
      steps_s: each timed steady-state step, in order.
    """

    first_s: float
    steps_s: tuple[float, ...]

    @property
    def median_s(self) -> float:
        return statistics.median(self.steps_s)

    @property
    def mean_s(self) -> float:
        return statistics.fmean(self.steps_s)

    @property
    def min_s(self) -> float:
        return min(self.steps_s)


def time_steps(
    step: Callable[[T], T],
    carry: T,
    *,
    steps: int,
    warmup: int,
    sync: Callable[[T], Any],
) -> tuple[Timing, T]:
    """Times a step function: one first call, `warmup` untimed calls, `steps` timed calls.

    Each call is synchronised with `sync` before its clock stops, so asynchronous dispatch
    (JAX) cannot leak work into the next step's time.

    Args:
      step: `carry -> carry`, one step (e.g. `state -> new state`).
      carry: the initial carry.
      steps: timed calls (>= 1).
      warmup: untimed calls after the first one (>= 0).
      sync: blocks until a carry is computed (`jax.block_until_ready`; a no-op for eager
        PyTorch on the CPU).

    Returns:
      The `Timing` and the last carry.

    Example:
      >>> timing, _ = time_steps(lambda n: n + 1, 0, steps=3, warmup=1, sync=lambda n: n)
      >>> len(timing.steps_s)
      3
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    start = time.perf_counter()
    carry = step(carry)
    sync(carry)
    first_s = time.perf_counter() - start
    for _ in range(warmup):
        carry = step(carry)
        sync(carry)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        carry = step(carry)
        sync(carry)
        times.append(time.perf_counter() - start)
    return Timing(first_s=first_s, steps_s=tuple(times)), carry


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / BYTES_PER_MIB if sys.platform == "darwin" else peak / KIB_PER_MIB


def pin_threads(threads: int) -> list[int]:
    """Restricts this process to `threads` CPUs when fewer than it may use; returns its CPUs.

    Call it before JAX or PyTorch is imported: their thread pools are sized at start-up.
    """
    if not hasattr(os, "sched_setaffinity"):  # macOS, Windows: no affinity API
        return list(range(os.cpu_count() or 1))
    usable = sorted(os.sched_getaffinity(0))
    if threads < len(usable):
        os.sched_setaffinity(0, usable[:threads])
    return sorted(os.sched_getaffinity(0))


def _result(framework: str, args: argparse.Namespace, timing: Timing, compile_s: float) -> dict:
    """The per-framework JSON record shared by both children."""
    return {
        "framework": framework,
        "images_per_s": args.batch_size / timing.median_s,
        "step_time_median_s": timing.median_s,
        "step_time_mean_s": timing.mean_s,
        "step_time_min_s": timing.min_s,
        "step_times_s": list(timing.steps_s),
        "first_step_s": timing.first_s,
        "compile_time_s": compile_s,
        "peak_rss_mib": peak_rss_mib(),
        "threads": args.threads,
    }


def _synthetic_batch(args: argparse.Namespace) -> dict[str, Any]:
    """Random uint8 images [b, s, s, 3] and int32 labels [b], as a NumPy dict."""
    import numpy as np

    rng = np.random.default_rng(DATA_SEED)
    shape = (args.batch_size, args.image_size, args.image_size, NUM_CHANNELS)
    return {
        "image": rng.integers(0, 256, shape, dtype=np.uint8),  # [b, s, s, 3]
        "label": rng.integers(0, args.num_classes, (args.batch_size,), dtype=np.int32),  # [b]
    }


# JAX. -----------------------------------------------------------------------------------
def _jax_model_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """`get_model` keyword arguments: the stem and conv_impl where the model has those fields."""
    from jaxvision import models

    probe = models.get_model(args.model, num_classes=args.num_classes)
    kwargs: dict[str, Any] = {}
    if hasattr(probe, "stem"):
        kwargs["stem"] = args.stem
    if args.conv_impl is not None:
        if not hasattr(probe, "conv_impl"):
            raise ValueError(f"--conv_impl: model {args.model!r} has no conv_impl field")
        kwargs["conv_impl"] = args.conv_impl
    return kwargs


def run_jax(args: argparse.Namespace) -> dict[str, Any]:
    """Times the jaxvision step (train or inference) in this process; returns its record."""
    import jax
    import ml_collections

    from jaxvision import optim
    from jaxvision.data.sources import DatasetMeta
    from jaxvision.engine import mesh as mesh_lib
    from jaxvision.engine import steps as steps_lib
    from jaxvision.engine import train_state
    from jaxvision.tasks.classification import ClassificationTask

    mesh = mesh_lib.make_mesh()
    if args.batch_size % mesh.size:
        raise ValueError(f"--batch-size={args.batch_size} is not divisible by {mesh.size} devices")
    model_kwargs = _jax_model_kwargs(args)
    config = ml_collections.ConfigDict(
        {
            "model": {"name": args.model, "dtype": args.dtype, "kwargs": model_kwargs},
            "label_smoothing": LABEL_SMOOTHING,
            "dataset": {"train_pp": "", "eval_pp": ""},
        }
    )
    class_names = tuple(f"class_{i}" for i in range(args.num_classes))
    task = ClassificationTask(config, DatasetMeta("synthetic", class_names, args.batch_size))
    batch = mesh_lib.global_batch(_synthetic_batch(args), mesh)
    init_rng = jax.random.key(INIT_SEED)
    # Initialised under jit, as `jaxvision.engine.build.init_state` does (not imported: it
    # loads the checkpointing and input-pipeline libraries, inflating peak memory). Compiled
    # with the compiler options `python -m train` uses (`train/host_tuning.py`).
    replicated = mesh_lib.replicated(mesh)

    if args.inference:
        variables = jax.jit(task.init_variables, out_shardings=replicated)(init_rng, batch)
        predict = steps_lib.compile_predict(task, mesh, host_tuning.for_backend(inference=True))
        step = lambda _: predict(variables, batch["image"])
        carry = None
    else:
        opt_config = optim.default_config()
        opt_config.update(
            name="sgd", learning_rate=LEARNING_RATE, momentum=MOMENTUM, schedule="constant"
        )
        tx, schedule = optim.make_optimizer(opt_config, total_steps=1 + args.warmup + args.steps)

        def init(rng: jax.Array, batch: dict[str, jax.Array]) -> train_state.TrainState:
            variables = task.init_variables(rng, batch)["model"]
            net = train_state.create_network(variables, tx, schedule)
            return train_state.TrainState.create({"model": net})

        state = jax.jit(init, out_shardings=replicated)(init_rng, batch)
        train_step = steps_lib.compile_train_step(task, mesh, None, host_tuning.for_backend())
        step_rng = jax.random.key(DATA_SEED)
        step = lambda carry: train_step(carry[0], batch, step_rng)  # carry: (state, metrics)
        carry = (state, None)

    timing, _ = time_steps(
        step, carry, steps=args.steps, warmup=args.warmup, sync=jax.block_until_ready
    )
    record = _result(JAX, args, timing, compile_s=max(0.0, timing.first_s - timing.median_s))
    record.update(
        stem=getattr(task.model, "stem", None),
        backend=jax.default_backend(),
        devices=[str(d) for d in jax.devices()],
        conv_impl=getattr(task.model, "conv_impl", None),
    )
    return record


# PyTorch. -------------------------------------------------------------------------------
def run_torch(args: argparse.Namespace) -> dict[str, Any]:
    """Times the PyTorch reference step (train or inference) in this process."""
    import torch

    from benchmarks.torch_models import torch_resnet

    torch.set_num_threads(args.threads)
    torch.manual_seed(INIT_SEED)
    device = torch.device(args.torch_device)
    memory_format = torch.channels_last if args.torch_channels_last else torch.contiguous_format
    model = torch_resnet(args.model, args.num_classes, args.stem)
    model = model.to(device=device, memory_format=memory_format)
    data = _synthetic_batch(args)
    images = torch.from_numpy(data["image"]).to(device)  # [b, s, s, 3] uint8
    labels = torch.from_numpy(data["label"]).long().to(device)  # [b]
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, NUM_CHANNELS, 1, 1)
    inv_std = 1.0 / torch.tensor(IMAGENET_STD, device=device).view(1, NUM_CHANNELS, 1, 1)
    autocast = lambda: torch.autocast(device.type, torch.bfloat16, enabled=args.dtype == "bfloat16")
    # A step's time is its latency: wait for the GPU's queue before the clock stops.
    sync = (lambda _: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda _: None)

    def normalized() -> torch.Tensor:
        x = images.permute(0, 3, 1, 2).float()  # [b, 3, s, s]
        return ((x - mean) * inv_std).contiguous(memory_format=memory_format)

    if args.inference:
        model.eval()
        top_k = min(INFERENCE_TOP_K, args.num_classes)

        def step(_: Any) -> Any:
            with torch.inference_mode(), autocast():
                logits = model(normalized())  # [b, k]
                return torch.topk(torch.softmax(logits.float(), dim=-1), top_k)

    else:
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
        loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=LABEL_SMOOTHING)

        def step(_: Any) -> Any:
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                logits = model(normalized())  # [b, k]
            loss = loss_fn(logits.float(), labels)
            loss.backward()
            optimizer.step()
            return loss.detach()

    timing, _ = time_steps(step, None, steps=args.steps, warmup=args.warmup, sync=sync)
    record = _result(TORCH, args, timing, compile_s=timing.first_s)
    record.update(
        device=device.type,
        num_threads=torch.get_num_threads(),
        channels_last=args.torch_channels_last,
    )
    return record


def time_torch_reference(
    job: dict[str, Any],
    threads: int,
    build: Callable[[dict[str, Any]], tuple[Any, Callable[[Any], Any], Callable[[Any], Any]]],
) -> dict[str, dict[str, Any]]:
    """Times a suite job's eager PyTorch reference on the CPU: its train step, then its
    predict step with the model in eval mode (`benchmarks.torch_restoration.run`,
    `benchmarks.torch_segmentation.run`).

    Args:
      job: from `benchmarks.suite.make_job` (`cpu_batch_size`, `steps`, `warmup`).
      threads: PyTorch intra-op threads.
      build: `job -> (model, train_step, predict_step)`, called once threads and seed are set:
        the torch module and its steps (`_ -> loss`, `_ -> outputs`, for `time_steps`).

    Returns:
      {"train": record, "inference": record}, records as `run_torch`'s.
    """
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(INIT_SEED)
    model, train_step, predict_step = build(job)
    args = argparse.Namespace(batch_size=job["cpu_batch_size"], threads=threads)
    records = {}
    for mode, step in (("train", train_step), ("inference", predict_step)):
        if mode == "inference":
            model.eval()
        timing, _ = time_steps(
            step, None, steps=job["steps"], warmup=job["warmup"], sync=lambda _: None
        )
        record = _result(TORCH, args, timing, compile_s=timing.first_s)
        record.update(device="cpu", num_threads=torch.get_num_threads(), channels_last=False)
        records[mode] = record
    return records


RUNNERS = {JAX: run_jax, TORCH: run_torch}


# Driver. --------------------------------------------------------------------------------
def _child_argv(args: argparse.Namespace, framework: str) -> list[str]:
    """The command line of the child process that benchmarks `framework`."""
    argv = [
        sys.executable,
        "-m",
        "benchmarks.throughput",
        f"--framework={framework}",
        f"--model={args.model}",
        f"--image-size={args.image_size}",
        f"--batch-size={args.batch_size}",
        f"--stem={args.stem}",
        f"--num-classes={args.num_classes}",
        f"--steps={args.steps}",
        f"--warmup={args.warmup}",
        f"--dtype={args.dtype}",
        f"--threads={args.threads}",
    ]
    if args.conv_impl is not None:
        argv.append(f"--conv_impl={args.conv_impl}")
    if args.inference:
        argv.append("--inference")
    if args.torch_channels_last:
        argv.append("--torch-channels-last")
    argv.append(f"--torch-device={args.torch_device}")
    return argv


def run_child(args: argparse.Namespace, framework: str) -> dict[str, Any]:
    """Runs one framework's benchmark in a fresh Python process and returns its record."""
    proc = subprocess.run(
        _child_argv(args, framework),
        cwd=REPO_ROOT,
        env=host_tuning.tuned_environ(),  # both frameworks alike
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_MARKER)]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.splitlines()[-ERROR_TAIL_LINES:])
        raise RuntimeError(f"the {framework} benchmark failed (exit {proc.returncode}):\n{tail}")
    return json.loads(lines[-1].removeprefix(RESULT_MARKER))


def median_record(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The record of median images/s among rounds (the lower median for an even count).

    Example:
      >>> median_record([{"images_per_s": v} for v in (3.0, 1.0, 2.0)])
      {'images_per_s': 2.0}
    """
    ranked = sorted(records, key=lambda record: record["images_per_s"])
    return ranked[(len(ranked) - 1) // 2]


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str | None:
    """The CPU model name from /proc/cpuinfo (Linux); `platform.processor()` is often empty."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return None


def machine_info(jax_devices: list[str] | None) -> dict[str, Any]:
    """Where the benchmark ran: CPU, platform, devices, library versions and date."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "jax_devices": jax_devices,
        "versions": {p: _version(p) for p in ("jax", "jaxlib", "flax", "optax", "torch")},
        "children_glibc_tunables": host_tuning.tuned_environ().get(host_tuning.TUNABLES_VAR),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def _summary(args: argparse.Namespace, report: dict[str, Any]) -> str:
    """One human-readable line."""
    mode = "inference" if args.inference else "train"
    stem = report["results"][JAX]["stem"]
    stem = f" {stem} stem" if stem else ""
    head = (
        f"{args.model} {mode} {args.image_size}px{stem} batch {args.batch_size} "
        f"{args.dtype} threads={args.threads}:"
    )
    parts = [
        f"{name} on {r.get('backend') or r.get('device')} {r['images_per_s']:.1f} img/s "
        f"({r['step_time_median_s'] * 1e3:.1f} ms/step, "
        f"compile {r['compile_time_s']:.1f} s, {r['peak_rss_mib']:.0f} MiB)"
        for name, r in report["results"].items()
    ]
    ratio = report["ratio_jax_over_torch"]
    if ratio is not None:
        parts.append(f"jax/torch {ratio:.2f}x")
    rounds = report.get("rounds")
    if rounds:
        text = f"median of {len(rounds[JAX])} rounds"
        if "ratio" in rounds:
            text += " (ratios " + " ".join(f"{r:.2f}" for r in rounds["ratio"]) + ")"
        parts.append(text)
    return f"{head} " + " | ".join(parts)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parses and completes the command line (stem and class count from the image size)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.throughput",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, help="a jaxvision.models name")
    parser.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument(
        "--stem",
        choices=STEMS,
        default=None,
        help=f"ResNet stem; default cifar up to {CIFAR_STEM_MAX_IMAGE_SIZE} px, imagenet above",
    )
    parser.add_argument(
        "--num-classes", type=int, default=None, help="default 10 (cifar stem) / 1000 (imagenet)"
    )
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="timed steps")
    parser.add_argument(
        "--warmup", type=int, default=DEFAULT_WARMUP, help="untimed steps after the first"
    )
    parser.add_argument("--dtype", choices=DTYPES, default="float32", help="compute dtype")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count(), help="CPU threads of each framework"
    )
    parser.add_argument(
        "--conv_impl",
        choices=("auto", "xla", "im2col"),
        default=None,
        help="the model's conv_impl (jaxvision.ops.conv lowering); default: the model's",
    )
    parser.add_argument(
        "--inference", action="store_true", help="time the eval-mode forward, not training"
    )
    parser.add_argument("--compare", choices=COMPARE_CHOICES, default="none")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="runs of each framework's child, taking turns; each reports its median round",
    )
    parser.add_argument(
        "--torch-channels-last", action="store_true", help="NHWC memory format for PyTorch"
    )
    parser.add_argument(
        "--torch-device",
        choices=TORCH_DEVICES,
        default="cpu",
        help="where PyTorch runs (cuda: the first GPU; the JAX side runs on its default backend)",
    )
    parser.add_argument("--json", default=None, help="write the report to this file")
    parser.add_argument(
        "--framework",
        choices=FRAMEWORKS,
        default=None,
        help="internal: benchmark one framework in this process, JSON record on stdout",
    )
    args = parser.parse_args(argv)

    for name in ("image_size", "batch_size", "steps", "threads", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.warmup < 0:
        parser.error("--warmup must be >= 0")
    if args.stem is None:
        args.stem = "cifar" if args.image_size <= CIFAR_STEM_MAX_IMAGE_SIZE else "imagenet"
    if args.num_classes is None:
        args.num_classes = NUM_CLASSES_BY_STEM[args.stem]
    needs_torch = args.compare == TORCH or args.framework == TORCH
    if needs_torch and not args.model.startswith(TORCH_MODEL_PREFIX):
        parser.error(f"no PyTorch reference for {args.model!r}; only ResNets have one")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the benchmark; returns the report (or, with `--framework`, that framework's record).

    Example:
      >>> report = main(["--model=resnet_tiny", "--image-size=16", "--batch-size=4",
      ...                "--steps=2", "--warmup=1", "--compare=torch"])
      resnet_tiny train 16px cifar stem batch 4 float32 threads=...: jax on cpu ... img/s
      (... ms/step, compile ... s, ... MiB) | torch on cpu ... img/s (... ms/step, compile ... s,
      ... MiB) | jax/torch ...x
      >>> sorted(report["results"])
      ['jax', 'torch']
    """
    args = parse_args(argv)
    if args.framework is not None:  # child mode
        cpus = pin_threads(args.threads)
        record = RUNNERS[args.framework](args)
        record["cpu_affinity"] = cpus
        print(RESULT_MARKER + json.dumps(record), flush=True)
        return record

    frameworks = (JAX, TORCH) if args.compare == TORCH else (JAX,)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in frameworks}
    for _ in range(args.rounds):  # the children take turns: drift hits both alike
        for name in frameworks:
            runs[name].append(run_child(args, name))
    results = {name: median_record(records) for name, records in runs.items()}
    ratio = None
    if TORCH in results:
        ratio = results[JAX]["images_per_s"] / results[TORCH]["images_per_s"]
    config = {
        k: getattr(args, k)
        for k in (
            "model",
            "image_size",
            "batch_size",
            "stem",
            "num_classes",
            "dtype",
            "steps",
            "warmup",
            "threads",
            "torch_channels_last",
            "torch_device",
            "compare",
        )
    }
    report = {
        "benchmark": "throughput",
        "mode": "inference" if args.inference else "train",
        "config": config,
        "results": results,
        "ratio_jax_over_torch": ratio,
        "machine": machine_info(results[JAX].get("devices")),
    }
    if args.rounds > 1:
        report["rounds"] = {
            name: [record["images_per_s"] for record in records] for name, records in runs.items()
        }
        if TORCH in runs:  # a ratio a round, of children that ran back to back
            report["rounds"]["ratio"] = [
                j["images_per_s"] / t["images_per_s"]
                for j, t in zip(runs[JAX], runs[TORCH], strict=True)
            ]
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(_summary(args, report), flush=True)
    return report


if __name__ == "__main__":
    main()
