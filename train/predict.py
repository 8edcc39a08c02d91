"""Predicts with the latest checkpoint of a run: ``python -m train.predict --workdir=DIR IMAGE...``.

For classification, prints the top-5 classes with their probabilities for each image.
"""

from __future__ import annotations

import sys

import numpy as np
from absl import app, flags, logging

_WORKDIR = flags.DEFINE_string("workdir", None, "The training run's workdir.")
flags.mark_flag_as_required("workdir")


def main(argv: list[str]) -> None:
    images = argv[1:]
    if not images:
        raise app.UsageError("usage: python -m train.predict --workdir=DIR IMAGE [IMAGE ...]")
    if not any(a.startswith(("--verbosity", "-v")) for a in sys.argv):
        logging.set_verbosity(logging.WARNING)
    from jaxvision.engine import inference

    try:
        run = inference.load_run(_WORKDIR.value)
        batch = np.stack([run.preprocess(inference.read_image(path)) for path in images])
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f"error: {e}")
    names = run.task.meta.class_names
    outputs = run.predict(batch)
    for i, path in enumerate(images):
        print(f"{path}:")
        for cls, prob in zip(outputs["classes"][i], outputs["probabilities"][i], strict=True):
            print(f"  {names[int(cls)]:<24s} {float(prob):.4f}")


if __name__ == "__main__":
    app.run(main)
