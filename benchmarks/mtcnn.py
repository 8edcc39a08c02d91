"""Inference time of the pretrained MTCNN face detector (`jaxvision.faces`).

Three measurements:

- latency (default): `jaxvision.faces.detect` on one photograph (scikit-image's astronaut,
  512 x 512, one face; or ``--image=NAME`` resized to ``--size``), the whole call as a user
  makes it (host-side padding, the jitted cascade, results back to NumPy); the first call
  (compilation) apart, then the median of ``--steps`` calls;
- throughput (``--batch=64 --size=640x480``, for a GPU): `jaxvision.faces.detect_batch` on a
  batch of that many photographs (scikit-image's, resized, in turn);
  images/s from the median batch time;
- pieces (``--pieces``): the parts whose lowering the cascade chooses on the CPU: the
  integral image by ``jnp.cumsum`` against a `lax.scan` (`jaxvision.faces.pyramid._cumsum`),
  and R-Net and O-Net per crop at several batch sizes (``RNET_CPU_CHUNK``,
  ``ONET_CPU_CHUNK`` in `jaxvision.faces.cascade`).

Latency and throughput records also hold ``cpu_median_s``, the process's CPU time a call (all
its threads), and the machine's ``load_average``: on a shared CPU they put the wall-clock
figures in context.

Run:
  python -m benchmarks.mtcnn --steps=20 --json=/tmp/mtcnn_cpu.json
  python -m benchmarks.mtcnn --batch=64 --size=640x480 --steps=10 --json=/tmp/mtcnn_gpu.json
  python -m benchmarks.mtcnn --pieces

Output JSON (``--json``)::

  {"benchmark": "mtcnn", "mode": "latency" | "throughput" | "pieces",
   "config": {"image", "size", "batch", "steps", "warmup"},
   "result": {"first_call_s", "median_s", "min_s", "times_s", "images_per_s", "faces",
              "bucket", "backend", "device_kind", "cpu_median_s", "load_average"}
             (pieces: {piece: median ms}),
   "machine": {...}}
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import throughput

# scikit-image photographs the throughput batch cycles through (two with a face).
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera")
RNET_BATCHES = (16, 32, 64, 128, 256)
ONET_BATCHES = (8, 16, 32, 64)


def photo(name: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """A scikit-image photograph as uint8 RGB, resized (bilinear) to ``size`` (h, w) if given.

    Example:
      >>> photo("astronaut", (48, 64)).shape
      (48, 64, 3)
    """
    import skimage.data
    from PIL import Image

    image = np.asarray(getattr(skimage.data, name)())
    image = np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image[..., :3]
    if size is not None and image.shape[:2] != tuple(size):
        image = np.asarray(Image.fromarray(image).resize(size[::-1], Image.BILINEAR))
    return image


def _size(text: str) -> tuple[int, int]:
    """ "512" -> (512, 512); "640x480" (width x height) -> (480, 640) as (h, w)."""
    if "x" in text:
        width, height = (int(v) for v in text.split("x"))
        return height, width
    return int(text), int(text)


def _timing_record(timing: throughput.Timing, images: int) -> dict[str, Any]:
    import jax

    return {
        "first_call_s": timing.first_s,
        "median_s": timing.median_s,
        "min_s": timing.min_s,
        "times_s": list(timing.steps_s),
        "images_per_s": images / timing.median_s,
        "backend": jax.default_backend(),
        "device_kind": jax.devices()[0].device_kind,
    }


def time_detect(args: argparse.Namespace) -> dict[str, Any]:
    """Latency of `detect` (batch 1) or throughput of `detect_batch` (batch > 1)."""
    from jaxvision import faces
    from jaxvision.faces import pyramid

    size = _size(args.size) if args.size else None
    if args.batch == 1:
        images = [photo(args.image, size)]
    else:
        images = [photo(PHOTOS[i % len(PHOTOS)], size or (480, 640)) for i in range(args.batch)]
    found: list = []
    cpu_s: list[float] = []  # this process's CPU time a call (all its threads)

    def call(_):
        start = time.process_time()
        found[:] = faces.detect_batch(images)
        cpu_s.append(time.process_time() - start)

    timing, _ = throughput.time_steps(
        call, None, steps=args.steps, warmup=args.warmup, sync=lambda _: None
    )  # detect_batch returns NumPy arrays: every call is complete when it returns
    record = _timing_record(timing, len(images))
    record["cpu_median_s"] = float(np.median(cpu_s[-args.steps :]))
    record["load_average"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    h, w = images[0].shape[:2]
    record["bucket"] = [pyramid.bucket_size(h), pyramid.bucket_size(w)]
    record["faces"] = [len(boxes) for boxes, _, _ in found]
    return record


def _median_ms(fn, *inputs, steps: int) -> float:
    import jax

    timing, _ = throughput.time_steps(
        lambda _: fn(*inputs), None, steps=steps, warmup=1, sync=jax.block_until_ready
    )
    return 1e3 * timing.median_s


def time_pieces(steps: int) -> dict[str, float]:
    """Median ms of the integral image (cumsum vs scan) and of R-Net / O-Net per crop."""
    import jax
    import jax.numpy as jnp

    from jaxvision.faces import weights
    from jaxvision.models import mtcnn

    variables = jax.tree.map(jnp.asarray, weights.load())
    image = jnp.asarray(photo("astronaut")).astype(jnp.uint32)  # [512, 512, 3]
    cumsum = jax.jit(lambda x: jnp.cumsum(jnp.cumsum(x, axis=0), axis=1))

    def scan_cumsum(x, axis):
        x = jnp.moveaxis(x, axis, 0)
        _, out = jax.lax.scan(lambda t, r: (t + r, t + r), jnp.zeros_like(x[0]), x)
        return jnp.moveaxis(out, 0, axis)

    scan = jax.jit(lambda x: scan_cumsum(scan_cumsum(x, 0), 1))
    pieces = {
        "integral_cumsum_512": _median_ms(cumsum, image, steps=steps),
        "integral_scan_512": _median_ms(scan, image, steps=steps),
    }
    for name, sizes, side in (("rnet", RNET_BATCHES, 24), ("onet", ONET_BATCHES, 48)):
        net = jax.jit(mtcnn.NETWORKS[name]().apply)
        for n in sizes:
            crops = jnp.zeros((n, side, side, 3), jnp.float32)
            pieces[f"{name}_per_crop_batch{n}"] = (
                _median_ms(net, variables[name], crops, steps=steps) / n
            )
    return pieces


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="astronaut", help="scikit-image photograph (batch 1)")
    parser.add_argument("--size", default=None, help="resize to N or WxH (default: as is)")
    parser.add_argument("--batch", type=int, default=1, help="images a call (detect_batch)")
    parser.add_argument("--steps", type=int, default=10, help="timed calls")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls after the first")
    parser.add_argument("--pieces", action="store_true", help="time the cascade's parts")
    parser.add_argument("--json", default=None, help="write the report here")
    args = parser.parse_args(argv)
    if args.batch < 1:
        parser.error("--batch must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.pieces:
        mode, result = "pieces", time_pieces(args.steps)
    else:
        mode = "latency" if args.batch == 1 else "throughput"
        result = time_detect(args)
    import jax

    config = {k: getattr(args, k) for k in ("image", "size", "batch", "steps", "warmup")}
    report = {
        "benchmark": "mtcnn",
        "mode": mode,
        "config": config,
        "result": result,
        "machine": throughput.machine_info([str(d) for d in jax.devices()]),
    }
    summary = {k: v for k, v in result.items() if k != "times_s"}
    print(json.dumps({"mode": mode, **summary}, indent=1), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
