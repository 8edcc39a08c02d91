"""RoIAlign's two forms, "gather" and "matmul" (``jaxvision.ops.roi_align_matmul``), on CPU.

Times, jitted after compile, the median of rounds that take turns between the forms:

  * ``multilevel_roi_align`` forward + backward (the gradient in the pyramid, as a train
    step takes it) on FPN P2-P5 pyramids of 64 channels, for the box head (64 boxes 7 x 7 an
    image) and the mask head (16 boxes 14 x 14 an image);
  * ``roi_sampling.mask_targets`` (no gradient) of 16 RoIs 28 x 28 an image on uint8 masks.

Each row prints the form's cost ratio (``roi_align_matmul``'s dense multiply-adds against
the gather form's samples) beside the speedup of "matmul" over "gather", and what "auto"
picks (``choose_impl`` / ``choose_rows_impl``): the rows from which
``roi_align_matmul.MAX_COST_RATIO`` was chosen.

Run:
  python -m benchmarks.roi_align_impls --json=/tmp/roi_align_impls.json   # ~2 min on 2 cores
  python -m benchmarks.roi_align_impls --sizes=128 --rounds=3               # smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxvision.ops import roi_align, roi_align_matmul, roi_sampling

LEVELS = (2, 3, 4, 5)
CHANNELS = 64
# (name, output size, boxes an image)
HEADS = (("box", 7, 64), ("mask", 14, 16))
MASK_SIZE = 28
MASK_ROIS = 16
MASKS = 16
SAMPLING_RATIO = 2


def _boxes(rng, batch, n, image):
    size = rng.uniform(8, image / 2, (batch, n, 2))
    centre = rng.uniform(0, image, (batch, n, 2))
    return jnp.asarray(np.concatenate([centre - size / 2, centre + size / 2], -1), jnp.float32)


def _time(fns, args, rounds, inner=3):
    """name -> median seconds a call, the forms taking turns each round."""
    for fn in fns.values():
        jax.block_until_ready(fn(*args))
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(inner):
                jax.block_until_ready(fn(*args))
            times[name].append((time.perf_counter() - start) / inner)
    return {name: statistics.median(t) for name, t in times.items()}


def _cost_ratio(dense, out_h, out_w):
    return dense / (out_h * out_w * (2 * SAMPLING_RATIO) ** 2)


def head_row(image, batch, head, rounds, rng):
    """Forward + backward of ``multilevel_roi_align`` in both forms."""
    name, size, n = head
    pyramid = {
        lvl: jnp.asarray(rng.normal(size=(batch, image >> lvl, image >> lvl, CHANNELS)))
        for lvl in LEVELS
    }
    pyramid = {lvl: v.astype(jnp.float32) for lvl, v in pyramid.items()}
    boxes = _boxes(rng, batch, n, image)

    def step(impl):
        def loss(p, b):
            return jnp.sum(roi_align.multilevel_roi_align(p, b, size, impl=impl) ** 2)

        return jax.jit(jax.grad(loss))

    times = _time({impl: step(impl) for impl in ("gather", "matmul")}, (pyramid, boxes), rounds)
    shapes = [(image >> lvl, image >> lvl) for lvl in LEVELS]
    area, widest = sum(h * w for h, w in shapes), image >> LEVELS[0]
    return {
        "case": f"{name} {size}x{size}, {n} boxes",
        "image": image,
        "batch": batch,
        "cost_ratio": _cost_ratio(size * (area + size * widest), size, size),
        "auto": roi_align_matmul.choose_impl(shapes, (size, size), SAMPLING_RATIO),
        **{f"{impl}_ms": 1000 * t for impl, t in times.items()},
    }


def mask_row(image, batch, rounds, rng):
    """``mask_targets`` in both forms."""
    masks = jnp.asarray(rng.uniform(size=(batch, MASKS, image, image)) > 0.5, jnp.uint8)
    owner = jnp.asarray(rng.integers(0, MASKS, (batch, MASK_ROIS)), jnp.int32)
    rois = _boxes(rng, batch, MASK_ROIS, image)

    def targets(impl):
        run = lambda m, g, r: roi_sampling.mask_targets(m, g, r, MASK_SIZE, impl=impl)  # noqa: E731
        return jax.jit(jax.vmap(run))

    times = _time(
        {impl: targets(impl) for impl in ("gather", "matmul")}, (masks, owner, rois), rounds
    )
    dense = MASK_SIZE * image * (2 * SAMPLING_RATIO + MASK_SIZE)
    return {
        "case": f"mask targets {MASK_SIZE}x{MASK_SIZE}, {MASK_ROIS} RoIs",
        "image": image,
        "batch": batch,
        "cost_ratio": _cost_ratio(dense, MASK_SIZE, MASK_SIZE),
        "auto": roi_align_matmul.choose_rows_impl(image, (MASK_SIZE,) * 2, SAMPLING_RATIO),
        **{f"{impl}_ms": 1000 * t for impl, t in times.items()},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="128,192,256,384,512", help="image sizes, px")
    parser.add_argument("--pixels", type=int, default=16 * 128 * 128, help="pixels a batch")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = []
    for image in (int(s) for s in args.sizes.split(",")):
        batch = max(1, args.pixels // (image * image))
        cases = [head_row(image, batch, head, args.rounds, rng) for head in HEADS]
        cases.append(mask_row(image, batch, args.rounds, rng))
        for row in cases:
            speedup = row["gather_ms"] / row["matmul_ms"]
            print(
                f"{row['image']:4d} px x{row['batch']:<3d} {row['case']:32s} "
                f"cost ratio {row['cost_ratio']:6.1f}  gather {row['gather_ms']:7.1f} ms  "
                f"matmul {row['matmul_ms']:7.1f} ms  {speedup:5.2f}x  auto: {row['auto']}",
                flush=True,
            )
        rows.extend(cases)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"backend": jax.default_backend(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
