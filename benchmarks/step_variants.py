"""Interleaved A/B of one ResNet train step's variants, in one process.

Variants are the product of the model's `conv_impl` ("auto", "xla", "im2col"), the XLA
compiler options of the step ("engine": `train/host_tuning.py`'s `for_backend()`;
"xla_default": none, i.e. XLA:CPU's YNNPACK convolutions) and the conv rules of "auto"
(`named_rules`: a `jaxvision.ops.conv.ConvRules` each, passed as the model's `conv_impl`;
"xla" and "im2col" have no rules to vary). Compiler options take extra XLA options as
"+key=value" (below). Each variant is compiled once. The timed rounds then take turns, one
step of each variant per round, so the machine's drift hits all variants alike. That matters
on a shared machine, where separate runs minutes apart move by 10% or more.

The train step is the classification task's (softmax cross-entropy, SGD with momentum),
through `jaxvision.engine.steps.compile_train_step`, state donated, synthetic batch.

Run:
  python -m benchmarks.step_variants --model=resnet18 --image_size=32 --stem=cifar \
    --impls=auto,xla --options=engine,xla_default --rounds=5
  python -m benchmarks.step_variants --impls=auto \
    --options=engine,engine+xla_cpu_use_fusion_emitters=false   # extra XLA options
  python -m benchmarks.step_variants --impls=auto --options=engine \
    --rules=shipped,no_winograd,no_chunks   # a rule on and off
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Sequence
from typing import Any

OPTIONS = ("engine", "xla_default")
# "shipped": `DEFAULT_RULES`; "retuned": no batch chunks, stride-1 1x1 convs to XLA, strided
# convs to im2col only up to 3x3 outputs; "chunked_forward": the forward pass on batch chunks
# too; "no_chunks", "no_winograd", "no_space_to_depth", "no_width_fold", "no_row_fold": the
# shipped rules without that lowering.
RULES = (
    "shipped",
    "retuned",
    "chunked_forward",
    "no_chunks",
    "no_winograd",
    "no_space_to_depth",
    "no_width_fold",
    "no_row_fold",
)


def _option_value(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        return text


def named_compiler_options(name: str) -> dict[str, Any]:
    """Options of a variant: "engine", "xla_default", or either with "+key=value" extras
    (e.g. "engine+xla_cpu_use_fusion_emitters=false")."""
    from train import host_tuning as compiler_options

    base, *extras = name.split("+")
    if base not in OPTIONS:
        raise ValueError(f"options {name!r}: start with one of {OPTIONS}")
    options = compiler_options.for_backend() if base == "engine" else {}
    for extra in extras:
        key, sep, value = extra.partition("=")
        if not sep:
            raise ValueError(f"options {name!r}: {extra!r} is not key=value")
        options[key] = _option_value(value)
    return options


def named_rules(name: str) -> Any:
    """The `jaxvision.ops.conv.ConvRules` of a `RULES` name.

    Example:
      >>> named_rules("no_winograd").winograd_min_channels
      2147483648
    """
    import dataclasses

    from jaxvision.ops.conv import DEFAULT_RULES

    changes = {
        "shipped": {},
        "retuned": dict(batch_chunks=False, im2col_1x1=False, im2col_max_out_pixels_strided=9),
        "chunked_forward": dict(chunk_derivatives_only=False),
        "no_chunks": dict(batch_chunks=False),
        "no_winograd": dict(winograd_min_channels=2**31),
        "no_space_to_depth": dict(space_to_depth_max_in_channels=0),
        "no_width_fold": dict(width_fold_max_in_channels=0),
        "no_row_fold": dict(row_fold_max_out_channels=0),
    }
    if name not in changes:
        raise ValueError(f"Unknown rules {name!r}; valid: {', '.join(RULES)}")
    return dataclasses.replace(DEFAULT_RULES, **changes[name])


def model_conv_impl(impl: str, rules: str) -> Any:
    """The model's `conv_impl` of a variant: the named rules for "auto", else `impl`."""
    return named_rules(rules) if impl == "auto" else impl


def build_step(
    args: argparse.Namespace, impl: str, options: str, batch: Any, rules: str = "shipped"
) -> tuple:
    """(compiled step, initial state) of one variant."""
    import jax
    import ml_collections

    from benchmarks import throughput
    from jaxvision import optim
    from jaxvision.data.sources import DatasetMeta
    from jaxvision.engine import mesh as mesh_lib
    from jaxvision.engine import steps, train_state
    from jaxvision.tasks.classification import ClassificationTask

    config = ml_collections.ConfigDict(
        {
            "model": {
                "name": args.model,
                "dtype": "float32",
                "kwargs": {"stem": args.stem, "conv_impl": model_conv_impl(impl, rules)},
            },
            "label_smoothing": throughput.LABEL_SMOOTHING,
            "dataset": {"train_pp": "", "eval_pp": ""},
        }
    )
    names = tuple(f"class_{i}" for i in range(args.num_classes))
    task = ClassificationTask(config, DatasetMeta("synthetic", names, args.batch_size))
    opt = optim.default_config()
    opt.update(
        name="sgd",
        learning_rate=throughput.LEARNING_RATE,
        momentum=throughput.MOMENTUM,
        schedule="constant",
    )
    tx, schedule = optim.make_optimizer(opt, total_steps=1 + args.rounds)
    mesh = mesh_lib.make_mesh()

    # Replicated, as the step returns it: otherwise the second call compiles again.
    def init(rng, batch):
        net = train_state.create_network(task.init_variables(rng, batch)["model"], tx, schedule)
        return train_state.TrainState.create({"model": net})

    state = jax.jit(init, out_shardings=mesh_lib.replicated(mesh))(
        jax.random.key(throughput.INIT_SEED), batch
    )
    step = steps.compile_train_step(task, mesh, None, named_compiler_options(options))
    return step, state


def run(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Compiles every variant, times `rounds` interleaved steps; returns name -> record."""
    import jax

    from benchmarks import throughput
    from jaxvision.engine import mesh as mesh_lib

    mesh = mesh_lib.make_mesh()
    batch = mesh_lib.global_batch(throughput._synthetic_batch(args), mesh)
    rng = jax.random.key(throughput.DATA_SEED)
    variants = {}
    for impl, options, rules in itertools.product(args.impls, args.options, args.rules):
        step, state = build_step(args, impl, options, batch, rules)
        start = time.perf_counter()
        state, _ = step(state, batch, rng)  # compiles
        jax.block_until_ready(state)
        name = f"{impl}/{options}/{rules}"
        variants[name] = {"step": step, "state": state, "first_s": time.perf_counter() - start}
        variants[name]["times"] = []
    for _ in range(args.rounds):
        for v in variants.values():
            start = time.perf_counter()
            v["state"], _ = v["step"](v["state"], batch, rng)
            jax.block_until_ready(v["state"])
            v["times"].append(time.perf_counter() - start)
    return {
        name: {
            "median_s": statistics.median(v["times"][1:] or v["times"]),
            "images_per_s": args.batch_size / statistics.median(v["times"][1:] or v["times"]),
            "first_s": v["first_s"],
            "times_s": v["times"],
        }
        for name, v in variants.items()
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--image_size", type=int, default=32)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--stem", default="cifar", choices=("cifar", "imagenet"))
    parser.add_argument("--num_classes", type=int, default=10)
    parser.add_argument("--impls", default="auto,xla", type=lambda s: s.split(","))
    parser.add_argument("--options", default="engine,xla_default", type=lambda s: s.split(","))
    parser.add_argument("--rules", default="shipped", type=lambda s: s.split(","))
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (first dropped)")
    args = parser.parse_args(argv)
    for value, valid, flag in (
        ([o.split("+")[0] for o in args.options], OPTIONS, "--options"),
        (args.rules, RULES, "--rules"),
        (args.impls, ("auto", "xla", "im2col"), "--impls"),
    ):
        if not set(value) <= set(valid):
            parser.error(f"{flag}: choose from {', '.join(valid)}")
    if args.rounds < 2:
        parser.error("--rounds must be at least 2")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    args = parse_args(argv)
    records = run(args)
    for name, rec in records.items():
        print(
            f"{args.model}@{args.image_size} b{args.batch_size} {name:24s} "
            f"{rec['median_s']:.3f} s/step {rec['images_per_s']:7.1f} img/s "
            f"(compile + first {rec['first_s']:.1f} s; "
            f"steps {[round(t, 3) for t in rec['times_s']]})"
        )
    return records


if __name__ == "__main__":
    main()
