"""Where a dense detector's inference time goes: the network against its post-processing.

For each suite entry named (RetinaNet, FCOS), this builds the task as the suite does (random
weights, a synthetic batch) and times, jitted, each piece of `task.predict`:

- `forward`: `task.apply_model` alone (the network's raw outputs);
- `detect`: `task.detect` on those outputs (decode, clip, pre-NMS top-k, class-aware NMS).
  Random weights give scores near the classifier's prior (0.01), under the 0.05 threshold, so
  NMS stops at once; hence also
- `detect_busy`: `task.detect` on the same outputs with random logits (sigmoid mean ~0.19),
  so that NMS runs to `max_detections`;
- the pre-NMS top-k alone, on the busy scores [b, n, c]: `top_k_pairs`
  (`jaxvision.ops.nms.top_k_pairs`, what `multiclass_nms` runs) against `top_k_flat`, one
  `lax.top_k` over all n * c pairs (what it ran before), the two checked equal;
- `nms_loop` and `nms_matrix`: `multiclass_nms` (top-k and class-aware NMS) on the busy
  boxes and scores with each NMS method (`jaxvision.ops.nms.nms_method`: the same result,
  checked; `detect` runs the backend's choice);
- `predict`: the whole of `task.predict`.

Run:
  python -m benchmarks.detection_postprocess --only=retinanet_small --batch_size=4
  python -m benchmarks.detection_postprocess --only=retinanet_resnet50_coco,fcos_resnet50_coco \
      --dtype=bfloat16 --batch_size=16 --steps=10 --json=/tmp/post.json     # on a GPU

Prints, per entry as soon as it is timed, the median milliseconds per batch of each piece;
`--json` keeps them with every step's time.
"""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Sequence
from typing import Any

from benchmarks import suite, suite_jax, throughput

PIECES = (
    "forward",
    "detect",
    "detect_busy",
    "top_k_flat",
    "top_k_pairs",
    "nms_loop",
    "nms_matrix",
    "predict",
)
BUSY_LOGIT_MEAN = -2.0  # with std 1.5, sigmoid's mean is ~0.19: most pairs above 0.05
BUSY_LOGIT_STD = 1.5
DENSE_DETECTORS = ("retinanet", "fcos")  # config.task values


def time_pieces(entry: suite.Entry, batch_size: int, dtype: str, steps: int, warmup: int) -> dict:
    """Median ms per batch of each piece of one detector's `predict` (see the module doc).

    Returns:
      {"name", "batch_size", "image_size", "anchors", "classes", "pre_nms_top_k",
      "backend", "device_kind", "ms": {piece: median ms}, "steps_ms": {piece: [ms]}}.
    """
    import jax
    import numpy as np

    from jaxvision.ops import nms

    overrides = dict(entry.overrides)
    if dtype != "config":
        overrides["model.dtype"] = dtype
    config = suite.load_config(entry.config, overrides)
    if config.task not in DENSE_DETECTORS:
        raise ValueError(f"{entry.name} is a {config.task!r} task, not one of {DENSE_DETECTORS}")
    setup, batch, state = suite_jax.build_synthetic(
        config, batch_size, entry.image_size, entry.num_classes
    )
    task = setup.task
    networks = state.eval_variables()  # what predict takes
    variables = networks["model"]  # what the model's apply takes
    images = batch["image"]  # [b, h, w, 3] uint8
    hw = images.shape[1:3]
    k = config.detection.pre_nms_top_k  # None: every pair

    forward = jax.jit(lambda v, x: task.apply_model(v, x, train=False))
    outputs = forward(variables, images)
    logits = outputs["logits"]  # [b, n, c]
    noise = jax.random.normal(jax.random.key(1), logits.shape, logits.dtype)
    busy = dict(outputs, logits=BUSY_LOGIT_MEAN + BUSY_LOGIT_STD * noise)
    busy_boxes, busy_scores = jax.jit(task.decode, static_argnums=1)(busy, hw)  # [b, n, 4|c]
    cfg = config.detection
    nms_by_method = {
        method: jax.jit(
            jax.vmap(
                functools.partial(
                    nms.multiclass_nms,
                    iou_threshold=cfg.nms_iou,
                    max_outputs=cfg.max_detections,
                    score_threshold=cfg.score_threshold,
                    pre_nms_top_k=k,
                    method=method,
                )
            )
        )
        for method in nms.NMS_METHODS
    }
    by_method = [nms_by_method[m](busy_boxes, busy_scores) for m in nms.NMS_METHODS]
    # The methods agree up to IoU rounding at the threshold: count the images that differ.
    differ = np.zeros(batch_size, bool)
    for key in by_method[0]:
        a, b = np.asarray(by_method[0][key]), np.asarray(by_method[1][key])
        differ |= (a != b).reshape(batch_size, -1).any(axis=1)
    detect = jax.jit(task.detect, static_argnums=1)
    predict = jax.jit(task.predict)
    top_k = k or busy_scores.shape[1] * busy_scores.shape[2]
    top_k_flat = jax.jit(jax.vmap(lambda s: jax.lax.top_k(s.reshape(-1), top_k)))
    top_k_pairs = jax.jit(jax.vmap(functools.partial(nms.top_k_pairs, k=top_k)))
    flat, pairs = top_k_flat(busy_scores), top_k_pairs(busy_scores)
    for a, b in zip(flat, pairs, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    calls = {
        "forward": lambda: forward(variables, images),
        "detect": lambda: detect(outputs, hw),
        "detect_busy": lambda: detect(busy, hw),
        "top_k_flat": lambda: top_k_flat(busy_scores),
        "top_k_pairs": lambda: top_k_pairs(busy_scores),
        "nms_loop": lambda: nms_by_method["loop"](busy_boxes, busy_scores),
        "nms_matrix": lambda: nms_by_method["matrix"](busy_boxes, busy_scores),
        "predict": lambda: predict(networks, images),
    }
    busy_valid = int(np.asarray(detect(busy, hw)["num_valid"]).min())
    steps_ms = {}
    for piece in PIECES:
        timing, _ = throughput.time_steps(
            lambda _, call=calls[piece]: call(),
            None,
            steps=steps,
            warmup=warmup,
            sync=jax.block_until_ready,
        )
        steps_ms[piece] = [1e3 * t for t in timing.steps_s]
    return {
        "name": entry.name,
        "batch_size": batch_size,
        "image_size": entry.image_size,
        "anchors": int(logits.shape[1]),
        "classes": int(logits.shape[2]),
        "pre_nms_top_k": k,
        "busy_min_detections": busy_valid,
        "nms_methods_differ_images": int(differ.sum()),
        "backend": jax.default_backend(),
        "device_kind": jax.devices()[0].device_kind,
        "ms": {p: float(np.median(v)) for p, v in steps_ms.items()},
        "steps_ms": steps_ms,
    }


HEADER = (
    f"{'entry':28s} {'batch':>5s} {'anchors':>8s} "
    + " ".join(f"{p:>12s}" for p in PIECES)
    + "   (median ms per batch)"
)


def _row(r: dict[str, Any]) -> str:
    cells = " ".join(f"{r['ms'][p]:12.2f}" for p in PIECES)
    return f"{r['name']:28s} {r['batch_size']:5d} {r['anchors']:8d} {cells}"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="retinanet_small,fcos_small", help="suite entries")
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--dtype", choices=suite.DTYPE_CHOICES, default="config")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--json", default=None, help="write the records here")
    args = parser.parse_args(argv)
    for name in args.only.split(","):
        if name not in suite.ENTRY_BY_NAME:
            parser.error(f"unknown suite entry {name!r}")
    return args


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    print(HEADER, flush=True)
    records = []
    for name in args.only.split(","):  # each row printed and saved as soon as it is timed
        entry = suite.ENTRY_BY_NAME[name]
        records.append(time_pieces(entry, args.batch_size, args.dtype, args.steps, args.warmup))
        print(_row(records[-1]), flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"benchmark": "detection_postprocess", "records": records}, f, indent=1)
    return records


if __name__ == "__main__":
    main()
