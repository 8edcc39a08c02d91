"""Input-pipeline throughput: Grain (+ tf.data) alone, and beside each task's train step.

Part 1, ImageNet-like: generates `--num_images` JPEGs of 500 x 375 (`benchmarks.jpeg_data`,
under `--data_dir`), opens them as an `image_folder` source and times
`jaxvision.data.pipeline.train_dataset` with the ImageNet train spec
`random_resized_crop(224)|flip_lr` (read, JPEG decode, crop, resize, flip, batch), for each
`--workers` count: images/s, and images/s per worker (worker_count 0 reads in the main process
with `read_threads` threads; it counts as one worker). Beside it, when TensorFlow can be
imported (here, or from `--tf_path`), a tf.data pipeline doing the same work
(`benchmarks.pipeline_tf`) with 1 and 2 threads, in a child process.

Part 2, per task: for every `benchmarks.suite` entry whose config exists, the config's own
`train_pp` and `train_keys` (through its task class) on its built-in dataset
(`jaxvision_shapes/...`), on the generated JPEGs (ImageNet configs) or on in-memory 32 px PNGs
(CIFAR configs), at the suite's CPU batch size and the config's worker count (at most the CPU
count). With `--suite_json` (a `benchmarks.suite` report) each row gets the train step's
images/s and the ratio pipeline / train step, which must stay above 1: the pipeline must never
be what limits training. Both throughputs are measured alone; in a real run they share the
CPUs, so on a CPU-only machine the ratio is an upper bound.

Timing: warm-up batches (start-up, then as many batches as the prefetch buffers hold, so that
the timed ones come at the production rate: `warmup_batches`), then `--batches` batches.

Run:
  python -m benchmarks.pipeline --json=/tmp/pipeline.json --suite_json=/tmp/suite.json
  python -m benchmarks.pipeline --tf_path=/tmp/tfsite --json=/tmp/pipeline.json  # with tf.data
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import jpeg_data, suite, throughput

IMAGENET_SPEC = "random_resized_crop(224)|flip_lr"
IMAGENET_CROP = 224
IMAGENET_DATASETS = ("imagenet2012",)
CIFAR_DATASETS = ("cifar10", "cifar100")
CIFAR_IMAGE_SIZE = 32
SHAPES_PREFIX = "jaxvision_shapes"
DEFAULT_DATA_DIR = "/tmp/jaxvision_pipeline_bench"
DEFAULT_NUM_IMAGES = 512
DEFAULT_BATCH_SIZE = 64
DEFAULT_BATCHES = 8
DEFAULT_MIN_IMAGES = 256
DEFAULT_WORKERS = "0,1,2"
TF_THREADS = (1, 2)
SEED = 0
RESULT_MARKER = "PIPELINE_RESULT "
ERROR_TAIL_LINES = 20


def warmup_batches(options: Any, batch_size: int) -> int:
    """Batches to consume before timing: 1 + all that the pipeline's buffers can hold.

    Each process that reads (the main one, or each worker) prefetches
    `prefetch_buffer_size` records, and each worker `worker_buffer_size` batches more. Timing
    starts once those are drained, so it sees the production rate, not the buffers.
    """
    records = math.ceil(options.prefetch_buffer_size / batch_size)
    if options.worker_count == 0:
        return 1 + records
    return 1 + options.worker_count * (records + options.worker_buffer_size)


def time_grain(
    source: Any, spec: str, keys: Sequence[str], batch_size: int, batches: int, workers: int,
    read_threads: int | None = None, max_boxes: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Images/s of `jaxvision.data.pipeline.train_dataset` over `source`.

    Args:
      source: a random-access source.
      spec: the preprocessing spec.
      keys: the feature keys batches keep.
      batch_size: images a batch.
      batches: timed batches (after `warmup_batches`).
      workers: Grain worker processes (0: the main process).
      read_threads: the source's read threads (None: `LoaderOptions`' default).
      max_boxes: pad detection targets to this many boxes (`train_dataset`'s `max_boxes`).

    Returns:
      `images_per_s`, `images_per_s_per_worker`, `worker_count`, `read_threads`,
      `batch_size`, `batches`.
    """
    from jaxvision.data import pipeline

    options = pipeline.LoaderOptions(worker_count=workers)
    if read_threads is not None:
        options = pipeline.LoaderOptions(worker_count=workers, read_threads=read_threads)
    ds = pipeline.train_dataset(
        source,
        spec,
        keys,
        global_batch_size=batch_size,
        seed=SEED,
        options=options,
        max_boxes=max_boxes,
    )
    it = iter(ds)
    for _ in range(warmup_batches(options, batch_size)):
        next(it)  # worker start-up, then drains what the buffers prefetched meanwhile
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    ips = batches * batch_size / (time.perf_counter() - start)
    del it, ds
    gc.collect()  # stops the worker processes before the next measurement
    return {
        "images_per_s": ips,
        "images_per_s_per_worker": ips / max(workers, 1),
        "worker_count": workers,
        "read_threads": options.read_threads,
        "batch_size": batch_size,
        "batches": batches,
    }


def run_tf(args: argparse.Namespace, threads: int) -> dict[str, Any] | None:
    """The tf.data arm in a child process; None (and a message) when TF is not importable."""
    env = dict(os.environ)
    if args.tf_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.tf_path, env.get("PYTHONPATH")]))
    argv = [sys.executable, "-m", "benchmarks.pipeline", f"--tf_child={threads}"]
    argv += [f"--data_dir={args.data_dir}", f"--batch_size={args.batch_size}"]
    argv += [f"--batches={args.batches}"]
    proc = subprocess.run(
        argv, cwd=throughput.REPO_ROOT, env=env, capture_output=True, text=True, check=False
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_MARKER)]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.splitlines()[-ERROR_TAIL_LINES:])
        raise RuntimeError(f"the tf.data child failed (exit {proc.returncode}):\n{tail}")
    return json.loads(lines[-1].removeprefix(RESULT_MARKER))


def _tf_importable(args: argparse.Namespace) -> bool:
    """Whether a child with `--tf_path` on its path can import TensorFlow."""
    env = dict(os.environ)
    if args.tf_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.tf_path, env.get("PYTHONPATH")]))
    code = "import importlib.util, sys; sys.exit(importlib.util.find_spec('tensorflow') is None)"
    return subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 0


# Per-task sources. ----------------------------------------------------------------------
def task_source(entry: suite.Entry, config: Any, args: argparse.Namespace) -> tuple[Any, str]:
    """The source a config's pipeline is timed on, and its description.

    Raises:
      LookupError: no local stand-in for the config's dataset.
    """
    from jaxvision.data import sources

    name = config.dataset.name
    if name.startswith(SHAPES_PREFIX):
        source, _ = sources.open_split(
            name, config.dataset.train_split, config.dataset.data_dir or None
        )
        return source, f"built-in {name}"
    if name in IMAGENET_DATASETS:
        return jpeg_data.load_image_folder(args.data_dir), "generated 500x375 JPEGs"
    if name in CIFAR_DATASETS:
        source = jpeg_data.EncodedImageSource(args.num_images, CIFAR_IMAGE_SIZE)
        return source, "in-memory 32 px PNGs (CIFAR-like)"
    raise LookupError(f"no local stand-in for dataset {name!r}")


def task_rows(
    args: argparse.Namespace,
    train_ips: dict[str, float],
    entries: Sequence[suite.Entry] = suite.ENTRIES,
) -> list[dict[str, Any]]:
    """Pipeline images/s of each suite entry's config, beside its train step's images/s.

    Args:
      args: the parsed command line (`--batches`, `--min_images`, `--data_dir` ...).
      train_ips: entry name -> train-step images/s (`suite_train_ips`).
      entries: the suite entries to time.

    Returns:
      One dict per entry: `status`, and for "ok" `pipeline` (see `time_grain`), `source`,
      `train_pp`, `train_step_images_per_s`, `ratio_pipeline_over_train`.
    """
    from jaxvision import tasks
    from jaxvision.data.sources import DatasetMeta

    rows = []
    for entry in entries:
        row: dict[str, Any] = {"name": entry.name, "config": entry.config, "status": "ok"}
        try:
            config = suite.load_config(entry.config)
            source, described = task_source(entry, config, args)
        except (FileNotFoundError, LookupError) as e:
            rows.append({**row, "status": "skipped", "reason": str(e)})
            continue
        except Exception as e:  # e.g. a dataset being generated by another process
            rows.append({**row, "status": "error", "reason": f"{type(e).__name__}: {e}"})
            continue
        class_names = tuple(f"class_{i}" for i in range(entry.num_classes))
        task = tasks.get_task(config.task)(config, DatasetMeta("bench", class_names, len(source)))
        workers = min(config.dataset.worker_count, os.cpu_count() or 1)
        # Detection tasks pad their targets through the pipeline's max_boxes, as in training.
        max_boxes = task.max_boxes
        try:
            batches = max(args.batches, math.ceil(args.min_images / entry.batch_size))
            result = time_grain(
                source, task.train_pp, task.train_keys, entry.batch_size, batches, workers,
                config.dataset.read_threads, max_boxes,
            )  # fmt: skip
        except Exception as e:  # a config's pipeline that fails is reported, not fatal
            rows.append({**row, "status": "error", "reason": f"{type(e).__name__}: {e}"})
            continue
        train = train_ips.get(entry.name)
        row.update(
            source=described,
            train_pp=task.train_pp,
            pipeline=result,
            train_step_images_per_s=train,
            ratio_pipeline_over_train=None if train is None else result["images_per_s"] / train,
        )
        rows.append(row)
    return rows


def suite_train_ips(path: str | None) -> dict[str, float]:
    """Entry name -> JAX train images/s from a `benchmarks.suite` JSON report."""
    if not path:
        return {}
    report = json.loads(Path(path).read_text())
    return {
        e["name"]: e["jax"]["train"]["images_per_s"]
        for e in report["entries"]
        if e["status"] == "ok" and e.get("jax")
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.pipeline",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--json", default=None, help="write the report here")
    parser.add_argument("--data_dir", default=DEFAULT_DATA_DIR, help="generated JPEGs go here")
    parser.add_argument("--num_images", type=int, default=DEFAULT_NUM_IMAGES)
    parser.add_argument("--batch_size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--batches", type=int, default=DEFAULT_BATCHES, help="timed batches")
    parser.add_argument(
        "--min_images", type=int, default=DEFAULT_MIN_IMAGES, help="timed images at least"
    )
    parser.add_argument("--workers", default=DEFAULT_WORKERS, help="Grain worker counts")
    parser.add_argument("--tf_path", default=None, help="extra sys.path holding TensorFlow")
    parser.add_argument("--suite_json", default=None, help="a benchmarks.suite report")
    parser.add_argument("--skip_tasks", action="store_true", help="only the ImageNet-like part")
    parser.add_argument("--tf_child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("num_images", "batch_size", "batches"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    args.worker_counts = [int(w) for w in args.workers.split(",")]
    if any(w < 0 for w in args.worker_counts):
        parser.error("--workers must be >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the benchmark; returns the report.

    Example:
      >>> report = main(["--num_images=16", "--batch_size=4", "--batches=1", "--workers=0",
      ...                "--skip_tasks"])
      grain workers=0 read_threads=8: ... img/s (... per worker)
      grain workers=0 read_threads=1: ... img/s (... per worker)
      ...
      >>> report["grain"][0]["images_per_s"] > 0
      True
    """
    args = parse_args(argv)
    if args.tf_child is not None:
        from benchmarks import pipeline_tf

        record = pipeline_tf.run(
            args.data_dir, IMAGENET_CROP, args.batch_size, args.batches, args.tf_child
        )
        print(RESULT_MARKER + json.dumps(record), flush=True)
        return record

    load_start = os.getloadavg()
    jpeg_data.generate_jpegs(args.data_dir, args.num_images)
    source = jpeg_data.load_image_folder(args.data_dir)
    grain_rows = [
        time_grain(source, IMAGENET_SPEC, ("image", "label"), args.batch_size, args.batches, w)
        for w in args.worker_counts
    ]
    # One read thread, no worker: the cost of the work on one core.
    grain_rows.append(
        time_grain(source, IMAGENET_SPEC, ("image", "label"), args.batch_size, args.batches, 0, 1)
    )
    for row in grain_rows:
        print(
            f"grain workers={row['worker_count']} read_threads={row['read_threads']}: "
            f"{row['images_per_s']:.1f} img/s ({row['images_per_s_per_worker']:.1f} per worker)",
            flush=True,
        )
    tf_rows, tf_note = [], None
    if _tf_importable(args):
        for threads in TF_THREADS:
            tf_rows.append(run_tf(args, threads))
            print(f"tf.data threads={threads}: {tf_rows[-1]['images_per_s']:.1f} img/s", flush=True)
    else:
        tf_note = "TensorFlow is not importable (pass --tf_path=DIR): tf.data arm skipped"
        print(tf_note, flush=True)
    rows = [] if args.skip_tasks else task_rows(args, suite_train_ips(args.suite_json))
    for row in rows:
        if row["status"] != "ok":
            print(f"{row['name']}: {row['status']}: {row['reason'].splitlines()[0]}", flush=True)
            continue
        ratio = row["ratio_pipeline_over_train"]
        print(
            f"{row['name']}: pipeline {row['pipeline']['images_per_s']:.1f} img/s "
            f"(workers={row['pipeline']['worker_count']}, {row['source']}); train step "
            f"{row['train_step_images_per_s'] or float('nan'):.1f} img/s; ratio "
            f"{'-' if ratio is None else f'{ratio:.1f}x'}",
            flush=True,
        )
    report = {
        "benchmark": "pipeline",
        "command": "python -m benchmarks.pipeline "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "spec": IMAGENET_SPEC,
        "num_images": args.num_images,
        "grain": grain_rows,
        "tf_data": tf_rows,
        "tf_note": tf_note,
        "tasks": rows,
        "machine": throughput.machine_info(None),
        "load_average": {"start": load_start, "end": os.getloadavg()},
    }
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
