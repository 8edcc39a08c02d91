"""Compile and run time of the program that initialises a run's state, under JAX's defaults
against the host's init options (`train/host_tuning.init_options`).

For each suite entry named, this builds the task as the suite does (a synthetic batch of the
entry's CPU batch size) and, for each option set, jits `jaxvision.engine.build.jitted_init`,
times its lowering and compilation, then the second call of the compiled program; the
states of the two option sets are compared leaf by leaf (largest absolute difference).

Run:
  python -m benchmarks.init_compile --only=retinanet_small,maskrcnn_small,imagenet_resnet50

Prints one line per entry and option set; `--json` keeps the records.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any

from benchmarks import suite, suite_jax

OPTION_SETS = ("default", "host")


def time_init(entry: suite.Entry, batch_size: int | None) -> list[dict[str, Any]]:
    """One record an option set: `entry`, `options`, `compile_s`, `run_s`, `max_abs_diff`
    (against the default-compiled state; 0 for it). The batch is the suite's for `entry`
    (`suite.make_job`), of `batch_size` images when given."""
    import jax
    import numpy as np

    from jaxvision.engine import build
    from train import host_tuning

    job = suite.make_job(
        entry, suite.parse_args([f"--batch_size={batch_size}"] if batch_size else [])
    )
    setup, batch = suite_jax.synthetic_setup(
        suite.load_config(job["config"], job["overrides"]),
        job["cpu_batch_size"],
        job["image_size"],
        job["num_classes"],
        job["max_boxes"],
        job["scale"],
    )
    rng = jax.random.key(suite_jax.INIT_SEED)
    records, reference = [], None
    for name in OPTION_SETS:
        options = host_tuning.init_options() if name == "host" else {}
        start = time.perf_counter()
        compiled = build.jitted_init(setup, batch, rng, options).lower(rng, batch).compile()
        compile_s = time.perf_counter() - start
        jax.block_until_ready(compiled(rng, batch))
        start = time.perf_counter()
        state = jax.block_until_ready(compiled(rng, batch))
        run_s = time.perf_counter() - start
        leaves = [np.asarray(x, np.float64) for x in jax.tree.leaves(state)]
        reference = leaves if reference is None else reference
        diffs = [np.max(np.abs(a - b), initial=0.0) for a, b in zip(leaves, reference, strict=True)]
        diff = float(max(diffs))
        records.append(
            {
                "entry": entry.name,
                "options": name,
                "compile_s": compile_s,
                "run_s": run_s,
                "max_abs_diff": diff,
            }
        )
    return records


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="retinanet_small", help="suite entries, by name")
    parser.add_argument("--batch_size", type=int, default=None, help="default: the entry's")
    parser.add_argument("--json", default=None, help="write the records here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Times every named entry's init program; returns (and prints) the records.

    Example:
      >>> records = main(["--only=demo_resnet_tiny", "--batch_size=2"])  # doctest: +ELLIPSIS
      demo_resnet_tiny default: compile ... s, run ... s
      demo_resnet_tiny host: compile ... s, run ... s, max |difference| ...
      >>> [r["options"] for r in records]
      ['default', 'host']
    """
    args = parse_args(argv)
    records = []
    for name in args.only.split(","):
        entry = suite.ENTRY_BY_NAME[name]
        for record in time_init(entry, args.batch_size):
            line = f"{name} {record['options']}: compile {record['compile_s']:.2f} s, "
            line += f"run {record['run_s']:.3f} s"
            if record["options"] != "default":
                line += f", max |difference| {record['max_abs_diff']:.2e}"
            print(line)
            records.append(record)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=2)
    return records


if __name__ == "__main__":
    main()
