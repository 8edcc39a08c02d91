"""Predicts with the latest checkpoint of a run: ``python -m train.predict --workdir=DIR IMAGE...``.

Classification: prints the top-5 classes with their probabilities for each image.
Localization and detection: prints each detection (class, score, box in the image's own
pixels) and writes, into ``--output_dir`` (default ``DIR/predict``), ``<name>.png`` (the
image with its boxes, class names and scores drawn) and ``<name>.json`` (the detections).
Instance segmentation (Mask R-CNN): the same, with each instance's mask blended over the
image in a colour of its own in ``<name>.png``, and each detection's ``mask`` (a COCO RLE of
the image) in ``<name>.json``.
Semantic segmentation: prints the share of the pixels each class covers and writes
``<name>.png`` (the class map blended over the image, with a legend) and ``<name>_mask.png``
(the class ids at the image's size, the encoding of ``segmentation_folder`` masks).
Restoration: takes each image as the degraded input, as it is, and writes the restored image
``<name>.png`` (the input's size times the scale) and ``<name>_compare.png`` (input and
restored side by side); ``--self_ensemble=8`` averages the outputs over the 8 flips and
transposes of each image. Every task also writes the JSON records when ``--output_dir`` is
given.
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags, logging

from train import host_tuning

_WORKDIR = flags.DEFINE_string("workdir", None, "The training run's workdir.")
_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", None, "Where pictures and JSON go (default: WORKDIR/predict for detectors)."
)
_SELF_ENSEMBLE = flags.DEFINE_integer(
    "self_ensemble",
    None,
    "Restoration: average the outputs over 1, 2, 4 or 8 flips and transposes of each image "
    "(default: the run's restoration.self_ensemble).",
)
flags.mark_flag_as_required("workdir")

DEFAULT_OUTPUT_SUBDIR = "predict"


def _print_record(path: str, record: dict) -> None:
    print(f"{path}:")
    for top in record.get("top5", []):
        print(f"  {top['class_name']:<24s} {top['probability']:.4f}")
    for det in record.get("detections", []):
        box = ", ".join(f"{v:.1f}" for v in det["box"])
        print(f"  {det['class_name']:<16s} {det['score']:.3f}  [{box}]")
    for entry in record.get("classes", []):
        print(f"  {entry['class_name']:<24s} {entry['fraction']:.3f} of the pixels")
    if "detections" in record and not record["detections"]:
        print("  (no detections)")


def main(argv: list[str]) -> None:
    paths = argv[1:]
    if not paths:
        raise app.UsageError("usage: python -m train.predict --workdir=DIR IMAGE [IMAGE ...]")
    if not any(a.startswith(("--verbosity", "-v")) for a in sys.argv):
        logging.set_verbosity(logging.WARNING)
    from jaxvision import visualize
    from jaxvision.engine import inference
    from jaxvision.engine.checkpoint import CheckpointError

    overrides = {}
    if _SELF_ENSEMBLE.value is not None:
        overrides["restoration.self_ensemble"] = _SELF_ENSEMBLE.value
    try:
        options = host_tuning.for_backend(inference=True)
        run = inference.load_run(_WORKDIR.value, options, overrides)
        images = [inference.read_image(path) for path in paths]
        features = [run.preprocess_features(image) for image in images]
    except (FileNotFoundError, ValueError, CheckpointError) as e:
        sys.exit(f"error: {e}")
    # One image at a time: a restoration model takes each at its own size.
    outputs = [run.predict(f["image"][None]) for f in features]
    visualizer = visualize.for_task(run.task)
    records, pictures = [], []
    for image, feature, output in zip(images, features, outputs, strict=True):
        (record,) = visualizer.describe([image], [feature], output)
        records.append(record)
        pictures.append(visualizer.pictures(image, feature, output, record))

    output_dir = _OUTPUT_DIR.value
    if output_dir is None and any(pictures):
        output_dir = os.path.join(_WORKDIR.value, DEFAULT_OUTPUT_SUBDIR)
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
    for path, record, named in zip(paths, records, pictures, strict=True):
        _print_record(path, record)
        if output_dir:
            _write(output_dir, path, record, named)


def _write(output_dir: str, path: str, record: dict, pictures: dict) -> None:
    """``<stem>.json`` and each picture ``<stem><suffix>.png`` into ``output_dir``."""
    stem = os.path.join(output_dir, os.path.splitext(os.path.basename(path))[0])
    with open(stem + ".json", "w") as f:
        json.dump({"image": path, **record}, f, indent=2)
    written = [stem + ".json"]
    for suffix, picture in pictures.items():
        picture.save(stem + suffix + ".png")
        written.append(stem + suffix + ".png")
    if pictures:
        print("  -> " + ", ".join(written))


if __name__ == "__main__":
    host_tuning.reexec_with_tuned_malloc("train.predict", sys.argv[1:])
    app.run(main)
