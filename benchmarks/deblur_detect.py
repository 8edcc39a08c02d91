"""Deblur, then detect: a detector on sharp, motion-blurred and deblurred images.

The seed article's experiment. A trained detector (a ``retinanet_small.py`` or
``fcos_small.py`` run) evaluates the built-in detection eval split three times: as it is, after
motion blur along random camera-shake trajectories (``jaxvision.ops.degrade``, one fixed
kernel an image), and after a trained deblurring model (a ``deblurgan_small.py`` or
``deblur_small.py`` run) restored the blurred images. It prints pycocotools' AP50 and AP for
each, writes them as JSON and draws a few images in each state with their detections.

Train the models first, the deblurrer on the detection scenes themselves, for fidelity
(L1) and then against its critic (from scratch against the critic, the generator stays at
the identity it starts from; benchmarks/RESULTS.md; `norm=instance` gives the generator of
the figures there, the configs' default having none since):

  python -m train --config=train/configs/retinanet_small.py --workdir=runs/retinanet_small
  python -m train --config=train/configs/deblur_small.py --workdir=runs/deblur_shapes \
    --config.model.kwargs.norm=instance \
    --config.total_steps=2000 --config.dataset.name=jaxvision_shapes/detection \
    --config.dataset.train_pp="random_crop(64)|flip_lr" \
    --config.dataset.eval_pp="pad_to_canvas(128, 128)"
  python -m train --config=train/configs/deblurgan_small.py --workdir=runs/deblurgan_shapes \
    --config.model.kwargs.norm=instance \
    --config.init_from.workdir=runs/deblur_shapes --config.total_steps=500 \
    --config.dataset.name=jaxvision_shapes/detection \
    --config.dataset.train_pp="random_crop(64)|flip_lr" \
    --config.dataset.eval_pp="pad_to_canvas(128, 128)"
  python -m benchmarks.deblur_detect --detector=runs/retinanet_small \
    --deblurrer=runs/deblurgan_shapes --json=deblur_detect.json --picture=deblur_detect.png
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

STATES = ("sharp", "blurred", "deblurred")
# Seed of the blur kernels (one an image, from its index in the split).
BLUR_SEED = 7
DEFAULT_KERNEL_SIZE = 15
PICTURE_IMAGES = 4


def blur_batch(images: Any, indices: Any, kernel_size: int) -> Any:
    """Motion-blurred uint8 images [b, h, w, 3]: one camera-shake kernel an image, from its
    index (the same blur on any batch size or host count)."""
    import jax
    import jax.numpy as jnp

    from jaxvision.ops import degrade

    def one(index, image):
        key = jax.random.fold_in(jax.random.key(BLUR_SEED), index)
        kernel = degrade.motion_blur_kernel(key, kernel_size)
        blurred = degrade.blur(image.astype(jnp.float32) / 255.0, kernel)
        return jnp.clip(jnp.round(blurred * 255.0), 0, 255).astype(jnp.uint8)

    return jax.jit(jax.vmap(one))(indices, images)


def _eval_batches(detector: Any, batch_size: int, num_images: int | None) -> Any:
    from jaxvision.data import pipeline, sources

    config, task = detector.setup.config, detector.setup.task
    ds = config.dataset
    source, _ = sources.open_split(ds.name, ds.eval_split, ds.data_dir)
    if num_images is not None:
        source = [source[i] for i in range(min(num_images, len(source)))]
    dataset, _ = pipeline.eval_dataset(
        source,
        task.eval_pp,
        (*task.eval_keys, "index"),
        global_batch_size=batch_size,
        max_boxes=task.max_boxes,
    )
    return dataset


def evaluate(args: argparse.Namespace) -> tuple[dict[str, dict[str, float]], dict[str, Any], Any]:
    """Detection metrics of each state, the first batch's images and detections in each state,
    and the detector's task."""
    import jax
    import numpy as np

    from jaxvision.engine import inference
    from train import host_tuning

    detector = inference.restore_run(args.detector)
    deblurrer = inference.load_run(args.deblurrer, host_tuning.for_backend(inference=True))
    task = detector.setup.task
    variables = detector.state.eval_variables()
    rows_fn = jax.jit(lambda v, b: task.eval_rows(task.predict(v, b["image"]), b))
    predict = jax.jit(task.predict)
    rows: dict[str, list] = {s: [] for s in STATES}
    first: dict[str, Any] = {}
    for local in _eval_batches(detector, args.batch_size, args.num_images):
        blurred = np.asarray(blur_batch(local["image"], local["index"], args.kernel_size))
        images = {
            "sharp": local["image"],
            "blurred": blurred,
            "deblurred": deblurrer.predict(blurred)["restored"],
        }
        real = np.asarray(local["mask"]) > 0
        for state, pixels in images.items():
            batch = {**local, "image": pixels}
            out = jax.device_get(rows_fn(variables, batch))
            rows[state].append({k: np.asarray(v)[real] for k, v in out.items()})
            if state not in first:
                first[state] = (batch, jax.device_get(predict(variables, pixels)))
    metrics = {}
    for state, parts in rows.items():
        joined = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        metrics[state] = task.summarize_eval_rows(joined)
    return metrics, first, task


def picture(task: Any, first: dict[str, Any]) -> Any:
    """The first images in each state with their detections, one row a state."""
    import numpy as np
    from PIL import Image

    from jaxvision import visualize

    visualizer = visualize.for_task(task)
    rows = []
    for state in STATES:
        batch, outputs = first[state]
        n = min(PICTURE_IMAGES, len(batch["image"]))
        cut = {k: np.asarray(v)[:n] for k, v in batch.items()}
        rows.append(np.asarray(visualizer.render_batch(cut, outputs).convert("RGB")))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return Image.fromarray(np.concatenate(rows, axis=0))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", required=True, help="workdir of a trained detector run")
    parser.add_argument("--deblurrer", required=True, help="workdir of a trained deblurring run")
    parser.add_argument("--kernel_size", type=int, default=DEFAULT_KERNEL_SIZE)
    parser.add_argument("--batch_size", type=int, default=50)
    parser.add_argument("--num_images", type=int, default=None, help="first N eval images")
    parser.add_argument("--json", default=None, help="write the metrics here")
    parser.add_argument("--picture", default=None, help="write the picture here (PNG)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    args = parse_args(argv)
    metrics, first, task = evaluate(args)
    for state in STATES:
        m = metrics[state]
        print(
            f"{state:10s} AP50 {m['AP50']:.4f}  AP {m['AP']:.4f}  ({int(m['num_examples'])} images)"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "metrics": metrics}, f, indent=2)
    if args.picture:
        picture(task, first).save(args.picture)
    return metrics


if __name__ == "__main__":
    main()
