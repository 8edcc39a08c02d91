"""Tests of jaxvision.ops.mask_paste against Detectron2's ``_do_paste_mask`` in plain torch."""

import jax
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from jaxvision.ops import mask_paste


def ref_paste(masks, boxes, hw):
    """Detectron2's ``_do_paste_mask`` over the whole image (grid_sample, align_corners=False)."""
    masks = torch.as_tensor(masks, dtype=torch.float32)[:, None]  # [n, 1, M, M]
    boxes = torch.as_tensor(boxes, dtype=torch.float32)
    x0, y0, x1, y1 = torch.split(boxes, 1, dim=1)  # [n, 1] each
    img_y = torch.arange(0, hw[0], dtype=torch.float32) + 0.5
    img_x = torch.arange(0, hw[1], dtype=torch.float32) + 0.5
    img_y = (img_y - y0) / (y1 - y0) * 2 - 1  # [n, h]
    img_x = (img_x - x0) / (x1 - x0) * 2 - 1  # [n, w]
    n = len(boxes)
    gx = img_x[:, None, :].expand(n, hw[0], hw[1])
    gy = img_y[:, :, None].expand(n, hw[0], hw[1])
    grid = torch.stack([gx, gy], dim=3)
    return F.grid_sample(masks, grid, align_corners=False)[:, 0].numpy()  # [n, h, w]


BOXES = np.array(
    [
        [3.0, 4.0, 20.0, 15.0],  # inside
        [-6.5, -3.0, 9.2, 7.7],  # across the top-left corner
        [18.3, 10.1, 40.0, 33.0],  # across the bottom-right corner
        [10.2, 7.6, 11.1, 8.3],  # sub-pixel
        [0.0, 0.0, 24.0, 18.0],  # the whole image
    ],
    np.float32,
)


def test_probabilities_match_grid_sample():
    masks = np.random.default_rng(0).uniform(size=(5, 7, 7)).astype(np.float32)
    expected = ref_paste(masks, BOXES, (18, 24))
    out = jax.jit(lambda m, b: mask_paste.paste_masks(m, b, (18, 24), threshold=None))(masks, BOXES)
    np.testing.assert_allclose(np.asarray(out), expected, atol=1e-5)
    np.testing.assert_allclose(
        mask_paste.paste_masks_np(masks, BOXES, (18, 24), threshold=None), expected, atol=1e-5
    )


def test_binary_masks_and_batch():
    rng = np.random.default_rng(1)
    masks = rng.uniform(size=(2, 5, 6, 6)).astype(np.float32)
    boxes = np.stack([BOXES, BOXES[::-1]])  # [2, 5, 4]
    out = np.asarray(mask_paste.paste_masks(masks, boxes, (18, 24)))
    assert out.dtype == bool and out.shape == (2, 5, 18, 24)
    for i in range(2):
        probs = ref_paste(masks[i], boxes[i], (18, 24))
        decided = np.abs(probs - 0.5) > 1e-5  # leave rounding ties at the threshold out
        np.testing.assert_array_equal(out[i][decided], (probs >= 0.5)[decided])
        np.testing.assert_array_equal(
            mask_paste.paste_masks_np(masks[i], boxes[i], (18, 24))[decided], out[i][decided]
        )


def test_a_full_mask_fills_its_box():
    box = np.array([[4.0, 2.0, 12.0, 10.0]])
    out = np.asarray(mask_paste.paste_masks(np.ones((1, 28, 28)), box, (16, 16)))[0]
    expected = np.zeros((16, 16), bool)
    expected[2:10, 4:12] = True
    np.testing.assert_array_equal(out, expected)


def test_bad_shapes():
    with pytest.raises(ValueError, match="masks"):
        mask_paste.paste_masks(np.ones((2, 4, 4)), np.ones((3, 4)), (8, 8))
