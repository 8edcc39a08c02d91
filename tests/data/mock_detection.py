"""Offline stand-ins for the TFDS detection datasets coco/2017, voc/2007 and voc/2012.

``tfds.testing.mock_data`` cannot serve coco/2017 without TensorFlow (the builder's
``_info`` uses ``tf.int64``), and its random examples are not even valid detection data
(boxes with ymin > ymax, ``bbox`` and ``label`` of different lengths). Instead, this
module *prepares* small fake versions of the datasets, in the ArrayRecord format, under
the real names, versions and feature schemas: builders that subclass the real TFDS
builders (so ``_info`` and the class names are the real ones) and only replace the
downloaded files with rendered examples. ``open_split`` then reads them exactly as it
reads the real prepared datasets, through the read-only builder, with no TensorFlow.

Each example is a random-size image (``MIN_SIDE`` .. ``MAX_SIDE``) with 0..``MAX_OBJECTS``
filled rectangles whose ``bbox`` is exactly their pixel extent; example 0 of every split
has no objects; about a fifth of the boxes are crowd (coco) / difficult (voc).

Usage (in a test, or around an in-process training run)::

    from tests.data.mock_detection import mock_detection_data

    def test_train_on_coco(tmp_path):
        with mock_detection_data(str(tmp_path / "tfds"), num_examples=8):
            # open_split("coco/2017", "train") with data_dir unset now reads the mock;
            # passing data_dir=<the yielded dir> works too, inside or outside the block.
            train.main(["--config=train/configs/retinanet_small.py",
                        "--config.dataset.name=coco/2017", ...])

Preparing is skipped when the data is already in ``data_dir`` (pass the same directory
to share it across tests, e.g. from a session fixture).
"""

from __future__ import annotations

import contextlib
import io
import pathlib
import types
from collections.abc import Iterator, Sequence
from unittest import mock

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image
from tensorflow_datasets.object_detection import coco as coco_lib
from tensorflow_datasets.object_detection import voc as voc_lib

from jaxvision.data import sources

MOCK_DATASETS = ("coco/2017", "voc/2007", "voc/2012")
MIN_SIDE, MAX_SIDE = 40, 96
MAX_OBJECTS = 4
IGNORE_PROBABILITY = 0.2
DEFAULT_NUM_EXAMPLES = 8
MOCK_SEED = 2017

# The 80 COCO 2017 detection categories, in the order of their category ids, as the
# real coco/2017 builder names them.
COCO_CLASS_NAMES = (
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
)
assert len(COCO_CLASS_NAMES) == 80


def _jpeg(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def render_mock_example(
    seed: Sequence[int], num_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A random image with filled rectangles.

    Args:
      seed: entropy of the example's generator.
      num_classes: labels are drawn from ``range(num_classes)``.

    Returns:
      ``(image uint8 [h, w, 3], bbox float32 [n, 4] normalised yxyx, label int64 [n],
      ignore bool [n])``; example index 0 (``seed[-1] == 0``) has ``n == 0``.
    """
    rng = np.random.default_rng(list(seed))
    h, w = (int(v) for v in rng.integers(MIN_SIDE, MAX_SIDE + 1, size=2))
    image = np.full((h, w, 3), 40, np.uint8)  # [h, w, 3]
    n = 0 if seed[-1] == 0 else int(rng.integers(1, MAX_OBJECTS + 1))
    boxes = np.zeros((n, 4), np.float32)  # [n, 4]
    for i in range(n):
        y0, x0 = int(rng.integers(0, h - 8)), int(rng.integers(0, w - 8))
        y1, x1 = int(rng.integers(y0 + 4, h + 1)), int(rng.integers(x0 + 4, w + 1))
        image[y0:y1, x0:x1] = rng.integers(80, 256, size=3)
        boxes[i] = (y0 / h, x0 / w, y1 / h, x1 / w)
    labels = rng.integers(0, num_classes, size=n).astype(np.int64)  # [n]
    ignore = rng.random(n) < IGNORE_PROBABILITY  # [n]
    return image, boxes, labels, ignore


class MockCoco(coco_lib.Coco, skip_registration=True):
    """coco/2017 with the real schema and class names, and rendered examples."""

    name = "coco"
    code_path = pathlib.Path(__file__)
    num_examples = DEFAULT_NUM_EXAMPLES

    def _info(self) -> tfds.core.DatasetInfo:
        # The real _info needs TensorFlow only for the `tf.int64` dtype of image/id.
        with mock.patch.object(coco_lib, "tf", types.SimpleNamespace(int64=np.int64)):
            return super()._info()

    def _split_generators(self, dl_manager):
        del dl_manager
        self.info.features["objects"]["label"].names = list(COCO_CLASS_NAMES)
        return {split: self._generate(split) for split in ("train", "validation")}

    def _generate(self, split: str):
        for index in range(self.num_examples):
            seed = (MOCK_SEED, len(split), ord(split[0]), index)
            image, boxes, labels, crowd = render_mock_example(seed, len(COCO_CLASS_NAMES))
            n = len(labels)
            sizes = np.array(image.shape[:2] * 2, np.float32)  # [4]
            pixel_boxes = boxes * sizes  # [n, 4]
            area = (pixel_boxes[:, 2] - pixel_boxes[:, 0]) * (pixel_boxes[:, 3] - pixel_boxes[:, 1])
            yield (
                index,
                {
                    "image": _jpeg(image),
                    "image/filename": f"{index:012d}.jpg",
                    "image/id": 1000 + index,
                    "objects": {
                        "id": np.arange(n, dtype=np.int64) + 100 * index,
                        "area": np.round(area).astype(np.int64),
                        "bbox": boxes,
                        "label": labels,
                        "is_crowd": crowd,
                    },
                },
            )


class MockVoc(voc_lib.Voc, skip_registration=True):
    """voc/2007 and voc/2012 with the real schema and class names, and rendered examples."""

    name = "voc"
    code_path = pathlib.Path(__file__)
    num_examples = DEFAULT_NUM_EXAMPLES

    def _split_generators(self, dl_manager):
        del dl_manager
        return {split: self._generate(split) for split in ("train", "validation", "test")}

    def _generate(self, split: str):
        num_classes = self.info.features["objects"]["label"].num_classes
        for index in range(self.num_examples):
            seed = (MOCK_SEED, int(self.builder_config.name), len(split), ord(split[0]), index)
            image, boxes, labels, difficult = render_mock_example(seed, num_classes)
            n = len(labels)
            yield (
                index,
                {
                    "image": _jpeg(image),
                    "image/filename": f"{index:06d}.jpg",
                    "objects": {
                        "label": labels,
                        "bbox": boxes,
                        "pose": np.zeros(n, np.int64),
                        "is_truncated": np.zeros(n, bool),
                        "is_difficult": difficult,
                    },
                    "labels": sorted(set(labels.tolist())),
                    "labels_no_difficult": sorted(set(labels[~difficult].tolist())),
                },
            )


_BUILDERS = {"coco": MockCoco, "voc": MockVoc}


def prepare_mock_detection(
    data_dir: str,
    names: Sequence[str] = MOCK_DATASETS,
    num_examples: int = DEFAULT_NUM_EXAMPLES,
) -> None:
    """Prepares the fake datasets ``names`` (e.g. "coco/2017") in ``data_dir``.

    Args:
      data_dir: a TFDS data_dir.
      names: any of ``MOCK_DATASETS``.
      num_examples: examples in every split.

    Raises:
      ValueError: an unsupported name.
    """
    for name in names:
        if name not in MOCK_DATASETS:
            raise ValueError(f"no mock for {name!r}; supported: {MOCK_DATASETS}")
        dataset, config = name.split("/")
        builder_cls = type(
            f"{_BUILDERS[dataset].__name__}N{num_examples}",
            (_BUILDERS[dataset],),
            {"num_examples": num_examples, "name": dataset},
            skip_registration=True,
        )
        builder = builder_cls(data_dir=data_dir, config=config)
        builder.download_and_prepare(
            file_format="array_record",
            download_config=tfds.download.DownloadConfig(try_download_gcs=False),
        )


@contextlib.contextmanager
def mock_detection_data(
    data_dir: str,
    num_examples: int = DEFAULT_NUM_EXAMPLES,
    names: Sequence[str] = MOCK_DATASETS,
) -> Iterator[str]:
    """Prepares the fake detection datasets and makes ``data_dir`` the default data_dir.

    Args:
      data_dir: where to prepare them (kept after the block; reused when present).
      num_examples: examples in every split.
      names: which of ``MOCK_DATASETS`` to prepare.

    Yields:
      ``data_dir``; inside the block ``open_split(name, split)`` without a data_dir
      reads the mock datasets.
    """
    prepare_mock_detection(data_dir, names, num_examples)
    with mock.patch.object(sources, "DEFAULT_DATA_DIR", data_dir):
        yield data_dir
