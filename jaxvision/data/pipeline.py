"""Grain input pipelines: seeded, sharded over processes, resumable, padded for eval.

Train: ``source -> shuffle(seed, reshuffled every epoch) -> repeat -> preprocess
(seeded per global index) -> this process's slice -> batch``. The global order and
every random augmentation depend only on the seed and the example's global index,
never on the number of processes: process ``p`` of ``n`` takes examples
``p, p + n, p + 2n ...`` of the global stream, so the global batch at each step is
the same set of examples on 1 host or on 8. The iterator state (one integer per
process) is checkpointed with the model, so a resumed run reads exactly the
batches an uninterrupted run would have read.

Detection targets are padded to a fixed ``max_boxes`` by the ``max_boxes`` argument of
both pipelines (``jaxvision.data.preprocess.build``), with a ``box_mask``; images with
zero objects give all-padding rows.

Eval: every example once, padded with masked copies of the first example up to a
multiple of the global batch size; each padded batch carries ``mask`` (1.0 for
real examples, 0.0 for padding) so metrics are exact mask-weighted sums. Every eval
example also holds ``index`` (int32, its position in the split; 0 on padding), which
reaches the batch when the task lists it in its keys: a task seeds per-example eval
randomness from it (the degradation of a restoration eval image), so that the eval
set is the same whatever the batch size and the number of processes.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import Any

import grain
import numpy as np
from absl import flags

from jaxvision.data import preprocess

MASK_KEY = "mask"
# The example's position in the eval split, added to every eval example.
INDEX_KEY = "index"
# Seed offset between the shuffle stream and the augmentation stream.
AUGMENT_SEED_OFFSET = 1


@dataclasses.dataclass(frozen=True)
class LoaderOptions:
    """How batches are read.

    Attributes:
      worker_count: Grain worker processes (0 reads in the main process with threads).
      worker_buffer_size: batches each worker prefetches.
      read_threads: threads that read records from the source.
      prefetch_buffer_size: records read ahead by those threads.
    """

    worker_count: int = 0
    worker_buffer_size: int = 2
    read_threads: int = 8
    prefetch_buffer_size: int = 256


class Preprocess(grain.transforms.RandomMap):
    """Applies a preprocessing spec to one example and keeps the given keys.

    Holds only the spec string and ``max_boxes``, so it pickles into Grain worker
    processes; the op is built on first use in each process (and left out of the
    pickled state).

    Args:
      spec: the preprocessing spec (see ``jaxvision.data.preprocess.build``).
      keys: the feature keys to keep.
      max_boxes: pad the detection targets to this many boxes (``build``'s
        ``max_boxes``); None for no padding.

    Raises:
      ValueError: a bad spec (checked at once, in the main process).

    Example:
      >>> transform = Preprocess("resize(4)", ("image",))
      >>> out = transform.random_map({"image": np.zeros((8, 8, 3), np.uint8), "label": 1},
      ...                            np.random.default_rng(0))
      >>> sorted(out), out["image"].shape
      (['image'], (4, 4, 3))
    """

    def __init__(self, spec: str, keys: Sequence[str], max_boxes: int | None = None):
        self.spec = spec
        self.keys = tuple(keys)
        self.max_boxes = max_boxes
        preprocess.build(spec, max_boxes)  # fail fast on a bad spec, in the main process

    @functools.cached_property
    def _op(self) -> preprocess.Op:
        return preprocess.build(self.spec, self.max_boxes)

    def __getstate__(self) -> dict[str, Any]:
        # The built op is a closure, which does not pickle: each process rebuilds it.
        return {k: v for k, v in self.__dict__.items() if k != "_op"}

    def random_map(self, element: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        out = self._op(dict(element), rng)
        return {k: np.asarray(out[k]) for k in self.keys}


class _PaddedSource:
    """A source of length ``padded_len`` whose tail repeats item 0 with ``mask = 0``.

    Every item also holds ``index``: its position in ``source`` (int32), 0 on padding
    (replacing any ``index`` feature of the source's own).
    """

    def __init__(self, source: Any, padded_len: int):
        self.source = source
        self.padded_len = padded_len

    def __len__(self) -> int:
        return self.padded_len

    def __getitem__(self, index: int) -> dict[str, Any]:
        real = index < len(self.source)
        example = dict(self.source[index if real else 0])
        example[MASK_KEY] = np.float32(real)
        example[INDEX_KEY] = np.int32(index if real else 0)
        return example


def _check_batch(global_batch_size: int, process_count: int) -> int:
    if global_batch_size % process_count:
        raise ValueError(
            f"global batch size {global_batch_size} is not divisible by the "
            f"{process_count} processes"
        )
    return global_batch_size // process_count


def _to_iter(ds: grain.MapDataset, options: LoaderOptions) -> grain.IterDataset:
    read = grain.ReadOptions(
        num_threads=options.read_threads, prefetch_buffer_size=options.prefetch_buffer_size
    )
    it = ds.to_iter_dataset(read)
    if options.worker_count > 0:
        if not flags.FLAGS.is_parsed():
            # Grain's workers read absl flags; outside absl.app.run (notebooks, pytest,
            # research scripts) they are unparsed: take their defaults.
            flags.FLAGS.mark_as_parsed()
        it = it.mp_prefetch(
            grain.MultiprocessingOptions(
                num_workers=options.worker_count,
                per_worker_buffer_size=options.worker_buffer_size,
            )
        )
    return it


def train_dataset(
    source: Any,
    spec: str,
    keys: Sequence[str],
    *,
    global_batch_size: int,
    seed: int,
    process_index: int = 0,
    process_count: int = 1,
    options: LoaderOptions = LoaderOptions(),
    max_boxes: int | None = None,
) -> grain.IterDataset:
    """The infinite, shuffled, augmented training stream of this process.

    Args:
      source: a random-access source of feature dicts.
      spec: the preprocessing spec (see ``jaxvision.data.preprocess.build``).
      keys: the feature keys each batch keeps (e.g. ``("image", "label")``).
      global_batch_size: examples per step over all processes.
      seed: shuffle and augmentation seed.
      process_index: this process (``jax.process_index()``).
      process_count: all processes (``jax.process_count()``).
      options: worker and prefetch settings.
      max_boxes: pad the detection targets of every example to this many boxes (the
        detection tasks' ``detection.max_boxes``; the spec then holds no ``pad_boxes``);
        None for no padding.

    Returns:
      An ``IterDataset`` of local batches (dicts of arrays with leading dimension
      ``global_batch_size // process_count``); ``iter(ds)`` has ``get_state`` and
      ``set_state`` for checkpointing.

    Example:
      >>> # Any random-access source works: a list of feature dicts, a TFDS/Grain source...
      >>> src = [{"image": np.zeros((32, 32, 3), np.uint8), "label": i % 10} for i in range(20)]
      >>> ds = train_dataset(src, "flip_lr", ("image", "label"), global_batch_size=8, seed=0)
      >>> next(iter(ds))["image"].shape
      (8, 32, 32, 3)
    """
    local_batch = _check_batch(global_batch_size, process_count)
    if len(source) == 0:
        raise ValueError("the training split is empty")
    ds = grain.MapDataset.source(source).shuffle(seed=seed).repeat()
    ds = ds.random_map(Preprocess(spec, keys, max_boxes), seed=seed + AUGMENT_SEED_OFFSET)
    ds = ds[process_index::process_count]
    ds = ds.batch(local_batch, drop_remainder=True)
    return _to_iter(ds, options)


def eval_dataset(
    source: Any,
    spec: str,
    keys: Sequence[str],
    *,
    global_batch_size: int,
    process_index: int = 0,
    process_count: int = 1,
    options: LoaderOptions = LoaderOptions(),
    max_boxes: int | None = None,
) -> tuple[grain.IterDataset, int]:
    """One pass over an eval split, padded to whole global batches with a mask.

    Args:
      source: a random-access source of feature dicts.
      spec: the (deterministic) preprocessing spec.
      keys: the feature keys each batch keeps; ``"mask"`` is added. ``"index"`` (the
        example's position in the split, int32; 0 on padding) is available to list.
      global_batch_size: examples per step over all processes.
      process_index: this process.
      process_count: all processes.
      options: worker and prefetch settings.
      max_boxes: pad the detection targets of every example to this many boxes; None
        for no padding.

    Returns:
      ``(dataset, num_batches)``: every process yields the same number of local
      batches; the real examples have ``mask == 1``.

    Example:
      >>> src = [{"image": np.zeros((16, 32, 3), np.uint8),
      ...         "objects": {"bbox": np.zeros((i, 4)) + [0, 0, 1, 1], "label": [0] * i}}
      ...        for i in range(3)]  # 0, 1 and 2 objects
      >>> ds, num_batches = eval_dataset(src, "decode_detection|letterbox(32)",
      ...                                ("image", "boxes", "box_mask"), global_batch_size=2,
      ...                                max_boxes=4)
      >>> batches = list(ds)
      >>> num_batches, batches[0]["boxes"].shape, batches[1]["box_mask"].sum(axis=1).tolist()
      (2, (2, 4, 4), [2, 0])
      >>> batches[1]["mask"].tolist()  # the second half of the last batch is padding
      [1.0, 0.0]
    """
    local_batch = _check_batch(global_batch_size, process_count)
    if len(source) == 0:
        raise ValueError("the eval split is empty (padding copies its first example)")
    num_batches = max(1, math.ceil(len(source) / global_batch_size))
    padded = _PaddedSource(source, num_batches * global_batch_size)
    ds = grain.MapDataset.source(padded)
    ds = ds.random_map(Preprocess(spec, (*keys, MASK_KEY), max_boxes), seed=0)
    ds = ds[process_index::process_count].batch(local_batch, drop_remainder=True)
    return _to_iter(ds, options), num_batches
