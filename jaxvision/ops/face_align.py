"""Face alignment: a similarity transform from 5 landmarks to a template, and the warp.

A face is aligned as ArcFace (insightface) aligns it: the least-squares similarity transform
(rotation, uniform scale, translation; Umeyama, 1991) that takes its five landmarks (left eye,
right eye, nose tip, left and right mouth corner, in MTCNN's order) closest to the standard
5-point template of a 112x112 crop, scaled for other sizes; the crop is then resampled
bilinearly through that transform (what OpenCV's ``warpAffine`` does, zeros outside).

Coordinates are ``(x, y)`` pixels with pixel ``(i, j)`` covering ``[j, j + 1) x [i, i + 1)``
(its centre at ``(j + 0.5, i + 0.5)``): the convention of ``jax.image.resize``, of Pillow and
of the built-in face datasets' exact landmarks. The template is insightface's
(``arcface_dst``, written for OpenCV's pixel-centre convention) moved by half a pixel into
this one, so a 112 crop is the crop insightface makes.

Every function is jittable and batched over leading axes.

Example:
  >>> images = jnp.zeros((2, 64, 64, 3), jnp.uint8)
  >>> landmarks = jnp.broadcast_to(face_template(64), (2, 5, 2)) * 0.9 + 3.0
  >>> align_faces(images, landmarks, 48).shape
  (2, 48, 48, 3)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# insightface's `arcface_dst`: the 5 points of a 112x112 ArcFace crop, OpenCV pixel centres.
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],  # left eye
        [73.5318, 51.5014],  # right eye
        [56.0252, 71.7366],  # nose tip
        [41.5493, 92.3655],  # left mouth corner
        [70.7299, 92.2041],  # right mouth corner
    ],
    np.float32,
)
TEMPLATE_SIZE = 112
NUM_LANDMARKS = 5
# OpenCV's pixel (i, j) is the point (j, i); here it is the square whose centre is +0.5.
PIXEL_CENTER = 0.5


def face_template(size: int | tuple[int, int]) -> jax.Array:
    """The 5-point template of a ``size`` crop: ArcFace's 112 template, scaled.

    Args:
      size: the crop side, or its (height, width); a non-square crop scales x by its width
        and y by its height.

    Returns:
      float32 [5, 2] (x, y) pixels, in this module's convention.

    Example:
      >>> [round(float(v), 4) for v in face_template(112)[0]]  # the left eye, half a pixel on
      [38.7946, 52.1963]
    """
    height, width = (size, size) if np.ndim(size) == 0 else size
    if min(height, width) <= 0:
        raise ValueError(f"the crop size must be positive, got {size}")
    scale = np.array([width, height], np.float32) / TEMPLATE_SIZE  # [2]
    return jnp.asarray((ARCFACE_TEMPLATE_112 + PIXEL_CENTER) * scale)  # [5, 2]


def _check_points(points: jax.Array, name: str) -> jax.Array:
    points = jnp.asarray(points)
    if points.ndim < 2 or points.shape[-1] != 2 or points.shape[-2] < 2:
        raise ValueError(f"{name} must be [..., n, 2] with n >= 2 points, got {points.shape}")
    return points.astype(jnp.promote_types(points.dtype, jnp.float32))


def umeyama(src: jax.Array, dst: jax.Array, estimate_scale: bool = True) -> jax.Array:
    """The least-squares similarity transform taking ``src`` points to ``dst`` (Umeyama).

    Minimises ``sum_i |s R src_i + t - dst_i|^2`` over rotations ``R`` (no reflection), a
    scale ``s`` (1 unless ``estimate_scale``) and a translation ``t``, in closed form from
    the SVD of the points' cross-covariance; scikit-image's ``SimilarityTransform.estimate``
    and insightface compute the same.

    Args:
      src: [..., n, 2] points (n >= 2).
      dst: [..., n, 2] their targets.
      estimate_scale: fit the scale too (else a rigid transform).

    Returns:
      [..., 2, 3] matrices ``[s R | t]``: ``dst ~= src @ M[:, :2].T + M[:, 2]``.

    Raises:
      ValueError: for shapes that are not [..., n, 2] alike.

    Example:
      >>> src = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
      >>> (umeyama(src, 2 * src + 1).round(4) + 0.0).tolist()
      [[2.0, 0.0, 1.0], [0.0, 2.0, 1.0]]
    """
    src, dst = _check_points(src, "src"), _check_points(dst, "dst")
    if src.shape[-2:] != dst.shape[-2:]:
        raise ValueError(f"src and dst need the same points, got {src.shape} and {dst.shape}")
    src_mean = jnp.mean(src, axis=-2, keepdims=True)  # [..., 1, 2]
    dst_mean = jnp.mean(dst, axis=-2, keepdims=True)  # [..., 1, 2]
    src_c, dst_c = src - src_mean, dst - dst_mean  # [..., n, 2]
    cov = jnp.einsum("...ni,...nj->...ij", dst_c, src_c) / src.shape[-2]  # [..., 2, 2]
    u, sv, vt = jnp.linalg.svd(cov)  # [..., 2, 2], [..., 2], [..., 2, 2]
    # A reflection is turned into the nearest rotation by flipping the weakest direction.
    flip = jnp.where(jnp.linalg.det(cov) < 0, -1.0, 1.0).astype(src.dtype)  # [...]
    d = jnp.stack([jnp.ones_like(flip), flip], axis=-1)  # [..., 2]
    rotation = jnp.einsum("...ij,...j,...jk->...ik", u, d, vt)  # [..., 2, 2]
    if estimate_scale:
        src_var = jnp.sum(jnp.mean(src_c**2, axis=-2), axis=-1)  # [...]
        scale = jnp.sum(sv * d, axis=-1) / jnp.maximum(src_var, jnp.finfo(src.dtype).tiny)
    else:
        scale = jnp.ones(src.shape[:-2], src.dtype)  # [...]
    linear = scale[..., None, None] * rotation  # [..., 2, 2]
    shift = dst_mean[..., 0, :] - jnp.einsum("...ij,...j->...i", linear, src_mean[..., 0, :])
    return jnp.concatenate([linear, shift[..., None]], axis=-1)  # [..., 2, 3]


def alignment_matrix(landmarks: jax.Array, size: int | tuple[int, int]) -> jax.Array:
    """The similarity transform taking a face's 5 landmarks to the template of a ``size`` crop.

    Args:
      landmarks: [..., 5, 2] (x, y) pixels of the image: left eye, right eye, nose tip, left
        and right mouth corner.
      size: the aligned crop's side, or (height, width).

    Returns:
      [..., 2, 3] matrices from image pixels to crop pixels (``warp_affine``'s ``matrix``).

    Example:
      >>> m = alignment_matrix(face_template(56) * 2.0, 56)
      >>> (m.round(4) + 0.0).tolist()  # + 0.0: no negative zeros
      [[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]
    """
    landmarks = _check_points(landmarks, "landmarks")
    if landmarks.shape[-2] != NUM_LANDMARKS:
        raise ValueError(f"landmarks must be [..., 5, 2], got {landmarks.shape}")
    template = jnp.broadcast_to(face_template(size), landmarks.shape)  # [..., 5, 2]
    return umeyama(landmarks, template.astype(landmarks.dtype))


def invert_affine(matrix: jax.Array) -> jax.Array:
    """The inverse of [..., 2, 3] affine matrices (``x -> A x + t``), as [..., 2, 3].

    Example:
      >>> invert_affine(jnp.array([[2.0, 0.0, 4.0], [0.0, 2.0, 0.0]])).tolist()
      [[0.5, 0.0, -2.0], [0.0, 0.5, -0.0]]
    """
    linear, shift = matrix[..., :2], matrix[..., 2]  # [..., 2, 2], [..., 2]
    inverse = jnp.linalg.inv(linear)  # [..., 2, 2]
    return jnp.concatenate(
        [inverse, -jnp.einsum("...ij,...j->...i", inverse, shift)[..., None]], -1
    )


def transform_points(matrix: jax.Array, points: jax.Array) -> jax.Array:
    """Affine [..., 2, 3] matrices applied to [..., n, 2] points.

    Example:
      >>> transform_points(jnp.array([[1.0, 0.0, 2.0], [0.0, 1.0, 3.0]]), jnp.zeros((1, 2)))
      Array([[2., 3.]], dtype=float32)
    """
    return jnp.einsum("...ij,...nj->...ni", matrix[..., :2], points) + matrix[..., None, :, 2]


def _bilinear(image: jax.Array, x: jax.Array, y: jax.Array, fill: float) -> jax.Array:
    """``image`` [h, w, c] sampled at pixel-index points ``x``, ``y`` [H, W]; a neighbour
    outside the image counts as ``fill`` (OpenCV's constant border)."""
    h, w = image.shape[:2]
    x0, y0 = jnp.floor(x), jnp.floor(y)  # [H, W]
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]  # [H, W, 1]
    x0, y0 = x0.astype(jnp.int32), y0.astype(jnp.int32)

    def tap(yi: jax.Array, xi: jax.Array) -> jax.Array:
        inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)  # [H, W]
        value = image[jnp.clip(yi, 0, h - 1), jnp.clip(xi, 0, w - 1)]  # [H, W, c]
        return jnp.where(inside[..., None], value, fill)

    top = tap(y0, x0) * (1 - fx) + tap(y0, x0 + 1) * fx  # [H, W, c]
    bottom = tap(y0 + 1, x0) * (1 - fx) + tap(y0 + 1, x0 + 1) * fx
    return top * (1 - fy) + bottom * fy


def warp_affine(
    images: jax.Array, matrix: jax.Array, size: int | tuple[int, int], fill: float = 0.0
) -> jax.Array:
    """Resamples images through affine transforms, bilinearly (OpenCV's ``warpAffine``).

    Output pixel ``p`` takes the input at ``matrix^-1 p`` (pixel centres, this module's
    convention); input neighbours outside the image count as ``fill``.

    Args:
      images: [..., h, w, c] images (any real dtype).
      matrix: [..., 2, 3] transforms from input to output pixels (``alignment_matrix``).
      size: the output side, or (height, width).
      fill: the value outside the input.

    Returns:
      [..., height, width, c] float32 (float64 for float64 input).

    Example:
      >>> shift = jnp.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])  # one pixel right
      >>> warp_affine(jnp.arange(3.0).reshape(1, 3, 1), shift, (1, 3))[..., 0].tolist()
      [[0.0, 0.0, 1.0]]
    """
    height, width = (size, size) if np.ndim(size) == 0 else size
    images = jnp.asarray(images)
    if images.ndim < 3:
        raise ValueError(f"images must be [..., h, w, c], got {images.shape}")
    if matrix.shape[-2:] != (2, 3) or matrix.shape[:-2] != images.shape[:-3]:
        raise ValueError(
            f"matrix must be [..., 2, 3] for images {images.shape}, got {matrix.shape}"
        )
    dtype = jnp.promote_types(images.dtype, jnp.float32)
    if not jnp.issubdtype(images.dtype, jnp.floating):
        dtype = jnp.float32
    cols, rows = jnp.meshgrid(jnp.arange(width, dtype=dtype), jnp.arange(height, dtype=dtype))
    centres = jnp.stack([cols, rows], axis=-1).reshape(-1, 2) + PIXEL_CENTER  # [H*W, 2]
    batch = images.shape[:-3]
    flat_images = images.reshape((-1, *images.shape[-3:])).astype(dtype)  # [B, h, w, c]
    flat_inverse = invert_affine(matrix.astype(dtype)).reshape(-1, 2, 3)  # [B, 2, 3]

    def one(image: jax.Array, inverse: jax.Array) -> jax.Array:
        source = transform_points(inverse, centres) - PIXEL_CENTER  # [H*W, 2] pixel indices
        source = source.reshape(height, width, 2)
        return _bilinear(image, source[..., 0], source[..., 1], fill)  # [H, W, c]

    out = jax.vmap(one)(flat_images, flat_inverse)  # [B, H, W, c]
    return out.reshape((*batch, height, width, images.shape[-1]))


def align_faces(
    images: jax.Array, landmarks: jax.Array, size: int | tuple[int, int], fill: float = 0.0
) -> jax.Array:
    """Aligned face crops: each image warped so its 5 landmarks fall on the template.

    Args:
      images: [..., h, w, c] images (uint8 or float).
      landmarks: [..., 5, 2] (x, y) pixels of one face of each image.
      size: the crop side, or (height, width).
      fill: the value outside the image.

    Returns:
      [..., height, width, c] crops in the images' dtype (integers rounded and clipped).

    Example:
      >>> crop = align_faces(jnp.ones((1, 32, 32, 3)), face_template(32)[None], 32)
      >>> float(crop[0, 16, 16, 0])
      1.0
    """
    images = jnp.asarray(images)
    warped = warp_affine(images, alignment_matrix(landmarks, size), size, fill)
    if jnp.issubdtype(images.dtype, jnp.integer):
        info = jnp.iinfo(images.dtype)
        return jnp.clip(jnp.round(warped), info.min, info.max).astype(images.dtype)
    return warped.astype(images.dtype)
