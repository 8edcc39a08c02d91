"""Tests of the Grain train and eval pipelines on a small in-memory source."""

import collections
import itertools
import pickle

import numpy as np
import pytest
from absl import flags

from jaxvision.data import pipeline

HEIGHT, WIDTH = 4, 5
NUM_CLASSES = 3
KEYS = ("image", "label")


def _image(index):
    """uint8 [h, w, 3]: channel 0 = the example index, channel 1 = column, channel 2 = row."""
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[..., 0] = index
    image[..., 1] = np.arange(WIDTH)[None, :]
    image[..., 2] = np.arange(HEIGHT)[:, None]
    return image


def _source(n):
    return [{"image": _image(i), "label": i % NUM_CLASSES} for i in range(n)]


def _indices(batch):
    return batch["image"][:, 0, 0, 0].astype(int).tolist()


def _check_examples(batch):
    """Each example is its source image, flipped or not, with the matching label."""
    flipped = []
    for image, label in zip(batch["image"], batch["label"], strict=True):
        index = int(image[0, 0, 0])
        assert label == index % NUM_CLASSES
        if np.array_equal(image, _image(index)):
            flipped.append(False)
        else:
            np.testing.assert_array_equal(image, _image(index)[:, ::-1])
            flipped.append(True)
    return flipped


def _take(ds_or_iter, n):
    it = iter(ds_or_iter)
    return [next(it) for _ in range(n)]


def _train(n=24, *, seed=0, batch=8, spec="flip_lr", **kwargs):
    return pipeline.train_dataset(
        _source(n), spec, KEYS, global_batch_size=batch, seed=seed, **kwargs
    )


def _assert_batches_equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])


def test_train_batch_structure():
    (batch,) = _take(_train(), 1)
    assert set(batch) == set(KEYS)
    assert batch["image"].shape == (8, HEIGHT, WIDTH, 3)
    assert batch["image"].dtype == np.uint8
    assert batch["label"].shape == (8,)
    _check_examples(batch)


def test_train_deterministic_for_a_seed():
    a = _take(_train(seed=3), 6)
    b = _take(_train(seed=3), 6)
    _assert_batches_equal(a, b)
    c = _take(_train(seed=4), 6)
    assert [_indices(x) for x in a] != [_indices(x) for x in c]


def test_every_epoch_is_a_permutation():
    n, batch = 24, 8
    steps = n // batch
    batches = _take(_train(n, batch=batch), 3 * steps)
    epochs = []
    flips = []
    for e in range(3):
        indices = sum((_indices(b) for b in batches[e * steps : (e + 1) * steps]), [])
        assert sorted(indices) == list(range(n))
        epochs.append(indices)
        for b in batches[e * steps : (e + 1) * steps]:
            flips += _check_examples(b)
    assert epochs[0] != list(range(n))  # Shuffled ...
    assert epochs[0] != epochs[1] and epochs[1] != epochs[2]  # ... afresh each epoch.
    assert 0.25 < np.mean(flips) < 0.75  # flip_lr(0.5) really flips about half.


def test_two_processes_split_the_global_batch():
    n, batch, steps = 20, 8, 7  # 20 is not a multiple of 8: batches straddle epochs.
    single = _take(_train(n, batch=batch), steps)
    local = [_take(_train(n, batch=batch, process_index=p, process_count=2), steps) for p in (0, 1)]
    flips = []
    for step in range(steps):
        parts = [local[0][step], local[1][step]]
        for part in parts:
            assert part["image"].shape == (batch // 2, HEIGHT, WIDTH, 3)
        union = collections.Counter(_indices(parts[0]) + _indices(parts[1]))
        assert union == collections.Counter(_indices(single[step]))
        # Each example is augmented identically on 1 or 2 processes: compare the images.
        by_key = collections.defaultdict(list)
        for image, label in zip(single[step]["image"], single[step]["label"], strict=True):
            by_key[int(image[0, 0, 0])].append((image.tobytes(), int(label)))
        for part in parts:
            for image, label in zip(part["image"], part["label"], strict=True):
                assert (image.tobytes(), int(label)) in by_key[int(image[0, 0, 0])]
        # Stronger, as documented: process p holds examples p, p + 2, ... of the global batch.
        for p in (0, 1):
            for key in KEYS:
                np.testing.assert_array_equal(parts[p][key], single[step][key][p::2])
        flips += _check_examples(single[step])
    assert any(flips) and not all(flips)  # The comparison saw both flipped and kept images.


def test_random_augmentation_identical_across_process_counts():
    # A random crop too: the same window on 1 and 4 processes.
    spec = "pad_random_crop(4, 2)|flip_lr"
    single = _take(_train(16, batch=8, spec=spec), 2)
    local = [
        _take(_train(16, batch=8, spec=spec, process_index=p, process_count=4), 2) for p in range(4)
    ]
    for step in range(2):
        for p in range(4):
            np.testing.assert_array_equal(local[p][step]["image"], single[step]["image"][p::4])


def test_iterator_state_resumes_exactly():
    ds = _train(20, batch=6, seed=1)
    it = iter(ds)
    _take(it, 5)
    state = it.get_state()
    expected = _take(it, 4)
    resumed = iter(_train(20, batch=6, seed=1))
    resumed.set_state(state)
    _assert_batches_equal(_take(resumed, 4), expected)
    # A fresh iterator does not read those batches: resuming mattered.
    assert [_indices(b) for b in _take(_train(20, batch=6, seed=1), 4)] != [
        _indices(b) for b in expected
    ]


def test_iterator_state_resumes_exactly_per_process():
    kwargs = dict(batch=6, seed=2, process_index=1, process_count=3)
    it = iter(_train(20, **kwargs))
    _take(it, 3)
    state = it.get_state()
    expected = _take(it, 3)
    resumed = iter(_train(20, **kwargs))
    resumed.set_state(state)
    _assert_batches_equal(_take(resumed, 3), expected)


@pytest.mark.parametrize(
    ("n", "batch", "process_count"),
    [(10, 4, 1), (12, 4, 1), (10, 6, 3), (7, 6, 3), (1, 3, 3)],
)
def test_eval_visits_every_example_once(n, batch, process_count):
    num_padded = -(-n // batch) * batch  # Ceil to whole global batches.
    real, padding, counts = collections.Counter(), 0, []
    for p in range(process_count):
        ds, num_batches = pipeline.eval_dataset(
            _source(n),
            "",
            KEYS,
            global_batch_size=batch,
            process_index=p,
            process_count=process_count,
        )
        assert num_batches == num_padded // batch
        batches = list(ds)
        counts.append(len(batches))
        for b in batches:
            assert set(b) == {*KEYS, "mask"}
            assert b["image"].shape == (batch // process_count, HEIGHT, WIDTH, 3)
            assert b["mask"].dtype == np.float32
            assert set(np.unique(b["mask"]).tolist()) <= {0.0, 1.0}
            _check_examples(b)
            for index, mask in zip(_indices(b), b["mask"], strict=True):
                if mask == 1.0:
                    real[index] += 1
                else:
                    padding += 1
    assert counts == [num_padded // batch] * process_count  # Same count on every process.
    assert real == collections.Counter(range(n))  # Every example exactly once, unflipped.
    assert padding == num_padded - n


def test_eval_applies_the_spec_deterministically():
    ds, _ = pipeline.eval_dataset(_source(5), "center_crop(2, 3)", KEYS, global_batch_size=5)
    (batch,) = list(ds)
    assert batch["image"].shape == (5, 2, 3, 3)
    # top = (4 - 2) // 2 = 1, left = (5 - 3) // 2 = 1: columns 1..3, rows 1..2.
    np.testing.assert_array_equal(batch["image"][:, 0, :, 1], np.tile([1, 2, 3], (5, 1)))
    np.testing.assert_array_equal(batch["image"][:, :, 0, 2], np.tile([1, 2], (5, 1)))
    assert _indices(batch) == [0, 1, 2, 3, 4]  # Eval keeps the source order.
    np.testing.assert_array_equal(batch["mask"], np.ones(5, np.float32))


@pytest.mark.parametrize(("n", "batch", "process_count"), [(7, 4, 1), (7, 6, 2), (10, 4, 2)])
def test_eval_index_is_the_position_in_the_split(n, batch, process_count):
    num_padded = -(-n // batch) * batch
    rows = []  # (global position, index, mask, image index) of every row.
    for p in range(process_count):
        ds, num_batches = pipeline.eval_dataset(
            _source(n),
            "",
            (*KEYS, "index"),
            global_batch_size=batch,
            process_index=p,
            process_count=process_count,
        )
        for step, b in enumerate(ds):
            assert b["index"].dtype == np.int32 and b["index"].shape == (batch // process_count,)
            for row, (index, mask, image) in enumerate(
                zip(b["index"], b["mask"], _indices(b), strict=True)
            ):
                rows.append((step * batch + row * process_count + p, int(index), mask, image))
    assert sorted(r[0] for r in rows) == list(range(num_padded))  # p, p + n, ... of the stream.
    for position, index, mask, image in rows:
        assert index == (position if position < n else 0) == image  # Padding repeats item 0.
        assert mask == float(position < n)


def test_eval_index_only_when_listed():
    (batch,) = list(pipeline.eval_dataset(_source(3), "", KEYS, global_batch_size=4)[0])
    assert "index" not in batch
    source = [{**example, "index": 99} for example in _source(3)]
    (batch,) = list(pipeline.eval_dataset(source, "", ("index",), global_batch_size=4)[0])
    assert batch["index"].tolist() == [0, 1, 2, 0]  # The position replaces a source's own.


@pytest.mark.parametrize(("batch", "process_count"), [(7, 2), (8, 3), (5, 10)])
def test_batch_not_divisible_by_processes_raises(batch, process_count):
    with pytest.raises(ValueError, match="not divisible"):
        _train(24, batch=batch, process_count=process_count)
    with pytest.raises(ValueError, match="not divisible"):
        pipeline.eval_dataset(
            _source(24), "", KEYS, global_batch_size=batch, process_count=process_count
        )


def test_empty_train_split_raises():
    with pytest.raises(ValueError, match="empty"):
        pipeline.train_dataset([], "", KEYS, global_batch_size=4, seed=0)


def test_empty_eval_split_raises():
    # Not an IndexError from inside a Grain thread at the first batch.
    with pytest.raises(ValueError, match="empty"):
        pipeline.eval_dataset([], "", KEYS, global_batch_size=4)


def test_bad_spec_fails_when_building_the_dataset():
    with pytest.raises(ValueError, match="unknown preprocessing op"):
        _train(spec="flip_lr|nope")


def test_preprocess_keeps_only_the_keys():
    transform = pipeline.Preprocess("flip_lr(1.0)", ("image",))
    example = {"image": _image(3), "label": 0, "extra": "drop me"}
    out = transform.random_map(example, np.random.default_rng(0))
    assert set(out) == {"image"}
    np.testing.assert_array_equal(out["image"], _image(3)[:, ::-1])
    assert set(example) == {"image", "label", "extra"}  # The input is not mutated.


@pytest.fixture
def absl_flags_parsed():
    """Grain's worker processes read absl flags, which only absl.app parses; restored after."""
    was_parsed = flags.FLAGS.is_parsed()
    if not was_parsed:
        flags.FLAGS.mark_as_parsed()
    yield
    if not was_parsed:
        flags.FLAGS.unparse_flags()


@pytest.mark.usefixtures("absl_flags_parsed")
def test_worker_process_gives_the_same_batches():
    kwargs = dict(batch=4, seed=5, spec="pad_random_crop(4, 1)|flip_lr")
    expected = _take(_train(12, **kwargs), 4)
    options = pipeline.LoaderOptions(worker_count=1, read_threads=1, prefetch_buffer_size=4)
    it = iter(_train(12, options=options, **kwargs))
    got = list(itertools.islice(it, 4))
    _assert_batches_equal(got, expected)


# Detection targets padded through max_boxes. --------------------------------------------
MAX_BOXES = 3
DET_SIZE = 16
DET_KEYS = ("image", "boxes", "labels", "box_mask")


def _detection_source(n):
    """Raw detection examples; example i holds i % 5 objects (0 to 4), labelled 0, 1, ..."""
    source = []
    for i in range(n):
        k = i % 5
        boxes = np.array([[0.1 * j, 0.1, 0.1 * j + 0.5, 0.5] for j in range(k)]).reshape(-1, 4)
        image = np.full((12, 20, 3), i, np.uint8)  # Channel values name the example.
        source.append({"image": image, "objects": {"bbox": boxes, "label": list(range(k))}})
    return source


def _check_padded(batch, batch_size):
    assert batch["boxes"].shape == (batch_size, MAX_BOXES, 4)
    assert batch["boxes"].dtype == np.float32
    assert batch["box_mask"].shape == batch["labels"].shape == (batch_size, MAX_BOXES)
    assert batch["box_mask"].dtype == np.bool_
    assert batch["image"].shape == (batch_size, DET_SIZE, DET_SIZE, 3)
    counts = []
    for image, mask, labels in zip(batch["image"], batch["box_mask"], batch["labels"], strict=True):
        index = int(image[DET_SIZE // 2, DET_SIZE // 2, 0])
        k = min(index % 5, MAX_BOXES)
        assert mask.tolist() == [True] * k + [False] * (MAX_BOXES - k), index
        assert labels.tolist() == list(range(k)) + [-1] * (MAX_BOXES - k)
        counts.append(k)
    return counts


def test_train_with_max_boxes_pads_the_targets():
    ds = pipeline.train_dataset(
        _detection_source(10),
        f"decode_detection|letterbox({DET_SIZE})",
        DET_KEYS,
        global_batch_size=5,
        seed=0,
        max_boxes=MAX_BOXES,
    )
    counts = sum((_check_padded(b, 5) for b in _take(ds, 4)), [])
    assert 0 in counts and MAX_BOXES in counts  # Images without objects, and truncated ones.


def test_eval_with_max_boxes_pads_the_targets():
    ds, num_batches = pipeline.eval_dataset(
        _detection_source(7),
        f"decode_detection|letterbox({DET_SIZE})",
        DET_KEYS,
        global_batch_size=4,
        max_boxes=MAX_BOXES,
    )
    batches = list(ds)
    assert num_batches == len(batches) == 2
    counts = sum((_check_padded(b, 4) for b in batches), [])
    # Examples 0..6, then one padding copy of example 0 (no objects).
    assert counts == [0, 1, 2, 3, 3, 0, 1, 0]
    assert batches[1]["mask"].tolist() == [1.0, 1.0, 1.0, 0.0]


def test_pad_boxes_in_the_spec_with_max_boxes_is_refused():
    for spec in ("decode_detection|pad_boxes(3)", "decode_detection|flip_lr|pad_boxes(5)"):
        with pytest.raises(ValueError, match="must not contain pad_boxes"):
            pipeline.train_dataset(
                _detection_source(4), spec, DET_KEYS, global_batch_size=2, seed=0, max_boxes=3
            )
        with pytest.raises(ValueError, match="must not contain pad_boxes"):
            pipeline.eval_dataset(
                _detection_source(4), spec, DET_KEYS, global_batch_size=2, max_boxes=3
            )


def test_preprocess_pickles_before_and_after_use():
    transform = pipeline.Preprocess("decode_detection|letterbox(8)", DET_KEYS, max_boxes=2)
    example = _detection_source(5)[4]
    first = transform.random_map(example, np.random.default_rng(0))  # Builds the op.
    clone = pickle.loads(pickle.dumps(transform))
    assert (clone.spec, clone.keys, clone.max_boxes) == (transform.spec, DET_KEYS, 2)
    again = clone.random_map(example, np.random.default_rng(0))
    for key in DET_KEYS:
        np.testing.assert_array_equal(again[key], first[key])
    assert first["boxes"].shape == (2, 4)


@pytest.mark.usefixtures("absl_flags_parsed")
def test_worker_process_pads_with_max_boxes():
    spec = f"decode_detection|letterbox({DET_SIZE})|flip_lr"
    kwargs = dict(global_batch_size=5, seed=3, max_boxes=MAX_BOXES)
    expected = _take(pipeline.train_dataset(_detection_source(10), spec, DET_KEYS, **kwargs), 3)
    options = pipeline.LoaderOptions(worker_count=1, read_threads=1, prefetch_buffer_size=4)
    ds = pipeline.train_dataset(_detection_source(10), spec, DET_KEYS, options=options, **kwargs)
    got = list(itertools.islice(iter(ds), 3))
    _assert_batches_equal(got, expected)
    for batch in got:
        _check_padded(batch, 5)
    eval_ds, _ = pipeline.eval_dataset(
        _detection_source(6),
        spec,
        DET_KEYS,
        global_batch_size=4,
        max_boxes=MAX_BOXES,
        options=options,
    )
    eval_batches = list(eval_ds)
    assert [_check_padded(b, 4) for b in eval_batches] == [[0, 1, 2, 3], [3, 0, 0, 0]]
