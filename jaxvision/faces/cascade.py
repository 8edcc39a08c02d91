"""MTCNN's three-stage cascade in JAX, on fixed-size candidate buffers with validity masks.

A batch of images of one size, as facenet-pytorch's ``detect_face`` computes it:

1. `propose`: P-Net over every pyramid level; cells with face probability >= thresholds[0]
   become 12x12-window boxes; NMS (IoU 0.5) within each level, then NMS (IoU 0.7) over all
   levels; P-Net's regression calibrates the survivors, which are squared.
2. `refine`: R-Net scores 24x24 crops of them; those above thresholds[1] go through NMS (IoU
   0.7), then R-Net's regression calibrates them and they are squared again.
3. `output`: O-Net scores 48x48 crops; those above thresholds[2] get O-Net's landmarks and
   calibration, then a last NMS (overlap over the smaller box > 0.7).

Every stage keeps a static number of candidates (`Buffers`) with a mask of the valid ones,
valid ones first, so the cascade compiles once per image size bucket and never leaves the
device. Where facenet-pytorch keeps every candidate, this keeps the best ones by score: the
``candidates`` best P-Net cells (all levels) enter the per-level NMS, which keeps
``level_proposals``; ``proposals`` go to R-Net and ``refined`` to O-Net (the most faces an
image can return). Below those counts the result is facenet-pytorch's (tested on the
astronaut); the P-Net pyramid runs as one mosaic of its levels (`jaxvision.faces.pyramid`).
R-Net and O-Net run on chunks of their buffer up to the last valid candidate only (a
`lax.fori_loop` with a traced trip count), so few candidates cost little.

Example:
  >>> levels = prepare_levels(480, 640, 480, 640, min_face_size=20, scale_factor=0.709)
  >>> len(levels.level_hw), levels.level_hw[0].tolist(), levels.level_map.shape
  (10, [289, 385], (290, 854))
  >>> Buffers()
  Buffers(candidates=2048, level_proposals=1024, proposals=256, refined=64)
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxvision.faces import boxes as mtcnn_boxes
from jaxvision.faces import pyramid
from jaxvision.models import mtcnn
from jaxvision.ops import nms

LEVEL_NMS_IOU = 0.5
MERGE_NMS_IOU = 0.7
REFINE_NMS_IOU = 0.7
OUTPUT_NMS_OVERLAP = 0.7
# On the CPU, R-Net and O-Net take their crops this many at a time. The cost a crop falls up
# to about 64 crops a call (R-Net) and 32 (O-Net), then rises as activations leave the cache;
# a chunk runs whole, and O-Net usually sees about ten candidates, hence its smaller chunk
# (``python -m benchmarks.mtcnn --pieces``).
RNET_CPU_CHUNK = 64
ONET_CPU_CHUNK = 16


class Buffers(NamedTuple):
    """Static candidate counts of the stages (see the module docstring).

    Attributes:
      candidates: best P-Net cells (over all levels) that enter the per-level NMS.
      level_proposals: boxes the per-level NMS keeps (over all levels).
      proposals: boxes kept by the NMS over all levels, R-Net's batch.
      refined: boxes R-Net keeps, O-Net's batch: the most faces an image returns.
    """

    candidates: int = 2048
    level_proposals: int = 1024
    proposals: int = 256
    refined: int = 64


class Levels(NamedTuple):
    """The pyramid of one image size inside a bucket, packed into a mosaic.

    Attributes:
      image_hw: int32 [2] the image's (height, width).
      level_hw: int32 [L, 2] each level's own size (0 where the image has no such level).
      level_scale: float32 [L] each level's scale.
      level_map: int32 [h, w] the level at each mosaic pixel (-1: none), the bucket's (a
        device array, made once a bucket).
      local: int32 [h, w, 2] each mosaic pixel's (row, column) inside its level (likewise).
    """

    image_hw: np.ndarray
    level_hw: np.ndarray
    level_scale: np.ndarray
    level_map: jax.Array
    local: jax.Array


@functools.cache
def _bucket_pyramid(bucket_h: int, bucket_w: int, min_face_size, scale_factor):
    """(scales, level map, local map) of a bucket, computed once."""
    scales = pyramid.pyramid_scales(
        min(bucket_h, bucket_w), min_face_size=min_face_size, scale_factor=scale_factor
    )
    level_map, local = pyramid.mosaic_maps(pyramid.level_sizes(bucket_h, bucket_w, scales))
    return scales, jnp.asarray(level_map), jnp.asarray(local)  # on the device once


def prepare_levels(
    height: int, width: int, bucket_h: int, bucket_w: int, *, min_face_size, scale_factor
) -> Levels:
    """The pyramid of an image of ``height`` x ``width`` padded to ``bucket_h`` x ``bucket_w``.

    Args:
      height, width: the image's size; its shorter side >= ``min_face_size``.
      bucket_h, bucket_w: the padded size (>= the image's).
      min_face_size, scale_factor: MTCNN's pyramid settings (`pyramid.pyramid_scales`).

    Returns:
      `Levels`: the image's own level sizes and scales, the bucket's mosaic.

    Example:
      >>> levels = prepare_levels(60, 40, 64, 64, min_face_size=20, scale_factor=0.709)
      >>> levels.level_hw.tolist(), levels.level_map.shape
      ([[37, 25], [26, 18], [19, 13], [0, 0]], (40, 88))
    """
    if min(height, width) < min_face_size:
        raise ValueError(f"a {height}x{width} image is smaller than min_face_size {min_face_size}")
    scales, level_map, local = _bucket_pyramid(bucket_h, bucket_w, min_face_size, scale_factor)
    own = pyramid.pyramid_scales(
        min(height, width), min_face_size=min_face_size, scale_factor=scale_factor
    )
    level_hw = np.zeros((len(scales), 2), np.int32)
    level_hw[: len(own)] = pyramid.level_sizes(height, width, own)
    image_hw = np.array([height, width], np.int32)
    return Levels(image_hw, level_hw, np.asarray(scales, np.float32), level_map, local)


def _take(valid: jax.Array, indices: jax.Array, *arrays: jax.Array) -> list[jax.Array]:
    """``arrays[i][indices]`` with invalid rows zeroed (finite, whatever was there)."""
    return [
        jnp.where(valid.reshape(-1, *[1] * (a.ndim - 1)), a[indices], jnp.zeros((), a.dtype))
        for a in arrays
    ]


def _cells(pnet_vars, table, levels: Levels, threshold, k: int):
    """The ``k`` best P-Net cells over the mosaic: boxes [k, 4], scores [k] (-inf: none),
    levels [k], regressions [k, 4]."""
    image = pyramid.mosaic_image(
        table, levels.image_hw, levels.level_hw, levels.level_map, levels.local
    )
    mask = pyramid.conv1_mask(levels.level_map, levels.local, levels.level_hw)  # [h - 2, w - 2]
    regression, probs = mtcnn.PNet().apply(
        pnet_vars, mtcnn.normalize(image)[None], mask[None]
    )  # [1, oh, ow, 4], [1, oh, ow, 2]
    oh, ow = probs.shape[1:3]
    # Cell (y, x) looks at the 12x12 window whose top-left pixel is (2 y, 2 x).
    level = levels.level_map[: 2 * oh : 2, : 2 * ow : 2]  # [oh, ow]
    cell = levels.local[: 2 * oh : 2, : 2 * ow : 2] // mtcnn.PNET_STRIDE  # [oh, ow, 2] in level
    level_cells = mtcnn.pnet_output_size(levels.level_hw[jnp.maximum(level, 0)])  # [oh, ow, 2]
    inside = (level >= 0) & jnp.all(cell < level_cells, axis=-1)  # [oh, ow]
    face = probs[0, ..., 1]  # [oh, ow]
    scores = jnp.where(inside & (face >= threshold), face, -jnp.inf).reshape(-1)  # [oh * ow]
    top_scores, index = jax.lax.top_k(scores, min(k, oh * ow))  # [k'] each
    cell, level = cell.reshape(-1, 2)[index], level.reshape(-1)[index]  # [k', 2], [k']
    boxes = mtcnn_boxes.cell_boxes(cell[:, 0], cell[:, 1], levels.level_scale[level])  # [k', 4]
    pad = k - top_scores.shape[0]
    pad2 = ((0, pad), (0, 0))
    return (
        jnp.pad(boxes, pad2),
        jnp.pad(top_scores, (0, pad), constant_values=-jnp.inf),
        jnp.pad(level, (0, pad)),
        jnp.pad(regression.reshape(-1, 4)[index], pad2),
    )


def propose(pnet_vars, table, levels: Levels, threshold, *, buffers: Buffers):
    """Stage 1 on one image (see the module docstring).

    Returns:
      (square boxes [proposals, 4], valid [proposals] bool), valid ones first.
    """
    boxes, scores, level, regression = _cells(
        pnet_vars, table, levels, threshold, buffers.candidates
    )  # [k, ...]
    keep, kept = nms.batched_nms(
        boxes, scores, level, iou_threshold=LEVEL_NMS_IOU, max_outputs=buffers.level_proposals
    )  # [m] each: NMS within each level
    boxes, scores, regression = _take(kept, keep, boxes, scores, regression)
    scores = jnp.where(kept, scores, -jnp.inf)  # [m]
    keep, valid = nms.nms(
        boxes, scores, iou_threshold=MERGE_NMS_IOU, max_outputs=buffers.proposals
    )  # [n] each
    boxes, regression = _take(valid, keep, boxes, regression)  # [n, 4] each
    boxes = mtcnn_boxes.square(mtcnn_boxes.calibrate(boxes, regression, inclusive=False))
    return boxes, valid


def _chunk(n: int, cpu_chunk: int) -> int:
    """Crops a network takes at a time: ``cpu_chunk`` on the CPU (when it divides ``n``),
    all ``n`` on accelerators."""
    if jax.default_backend() == "cpu" and n % cpu_chunk == 0:
        return cpu_chunk
    return n


def _network_on_crops(net, net_vars, boxes, valid, size, cpu_chunk, *, tables, image_hw):
    """A network's outputs on the ``size`` x ``size`` crops of a batch's boxes.

    Only the chunks of the buffers up to the last valid candidate of any image run (valid
    candidates come first): a `lax.fori_loop` over chunks of `_chunk` crops, each cropped,
    resampled and scored in turn. Rows past them are zeros.

    Args:
      net, net_vars: the network and its variables.
      boxes: [b, n, 4]; valid: [b, n] bool.
      size: crop side; cpu_chunk: crops at a time on the CPU.
      tables: [b, H + 1, W + 1, 3] integral images; image_hw: int32 [2].

    Returns:
      (the network's outputs, each [b, n, ...]; nonempty [b, n] bool: crops inside the image).
    """
    b, n = boxes.shape[:2]
    chunk = _chunk(n, cpu_chunk)
    bounds, nonempty = jax.vmap(mtcnn_boxes.crop_bounds, (0, None))(boxes, image_hw)  # [b, n, 4]
    crop = jax.vmap(functools.partial(pyramid.crop_resize, size=size))

    def score(bounds):  # [b, chunk, 4] -> outputs [b, chunk, ...]
        crops = mtcnn.normalize(crop(tables, bounds)).reshape(b * chunk, size, size, 3)
        return jax.tree.map(lambda o: o.reshape(b, chunk, *o.shape[1:]), net.apply(net_vars, crops))

    def body(i, outputs):
        start = i * chunk
        part = score(jax.lax.dynamic_slice_in_dim(bounds, start, chunk, axis=1))
        return jax.tree.map(
            lambda out, p: jax.lax.dynamic_update_slice_in_dim(out, p, start, axis=1), outputs, part
        )

    shapes = jax.eval_shape(score, bounds[:, :chunk])
    zeros = jax.tree.map(lambda s: jnp.zeros((b, n, *s.shape[2:]), s.dtype), shapes)
    count = jnp.max(jnp.sum(valid, axis=1))  # [] most valid candidates in an image
    return jax.lax.fori_loop(0, (count + chunk - 1) // chunk, body, zeros), nonempty


def refine(outputs, nonempty, boxes, valid, threshold, buffers):
    """Stage 2's selection on R-Net's outputs (one image; see the module docstring).

    Returns:
      (square boxes [refined, 4], valid [refined] bool), valid ones first.
    """
    regression, probs = outputs  # [n, 4], [n, 2]
    passed = valid & nonempty & (probs[:, 1] > threshold)  # [n]
    scores = jnp.where(passed, probs[:, 1], -jnp.inf)  # [n]
    keep, valid = nms.nms(
        boxes, scores, iou_threshold=REFINE_NMS_IOU, max_outputs=buffers.refined
    )  # [r] each
    boxes, regression = _take(valid, keep, boxes, regression)  # [r, 4] each
    return mtcnn_boxes.square(mtcnn_boxes.calibrate(boxes, regression, inclusive=True)), valid


def output(outputs, nonempty, boxes, valid, threshold) -> dict[str, jax.Array]:
    """Stage 3's selection on O-Net's outputs (one image; see the module docstring).

    Returns:
      {"boxes" [r, 4], "scores" [r], "landmarks" [r, 5, 2], "valid" [r] bool}, valid ones
      first, by score descending; invalid rows are zeros.
    """
    regression, landmarks, probs = outputs  # [r, 4], [r, 10], [r, 2]
    scores = probs[:, 1]  # [r]
    passed = valid & nonempty & (scores > threshold)  # [r]
    points = mtcnn_boxes.landmarks_to_pixels(boxes, landmarks)  # [r, 5, 2]
    boxes = mtcnn_boxes.calibrate(boxes, regression, inclusive=True)  # [r, 4]
    keep, valid = mtcnn_boxes.nms_min(boxes, scores, passed, OUTPUT_NMS_OVERLAP)  # [r] each
    boxes, scores, points = _take(valid, keep, boxes, scores, points)
    return {"boxes": boxes, "scores": scores, "landmarks": points, "valid": valid}


@functools.partial(jax.jit, static_argnames=("buffers",))
def cascade(
    variables, images: jax.Array, levels: Levels, thresholds: jax.Array, *, buffers: Buffers
) -> dict[str, jax.Array]:
    """MTCNN on a batch of (padded) images of one size; compiled per bucket and buffers.

    Args:
      variables: {"pnet", "rnet", "onet"} Flax variables (`jaxvision.faces.weights.load`).
      images: uint8 [b, H, W, 3], each image at the top left, zeros beyond.
      levels: `prepare_levels` of the images' size in this bucket, shared by the batch.
      thresholds: float32 [3] face probability thresholds of the three stages.
      buffers: static candidate counts.

    Returns:
      {"boxes" [b, r, 4] x1, y1, x2, y2 pixels, "scores" [b, r], "landmarks" [b, r, 5, 2]
      (x, y) pixels, "valid" [b, r] bool} with r = ``buffers.refined``: valid rows first, by
      score descending; the rest zeros.
    """
    tables = jax.vmap(pyramid.integral_image)(images)  # [b, H + 1, W + 1, 3]
    stage1 = functools.partial(propose, buffers=buffers)
    boxes, valid = jax.vmap(stage1, in_axes=(None, 0, None, None))(
        variables["pnet"], tables, levels, thresholds[0]
    )  # [b, n, 4], [b, n]
    stage = functools.partial(_network_on_crops, tables=tables, image_hw=levels.image_hw)
    outputs, nonempty = stage(
        mtcnn.RNet(), variables["rnet"], boxes, valid, mtcnn.RNET_SIZE, RNET_CPU_CHUNK
    )
    select = functools.partial(refine, threshold=thresholds[1], buffers=buffers)
    boxes, valid = jax.vmap(select)(outputs, nonempty, boxes, valid)  # [b, r, 4], [b, r]
    outputs, nonempty = stage(
        mtcnn.ONet(), variables["onet"], boxes, valid, mtcnn.ONET_SIZE, ONET_CPU_CHUNK
    )
    return jax.vmap(functools.partial(output, threshold=thresholds[2]))(
        outputs, nonempty, boxes, valid
    )
