"""``python -m jaxvision.faces IMAGE... [--out=DIR]``: faces and landmarks, drawn and as JSON.

For each image it writes ``DIR/<stem>.png``, the image with each face's box, score and five
landmarks drawn, and it writes ``DIR/detections.json``: one record an image, ``{"image":
path, "height", "width", "faces": [{"box": [x1, y1, x2, y2], "score", "landmarks":
{"left_eye": [x, y], ...}}]}``. Options set MTCNN's ``--min_face_size``, ``--thresholds``
and ``--scale_factor``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from collections.abc import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from jaxvision.data.preprocess.restoration_ops import as_rgb
from jaxvision.faces import detector

MODES_DETECT_TAKES = ("L", "RGB", "RGBA")
JSON_NAME = "detections.json"


def _read(path: pathlib.Path) -> np.ndarray:
    """The image's uint8 array: grey, RGB or RGBA (other modes converted to RGB)."""
    with Image.open(path) as image:
        if image.mode not in MODES_DETECT_TAKES:
            image = image.convert("RGB")
        return np.asarray(image)


def _picture(image: np.ndarray, boxes, scores, landmarks) -> Image.Image:
    """The RGB image with the boxes, scores and landmarks drawn."""
    from jaxvision.visualize.draw import draw_detections
    from jaxvision.visualize.face_detection import draw_landmarks

    labels = np.zeros(len(boxes), np.int64)
    picture = draw_detections(image, boxes, labels, scores, ["face"])
    return draw_landmarks(picture, landmarks)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m jaxvision.faces", description=__doc__)
    parser.add_argument("images", nargs="+", type=pathlib.Path, help="image files")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("faces"), help="folder")
    parser.add_argument("--min_face_size", type=float, default=detector.MIN_FACE_SIZE)
    parser.add_argument(
        "--thresholds", type=float, nargs=3, default=detector.THRESHOLDS, metavar="P"
    )
    parser.add_argument("--scale_factor", type=float, default=detector.SCALE_FACTOR)
    args = parser.parse_args(argv)
    for path in args.images:
        if not path.is_file():
            parser.error(f"no such image file: {path}")
    return args


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """Runs the command; returns the records written to ``detections.json``."""
    args = _parse(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    records, stems = [], set()
    for path in args.images:
        try:
            image = _read(path)
        except (UnidentifiedImageError, OSError) as error:
            raise SystemExit(f"cannot read {path}: {error}") from error
        boxes, scores, landmarks = detector.detect(
            image,
            min_face_size=args.min_face_size,
            thresholds=args.thresholds,
            scale_factor=args.scale_factor,
        )
        stem = path.stem
        while stem in stems:  # two inputs of one name
            stem += "_"
        stems.add(stem)
        rgb = as_rgb(image)
        _picture(rgb, boxes, scores, landmarks).save(args.out / f"{stem}.png")
        faces = detector.to_json(boxes, scores, landmarks)
        records.append({"image": str(path), "height": rgb.shape[0], "width": rgb.shape[1]})
        records[-1]["faces"] = faces
        print(f"{path}: {len(faces)} face(s) -> {args.out / stem}.png", flush=True)
    (args.out / JSON_NAME).write_text(json.dumps(records, indent=1) + "\n")
    print(f"Wrote {args.out / JSON_NAME}", file=sys.stderr)
    return records


if __name__ == "__main__":
    main()
