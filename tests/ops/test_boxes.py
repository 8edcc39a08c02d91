"""Tests of jaxvision.ops.boxes against plain NumPy / Python-loop references.

Every op is called through the ``boxes`` facade, as callers do; it re-exports
``boxes_geometry``, ``boxes_iou`` and ``boxes_coding``.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.ops import boxes as box_ops
from jaxvision.ops import boxes_coding, boxes_geometry, boxes_iou

RTOL = ATOL = 1e-5
FORMATS = ("xyxy", "yxyx", "cxcywh", "xywh")


# ------------------------------------------------------------------ NumPy references (float64)


def ref_to_xyxy(box, fmt):
    a, b, c, d = (float(v) for v in box)
    if fmt == "xyxy":
        return [a, b, c, d]
    if fmt == "yxyx":
        return [b, a, d, c]
    if fmt == "cxcywh":
        return [a - c / 2, b - d / 2, a + c / 2, b + d / 2]
    return [a, b, a + c, b + d]  # xywh


def ref_from_xyxy(box, fmt):
    x1, y1, x2, y2 = (float(v) for v in box)
    if fmt == "xyxy":
        return [x1, y1, x2, y2]
    if fmt == "yxyx":
        return [y1, x1, y2, x2]
    if fmt == "cxcywh":
        return [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
    return [x1, y1, x2 - x1, y2 - y1]  # xywh


def ref_area(box):
    x1, y1, x2, y2 = box
    return max(x2 - x1, 0.0) * max(y2 - y1, 0.0)


def ref_iou(a, b):
    iw = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = iw * ih
    union = ref_area(a) + ref_area(b) - inter
    return inter / union if union > 0 else 0.0


def ref_enclosing(a, b):
    w = max(max(a[2], b[2]) - min(a[0], b[0]), 0.0)
    h = max(max(a[3], b[3]) - min(a[1], b[1]), 0.0)
    return w, h


def ref_giou(a, b):
    iw = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    union = ref_area(a) + ref_area(b) - iw * ih
    w, h = ref_enclosing(a, b)
    enclosing = w * h
    return ref_iou(a, b) - ((enclosing - union) / enclosing if enclosing > 0 else 0.0)


def ref_diou(a, b):
    rho2 = ((a[0] + a[2]) / 2 - (b[0] + b[2]) / 2) ** 2 + (
        (a[1] + a[3]) / 2 - (b[1] + b[3]) / 2
    ) ** 2
    w, h = ref_enclosing(a, b)
    c2 = w**2 + h**2
    return ref_iou(a, b) - (rho2 / c2 if c2 > 0 else 0.0)


def ref_ciou(a, b):
    wa, ha = max(a[2] - a[0], 0.0), max(a[3] - a[1], 0.0)
    wb, hb = max(b[2] - b[0], 0.0), max(b[3] - b[1], 0.0)
    v = 4 / math.pi**2 * (math.atan2(wb, hb) - math.atan2(wa, ha)) ** 2
    iou = ref_iou(a, b)
    alpha = v / (1 - iou + v) if (1 - iou + v) > 0 else 0.0
    return ref_diou(a, b) - alpha * v


def ref_encode(box, anchor, weights):
    wx, wy, ww, wh = weights
    aw, ah = anchor[2] - anchor[0], anchor[3] - anchor[1]
    ax, ay = anchor[0] + aw / 2, anchor[1] + ah / 2
    bw, bh = box[2] - box[0], box[3] - box[1]
    bx, by = box[0] + bw / 2, box[1] + bh / 2
    return [
        wx * (bx - ax) / aw,
        wy * (by - ay) / ah,
        ww * math.log(bw / aw),
        wh * math.log(bh / ah),
    ]


def random_boxes(rng, n, size=100.0):
    """Valid random xyxy boxes in [0, size]."""
    xy = rng.uniform(0, size * 0.8, (n, 2))
    wh = rng.uniform(1, size * 0.4, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


def degenerate_boxes():
    """Zero width, zero height, negative sizes, points, all-zero padding, outside the image."""
    return np.array(
        [
            [10, 10, 10, 30],  # zero width
            [10, 10, 30, 10],  # zero height
            [30, 10, 10, 30],  # negative width
            [10, 30, 30, 10],  # negative width and height
            [5, 5, 5, 5],  # a point
            [0, 0, 0, 0],  # padding
            [-50, -40, -10, -5],  # outside the image
            [10, 10, 30, 30],  # valid, overlapping the others
            [10, 10, 30, 30],  # identical to the previous one
            [120, 130, 300, 400],  # partly outside the image
        ],
        np.float64,
    )


def mixed_boxes(rng, n):
    return np.concatenate([random_boxes(rng, n), degenerate_boxes()])


def pairwise_ref(fn, a, b):
    out = np.zeros((len(a), len(b)))
    for i, box_a in enumerate(a):
        for j, box_b in enumerate(b):
            out[i, j] = fn(box_a, box_b)
    return out


def f32(x):
    return jnp.asarray(np.asarray(x, np.float32))


# ------------------------------------------------------------------ the facade


def test_boxes_reexports_every_public_name_of_its_modules():
    for module in (boxes_geometry, boxes_iou, boxes_coding):
        own = {
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and (getattr(value, "__module__", None) == module.__name__ or name.isupper())
        }
        assert own <= set(box_ops.__all__), (module.__name__, own - set(box_ops.__all__))
        for name in own:
            assert getattr(box_ops, name) is getattr(module, name), name


# ------------------------------------------------------------------ formats


@pytest.mark.parametrize("src", FORMATS)
def test_convert_format_matches_numpy_and_round_trips(src):
    rng = np.random.default_rng(0)
    boxes = rng.uniform(-10, 100, (3, 5, 4))  # arbitrary values in format src
    for dst in FORMATS:
        out = box_ops.convert_format(f32(boxes), src, dst)
        assert out.shape == boxes.shape
        expected = [ref_from_xyxy(ref_to_xyxy(b, src), dst) for b in boxes.reshape(-1, 4)]
        np.testing.assert_allclose(np.asarray(out).reshape(-1, 4), expected, rtol=1e-5, atol=1e-4)
        back = box_ops.convert_format(out, dst, src)
        np.testing.assert_allclose(np.asarray(back), boxes, rtol=1e-5, atol=1e-4)


def test_convert_format_empty_and_bad_inputs():
    assert box_ops.convert_format(jnp.zeros((0, 4)), "xywh", "xyxy").shape == (0, 4)
    out = box_ops.convert_format(jnp.array([[1, 2, 3, 4]]), "xywh", "xyxy")  # ints -> float
    assert out.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(out), [[1, 2, 4, 6]])
    with pytest.raises(ValueError, match="format"):
        box_ops.convert_format(jnp.zeros((2, 4)), "xyxy", "ltrb")
    with pytest.raises(ValueError, match=r"\[\.\.\., 4\]"):
        box_ops.convert_format(jnp.zeros((2, 3)), "xyxy", "xywh")


@pytest.mark.parametrize("fmt", FORMATS)
def test_scale_and_normalize(fmt):
    rng = np.random.default_rng(1)
    boxes = rng.uniform(0, 1, (2, 6, 4))
    heights = np.array([[100.0], [50.0]])  # [b, 1], one size an image
    widths = np.array([[200.0], [80.0]])
    out = box_ops.scale(f32(boxes), f32(heights), f32(widths), fmt=fmt)
    expected = np.empty_like(boxes)
    for i in range(2):
        for j in range(6):
            # Scale through xyxy: x coordinates and widths by w, y ones by h.
            x1, y1, x2, y2 = ref_to_xyxy(boxes[i, j], fmt)
            h, w = heights[i, 0], widths[i, 0]
            expected[i, j] = ref_from_xyxy([x1 * w, y1 * h, x2 * w, y2 * h], fmt)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-5, atol=1e-4)
    back = box_ops.normalize(out, f32(heights), f32(widths), fmt=fmt)
    np.testing.assert_allclose(np.asarray(back), boxes, rtol=1e-5, atol=1e-6)
    # Scalar sizes.
    out = box_ops.scale(f32(boxes[0]), 100, 200, fmt=fmt)
    np.testing.assert_allclose(np.asarray(out), expected[0], rtol=1e-5, atol=1e-4)


# ------------------------------------------------------------------ area, clip, validity


def test_area_clip_is_valid_match_numpy():
    rng = np.random.default_rng(2)
    boxes = mixed_boxes(rng, 8)
    np.testing.assert_allclose(
        np.asarray(box_ops.area(f32(boxes))), [ref_area(b) for b in boxes], rtol=RTOL
    )
    height, width = 60, 90
    clipped = np.asarray(box_ops.clip(f32(boxes), height, width))
    for box, out in zip(boxes, clipped, strict=True):
        x1, y1, x2, y2 = box
        expected = [min(max(x1, 0), width), min(max(y1, 0), height)]
        expected += [min(max(x2, 0), width), min(max(y2, 0), height)]
        np.testing.assert_allclose(out, expected, rtol=RTOL)
    for min_size in (0.0, 15.0):
        expected = [(b[2] - b[0] > min_size) and (b[3] - b[1] > min_size) for b in boxes]
        np.testing.assert_array_equal(np.asarray(box_ops.is_valid(f32(boxes), min_size)), expected)
    # A box wholly outside the image clips to an empty one.
    assert not bool(box_ops.is_valid(box_ops.clip(f32(degenerate_boxes()[6]), height, width)))
    assert box_ops.area(jnp.zeros((0, 4))).shape == (0,)


# ------------------------------------------------------------------ IoU family


@pytest.mark.parametrize("n, m", [(7, 9), (0, 3), (4, 0), (0, 0)])
def test_pairwise_iou_and_giou_match_numpy(n, m):
    rng = np.random.default_rng(n * 10 + m)
    a = mixed_boxes(rng, n)[:n] if n else np.zeros((0, 4))
    b = mixed_boxes(rng, m)[-m:] if m else np.zeros((0, 4))
    if n and m:  # the degenerate rows are at the end of `mixed_boxes`: put some in a too
        a = np.concatenate([a, degenerate_boxes()[:4]])
    for fn, ref in ((box_ops.pairwise_iou, ref_iou), (box_ops.pairwise_giou, ref_giou)):
        out = fn(f32(a), f32(b))
        assert out.shape == (len(a), len(b))
        np.testing.assert_allclose(np.asarray(out), pairwise_ref(ref, a, b), rtol=RTOL, atol=ATOL)


def test_pairwise_batched_leading_dims():
    rng = np.random.default_rng(3)
    a = np.stack([random_boxes(rng, 5) for _ in range(3)])  # [3, 5, 4]
    b = np.stack([random_boxes(rng, 4) for _ in range(3)])  # [3, 4, 4]
    out = jax.jit(box_ops.pairwise_iou)(f32(a), f32(b))
    assert out.shape == (3, 5, 4)
    for i in range(3):
        np.testing.assert_allclose(np.asarray(out[i]), pairwise_ref(ref_iou, a[i], b[i]), atol=ATOL)
    # vmap gives the same.
    np.testing.assert_allclose(
        np.asarray(jax.jit(jax.vmap(box_ops.pairwise_iou))(f32(a), f32(b))), out
    )


@pytest.mark.parametrize(
    "name, ref",
    [("iou", ref_iou), ("giou", ref_giou), ("diou", ref_diou), ("ciou", ref_ciou)],
)
def test_elementwise_iou_family_matches_numpy(name, ref):
    rng = np.random.default_rng(4)
    a = mixed_boxes(rng, 30)
    b = np.concatenate([random_boxes(rng, 30), degenerate_boxes()[::-1]])
    # Some pairs with heavy overlap: b near a.
    b[:10] = a[:10] + rng.uniform(-3, 3, (10, 4))
    fn = getattr(box_ops, name)
    out = jax.jit(fn)(f32(a), f32(b))
    expected = [ref(x, y) for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-5)
    # Broadcasting: one box against many.
    out = fn(f32(a[0]), f32(b))
    np.testing.assert_allclose(np.asarray(out), [ref(a[0], y) for y in b], rtol=1e-4, atol=1e-5)


def test_iou_family_hand_values():
    box = jnp.array([0.0, 0.0, 2.0, 2.0])
    for fn in (box_ops.iou, box_ops.giou, box_ops.diou, box_ops.ciou):
        np.testing.assert_allclose(float(fn(box, box)), 1.0, rtol=1e-6)
        assert float(fn(box, jnp.array([5.0, 5.0, 5.0, 5.0]))) <= 0.0
    empty = jnp.array([1.0, 1.0, 1.0, 1.0])
    assert float(box_ops.iou(empty, empty)) == 0.0
    assert float(box_ops.iou(box, jnp.array([1.0, 1.0, 0.0, 3.0]))) == 0.0  # negative width
    # Two unit squares one unit apart: IoU 0, enclosing 3, union 2 -> GIoU -1/3;
    # centres 2 apart, enclosing diagonal^2 = 10 -> DIoU -0.4; same shape -> CIoU = DIoU.
    a, b = jnp.array([0.0, 0.0, 1.0, 1.0]), jnp.array([2.0, 0.0, 3.0, 1.0])
    np.testing.assert_allclose(float(box_ops.giou(a, b)), -1 / 3, rtol=1e-6)
    np.testing.assert_allclose(float(box_ops.diou(a, b)), -0.4, rtol=1e-6)
    np.testing.assert_allclose(float(box_ops.ciou(a, b)), -0.4, rtol=1e-6)


def test_low_precision_inputs_compute_in_float32():
    rng = np.random.default_rng(5)
    a, b = random_boxes(rng, 6), random_boxes(rng, 6)
    out = box_ops.iou(jnp.asarray(a, jnp.bfloat16), jnp.asarray(b, jnp.bfloat16))
    assert out.dtype == jnp.float32
    a16 = np.asarray(jnp.asarray(a, jnp.bfloat16).astype(jnp.float32), np.float64)
    b16 = np.asarray(jnp.asarray(b, jnp.bfloat16).astype(jnp.float32), np.float64)
    expected = [ref_iou(x, y) for x, y in zip(a16, b16, strict=True)]
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-5, atol=1e-6)


DEGENERATE_FNS = {
    "iou": box_ops.iou,
    "giou": box_ops.giou,
    "diou": box_ops.diou,
    "ciou": box_ops.ciou,
    "pairwise_iou": box_ops.pairwise_iou,
    "pairwise_giou": box_ops.pairwise_giou,
    "encode": box_ops.encode,
    "area": lambda a, b: box_ops.area(a) + box_ops.area(b),
    "boxes_to_distances": lambda a, b: box_ops.boxes_to_distances(a[:, :2], b),
}


@pytest.mark.parametrize("name", list(DEGENERATE_FNS))
def test_values_and_gradients_finite_on_degenerate_boxes(name):
    fn = DEGENERATE_FNS[name]
    deg = degenerate_boxes()
    # Every degenerate box against every other one (and itself).
    a = np.repeat(deg, len(deg), axis=0)
    b = np.tile(deg, (len(deg), 1))
    values, grads = jax.jit(jax.value_and_grad(lambda x, y: jnp.sum(fn(x, y)), argnums=(0, 1)))(
        f32(a), f32(b)
    )
    assert np.all(np.isfinite(np.asarray(values))), name
    for g in grads:
        assert np.all(np.isfinite(np.asarray(g))), name


def test_decode_gradients_finite_on_degenerate_anchors_and_huge_deltas():
    anchors = f32(degenerate_boxes())
    deltas = f32(np.tile([[0.5, -0.5, 50.0, -50.0]], (len(anchors), 1)))  # exp(50) overflows
    out, grads = jax.jit(
        jax.value_and_grad(lambda d, a: jnp.sum(box_ops.decode(d, a)), argnums=(0, 1))
    )(deltas, anchors)
    assert np.all(np.isfinite(np.asarray(out)))
    for g in grads:
        assert np.all(np.isfinite(np.asarray(g)))


def test_iou_gradient_matches_finite_differences():
    rng = np.random.default_rng(6)
    a = random_boxes(rng, 4)
    b = a + rng.uniform(-5, 5, (4, 4))
    eps = 1e-3
    for fn, ref in ((box_ops.giou, ref_giou), (box_ops.diou, ref_diou)):
        grad = np.asarray(jax.jit(jax.grad(lambda x, y, fn=fn: jnp.sum(fn(x, y))))(f32(a), f32(b)))
        numeric = np.zeros_like(a)
        for i in range(4):
            for k in range(4):
                plus, minus = a.copy(), a.copy()
                plus[i, k] += eps
                minus[i, k] -= eps
                numeric[i, k] = (ref(plus[i], b[i]) - ref(minus[i], b[i])) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-2, atol=1e-4)


# ------------------------------------------------------------------ box coding


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
def test_encode_matches_numpy_and_decode_round_trips(weights):
    rng = np.random.default_rng(7)
    boxes, anchors = random_boxes(rng, 20), random_boxes(rng, 20)
    deltas = box_ops.encode(f32(boxes), f32(anchors), weights)
    expected = [ref_encode(b, a, weights) for b, a in zip(boxes, anchors, strict=True)]
    np.testing.assert_allclose(np.asarray(deltas), expected, rtol=1e-4, atol=1e-4)
    decoded = box_ops.decode(deltas, f32(anchors), weights)
    np.testing.assert_allclose(np.asarray(decoded), boxes, rtol=1e-5, atol=1e-3)
    # Broadcasting one gt against many anchors, inside jit.
    deltas = jax.jit(box_ops.encode, static_argnums=2)(f32(boxes[0]), f32(anchors), weights)
    np.testing.assert_allclose(
        np.asarray(deltas),
        [ref_encode(boxes[0], a, weights) for a in anchors],
        rtol=1e-4,
        atol=1e-4,
    )


def test_decode_clamps_log_scale():
    anchor = jnp.array([0.0, 0.0, 10.0, 20.0])
    out = box_ops.decode(jnp.array([0.0, 0.0, 100.0, 100.0]), anchor, max_log_scale=2.0)
    w, h = float(out[2] - out[0]), float(out[3] - out[1])
    np.testing.assert_allclose([w, h], [10 * math.exp(2.0), 20 * math.exp(2.0)], rtol=1e-5)
    out = box_ops.decode(jnp.array([0.0, 0.0, 100.0, 100.0]), anchor)
    np.testing.assert_allclose(
        float(out[2] - out[0]), 10 * 1000 / 16, rtol=1e-5
    )  # the default clamp log(1000 / 16)
    with pytest.raises(ValueError, match="weights"):
        box_ops.encode(anchor, anchor, weights=(1.0, 1.0, 0.0, 1.0))


def test_distances_round_trip_and_match_numpy():
    rng = np.random.default_rng(8)
    points = rng.uniform(0, 100, (12, 2))
    boxes = random_boxes(rng, 5)
    dist = box_ops.boxes_to_distances(f32(points[:, None]), f32(boxes[None]))  # [12, 5, 4]
    assert dist.shape == (12, 5, 4)
    for i, (x, y) in enumerate(points):
        for j, (x1, y1, x2, y2) in enumerate(boxes):
            np.testing.assert_allclose(
                np.asarray(dist[i, j]), [x - x1, y - y1, x2 - x, y2 - y], rtol=1e-5, atol=1e-4
            )
    back = box_ops.distances_to_boxes(f32(points[:, None]), dist)
    np.testing.assert_allclose(
        np.asarray(back), np.broadcast_to(boxes, (12, 5, 4)), rtol=1e-5, atol=1e-4
    )
    with pytest.raises(ValueError, match="points"):
        box_ops.boxes_to_distances(jnp.zeros((3, 3)), jnp.zeros((3, 4)))
