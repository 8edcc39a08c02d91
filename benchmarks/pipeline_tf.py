"""The tf.data arm of the input-pipeline benchmark (optional: needs TensorFlow).

The same work as jaxvision's Grain pipeline with `random_resized_crop(224)|flip_lr`: read the
JPEG file, decode it whole (`tf.io.decode_jpeg`; not the fused decode-and-crop, which skips
pixels and would not be the same work), sample an Inception crop (area 8-100%, aspect 3/4-4/3,
`tf.image.sample_distorted_bounding_box`), resize it to 224 x 224 bilinearly with
antialiasing, flip left-right with probability 1/2, batch, prefetch. `parallelism` is the
size of tf.data's private thread pool and of the map's parallel calls.

Run by `benchmarks.pipeline` in a child process (TensorFlow stays out of the Grain process).
"""

from __future__ import annotations

import glob
import os
import time
from typing import Any

CROP_AREA = (0.08, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)
MAX_CROP_ATTEMPTS = 10
SHUFFLE_SEED = 0


def available() -> bool:
    """Whether TensorFlow can be imported here."""
    import importlib.util

    return importlib.util.find_spec("tensorflow") is not None


def _dataset(files: list[str], size: int, batch_size: int, parallelism: int) -> Any:
    import tensorflow as tf

    def load(path: tf.Tensor) -> tf.Tensor:
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)  # [h, w, 3] uint8
        begin, crop_size, _ = tf.image.sample_distorted_bounding_box(
            tf.shape(image),
            bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
            area_range=CROP_AREA,
            aspect_ratio_range=CROP_RATIO,
            max_attempts=MAX_CROP_ATTEMPTS,
            use_image_if_no_bounding_boxes=True,
        )
        crop = tf.slice(image, begin, crop_size)  # [ch, cw, 3]
        crop = tf.image.resize(crop, (size, size), antialias=True)  # [s, s, 3] float32
        crop = tf.image.random_flip_left_right(crop)
        return tf.cast(tf.clip_by_value(tf.round(crop), 0, 255), tf.uint8)

    options = tf.data.Options()
    options.threading.private_threadpool_size = parallelism
    options.threading.max_intra_op_parallelism = 1  # one thread per element, as PIL
    ds = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=SHUFFLE_SEED)
    ds = ds.repeat().map(load, num_parallel_calls=parallelism)
    return ds.batch(batch_size, drop_remainder=True).prefetch(2).with_options(options)


def run(data_dir: str, size: int, batch_size: int, batches: int, parallelism: int) -> dict:
    """Times `batches` batches of the tf.data pipeline after one warm-up batch.

    Args:
      data_dir: the image-folder root of `benchmarks.jpeg_data.generate_jpegs`.
      size: the crop side.
      batch_size: images a batch.
      batches: timed batches.
      parallelism: tf.data threads.

    Returns:
      `images_per_s`, `images_per_s_per_thread`, `parallelism`, `tensorflow` (version).
    """
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(data_dir, "train", "*", "*.jpg")))
    if not files:
        raise FileNotFoundError(f"no JPEG files under {data_dir}/train")
    it = iter(_dataset(files, size, batch_size, parallelism))
    next(it)  # warm-up: builds the pipeline, fills the prefetch buffer
    start = time.perf_counter()
    for _ in range(batches):
        batch = next(it)
    _ = batch.numpy()
    ips = batches * batch_size / (time.perf_counter() - start)
    return {
        "images_per_s": ips,
        "images_per_s_per_thread": ips / parallelism,
        "parallelism": parallelism,
        "tensorflow": tf.__version__,
    }
