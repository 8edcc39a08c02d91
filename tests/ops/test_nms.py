"""Tests of jaxvision.ops.nms against a brute-force greedy NumPy reference."""

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.ops import nms as nms_ops


def ref_iou(a, b):
    iw = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = iw * ih
    area = lambda box: max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def ref_greedy_nms(boxes, scores, iou_threshold, score_threshold=-np.inf, classes=None):
    """Textbook greedy NMS: visit by (score desc, index asc), keep unless a kept box of the same
    class overlaps by IoU > threshold. Returns all kept indices in visiting order."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    kept = []
    for i in order:
        if not scores[i] > score_threshold:
            continue
        same_class = [k for k in kept if classes is None or classes[k] == classes[i]]
        if all(ref_iou(boxes[i], boxes[k]) <= iou_threshold for k in same_class):
            kept.append(i)
    return kept


def ref_iou_one_to_many(box, others):
    """Vectorised IoU of one box with [k, 4] boxes (for the large case)."""
    iw = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = iw * ih
    area = lambda b: (
        np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)
    )
    union = area(box) + area(others) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0)


def ref_greedy_nms_fast(boxes, scores, iou_threshold, max_outputs):
    """The same greedy rule, vectorised over the kept boxes, stopping at max_outputs."""
    boxes = np.asarray(boxes, np.float64)
    kept = []
    for i in sorted(range(len(scores)), key=lambda i: (-scores[i], i)):
        if not kept or ref_iou_one_to_many(boxes[i], boxes[kept]).max() <= iou_threshold:
            kept.append(i)
            if len(kept) == max_outputs:
                break
    return kept


def padded(kept, max_outputs):
    kept = list(kept[:max_outputs])
    valid = [True] * len(kept) + [False] * (max_outputs - len(kept))
    return np.array(kept + [0] * (max_outputs - len(kept)), np.int32), np.array(valid)


def clustered_boxes(rng, n, num_clusters=6, size=200.0):
    """Boxes jittered around a few cluster boxes, scores on a coarse grid (ties)."""
    centres = rng.uniform(20, size - 20, (num_clusters, 2))
    sizes = rng.uniform(10, 60, (num_clusters, 2))
    which = rng.integers(0, num_clusters, n)
    c = centres[which] + rng.normal(0, 4, (n, 2))
    wh = sizes[which] * rng.uniform(0.7, 1.3, (n, 2))
    boxes = np.concatenate([c - wh / 2, c + wh / 2], 1).astype(np.float32)
    scores = (rng.integers(0, 20, n) / 20).astype(np.float32)
    return boxes, scores


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("iou_threshold", [0.3, 0.6])
def test_nms_matches_greedy_reference(seed, iou_threshold):
    rng = np.random.default_rng(seed)
    boxes, scores = clustered_boxes(rng, 120)
    boxes[5] = boxes[3]  # exact duplicates with equal scores: the lower index wins
    scores[5] = scores[3]
    boxes[7] = [50, 50, 50, 80]  # degenerate: IoU 0 with everything
    boxes[8] = [50, 50, 50, 80]
    max_outputs = 40
    fn = jax.jit(
        functools.partial(nms_ops.nms, iou_threshold=iou_threshold, max_outputs=max_outputs)
    )
    indices, valid = fn(boxes, scores)
    assert indices.shape == valid.shape == (max_outputs,) and indices.dtype == jnp.int32
    kept = ref_greedy_nms(boxes.astype(np.float64), scores, iou_threshold)
    ref_indices, ref_valid = padded(kept, max_outputs)
    np.testing.assert_array_equal(np.asarray(valid), ref_valid)
    np.testing.assert_array_equal(np.asarray(indices), ref_indices)
    # Outputs are sorted by score.
    kept_scores = scores[np.asarray(indices)[np.asarray(valid)]]
    assert np.all(np.diff(kept_scores) <= 0)


def test_nms_score_threshold_early_stop_and_edge_cases():
    rng = np.random.default_rng(4)
    boxes, scores = clustered_boxes(rng, 50)
    max_outputs = 60  # more than the candidates
    indices, valid = nms_ops.nms(
        boxes, scores, iou_threshold=0.5, max_outputs=max_outputs, score_threshold=0.5
    )
    ref_indices, ref_valid = padded(ref_greedy_nms(boxes, scores, 0.5, 0.5), max_outputs)
    np.testing.assert_array_equal(np.asarray(valid), ref_valid)
    np.testing.assert_array_equal(np.asarray(indices), ref_indices)
    assert not np.asarray(valid)[-1]  # padding is index 0, invalid
    assert np.all(np.asarray(indices)[~np.asarray(valid)] == 0)
    # Nothing above the threshold.
    indices, valid = nms_ops.nms(
        boxes, scores, iou_threshold=0.5, max_outputs=5, score_threshold=2.0
    )
    assert not np.asarray(valid).any() and np.all(np.asarray(indices) == 0)
    # No candidates at all, and no outputs.
    indices, valid = nms_ops.nms(
        jnp.zeros((0, 4)), jnp.zeros((0,)), iou_threshold=0.5, max_outputs=3
    )
    assert indices.shape == (3,) and not np.asarray(valid).any()
    indices, valid = nms_ops.nms(boxes, scores, iou_threshold=0.5, max_outputs=0)
    assert indices.shape == (0,)
    # NaN and -inf scores are never selected.
    s = np.array([np.nan, -np.inf, 0.1], np.float32)
    b = np.array([[0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5]], np.float32)
    indices, valid = nms_ops.nms(b, s, iou_threshold=0.5, max_outputs=3)
    np.testing.assert_array_equal(np.asarray(valid), [True, False, False])
    assert int(indices[0]) == 2
    with pytest.raises(ValueError, match="scores"):
        nms_ops.nms(b, s[:2], iou_threshold=0.5, max_outputs=3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batched_nms_matches_per_class_reference(seed):
    rng = np.random.default_rng(10 + seed)
    boxes, scores = clustered_boxes(rng, 150, num_clusters=4)
    classes = rng.integers(0, 3, 150).astype(np.int32)
    max_outputs = 50
    indices, valid = jax.jit(
        functools.partial(nms_ops.batched_nms, iou_threshold=0.5, max_outputs=max_outputs)
    )(boxes, scores, classes)
    # Per class NMS, then a merge by (score desc, index asc).
    kept = []
    for c in range(3):
        members = np.flatnonzero(classes == c)
        kept += [members[i] for i in ref_greedy_nms(boxes[members], scores[members], 0.5)]
    kept.sort(key=lambda i: (-scores[i], i))
    ref_indices, ref_valid = padded(kept, max_outputs)
    np.testing.assert_array_equal(np.asarray(valid), ref_valid)
    np.testing.assert_array_equal(np.asarray(indices), ref_indices)
    # Same as the joint reference with class-aware suppression, and different boxes of
    # different classes do not suppress each other where class-agnostic NMS would.
    joint = padded(ref_greedy_nms(boxes, scores, 0.5, classes=classes), max_outputs)[0]
    np.testing.assert_array_equal(np.asarray(indices), joint)
    agnostic = nms_ops.nms(boxes, scores, iou_threshold=0.5, max_outputs=max_outputs)[1]
    assert np.asarray(valid).sum() > np.asarray(agnostic).sum()


def ref_multiclass_nms(boxes, scores, iou_threshold, max_outputs, score_threshold, top_k):
    n, c = scores.shape
    flat = scores.reshape(-1)
    order = sorted(range(n * c), key=lambda p: (-flat[p], p))[:top_k]
    cand = [p for p in order if flat[p] > score_threshold]
    cand_boxes = [boxes[p // c] if boxes.ndim == 2 else boxes[p // c, p % c] for p in cand]
    cand_classes = [p % c for p in cand]
    cand_scores = [flat[p] for p in cand]
    kept = ref_greedy_nms(cand_boxes, cand_scores, iou_threshold, classes=cand_classes)
    kept = kept[:max_outputs]
    out_boxes = np.zeros((max_outputs, 4), np.float32)
    out_scores = np.zeros(max_outputs, np.float32)
    out_classes = np.zeros(max_outputs, np.int32)
    for k, i in enumerate(kept):
        out_boxes[k], out_scores[k], out_classes[k] = cand_boxes[i], cand_scores[i], cand_classes[i]
    return out_boxes, out_scores, out_classes, len(kept)


@pytest.mark.parametrize("class_specific", [False, True])
@pytest.mark.parametrize("top_k", [None, 60])
def test_multiclass_nms_matches_reference(class_specific, top_k):
    rng = np.random.default_rng(20)
    n, c = 80, 4
    boxes, _ = clustered_boxes(rng, n, num_clusters=5)
    if class_specific:
        boxes = boxes[:, None, :] + rng.normal(0, 3, (n, c, 4)).astype(np.float32)
    scores = (rng.integers(0, 25, (n, c)) / 25).astype(np.float32)
    max_outputs = 30
    fn = functools.partial(
        nms_ops.multiclass_nms,
        iou_threshold=0.5,
        max_outputs=max_outputs,
        score_threshold=0.3,
        pre_nms_top_k=top_k,
    )
    out = jax.jit(fn)(boxes, scores)
    ref_boxes, ref_scores, ref_classes, ref_num = ref_multiclass_nms(
        boxes, scores, 0.5, max_outputs, 0.3, n * c if top_k is None else top_k
    )
    assert int(out["num_valid"]) == ref_num
    np.testing.assert_array_equal(np.asarray(out["valid"]), np.arange(max_outputs) < ref_num)
    np.testing.assert_array_equal(np.asarray(out["classes"]), ref_classes)
    np.testing.assert_array_equal(np.asarray(out["scores"]), ref_scores)
    np.testing.assert_array_equal(np.asarray(out["boxes"]), ref_boxes)
    assert np.all(np.diff(np.asarray(out["scores"])[:ref_num]) <= 0)


def test_nms_10k_boxes_in_one_jitted_call():
    rng = np.random.default_rng(30)
    n = 10_000
    boxes, scores = clustered_boxes(rng, n, num_clusters=400, size=2000.0)
    scores = rng.random(n).astype(np.float32)
    fn = jax.jit(functools.partial(nms_ops.nms, iou_threshold=0.5, max_outputs=200))
    jaxpr_text = str(jax.make_jaxpr(fn)(boxes, scores))  # nested jaxprs included
    assert "while[" in jaxpr_text
    assert "callback" not in jaxpr_text
    indices, valid = jax.block_until_ready(fn(boxes, scores))  # compile + run
    start = time.perf_counter()
    indices, valid = jax.block_until_ready(fn(boxes, scores))
    elapsed = time.perf_counter() - start
    assert indices.shape == valid.shape == (200,)
    assert elapsed < 1.0, elapsed
    # The same result as the reference.
    kept = ref_greedy_nms_fast(boxes, scores, 0.5, max_outputs=200)
    assert len(kept) == 200
    np.testing.assert_array_equal(np.asarray(indices), kept)
    assert np.asarray(valid).all()


def test_vmap_equals_per_image_calls():
    rng = np.random.default_rng(40)
    batch, n, c = 3, 60, 3
    data = [clustered_boxes(rng, n) for _ in range(batch)]
    boxes = np.stack([d[0] for d in data])
    scores = np.stack([d[1] for d in data])
    scores[1] = -1.0  # an image without any candidate above the threshold
    nms_fn = functools.partial(nms_ops.nms, iou_threshold=0.5, max_outputs=20, score_threshold=0.0)
    indices, valid = jax.jit(jax.vmap(nms_fn))(boxes, scores)
    single_fn = jax.jit(nms_fn)  # one compile for all images
    for b in range(batch):
        single = single_fn(boxes[b], scores[b])
        np.testing.assert_array_equal(np.asarray(indices[b]), np.asarray(single[0]))
        np.testing.assert_array_equal(np.asarray(valid[b]), np.asarray(single[1]))
    assert not np.asarray(valid[1]).any()

    class_scores = rng.random((batch, n, c)).astype(np.float32)
    mc_fn = functools.partial(nms_ops.multiclass_nms, iou_threshold=0.5, max_outputs=15)
    out = jax.jit(jax.vmap(mc_fn))(boxes, class_scores)
    single_fn = jax.jit(mc_fn)
    for b in range(batch):
        single = single_fn(boxes[b], class_scores[b])
        for key in ("boxes", "scores", "classes", "valid", "num_valid"):
            np.testing.assert_array_equal(np.asarray(out[key][b]), np.asarray(single[key]), key)


def ref_top_k_flat(scores, k):
    """lax.top_k's order on the flattened scores, written out: score descending with NaN
    highest, ties by lower flat index."""
    flat = np.asarray(scores, np.float64).reshape(-1)
    order = sorted(range(flat.size), key=lambda p: (not np.isnan(flat[p]), -flat[p], p))[:k]
    return flat[order], np.asarray(order, np.int64)


@pytest.mark.parametrize(
    "case",
    ["uniform", "ties", "tie_across_rows", "one_row_wins", "infinities", "constant", "bfloat16"],
)
@pytest.mark.parametrize("k", [0, 1, 7, 39, 40, 41, 200])
def test_top_k_pairs_equals_top_k_of_the_flattened_scores(case, k, monkeypatch):
    monkeypatch.setattr(nms_ops, "MIN_PAIRS_TO_RANK_ROWS", 0)  # rows first wherever k < n
    rng = np.random.default_rng(50)
    n, c = 40, 5
    scores = rng.random((n, c)).astype(np.float32)
    dtype = jnp.float32
    if case == "ties":  # few distinct values: the tie order decides most places
        scores = rng.integers(0, 4, (n, c)).astype(np.float32)
    elif case == "tie_across_rows":  # a lower row with a lower maximum ties a higher row's pair
        scores *= 0.1
        scores[5, :2] = [0.5, 0.3]
        scores[20, :2] = [0.9, 0.5]
    elif case == "one_row_wins":  # the best pairs all in one row, then in the next
        scores[17] += 2.0
        scores[3] += 1.0
    elif case == "infinities":  # (NaN is ranked by XLA's max, not lax.top_k's order)
        scores[rng.random((n, c)) < 0.1] = np.inf
        scores[rng.random((n, c)) < 0.3] = -np.inf
    elif case == "constant":
        scores[:] = 0.25
    elif case == "bfloat16":  # rounding to bfloat16 makes ties
        dtype = jnp.bfloat16
    values, index = jax.jit(nms_ops.top_k_pairs, static_argnums=1)(jnp.asarray(scores, dtype), k)
    flat_values, flat_index = jax.lax.top_k(jnp.asarray(scores, dtype).reshape(-1), k)
    ref_values, ref_index = ref_top_k_flat(np.asarray(jnp.asarray(scores, dtype), np.float32), k)
    assert values.dtype == dtype and index.dtype == jnp.int32
    assert values.shape == index.shape == (k,)
    np.testing.assert_array_equal(np.asarray(index), np.asarray(flat_index))
    np.testing.assert_array_equal(np.asarray(index), ref_index)
    np.testing.assert_array_equal(np.asarray(values, np.float32), ref_values.astype(np.float32))
    np.testing.assert_array_equal(
        np.asarray(values, np.float32), np.asarray(flat_values, np.float32)
    )


def test_top_k_pairs_ranks_rows_first_only_for_large_matrices():
    large = jnp.zeros((nms_ops.MIN_PAIRS_TO_RANK_ROWS // 64, 64))
    small = jnp.zeros((nms_ops.MIN_PAIRS_TO_RANK_ROWS // 64 - 1, 64))
    assert "reduce_max" in str(jax.make_jaxpr(lambda s: nms_ops.top_k_pairs(s, 100))(large))
    assert "reduce_max" not in str(jax.make_jaxpr(lambda s: nms_ops.top_k_pairs(s, 100))(small))
    rng = np.random.default_rng(53)
    scores = rng.integers(0, 50, large.shape).astype(np.float32)
    values, index = jax.jit(lambda s: nms_ops.top_k_pairs(s, 100))(scores)
    ref_values, ref_index = jax.lax.top_k(scores.reshape(-1), 100)
    np.testing.assert_array_equal(np.asarray(index), np.asarray(ref_index))
    np.testing.assert_array_equal(np.asarray(values), np.asarray(ref_values))


def test_top_k_pairs_batched_and_rejections(monkeypatch):
    monkeypatch.setattr(nms_ops, "MIN_PAIRS_TO_RANK_ROWS", 0)
    rng = np.random.default_rng(51)
    scores = rng.integers(0, 6, (3, 300, 8)).astype(np.float32)  # many ties in every image
    values, index = jax.jit(jax.vmap(lambda s: nms_ops.top_k_pairs(s, 100)))(scores)
    for b in range(3):
        ref_values, ref_index = ref_top_k_flat(scores[b], 100)
        np.testing.assert_array_equal(np.asarray(index[b]), ref_index)
        np.testing.assert_array_equal(np.asarray(values[b]), ref_values)
    with pytest.raises(ValueError, match=r"\[n, c\]"):
        nms_ops.top_k_pairs(jnp.zeros((4,)), 2)
    with pytest.raises(ValueError, match="k must be"):
        nms_ops.top_k_pairs(jnp.zeros((4, 2)), 9)
    with pytest.raises(ValueError, match="k must be"):
        nms_ops.top_k_pairs(jnp.zeros((4, 2)), -1)


def test_multiclass_nms_ranks_rows_first_when_top_k_is_below_the_rows(monkeypatch):
    """The row-prefiltered top-k path (pre_nms_top_k < n) gives the reference's detections."""
    monkeypatch.setattr(nms_ops, "MIN_PAIRS_TO_RANK_ROWS", 0)
    rng = np.random.default_rng(52)
    n, c, top_k = 300, 6, 40
    boxes, _ = clustered_boxes(rng, n, num_clusters=30)
    scores = (rng.integers(0, 30, (n, c)) / 30).astype(np.float32)
    fn = functools.partial(
        nms_ops.multiclass_nms,
        iou_threshold=0.5,
        max_outputs=25,
        score_threshold=0.2,
        pre_nms_top_k=top_k,
    )
    jaxpr_text = str(jax.make_jaxpr(fn)(boxes, scores))
    assert f"k={top_k}" in jaxpr_text and f"k={n * c}" not in jaxpr_text
    out = jax.jit(fn)(boxes, scores)
    ref_boxes, ref_scores, ref_classes, ref_num = ref_multiclass_nms(
        boxes, scores, 0.5, 25, 0.2, top_k
    )
    assert ref_num > 5
    assert int(out["num_valid"]) == ref_num
    np.testing.assert_array_equal(np.asarray(out["classes"]), ref_classes)
    np.testing.assert_array_equal(np.asarray(out["scores"]), ref_scores)
    np.testing.assert_array_equal(np.asarray(out["boxes"]), ref_boxes)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("max_outputs", [1, 7, 200])
def test_matrix_nms_equals_the_loop(seed, max_outputs):
    """The accelerators' matrix NMS gives the loop's (and the reference's) result exactly:
    class-agnostic and class-aware, with ties, thresholds, NaN scores and a vmapped batch."""
    rng = np.random.default_rng(60 + seed)
    batch, n = 3, 150
    data = [clustered_boxes(rng, n, num_clusters=8) for _ in range(batch)]
    boxes = np.stack([d[0] for d in data])  # [b, n, 4]
    scores = np.stack([d[1] for d in data])  # [b, n], a coarse grid: many ties
    scores[0, ::17] = np.nan
    scores[2] = -1.0  # no candidate above the threshold
    classes = rng.integers(0, 3, (batch, n)).astype(np.int32)

    def call(name, method):
        if name == "nms":
            return lambda b, s, c: nms_ops.nms(
                b,
                s,
                iou_threshold=0.5,
                max_outputs=max_outputs,
                score_threshold=0.1,
                method=method,
            )
        return lambda b, s, c: nms_ops.batched_nms(
            b,
            s,
            c,
            iou_threshold=0.4,
            max_outputs=max_outputs,
            score_threshold=0.1,
            method=method,
        )

    for name in ("nms", "batched_nms"):
        results = {}
        for method in nms_ops.NMS_METHODS:
            results[method] = jax.jit(jax.vmap(call(name, method)))(boxes, scores, classes)
            text = str(jax.make_jaxpr(call(name, method))(boxes[0], scores[0], classes[0]))
            assert ("sort[" in text) == (method == "matrix"), (name, method)
        for loop_out, matrix_out in zip(results["loop"], results["matrix"], strict=True):
            np.testing.assert_array_equal(np.asarray(matrix_out), np.asarray(loop_out), name)
        indices, valid = results["matrix"]
        for b in range(batch):  # and the written-out greedy rule
            live = np.where(np.isnan(scores[b]), -np.inf, scores[b])
            cls = classes[b] if name == "batched_nms" else None
            threshold = 0.5 if name == "nms" else 0.4
            kept = ref_greedy_nms(boxes[b], live, threshold, score_threshold=0.1, classes=cls)
            ref_indices, ref_valid = padded(kept, max_outputs)
            np.testing.assert_array_equal(np.asarray(valid[b]), ref_valid, name)
            np.testing.assert_array_equal(np.asarray(indices[b]), ref_indices, name)
        assert not np.asarray(valid[2]).any()


def test_matrix_nms_resolves_a_suppression_chain():
    """Each box overlaps its neighbours only: A suppresses B, so C (which B would have
    suppressed) stays and suppresses D, and E stays. The matrix iteration needs several
    passes for this; it must end on the greedy result."""
    chain = [[0.0, 0, 10, 10], [3, 0, 13, 10], [6, 0, 16, 10], [9, 0, 19, 10], [12, 0, 22, 10]]
    boxes = jnp.array(chain)  # neighbours overlap by IoU 7/13 > 0.5; two apart by 4/16
    scores = jnp.array([0.9, 0.8, 0.7, 0.6, 0.5])
    indices, valid = nms_ops.nms(boxes, scores, iou_threshold=0.5, max_outputs=5, method="matrix")
    np.testing.assert_array_equal(np.asarray(indices), [0, 2, 4, 0, 0])
    np.testing.assert_array_equal(np.asarray(valid), [True, True, True, False, False])
    kept = ref_greedy_nms(np.asarray(boxes), np.asarray(scores), 0.5)
    assert kept == [0, 2, 4]
    for max_outputs in (1, 2):  # the iteration may stop once the first kept boxes are final
        indices, valid = nms_ops.nms(
            boxes, scores, iou_threshold=0.5, max_outputs=max_outputs, method="matrix"
        )
        np.testing.assert_array_equal(np.asarray(indices), [0, 2][:max_outputs])
        assert np.asarray(valid).all()


def test_multiclass_nms_same_with_either_method():
    rng = np.random.default_rng(70)
    n, c = 120, 5
    boxes, _ = clustered_boxes(rng, n, num_clusters=10)
    scores = (rng.integers(0, 25, (n, c)) / 25).astype(np.float32)
    outs = {}
    for method in nms_ops.NMS_METHODS:
        fn = functools.partial(
            nms_ops.multiclass_nms,
            iou_threshold=0.5,
            max_outputs=40,
            pre_nms_top_k=200,
            method=method,
        )
        assert ("sort[" in str(jax.make_jaxpr(fn)(boxes, scores))) == (method == "matrix")
        outs[method] = jax.jit(fn)(boxes, scores)
    assert int(outs["matrix"]["num_valid"]) > 10
    for key in ("boxes", "scores", "classes", "valid", "num_valid"):
        np.testing.assert_array_equal(
            np.asarray(outs["matrix"][key]), np.asarray(outs["loop"][key])
        )
    with pytest.raises(ValueError, match="method must be"):
        nms_ops.nms(boxes, scores[:, 0], iou_threshold=0.5, max_outputs=3, method="fast")


def test_nms_method_rule():
    assert nms_ops.nms_method(1000, "cpu") == "loop"
    assert nms_ops.nms_method(1000, "gpu") == "matrix"
    assert nms_ops.nms_method(nms_ops.MAX_MATRIX_NMS_BOXES, "tpu") == "matrix"
    assert nms_ops.nms_method(nms_ops.MAX_MATRIX_NMS_BOXES + 1, "gpu") == "loop"
    assert nms_ops.nms_method(1000) == ("loop" if jax.default_backend() == "cpu" else "matrix")
