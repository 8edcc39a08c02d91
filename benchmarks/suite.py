"""The benchmark suite: every task model at its small and standard config, in one run.

For each entry of `ENTRIES` (a config file from `train/configs/`, its overrides, a batch size
and an image size) one child process builds the task exactly as `python -m train` does
(`jaxvision.engine.build.build` / `init_state`, its compiler options
`train/host_tuning.py`'s) and times, on a synthetic batch of the
task's schema (`benchmarks.synthetic`: no dataset is read, no JPEG decoded):

- training: `jaxvision.engine.steps.compile_train_step` (the task's loss, the config's
  optimizer and schedule, state donated), steady-state images/s after compilation;
- inference: `jaxvision.engine.steps.compile_predict` (the task's `predict`), images/s;
- compile time (tracing + XLA compilation, `lower()` + `compile()`), XLA's memory analysis of
  each executable, the model FLOPs of a train step counted on its jaxpr (-> MFU where the
  device's peak is known, `benchmarks.mfu`), and the child's peak RSS (one process per model).

Where the entry names a PyTorch reference, a second child times the same architecture in
plain `torch.nn`, same batch, same image size, and the report gives the jaxvision / PyTorch
ratio of each: for the ResNet classifiers `benchmarks.throughput.run_torch` (SGD-momentum
cross-entropy training, the eval-mode forward + top-5); for the localizer and the detectors
`benchmarks.torch_detectors.run` (the config's optimizer on the task's loss: anchor or point
assignment, focal and box losses; inference with box decoding and class-aware NMS); for the
U-Net `benchmarks.torch_segmentation.run` (pixel cross entropy and AdamW; inference to the
class map).

Entries whose config file does not exist yet are reported as skipped, so a task's line can be
added to `ENTRIES` before its config lands.

Run:
  python -m benchmarks.suite --json=/tmp/suite.json
  python -m benchmarks.suite --only=demo_resnet_tiny,cifar10_resnet18 --json=/tmp/suite.json
  python -m benchmarks.suite --only=demo_resnet_tiny --rounds=3   # children take turns 3 times
  python -m benchmarks.suite --smoke --json=/tmp/smoke.json  # the cheap entries, tiny batches
  python -m benchmarks.suite --only=imagenet_resnet50 --dtype=bfloat16 --batch_size=256 \
      --steps=20 --compare=none          # on a GPU (see benchmarks/gpu.sh)

Output JSON: {"benchmark": "suite", "command", "smoke", "entries": [per entry: "name",
"config", "size", "task", "status" ("ok" | "skipped" | "error"), "reason", "jax": {"train",
"inference", ...}, "torch": {"train", "inference"} | null, "ratio_train",
"ratio_inference", with --rounds above 1 "rounds": {"jax", "torch": [per round: {"train",
"inference"} images/s], "ratio_train", "ratio_inference": [per round]}}], "machine",
"load_average": {"start", "end"}}.

With --rounds=R the two children of an entry take turns R times (JAX, PyTorch, JAX, ...), so
that a shared machine's drift over minutes hits both alike; each mode of each framework
reports its median round, and the ratio is of those medians.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from benchmarks import throughput
from train import host_tuning

MODES = ("train", "inference")
SMALL = "small"
STANDARD = "standard"
SHAPES_CLASSES = 8  # jaxvision_shapes: 8 shape classes
SHAPES_SEGMENTATION_CLASSES = SHAPES_CLASSES + 1  # and background
ADE20K_CLASSES = 150
CIFAR10_CLASSES = 10
COCO_CLASSES = 80
IMAGENET_CLASSES = 1000
DTYPE_CHOICES = ("config", "float32", "bfloat16")
COMPARE_CHOICES = ("torch", "none")
# Smoke mode: a batch this large, this many timed steps, no warm-up, no PyTorch.
SMOKE_BATCH_SIZE = 2
SMOKE_STEPS = 1
DEFAULT_WARMUP = 1
JOB_MARKER = "SUITE_RESULT "
ERROR_TAIL_LINES = 30
REPO_ROOT = throughput.REPO_ROOT
_NO_OVERRIDES: Mapping[str, Any] = MappingProxyType({})


@dataclasses.dataclass(frozen=True)
class Entry:
    """One benchmarked model: a config file and how to time it.

    Attributes:
      name: unique name (`--only`).
      config: the config file, relative to the repository root.
      size: SMALL or STANDARD.
      image_size: side of the (square) input images of the config's pipeline.
      num_classes: classes of the dataset the config trains on.
      batch_size: batch on the CPU.
      accel_batch_size: batch on a GPU/TPU.
      steps: timed steps on the CPU (an accelerator takes `--steps`); entries with steps
        under 0.2 s take 10-20, as runs of 3-5 moved by up to 25%.
      overrides: dotted config keys -> values, applied after `get_config()`.
      torch_ref: a key of `TORCH_REFERENCES`, or None when PyTorch has no such model here.
      smoke: cheap enough for the smoke test (`tests/benchmarks/test_suite.py`).
      smoke_image_size: image side in `--smoke` mode (None: `image_size`).
    """

    name: str
    config: str
    size: str
    image_size: int
    num_classes: int
    batch_size: int
    accel_batch_size: int
    steps: int = 3
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    torch_ref: str | None = None
    smoke: bool = False
    smoke_image_size: int | None = None


# PyTorch references: key -> the `model.name` (prefix) they cover. "resnet" is built by
# `benchmarks.torch_models.torch_resnet(model.name, num_classes, stem)`; the detector keys by
# `benchmarks.torch_detectors` from the config's task (model, loss, optimizer, decoding).
TORCH_REFERENCES = {
    "resnet": "resnet",
    "localizer": "localizer",
    "retinanet": "retinanet",
    "fcos": "fcos",
    "srresnet": "srresnet",
    "deblurgan_generator": "deblurgan_generator",
    "unet": "unet",
}
DETECTOR_REFERENCES = ("localizer", "retinanet", "fcos")
# Restoration references: `benchmarks.torch_restoration` (the network, L1, Adam) on pairs.
RESTORATION_REFERENCES = ("srresnet", "deblurgan_generator")
# Segmentation references: `benchmarks.torch_segmentation` (the network, cross entropy, AdamW).
SEGMENTATION_REFERENCES = ("unet",)
# Config keys the detector references read. They reach the PyTorch child as plain JSON
# (`torch_config`): the config files import jaxvision, and the child must not load JAX.
TORCH_CONFIG_KEYS = (
    "task",
    "total_steps",
    "label_smoothing",
    "model",
    "detection",
    "retinanet",
    "anchors",
    "fcos",
    "localization",
    "optimizer",
    "degradation",
)

# Restoration entries time the network on pairs: no degradation in the step.
PAIRS = MappingProxyType({"degradation.kind": "none"})

# Mask R-CNN R50-FPN (Detectron2's mask_rcnn_R_50_FPN): P2-P6 RPN with 32-512 px anchors,
# 2000 / 1000 (train / test) candidates a level and 1000 proposals, 256 anchors and 512 RoIs
# an image, a 2 x 1024 fc box head, a 4-conv 256-wide mask head on every positive RoI
# (512 * 0.25), 100 detections; over the small config's keys.
MASKRCNN_R50_FPN = MappingProxyType(
    {
        "dataset.name": "coco/2017",  # its 80 classes
        "model.backbone": "resnet50",
        "model.backbone_kwargs": {},
        "model.kwargs.fpn_features": 256,
        "model.kwargs.min_level": 2,
        "model.kwargs.max_level": 6,
        "model.kwargs.roi_max_level": 5,
        "model.kwargs.anchor_size_scale": 8.0,
        "model.kwargs.rpn_pre_nms_top_k": [2000, 1000],
        "model.kwargs.rpn_post_nms_top_k": [1000, 1000],
        "model.kwargs.rpn_samples": 256,
        "model.kwargs.roi_samples": 512,
        "model.kwargs.roi_positive_fraction": 0.25,
        "model.kwargs.mask_samples": 128,
        "model.kwargs.box_head_fc": 1024,
        "model.kwargs.mask_head_features": 256,
        "model.kwargs.mask_head_convs": 4,
        "detection.max_boxes": 100,
        "detection.max_detections": 100,
        "detection.pre_nms_top_k": 1000,
    }
)

ENTRIES: tuple[Entry, ...] = (
    # Classification.
    Entry(
        "demo_resnet_tiny",
        "train/configs/demo.py",
        SMALL,
        32,
        SHAPES_CLASSES,
        128,
        1024,
        steps=20,
        torch_ref="resnet",
        smoke=True,
    ),  # fmt: skip
    Entry(
        "cifar10_resnet18",
        "train/configs/cifar10_resnet18.py",
        STANDARD,
        32,
        CIFAR10_CLASSES,
        64,
        512,
        torch_ref="resnet",
        smoke_image_size=16,
    ),  # fmt: skip
    Entry(
        "imagenet_resnet50",
        "train/configs/imagenet_resnet50.py",
        STANDARD,
        224,
        IMAGENET_CLASSES,
        16,
        256,
        torch_ref="resnet",
        smoke_image_size=32,
    ),  # fmt: skip
    Entry(
        "imagenet_vit_b16",
        "train/configs/imagenet_vit_b16.py",
        STANDARD,
        224,
        IMAGENET_CLASSES,
        8,
        128,
        smoke_image_size=32,
    ),  # fmt: skip
    # Localization and detection (built-in jaxvision_shapes datasets: 64 / 128 px).
    Entry(
        "localization_small",
        "train/configs/localization_small.py",
        SMALL,
        64,
        SHAPES_CLASSES,
        32,
        512,
        steps=20,
        torch_ref="localizer",
        smoke=True,
    ),  # fmt: skip
    Entry(
        "retinanet_small",
        "train/configs/retinanet_small.py",
        SMALL,
        128,
        SHAPES_CLASSES,
        8,
        256,
        steps=10,
        torch_ref="retinanet",
        smoke=True,
    ),  # fmt: skip
    Entry(
        "fcos_small",
        "train/configs/fcos_small.py",
        SMALL,
        128,
        SHAPES_CLASSES,
        8,
        256,
        steps=10,
        torch_ref="fcos",
        smoke=True,
    ),  # fmt: skip
    # COCO detectors (ResNet-50 FPN P3-P7) at 640 px.
    Entry(
        "retinanet_resnet50_coco",
        "train/configs/retinanet_resnet50_coco.py",
        STANDARD,
        640,
        COCO_CLASSES,
        2,
        32,
        steps=2,
        torch_ref="retinanet",
        smoke_image_size=64,
    ),  # fmt: skip
    Entry(
        "fcos_resnet50_coco",
        "train/configs/fcos_resnet50_coco.py",
        STANDARD,
        640,
        COCO_CLASSES,
        2,
        32,
        steps=2,
        torch_ref="fcos",
        smoke_image_size=64,
    ),  # fmt: skip
    # Restoration networks on pairs (96 px HR patches for x4 super-resolution; 128 px for
    # deblurring): the network, an L1 loss and Adam, as PyTorch's reference does.
    Entry(
        "srresnet_small",
        "train/configs/srresnet_small.py",
        SMALL,
        96,
        0,
        16,
        64,
        steps=10,
        overrides=PAIRS,
        torch_ref="srresnet",
        smoke=True,
        smoke_image_size=32,
    ),  # fmt: skip
    Entry(
        "srresnet_x4",
        "train/configs/srresnet_small.py",
        STANDARD,
        96,
        0,
        16,
        16,
        steps=3,
        overrides={**PAIRS, "model.kwargs.num_blocks": 16, "model.kwargs.features": 64},
        torch_ref="srresnet",
        smoke_image_size=32,
    ),  # fmt: skip
    Entry(
        "deblur_small",
        "train/configs/deblur_small.py",
        SMALL,
        128,
        0,
        8,
        32,
        steps=10,
        # The paper's generator, instance norms included, as the torch.nn reference has them
        # (the training config drops them).
        overrides={**PAIRS, "degradation.scale": 1, "model.kwargs.norm": "instance"},
        torch_ref="deblurgan_generator",
        smoke_image_size=32,
    ),  # fmt: skip
    Entry(
        "deblurgan_generator",
        "train/configs/deblur_small.py",
        STANDARD,
        256,
        0,
        1,
        16,
        steps=2,
        overrides={
            **PAIRS,
            "degradation.scale": 1,
            "model.kwargs.features": 64,
            "model.kwargs.num_blocks": 9,
            "model.kwargs.norm": "instance",
        },
        torch_ref="deblurgan_generator",
        smoke_image_size=32,
    ),  # fmt: skip
    # Semantic segmentation: the small configs on the built-in 128 px shapes, the classic U-Net
    # (against plain torch.nn) also at 256 px; DeepLabV3+ with a ResNet-50 at output stride 16
    # on 512 px (ADE20K's size).
    Entry(
        "unet_plain_small",
        "train/configs/unet_plain_small.py",
        SMALL,
        128,
        SHAPES_SEGMENTATION_CLASSES,
        16,
        256,
        steps=5,
        torch_ref="unet",
        smoke=True,
        smoke_image_size=32,
    ),  # fmt: skip
    Entry(
        "unet_plain_small_256",
        "train/configs/unet_plain_small.py",
        SMALL,
        256,
        SHAPES_SEGMENTATION_CLASSES,
        4,
        64,
        steps=5,
        torch_ref="unet",
        smoke_image_size=32,
    ),  # fmt: skip
    Entry(
        "unet_small",
        "train/configs/unet_small.py",
        SMALL,
        128,
        SHAPES_SEGMENTATION_CLASSES,
        16,
        256,
        steps=5,
        smoke_image_size=64,
    ),  # fmt: skip
    Entry(
        "unet_small_256",
        "train/configs/unet_small.py",
        SMALL,
        256,
        SHAPES_SEGMENTATION_CLASSES,
        4,
        64,
        steps=5,
        smoke_image_size=64,
    ),  # fmt: skip
    Entry(
        "deeplabv3plus_small",
        "train/configs/deeplabv3plus_small.py",
        SMALL,
        128,
        SHAPES_SEGMENTATION_CLASSES,
        16,
        256,
        steps=5,
        smoke_image_size=64,
    ),  # fmt: skip
    Entry(
        "deeplabv3plus_small_256",
        "train/configs/deeplabv3plus_small.py",
        SMALL,
        256,
        SHAPES_SEGMENTATION_CLASSES,
        4,
        64,
        steps=5,
        smoke_image_size=64,
    ),  # fmt: skip
    Entry(
        "deeplabv3plus_resnet50_512",
        "train/configs/deeplabv3plus_small.py",
        STANDARD,
        512,
        ADE20K_CLASSES,
        2,
        16,
        steps=2,
        overrides={
            "dataset.name": "scene_parse150",  # its 150 classes
            "model.kwargs.backbone": "resnet50",
            "model.kwargs.backbone_kwargs": {},
            "model.kwargs.aspp_features": 256,
            "model.kwargs.low_level_features": 48,
            "model.kwargs.decoder_features": 256,
        },
        smoke_image_size=64,
    ),  # fmt: skip
    # Instance segmentation: Mask R-CNN small on the built-in 128 px shapes and at 256 px;
    # the R50-FPN of the paper (Detectron2's defaults) on COCO at 800 px. Inference is the
    # task's predict: detections after NMS and their masks pasted into the image.
    Entry(
        "maskrcnn_small",
        "train/configs/maskrcnn_small.py",
        SMALL,
        128,
        SHAPES_CLASSES,
        16,
        256,
        steps=3,
        smoke_image_size=64,
    ),  # fmt: skip
    Entry(
        "maskrcnn_small_256",
        "train/configs/maskrcnn_small.py",
        SMALL,
        256,
        SHAPES_CLASSES,
        4,
        64,
        steps=3,
        smoke_image_size=64,
    ),  # fmt: skip
    Entry(
        "maskrcnn_resnet50_800",
        "train/configs/maskrcnn_small.py",
        STANDARD,
        800,
        COCO_CLASSES,
        1,
        8,
        steps=2,
        overrides=MASKRCNN_R50_FPN,
        smoke_image_size=64,
    ),  # fmt: skip
)
ENTRY_BY_NAME = {e.name: e for e in ENTRIES}


# Configs. -------------------------------------------------------------------------------
def load_config(path: str, overrides: Mapping[str, Any] = _NO_OVERRIDES) -> Any:
    """`get_config()` of a config file, with dotted-key overrides applied.

    Args:
      path: the file, absolute or relative to the repository root.
      overrides: e.g. `{"model.dtype": "float32"}`; every key must exist in the config.

    Returns:
      The `ml_collections.ConfigDict`.

    Raises:
      FileNotFoundError: no such file.
      KeyError: an override names a key the config does not have (any key under a
        ``kwargs`` may be set).
    """
    file = Path(path) if Path(path).is_absolute() else REPO_ROOT / path
    if not file.is_file():
        raise FileNotFoundError(f"config file {file} does not exist")
    spec = importlib.util.spec_from_file_location(f"_suite_config_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    if str(REPO_ROOT) not in sys.path:  # configs import `train.configs.common`
        sys.path.insert(0, str(REPO_ROOT))
    spec.loader.exec_module(module)
    config = module.get_config()
    for key, value in overrides.items():
        parent, _, leaf = key.rpartition(".")
        node = config
        for part in filter(None, parent.split(".")):
            node = node[part]
        # A model's kwargs are its constructor's arguments: any of them may be set.
        if leaf not in node and not parent.endswith("kwargs"):
            raise KeyError(f"override {key!r}: the config has no such key; has {sorted(node)}")
        with config.unlocked():
            node[leaf] = value
    return config


def find_key(config: Any, key: str) -> Any:
    """The value of `key` anywhere in a nested config (first found, depth first), or None."""
    if not hasattr(config, "items"):
        return None
    for k, v in config.items():
        if k == key:
            return v
        found = find_key(v, key)
        if found is not None:
            return found
    return None


def torch_config(config: Any) -> dict[str, Any]:
    """The keys of a config the detector references read (`TORCH_CONFIG_KEYS`), as plain dicts.

    Example:
      >>> torch_config(load_config("train/configs/fcos_small.py"))["model"]["backbone"]
      'resnet_tiny'
    """
    out = {}
    for key in TORCH_CONFIG_KEYS:
        if key in config:
            value = config[key]
            out[key] = value.to_dict() if hasattr(value, "to_dict") else value
    return out


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """`["a.b=1", "c=xla"]` -> `{"a.b": 1, "c": "xla"}` (Python literals, else strings).

    Raises:
      ValueError: an item without "=".
    """
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[key] = text
    return out


def make_job(entry: Entry, args: argparse.Namespace) -> dict[str, Any]:
    """What a child process needs to time `entry`: plain JSON, config re-read in the child.

    Raises:
      FileNotFoundError, KeyError: from `load_config`.
    """
    overrides = dict(entry.overrides)
    overrides.update(parse_overrides(getattr(args, "set", None) or []))
    if args.dtype != "config":
        overrides["model.dtype"] = args.dtype
    config = load_config(entry.config, overrides)  # validates the file and the overrides
    image_size = entry.image_size
    cpu_batch, accel_batch, steps, warmup = (
        entry.batch_size,
        entry.accel_batch_size,
        entry.steps,
        args.warmup,
    )
    if args.smoke:
        image_size = entry.smoke_image_size or entry.image_size
        cpu_batch = accel_batch = SMOKE_BATCH_SIZE
        steps, warmup = SMOKE_STEPS, 0
    if args.batch_size is not None:
        cpu_batch = accel_batch = args.batch_size
    if args.steps is not None:
        steps = args.steps
    if args.image_size is not None:
        image_size = args.image_size
    kwargs = config.model.get("kwargs", {})
    return {
        "name": entry.name,
        "config": entry.config,
        "overrides": overrides,
        "task": config.task,
        "model": config.model.name,
        "dtype": config.model.dtype,
        "stem": kwargs.get("stem", None),
        "num_classes": entry.num_classes,
        "max_boxes": find_key(config, "max_boxes"),
        "image_size": image_size,
        "cpu_batch_size": cpu_batch,
        "accel_batch_size": accel_batch,
        "steps": steps,
        "warmup": warmup,
        "peak_flops": args.peak_flops,
        "torch_ref": entry.torch_ref,
        "scale": _restoration_scale(config),
        "torch_config": (
            torch_config(config)
            if entry.torch_ref
            in (*DETECTOR_REFERENCES, *RESTORATION_REFERENCES, *SEGMENTATION_REFERENCES)
            else None
        ),
    }


def _restoration_scale(config: Any) -> int | None:
    """The target / input size of a restoration config's pairs (None for other tasks)."""
    if "degradation" not in config:
        return None
    return int(config.degradation.scale) if config.degradation.kind in ("none", "bicubic") else 1


# Children. ------------------------------------------------------------------------------
def run_child(framework: str, job: dict[str, Any]) -> dict[str, Any]:
    """Times `job` with one framework in a fresh Python process; returns its record.

    Raises:
      RuntimeError: the child failed; the message quotes its stderr's tail.
    """
    argv = [sys.executable, "-m", "benchmarks.suite", f"--child={framework}"]
    argv += ["--job", json.dumps(job)]
    env = host_tuning.tuned_environ()  # both frameworks alike
    proc = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(JOB_MARKER)]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.splitlines()[-ERROR_TAIL_LINES:])
        raise RuntimeError(f"{framework} child failed (exit {proc.returncode}):\n{tail}")
    return json.loads(lines[-1].removeprefix(JOB_MARKER))


def _torch_child(job: dict[str, Any]) -> dict[str, Any]:
    """The PyTorch reference, train then inference, in this process.

    ResNets: `throughput.run_torch`; the localizer and detectors: `torch_detectors.run`;
    restoration networks: `torch_restoration.run`.
    """
    threads = os.cpu_count() or 1
    if job["torch_ref"] in DETECTOR_REFERENCES:
        from benchmarks import torch_detectors

        return torch_detectors.run(job, threads)
    if job["torch_ref"] in RESTORATION_REFERENCES:
        from benchmarks import torch_restoration

        return torch_restoration.run(job, threads)
    if job["torch_ref"] in SEGMENTATION_REFERENCES:
        from benchmarks import torch_segmentation

        return torch_segmentation.run(job, threads)
    records = {}
    for mode in MODES:
        ns = argparse.Namespace(
            model=job["model"],
            num_classes=job["num_classes"],
            stem=job["stem"] or "imagenet",
            batch_size=job["cpu_batch_size"],
            image_size=job["image_size"],
            dtype=job["dtype"],
            inference=mode == "inference",
            torch_channels_last=False,
            torch_device="cpu",
            threads=threads,
            steps=job["steps"],
            warmup=job["warmup"],
        )
        records[mode] = throughput.run_torch(ns)
    return records


def _ratio(jax_rec: dict | None, torch_rec: dict | None, mode: str) -> float | None:
    if not jax_rec or not torch_rec:
        return None
    return jax_rec[mode]["images_per_s"] / torch_rec[mode]["images_per_s"]


def run_entry(entry: Entry, args: argparse.Namespace) -> dict[str, Any]:
    """Benchmarks one entry (JAX child, then PyTorch child, `args.rounds` times); never raises
    for a failed child. A failed JAX child makes the entry an error (its earlier rounds are
    dropped); a failed PyTorch child leaves the entry without a reference (no ratios)."""
    record: dict[str, Any] = {
        "name": entry.name,
        "config": entry.config,
        "size": entry.size,
        "status": "ok",
        "reason": None,
        "jax": None,
        "torch": None,
        "ratio_train": None,
        "ratio_inference": None,
    }
    try:
        job = make_job(entry, args)
    except FileNotFoundError as e:
        return {**record, "status": "skipped", "reason": str(e)}
    record.update(task=job["task"], model=job["model"], dtype=job["dtype"], job=job)
    wants_torch = args.compare == "torch" and not args.smoke and entry.torch_ref is not None
    jax_runs: list[dict[str, Any]] = []
    torch_runs: list[dict[str, Any]] = []
    jax_wall_s = 0.0
    for _ in range(args.rounds):  # J T J T ...: drift of a shared machine hits both alike
        start = time.perf_counter()
        try:
            jax_runs.append(run_child(throughput.JAX, job))
        except RuntimeError as e:  # the rounds before are dropped too
            jax_wall_s += time.perf_counter() - start
            return {**record, "status": "error", "reason": str(e), "jax_wall_s": jax_wall_s}
        jax_wall_s += time.perf_counter() - start
        if wants_torch and jax_runs[-1]["backend"] != "cpu":
            record["reason"] = "PyTorch reference skipped: it runs on the CPU only"
            wants_torch = False
        elif wants_torch:
            try:
                torch_runs.append(run_child(throughput.TORCH, job))
            except RuntimeError as e:
                record["reason"] = str(e)
                wants_torch, torch_runs = False, []
    record["jax_wall_s"] = jax_wall_s
    record["jax"] = median_round(jax_runs)
    record["torch"] = median_round(torch_runs) if torch_runs else None
    record["ratio_train"] = _ratio(record["jax"], record["torch"], "train")
    record["ratio_inference"] = _ratio(record["jax"], record["torch"], "inference")
    if args.rounds > 1:
        record["rounds"] = {
            "jax": [{m: run[m]["images_per_s"] for m in MODES} for run in jax_runs],
            "torch": [{m: run[m]["images_per_s"] for m in MODES} for run in torch_runs],
        }
        for mode in MODES:  # a ratio a round, of children that ran back to back
            record["rounds"][f"ratio_{mode}"] = [
                _ratio(j, t, mode) for j, t in zip(jax_runs, torch_runs, strict=False)
            ]
    return record


def median_round(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One framework's record over rounds: each mode's result from the round of median
    images/s (the lower median for an even count), the rest from the first round.

    Example:
      >>> runs = [{"train": {"images_per_s": v}, "inference": {"images_per_s": 9 - v}}
      ...         for v in (1.0, 5.0, 3.0)]
      >>> rec = median_round(runs)
      >>> rec["train"]["images_per_s"], rec["inference"]["images_per_s"]
      (3.0, 6.0)
    """
    record = dict(runs[0])
    for mode in MODES:
        record[mode] = throughput.median_record([run[mode] for run in runs])
    return record


# Report. --------------------------------------------------------------------------------
def _fmt(value: float | None, spec: str = ".1f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


TABLE_HEADER = (
    "| entry | size | task / model | input | batch | train img/s jax / torch (ratio) "
    "| inference img/s jax / torch (ratio) | compile s (train + predict) | peak RSS MiB "
    "| XLA train temp MiB |\n" + "|---" * 10 + "|"
)


def table_row(rec: dict[str, Any]) -> str:
    """One markdown row of a suite entry record."""
    if rec["status"] != "ok":
        reason = (rec["reason"] or "").splitlines()[0][:80]
        return f"| {rec['name']} | {rec['size']} | {rec['status']}: {reason} |" + " |" * 7
    j, t = rec["jax"], rec["torch"] or {}
    cells = []
    for mode, ratio in (("train", rec["ratio_train"]), ("inference", rec["ratio_inference"])):
        torch_ips = t.get(mode, {}).get("images_per_s")
        cells.append(
            f"{_fmt(j[mode]['images_per_s'])} / {_fmt(torch_ips)} ({_fmt(ratio, '.2f', 'x')})"
        )
    compile_s = j["train"]["compile_time_s"] + j["inference"]["compile_time_s"]
    memory = j["train"].get("xla_memory") or {}
    temp = memory.get("temp_mib")
    return (
        f"| {rec['name']} | {rec['size']} | {rec['task']} / {rec['model']} {rec['dtype']} "
        f"| {j['image_size']} px | {j['batch_size']} | {cells[0]} | {cells[1]} "
        f"| {compile_s:.1f} | {j['peak_rss_mib']:.0f} | {_fmt(temp, '.0f')} |"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.suite",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--json", default=None, help="write the report here")
    parser.add_argument("--only", default=None, help="comma-separated entry names")
    parser.add_argument("--smoke", action="store_true", help="tiny batch, 1 step, no torch")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for every entry, e.g. model.kwargs.conv_impl=xla (repeatable)",
    )
    parser.add_argument(
        "--dtype", choices=DTYPE_CHOICES, default="config", help="compute dtype override"
    )
    parser.add_argument("--batch_size", type=int, default=None, help="override every entry's")
    parser.add_argument("--image_size", type=int, default=None, help="override every entry's")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (entry's default)")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="untimed steps")
    parser.add_argument("--compare", choices=COMPARE_CHOICES, default="torch")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="rounds of the JAX and PyTorch children, taking turns; each mode reports the "
        "median round, and the JSON every round's images/s and ratio",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="entries benchmarked at once; above 1 the timings interfere (smoke tests only)",
    )
    parser.add_argument(
        "--peak_flops", type=float, default=None, help="device peak FLOP/s for MFU (default: table)"
    )
    parser.add_argument("--child", choices=throughput.FRAMEWORKS, help=argparse.SUPPRESS)
    parser.add_argument("--job", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    for name in ("batch_size", "image_size", "steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be >= 1")
    if args.warmup < 0:
        parser.error("--warmup must be >= 0")
    if args.only:
        unknown = sorted(set(args.only.split(",")) - set(ENTRY_BY_NAME))
        if unknown:
            parser.error(f"unknown entries {unknown}; valid: {sorted(ENTRY_BY_NAME)}")
    return args


def selected_entries(args: argparse.Namespace) -> list[Entry]:
    """The entries `--only` names (in table order); else all, or with `--smoke` the cheap ones."""
    if not args.only:
        return [e for e in ENTRIES if e.smoke or not args.smoke]
    names = set(args.only.split(","))
    return [e for e in ENTRIES if e.name in names]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the suite (or, with the internal `--child`, one job); returns the report.

    Example:
      >>> report = main(["--smoke", "--only=demo_resnet_tiny"])
      | entry | size | task / model | input | batch | train img/s jax / torch (ratio) | ...
      |---|---|---|---|---|---|---|---|---|---|
      | demo_resnet_tiny | small | classification / resnet_tiny float32 | 32 px | 2 | ... |
      >>> report["entries"][0]["jax"]["train"]["images_per_s"] > 0
      True
    """
    args = parse_args(argv)
    if args.child is not None:
        job = json.loads(args.job)
        if args.child == throughput.JAX:
            from benchmarks import suite_jax

            record = suite_jax.run(job)
        else:
            record = _torch_child(job)
        print(JOB_MARKER + json.dumps(record), flush=True)
        return record

    load_start = os.getloadavg()
    print(TABLE_HEADER, flush=True)
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_entry, e, args) for e in selected_entries(args)]
        entries = []
        for future in futures:  # table order
            entries.append(future.result())
            print(table_row(entries[-1]), flush=True)
    devices = next((r["jax"]["devices"] for r in entries if r["jax"]), None)
    report = {
        "benchmark": "suite",
        "command": "python -m benchmarks.suite " + " ".join(sys.argv[1:] if argv is None else argv),
        "smoke": args.smoke,
        "entries": entries,
        "machine": throughput.machine_info(devices),
        "load_average": {"start": load_start, "end": os.getloadavg()},
    }
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
