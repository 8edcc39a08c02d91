"""The matmul form of RoIAlign (jaxvision.ops.roi_align_matmul): the FPN and mask-target forms
against the NumPy reference and the gather form's values and gradients (the single-map cases
run both forms in tests/ops/test_roi_align.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.ops import roi_align as ra
from jaxvision.ops import roi_align_matmul as ram
from jaxvision.ops import roi_sampling
from tests.ops.test_roi_align import BOXES, ref_roi_align


def _pyramid_and_boxes(seed=4):
    rng = np.random.default_rng(seed)
    pyramid = {
        lvl: rng.normal(size=(2, 64 >> lvl, 48 >> lvl, 3)).astype(np.float32) for lvl in (2, 3, 4)
    }
    sizes = rng.uniform(0.2, 60, size=(2, 9, 2))
    corners = rng.uniform(-12, 52, size=(2, 9, 2))
    boxes = np.concatenate([corners, corners + sizes], -1).astype(np.float32)  # [2, 9, 4]
    return pyramid, boxes


def test_multilevel_matches_reference_and_gather():
    pyramid, boxes = _pyramid_and_boxes()
    align = lambda impl: ra.multilevel_roi_align(  # noqa: E731
        pyramid, boxes, (3, 2), canonical_size=16, canonical_level=3, impl=impl
    )
    out = np.asarray(align("matmul"))
    levels = np.asarray(ra.fpn_levels(boxes, 2, 4, 16, 3))
    assert set(levels.ravel()) == {2, 3, 4}
    for i in range(2):
        for j in range(9):
            lvl = int(levels[i, j])
            expected = ref_roi_align(pyramid[lvl][i], boxes[i, j : j + 1], 3, 2, 2.0**-lvl, 2, True)
            np.testing.assert_allclose(out[i, j : j + 1], expected, atol=2e-5)
    np.testing.assert_allclose(out, np.asarray(align("gather")), atol=1e-5)


def test_gradients_equal_the_gather_forms():
    pyramid, boxes = _pyramid_and_boxes(seed=6)
    cotangent = np.random.default_rng(7).normal(size=(2, 9, 4, 4, 3)).astype(np.float32)

    def loss(p, impl):
        out = ra.multilevel_roi_align(p, boxes, 4, canonical_size=16, canonical_level=3, impl=impl)
        return jnp.sum(out * cotangent)

    grads = {impl: jax.grad(loss)(pyramid, impl) for impl in ("gather", "matmul")}
    for lvl in pyramid:
        assert np.abs(np.asarray(grads["gather"][lvl])).max() > 0.1  # every level is read
        np.testing.assert_allclose(grads["matmul"][lvl], grads["gather"][lvl], atol=1e-5)
    single = lambda f, impl: jnp.sum(ra.roi_align(f, BOXES, 3, impl=impl) ** 2)  # noqa: E731
    feature = jnp.asarray(pyramid[2][0])
    np.testing.assert_allclose(
        jax.grad(single)(feature, "matmul"), jax.grad(single)(feature, "gather"), atol=1e-5
    )


def test_mask_targets_match_the_gather_form():
    rng = np.random.default_rng(8)
    masks = rng.uniform(size=(3, 20, 24)) > 0.6  # [m, h, w]
    rois = np.concatenate([BOXES * 2.0, rng.uniform(-4, 20, size=(7, 4))]).astype(np.float32)
    rois[9:, 2:] = rois[9:, :2] + rng.uniform(0.3, 16, size=(7, 2))
    owner = rng.integers(0, 3, size=len(rois))
    crops = roi_sampling._crops_by_rows(jnp.asarray(masks, jnp.uint8), owner, rois, (5, 6), 2)
    for j, box in enumerate(rois):
        expected = ref_roi_align(masks[owner[j], :, :, None], box[None], 5, 6, 1.0, 2, True)
        np.testing.assert_allclose(np.asarray(crops[j]), expected[0, ..., 0], atol=2e-6)
    targets = {
        impl: roi_sampling.mask_targets(masks, owner, rois, (5, 6), impl=impl)
        for impl in ("gather", "matmul")
    }
    np.testing.assert_array_equal(targets["matmul"], targets["gather"])
    assert 0 < float(targets["matmul"].mean()) < 1


def test_auto_choice_and_bad_impl():
    p2_p5 = [(32, 32), (16, 16), (8, 8), (4, 4)]  # 128 px images
    assert ram.choose_impl(p2_p5, (7, 7), 2, "cpu") == "matmul"
    assert ram.choose_impl(p2_p5, (14, 14), 2, "cpu") == "matmul"
    assert ram.choose_impl([(200, 200), (100, 100)], (7, 7), 2, "cpu") == "gather"  # 800 px
    assert ram.choose_impl(p2_p5, (7, 7), 2, "gpu") == "gather"
    assert ram.choose_rows_impl(128, (28, 28), 2, "cpu") == "matmul"
    assert ram.choose_rows_impl(1024, (28, 28), 2, "cpu") == "gather"
    feature = np.zeros((4, 4, 1), np.float32)
    with pytest.raises(ValueError, match="impl"):
        ra.roi_align(feature, BOXES, 2, impl="dense")
    with pytest.raises(ValueError, match="impl"):
        roi_sampling.mask_targets(feature[None, ..., 0], np.zeros(1, int), BOXES[:1], impl="x")
