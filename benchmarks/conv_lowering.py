"""Conv lowerings on the ResNet-18 conv shapes: XLA's convolution vs im2col matmuls vs torch.

Times the forward and the forward+backward (jit, after compile, median of rounds that take
turns between the impls) of each `jaxvision.ops.conv.conv_general` impl ("xla", "im2col",
"winograd" where it applies, on 3x3 stride-1 convs, and "auto", which on CPU also splits XLA's
conv into batch chunks and takes Winograd for wide convs) on every distinct conv of a
ResNet-18 at 32 px (CIFAR stem), 64 px and 224 px (ImageNet stem), and of `conv_transpose` on
decoder-style shapes, beside `torch.nn.functional.conv2d` / `conv_transpose2d` (NCHW, same
thread count, timed in a subprocess of its own) for reference. Prints a table of GFLOP/s and
network totals (count-weighted ms), and writes JSON. The backward of a stem conv computes the
kernel gradient only (its input is data), as in training. More shape sets: --nets=tiny_32
(ResNetTiny), other (1x1, grouped, depthwise, atrous).

JAX compiles under the engine's compiler options (`--options=engine`, the default:
`train/host_tuning.py`'s `for_backend()`, as `python -m train`'s train step compiles), or
under XLA's own defaults (`--options=xla_default`: YNNPACK convolutions on XLA:CPU), or
either with extra "+key=value" XLA options (`benchmarks.step_variants.named_compiler_options`).

With --gradients, each conv's two gradients are also timed apart: the input gradient ("dx",
`jax.vjp` in the input alone) and the kernel gradient ("dw", in the kernel alone), against
`torch.nn.grad.conv2d_input` / `conv2d_weight` (for a transposed conv, its adjoint: the input
gradient is `conv2d` of the cotangent, the kernel gradient `conv2d_weight` with the roles of
input and cotangent swapped). Neither computes the forward pass.

With --train, times instead a whole SGD train step of ResNets (`TRAIN_CASES`) built with
each `conv_impl` of --conv_impls ("xla": XLA's convolution, what `nn.Conv` runs; "auto"),
against the torch reference ResNet of `benchmarks.torch_models`.

"auto" (and its choice in the table) follows `jaxvision.ops.conv.DEFAULT_RULES`, or with
--rules another `ConvRules` (`benchmarks.step_variants.named_rules`, e.g. --rules=no_winograd).

Run:
  python -m benchmarks.conv_lowering --json=/tmp/conv_lowering.json   # ~2.5 min on 2 cores
  python -m benchmarks.conv_lowering --quick                          # smoke run, ~15 s
  python -m benchmarks.conv_lowering --train --min_time=2 --repeats=5 # ~3.5 min
  python -m benchmarks.conv_lowering --nets=r18_32 --batch=128 --gradients  # dx, dw apart

The rules of `jaxvision.ops.conv` (`ConvRules`: `choose_impl`, `choose_batch_chunk`) come
from this benchmark's output on XLA:CPU. Compare with torch on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import functools
import json
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch

from benchmarks.step_variants import RULES, named_compiler_options, named_rules
from jaxvision.ops import conv as conv_ops
from jaxvision.ops.conv import DEFAULT_RULES, ConvRules, winograd

# Measured: "winograd" on 3x3 stride-1 convs only; "auto" on CPU adds batch chunking to "xla"
# and takes Winograd for wide convs.
IMPLS = ("xla", "im2col", "winograd", "auto")
MODES = ("fwd", "fwd_bwd")  # always timed
GRADIENT_MODES = ("dx", "dw")  # with --gradients
RESNET18 = ((64, 128, 256, 512), (2, 2, 2, 2))  # widths and blocks of the stages
RESNET_TINY = ((16, 32, 64, 128), (1, 1, 1, 1))


@dataclasses.dataclass(frozen=True)
class ConvCase:
    """One conv of a network: a [batch, size, size, cin] input and a k x k kernel."""

    net: str
    size: int
    cin: int
    cout: int
    kernel: int
    stride: int
    count: int = 1  # occurrences in the network
    first: bool = False  # the stem: no input gradient
    transpose: bool = False  # conv_transpose ("SAME"), `size` is its input size
    groups: int = 1
    dilation: int = 1

    @property
    def name(self) -> str:
        kind = "T" if self.transpose else ""
        extra = f"g{self.groups}" if self.groups > 1 else ""
        extra += f"d{self.dilation}" if self.dilation > 1 else ""
        shape = f"{self.size}x{self.size}x{self.cin}->{self.cout}"
        return f"{shape} {kind}k{self.kernel}s{self.stride}{extra}"

    @property
    def pad(self) -> int:
        """torch-style symmetric padding that keeps size / stride."""
        return (self.kernel - 1) * self.dilation // 2

    @property
    def transpose_pads(self) -> tuple[int, int]:
        """torch's `conv_transpose2d` (padding, output_padding) for the "SAME"-sized
        (size x stride) output of a transposed conv."""
        k, s = self.kernel, self.stride
        return (k - s + 1) // 2, (k - s) % 2

    @property
    def winograd(self) -> bool:
        """Whether impl "winograd" computes this conv (3x3, stride 1, one group, no dilation)."""
        return not self.transpose and winograd.applies(
            (self.kernel, self.kernel, self.cin // self.groups, self.cout),
            (self.stride,) * 2,
            (self.dilation,) * 2,
            self.groups,
        )

    def out_size(self) -> int:
        if self.transpose:
            return self.size * self.stride
        span = (self.kernel - 1) * self.dilation + 1
        return (self.size + 2 * self.pad - span) // self.stride + 1

    def flops(self, batch: int) -> float:
        """Multiply-adds x 2 of the forward (of the conv without inserted zeros)."""
        pixels = self.size**2 if self.transpose else self.out_size() ** 2
        return 2.0 * batch * pixels * self.cin * self.cout * self.kernel**2 / self.groups


def resnet_cases(
    net: str, image_size: int, stem: str, arch: tuple[tuple[int, ...], tuple[int, ...]] = RESNET18
) -> list[ConvCase]:
    """The distinct convs of a basic-block ResNet (torch padding: k // 2), with their counts."""
    widths, stage_blocks = arch
    cases: dict[tuple, int] = {}

    def add(size, cin, cout, k, s, first=False):
        key = (size, cin, cout, k, s, first)
        cases[key] = cases.get(key, 0) + 1

    if stem == "cifar":
        add(image_size, 3, widths[0], 3, 1, first=True)
        size = image_size
    else:
        add(image_size, 3, widths[0], 7, 2, first=True)
        size = image_size // 4  # 7x7/2 conv and 3x3/2 max-pool
    cin = widths[0]
    for i, (width, blocks) in enumerate(zip(widths, stage_blocks, strict=True)):
        for j in range(blocks):
            stride = 2 if i > 0 and j == 0 else 1
            add(size, cin, width, 3, stride)
            if stride != 1 or cin != width:
                add(size, cin, width, 1, stride)
            size = (size - 1) // stride + 1
            add(size, width, width, 3, 1)
            cin = width
    return [
        ConvCase(net, size, ci, co, k, s, count=n, first=first)
        for (size, ci, co, k, s, first), n in cases.items()
    ]


def transpose_cases() -> list[ConvCase]:
    """Decoder upsampling convs (U-Net / DCGAN / SRGAN style), stride 2, "SAME"."""
    return [
        ConvCase("decoder", size, cin, cin // 2, k, 2, transpose=True)
        for size, cin in ((8, 256), (16, 128), (32, 64))
        for k in (2, 3, 4)
    ]


def other_cases() -> list[ConvCase]:
    """1x1 (bottleneck), depthwise / grouped (MobileNet, ResNeXt) and atrous (DeepLab) convs."""
    return [
        ConvCase("other", 56, 64, 256, 1, 1),
        ConvCase("other", 14, 256, 1024, 1, 1),
        ConvCase("other", 7, 2048, 512, 1, 1),
        ConvCase("other", 32, 64, 64, 3, 1, groups=64),
        ConvCase("other", 16, 256, 256, 3, 1, groups=256),
        ConvCase("other", 32, 128, 128, 3, 2, groups=128),
        ConvCase("other", 4, 512, 512, 3, 1, groups=512),
        ConvCase("other", 16, 256, 256, 3, 1, groups=32),
        ConvCase("other", 4, 512, 512, 3, 1, groups=32),
        ConvCase("other", 16, 256, 256, 3, 1, dilation=2),
        ConvCase("other", 8, 512, 512, 3, 1, dilation=4),
    ]


def quick_cases() -> list[ConvCase]:
    return [
        ConvCase("quick", 8, 16, 32, 3, 1, first=True),
        ConvCase("quick", 4, 32, 32, 3, 2),
        ConvCase("quick", 4, 32, 32, 3, 1),
        ConvCase("quick", 4, 32, 64, 1, 2),
        ConvCase("quick", 4, 32, 16, 4, 2, transpose=True),
    ]


def unet_plain_cases(image_size: int = 128) -> list[ConvCase]:
    """The classic U-Net of ``unet_plain_small`` (widths 8-128) on `image_size` px images."""
    net = "unet_plain" if image_size == 128 else f"unet_plain_{image_size}"
    cases = [ConvCase(net, image_size, 3, 8, 3, 1, first=True)]
    widths = (8, 16, 32, 64, 128)
    for i, width in enumerate(widths):
        size = image_size >> i
        if i > 0:
            cases.append(ConvCase(net, size, widths[i - 1], width, 3, 1))
        cases.append(ConvCase(net, size, width, width, 3, 1, count=2 if i < 4 else 1))
    for i in range(3, -1, -1):
        size, width = image_size >> i, widths[i]
        cases.append(ConvCase(net, size // 2, widths[i + 1], width, 2, 2, transpose=True))
        cases.append(ConvCase(net, size, 2 * width, width, 3, 1))
    cases.append(ConvCase(net, image_size, 8, 9, 1, 1))  # the head
    return cases


def srresnet_small_cases() -> list[ConvCase]:
    """SRResNet x4 of ``srresnet_small`` (6 blocks, 32 channels) on 24 px inputs."""
    net = "srresnet_small"
    return [
        ConvCase(net, 24, 3, 32, 9, 1, first=True),
        ConvCase(net, 24, 32, 32, 3, 1, count=13),  # 6 blocks of two, and the middle conv
        ConvCase(net, 24, 32, 128, 3, 1),
        ConvCase(net, 48, 32, 128, 3, 1),
        ConvCase(net, 96, 32, 3, 9, 1),
    ]


def deblur_small_cases() -> list[ConvCase]:
    """The DeblurGAN generator of ``deblur_small`` (16 channels, 4 blocks) on 128 px."""
    net = "deblur_small"
    return [
        ConvCase(net, 128, 3, 16, 7, 1, first=True),
        ConvCase(net, 128, 16, 32, 3, 2),
        ConvCase(net, 64, 32, 64, 3, 2),
        ConvCase(net, 32, 64, 64, 3, 1, count=8),
        ConvCase(net, 32, 64, 32, 3, 2, transpose=True),
        ConvCase(net, 64, 32, 16, 3, 2, transpose=True),
        ConvCase(net, 128, 16, 3, 7, 1),
    ]


def narrow_out_cases() -> list[ConvCase]:
    """Convs to an image's few channels: the restoration and colorization output convs."""
    net = "narrow_out"
    return [
        ConvCase(net, 128, 16, 3, 7, 1),  # deblur_small
        ConvCase(net, 96, 32, 3, 9, 1),  # srresnet_small
        ConvCase(net, 128, 16, 3, 3, 1),
        ConvCase(net, 64, 32, 2, 3, 1),  # a colorizer's ab output
        ConvCase(net, 128, 16, 8, 3, 1),  # above row_fold_max_out_channels: XLA's
    ]


def _median_times(
    fns: dict[str, Callable[[], object]], repeats: int, min_time: float, warmup_s: float = 0.0
) -> dict[str, float]:
    """Median seconds of each fn, after a warm-up (compiling) call each.

    The fns run in turns (one call of each a round), so that a change in the load of a shared
    machine hits them all alike; rounds go on until `repeats` and `min_time` seconds are met.
    The warm-up calls each fn at least once and for at least `warmup_s` seconds. Time torch
    apart from JAX (see `_in_subprocess`).
    """
    for fn in fns.values():
        start = time.perf_counter()
        fn()
        while time.perf_counter() - start < warmup_s:
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    start = time.perf_counter()
    rounds = 0
    while rounds < repeats or (time.perf_counter() - start < min_time and rounds < 50):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
        rounds += 1
    return {name: statistics.median(ts) for name, ts in times.items()}


def _jax_fns(
    case: ConvCase,
    impl: str,
    options: dict | None = None,
    gradients: bool = False,
    rules: ConvRules = DEFAULT_RULES,
) -> dict[str, Callable]:
    """Mode ("fwd", "fwd_bwd"; with `gradients` "dx", "dw") -> jitted fn of (x, kernel, ct).

    Every fn takes the three arrays; "fwd" ignores the cotangent. "dx" is absent for a stem
    conv (`case.first`: no input gradient in training). No fns for an impl that does not
    compute the case ("winograd" off 3x3 stride-1 convs). "auto" runs under `rules`.
    """
    if impl == "winograd" and not case.winograd:
        return {}
    if impl == "auto":
        impl = rules
    if case.transpose:
        conv = lambda x, w: conv_ops.conv_transpose(
            x, w, strides=case.stride, padding="SAME", impl=impl
        )
    else:
        pad = case.pad
        conv = lambda x, w: conv_ops.conv_general(
            x,
            w,
            strides=case.stride,
            padding=((pad, pad), (pad, pad)),
            rhs_dilation=case.dilation,
            feature_group_count=case.groups,
            impl=impl,
        )
    loss = lambda x, w, ct: jnp.vdot(conv(x, w), ct)
    argnums = (1,) if case.first else (0, 1)
    fns = {
        "fwd": lambda x, w, ct: conv(x, w),
        # The value too: the loss is linear in the conv's output, so `jax.grad` alone would
        # drop the forward conv, which training runs (and torch's forward+backward times).
        "fwd_bwd": jax.value_and_grad(loss, argnums=argnums),
    }
    if gradients:
        if not case.first:
            fns["dx"] = lambda x, w, ct: jax.vjp(lambda x: conv(x, w), x)[1](ct)[0]
        fns["dw"] = lambda x, w, ct: jax.vjp(lambda w: conv(x, w), w)[1](ct)[0]
    return {mode: jax.jit(fn, compiler_options=options) for mode, fn in fns.items()}


def _torch_fns(case: ConvCase, x, w, ct) -> tuple[Callable, Callable]:
    f = torch.nn.functional
    if case.transpose:
        s, (pad, out_pad) = case.stride, case.transpose_pads
        conv = lambda x, w: f.conv_transpose2d(x, w, stride=s, padding=pad, output_padding=out_pad)
    else:
        conv = lambda x, w: f.conv2d(
            x, w, stride=case.stride, padding=case.pad, dilation=case.dilation, groups=case.groups
        )
    xg = x.clone().requires_grad_(not case.first)
    wg = w.clone().requires_grad_(True)

    def forward():
        with torch.no_grad():
            conv(x, w)

    def forward_backward():
        conv(xg, wg).backward(ct)

    return forward, forward_backward


def _torch_gradient_fns(case: ConvCase, x, w, ct) -> dict[str, Callable]:
    """ "dx" and "dw" -> fns returning torch's input and kernel gradients alone (NCHW).

    `torch.nn.grad.conv2d_input` / `conv2d_weight`, which run the backward kernels without the
    forward pass. A transposed conv is the adjoint of `conv2d(ct, w)`, so its input gradient is
    that conv and its kernel gradient `conv2d_weight(ct, w.shape, x)`. No "dx" for a stem conv.
    """
    f, grad = torch.nn.functional, torch.nn.grad
    s, d, g = case.stride, case.dilation, case.groups
    if case.transpose:
        pad = case.transpose_pads[0]
        fns = {
            "dx": lambda: f.conv2d(ct, w, stride=s, padding=pad),
            "dw": lambda: grad.conv2d_weight(ct, w.shape, x, stride=s, padding=pad),
        }
    else:
        p = case.pad
        fns = {
            "dx": lambda: grad.conv2d_input(x.shape, w, ct, s, p, d, g),
            "dw": lambda: grad.conv2d_weight(x, w.shape, ct, s, p, d, g),
        }
    if case.first:
        del fns["dx"]
    return fns


def _case_arrays(case: ConvCase, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Input [b, h, w, cin], kernel [k, k, cin/g, cout] and output cotangent, NHWC / HWIO."""
    rng = np.random.default_rng(0)
    size, k = case.size, case.kernel
    out = case.out_size()
    x = rng.standard_normal((batch, size, size, case.cin), np.float32)
    cin_g = case.cin // case.groups
    w = (rng.standard_normal((k, k, cin_g, case.cout)) / np.sqrt(k * k * cin_g)).astype(np.float32)
    ct = rng.standard_normal((batch, out, out, case.cout), np.float32)
    return x, w, ct


# torch warms up by time as well as by a call. (Its OpenMP barrier waits for every thread: when
# another process holds a core, each op can wait a scheduler slice, ~30 ms on a 2-core machine,
# where XLA's work-stealing pool just goes on. Compare with torch on an otherwise idle machine;
# the output records the load average.)
_TORCH_WARMUP_S = 0.2


def torch_case_tensors(case: ConvCase, batch: int) -> tuple:
    """`_case_arrays` as torch tensors: x and ct NCHW, the kernel in torch's layout
    (conv2d [cout, cin, k, k]; conv_transpose2d [cin, cout, k, k])."""
    x, w, ct = _case_arrays(case, batch)
    w_axes = (2, 3, 0, 1) if case.transpose else (3, 2, 0, 1)
    return (
        torch.from_numpy(x.transpose(0, 3, 1, 2).copy()),
        torch.from_numpy(w.transpose(w_axes).copy()),
        torch.from_numpy(ct.transpose(0, 3, 1, 2).copy()),
    )


def torch_conv_times(
    cases: Sequence[ConvCase],
    batch: int,
    repeats: int,
    min_time: float,
    threads: int,
    gradients: bool = False,
) -> list[dict[str, float]]:
    """Seconds of torch's forward and forward+backward of each case (run in a subprocess), and
    with `gradients` of its input and kernel gradients apart."""
    torch.set_num_threads(threads)
    results = []
    for case in cases:
        x, w, ct = torch_case_tensors(case, batch)
        fns = dict(zip(MODES, _torch_fns(case, x, w, ct), strict=True))
        if gradients:
            fns |= _torch_gradient_fns(case, x, w, ct)
        # One fn at a time: alternating torch's no-grad forward and its backward slows both.
        times = {}
        for mode, fn in fns.items():
            times |= _median_times({f"torch/{mode}": fn}, repeats, min_time, _TORCH_WARMUP_S)
        results.append(times)
    return results


def _in_subprocess(fn: Callable, *args):
    """fn(*args) in a fresh (spawned) process.

    torch runs apart from JAX: XLA:CPU's worker threads spin for a while after each
    computation, and torch ops that start meanwhile run up to 100x slower.
    """
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(fn, *args).result()


def run_case(
    case: ConvCase,
    batch: int,
    repeats: int,
    min_time: float,
    torch_times: dict[str, float],
    options: dict | None = None,
    gradients: bool = False,
    rules: ConvRules = DEFAULT_RULES,
) -> dict:
    """Times every impl on one case; returns a JSON-able record with torch's times too.

    Per impl and mode: "{mode}_ms" and "{mode}_gflops" (None for a stem conv's "dx"); "auto"
    and "choice" under `rules`.
    """
    x, w, ct = _case_arrays(case, batch)
    flops = case.flops(batch)
    mode_flops = {
        "fwd": flops,
        "fwd_bwd": flops * (2.0 if case.first else 3.0),
        "dx": flops,
        "dw": flops,
    }
    record = dataclasses.asdict(case) | {"name": case.name, "batch": batch, "gflop": flops / 1e9}
    if case.transpose:
        record["choice"] = conv_ops.choose_transpose_impl("cpu", rules)
    else:
        pads = ((case.pad, case.pad),) * 2
        record["choice"] = conv_ops.choose_impl(
            x.shape, w.shape, case.stride, case.dilation, case.groups, "cpu", pads, rules=rules
        )
        chunk = conv_ops.choose_batch_chunk(x.shape, ct.shape, 4, "cpu", rules)
        if record["choice"] == "xla" and chunk:
            record["choice"] += f"/{chunk}"  # images a chunk
    xj, wj, ctj = jnp.asarray(x), jnp.asarray(w), jnp.asarray(ct)
    fns = {}
    for impl in IMPLS:
        for mode, fn in _jax_fns(case, impl, options, gradients, rules).items():
            fns[f"{impl}/{mode}"] = functools.partial(
                lambda f: jax.block_until_ready(f(xj, wj, ctj)), fn
            )
    times = torch_times | _median_times(fns, repeats, min_time)
    modes = MODES + (GRADIENT_MODES if gradients else ())
    for impl in (*IMPLS, "torch"):
        record[impl] = {}
        for mode in modes:
            t = times.get(f"{impl}/{mode}")
            record[impl][f"{mode}_ms"] = None if t is None else t * 1e3
            record[impl][f"{mode}_gflops"] = None if t is None else mode_flops[mode] / t / 1e9
    return record


NETS = {
    "r18_32": lambda: resnet_cases("r18_32", 32, "cifar"),
    "r18_64": lambda: resnet_cases("r18_64", 64, "imagenet"),
    "r18_224": lambda: resnet_cases("r18_224", 224, "imagenet"),
    "tiny_32": lambda: resnet_cases("tiny_32", 32, "cifar", RESNET_TINY),
    "decoder": transpose_cases,
    "other": other_cases,
    "unet_plain": unet_plain_cases,  # --batch=16
    "unet_plain_256": lambda: unet_plain_cases(256),  # --batch=4
    "srresnet_small": srresnet_small_cases,  # --batch=16
    "deblur_small": deblur_small_cases,  # --batch=8
    "narrow_out": narrow_out_cases,  # --batch=8
}


def _modes(record: dict) -> tuple[str, ...]:
    return tuple(m for m in MODES + GRADIENT_MODES if f"{m}_ms" in record["torch"])


def _row(record: dict) -> str:
    cells = [f"{record['net']:<9} {record['name']:<26} x{record['count']}"]
    for mode in _modes(record):
        for impl in (*IMPLS, "torch"):
            gflops = record[impl][f"{mode}_gflops"]
            cells.append("      -" if gflops is None else f"{gflops:7.1f}")
    cells.append(record["choice"])
    return " ".join(cells)


def _summary(records: list[dict], net: str) -> str:
    """Network totals (count-weighted ms) of each impl, of the per-shape choice and of torch."""
    rows = [r for r in records if r["net"] == net]
    parts = []
    for mode in _modes(rows[0]):
        # An impl that does not compute every conv of the net ("winograd") has no total.
        total = {
            impl: sum(r["count"] * (r[impl][f"{mode}_ms"] or 0.0) for r in rows)
            if all(r[impl]["fwd_ms"] is not None for r in rows)
            else None
            for impl in (*IMPLS, "torch")
        }
        timed = [
            [r[i][f"{mode}_ms"] for i in IMPLS if r[i][f"{mode}_ms"] is not None] for r in rows
        ]
        total["best"] = sum(
            r["count"] * min(t, default=0.0) for r, t in zip(rows, timed, strict=True)
        )
        parts.append(
            f"{mode}: "
            + " ".join(f"{k}=" + ("-" if v is None else f"{v:.0f}ms") for k, v in total.items())
        )
    return f"{net:<9} total  " + " | ".join(parts)


TRAIN_CASES = (  # (model, image size, stem, batch)
    ("resnet_tiny", 32, "cifar", 128),
    ("resnet18", 32, "cifar", 128),
    ("resnet18", 64, "imagenet", 64),
)
# "xla": XLA's convolution, what `nn.Conv` runs; "auto": per shape, under the --rules.
TRAIN_CONV_IMPLS = ("xla", "auto")


def jax_train_step(
    model_name: str,
    size: int,
    stem: str,
    batch: int,
    conv_impl: str | ConvRules,
    options: dict | None = None,
) -> Callable:
    """A call of a jitted SGD-momentum train step (forward, backward, update) of a model with
    this `conv_impl`, compiled under the XLA compiler `options`."""
    from jaxvision.models import get_model

    model = get_model(model_name, num_classes=10, stem=stem, conv_impl=conv_impl)
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.standard_normal((batch, size, size, 3), np.float32))
    labels = jnp.asarray(rng.integers(0, 10, batch))
    variables = jax.jit(functools.partial(model.init, train=False))(
        jax.random.key(0, impl="rbg"), images
    )
    tx = optax.sgd(0.1, momentum=0.9)
    state = (variables["params"], variables["batch_stats"], tx.init(variables["params"]))

    @functools.partial(jax.jit, donate_argnums=0, compiler_options=options)
    def step(state, images, labels):
        params, batch_stats, opt_state = state

        def loss_fn(params):
            logits, updates = model.apply(
                {"params": params, "batch_stats": batch_stats}, images, mutable=["batch_stats"]
            )
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
            return loss, updates["batch_stats"]

        (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), batch_stats, opt_state), loss

    def run():
        nonlocal state
        state, loss = step(state, images, labels)
        jax.block_until_ready(loss)

    return run


def torch_train_times(
    cases: Sequence[tuple], repeats: int, min_time: float, threads: int
) -> list[float]:
    """Seconds of a torch train step of each (model, size, stem, batch) (run in a subprocess)."""
    torch.set_num_threads(threads)
    return [
        _median_times({"torch": torch_train_step(*case)}, repeats, min_time, _TORCH_WARMUP_S)[
            "torch"
        ]
        for case in cases
    ]


def torch_train_step(model_name: str, size: int, stem: str, batch: int) -> Callable:
    """A call of the same train step of the reference torch ResNet (NCHW, eager)."""
    from benchmarks.torch_models import torch_resnet

    torch.manual_seed(0)
    model = torch_resnet(model_name, num_classes=10, stem=stem).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    images = torch.randn(batch, 3, size, size)
    labels = torch.randint(0, 10, (batch,))

    def run():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        opt.step()

    return run


def run_train(
    repeats: int,
    min_time: float,
    conv_impls: Sequence[str],
    threads: int,
    options: dict | None = None,
    rules: ConvRules = DEFAULT_RULES,
) -> list[dict]:
    """Train-step images/s of each conv_impl ("auto" under `rules`) and of torch, on
    `TRAIN_CASES`."""
    torch_times = _in_subprocess(torch_train_times, TRAIN_CASES, repeats, min_time, threads)
    records = []
    for (model_name, size, stem, batch), t_torch in zip(TRAIN_CASES, torch_times, strict=True):
        fns = {
            impl: jax_train_step(
                model_name, size, stem, batch, rules if impl == "auto" else impl, options
            )
            for impl in conv_impls
        }
        times = {"torch": t_torch} | _median_times(fns, repeats, min_time)
        record = {"model": model_name, "size": size, "stem": stem, "batch": batch}
        for name, t in times.items():
            record[name] = {"step_ms": t * 1e3, "img_s": batch / t}
            record[name]["vs_torch"] = times["torch"] / t
        print(
            f"{model_name}@{size} {stem} b{batch}: img/s (x torch) "
            + " | ".join(
                f"{name} {record[name]['img_s']:.1f} ({record[name]['vs_torch']:.2f}x)"
                for name in times
            ),
            flush=True,
        )
        records.append(record)
    return records


def _write_json(path: str | None, threads: int, options: dict, **payload) -> None:
    if path:
        header = {"backend": jax.default_backend(), "torch_threads": threads}
        header["loadavg"] = os.getloadavg()
        header["compiler_options"] = options
        with open(path, "w") as f:
            json.dump(header | payload, f, indent=1)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None, help="write the records to this JSON file")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min_time", type=float, default=0.2, help="seconds per measurement")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    parser.add_argument("--nets", default="r18_32,r18_64,r18_224,decoder", help=", ".join(NETS))
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument(
        "--train", action="store_true", help="time ResNet train steps instead (TRAIN_CASES)"
    )
    parser.add_argument(
        "--conv_impls", default=",".join(TRAIN_CONV_IMPLS), help="with --train: xla, im2col, auto"
    )
    parser.add_argument(
        "--rules", default="shipped", choices=RULES, help='the ConvRules of "auto" (step_variants)'
    )
    parser.add_argument(
        "--options",
        default="engine",
        help='JAX\'s XLA options: "engine" (the train step\'s), "xla_default", "+key=value" extras',
    )
    parser.add_argument(
        "--gradients", action="store_true", help="also time the input and kernel gradients apart"
    )
    args = parser.parse_args(argv)
    try:
        options = named_compiler_options(args.options)
    except ValueError as e:
        parser.error(str(e))
    rules = named_rules(args.rules)
    print(f"backend={jax.default_backend()} torch_threads={args.threads} ", end="")
    print(f"loadavg={os.getloadavg()[0]:.1f} compiler_options={options} rules={args.rules}")
    if args.train:
        records = run_train(
            args.repeats, args.min_time, args.conv_impls.split(","), args.threads, options, rules
        )
        _write_json(args.json, args.threads, options, rules=args.rules, train=records)
        return records

    if args.quick:
        cases, batch, repeats, min_time = quick_cases(), 2, 2, 0.0
    else:
        cases = [c for n in args.nets.split(",") for c in NETS[n]()]
        batch, repeats, min_time = args.batch, args.repeats, args.min_time
    modes = MODES + (GRADIENT_MODES if args.gradients else ())
    print(
        f"batch={batch}; GFLOP/s: "
        + " ".join(f"{mode} [{' '.join(IMPLS)} torch]" for mode in modes)
        + " auto's choice"
    )
    torch_times = _in_subprocess(
        torch_conv_times, cases, batch, repeats, min_time, args.threads, args.gradients
    )
    records = []
    for case, case_torch_times in zip(cases, torch_times, strict=True):
        records.append(
            run_case(
                case, batch, repeats, min_time, case_torch_times, options, args.gradients, rules
            )
        )
        print(_row(records[-1]), flush=True)
    for net in dict.fromkeys(r["net"] for r in records):
        print(_summary(records, net))
    _write_json(args.json, args.threads, options, rules=args.rules, records=records)
    return records


if __name__ == "__main__":
    main()
