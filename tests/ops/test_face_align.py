"""Face alignment: Umeyama against scikit-image, the warp against skimage's, and known
transforms recovered exactly."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage import transform as sk_transform

from jaxvision.ops import face_align

# Moves this module's pixel coordinates (centres at +0.5) to skimage's (centres at 0).
TO_CENTRES = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])


def _skimage_similarity(src, dst) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # estimate() -> from_estimate() in 0.26
        tform = sk_transform.SimilarityTransform()
        assert tform.estimate(src, dst)
    return tform.params[:2]  # [2, 3]


def _similarity(angle, scale, shift) -> np.ndarray:
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.array([[c, -s, shift[0]], [s, c, shift[1]]])


@pytest.mark.parametrize("mirror", [False, True])
def test_umeyama_matches_skimage(mirror):
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (4, 5, 2))  # a batch of noisy point sets
    if mirror:  # a reflection: the best rotation is not the SVD's raw product
        src[..., 0] *= -1
    dst = np.asarray(face_align.face_template(112), np.float64)
    got = np.asarray(face_align.umeyama(jnp.asarray(src, jnp.float32), jnp.asarray(dst)))
    for k in range(len(src)):
        np.testing.assert_allclose(got[k], _skimage_similarity(src[k], dst), atol=2e-4)
    linear = got[..., :2]
    assert np.all(np.linalg.det(linear) > 0)  # never a reflection


def test_umeyama_recovers_a_known_similarity_and_rigid():
    points = np.asarray(face_align.face_template(112), np.float64)
    known = _similarity(0.3, 1.7, (-12.0, 40.0))
    moved = points @ known[:, :2].T + known[:, 2]
    np.testing.assert_allclose(face_align.umeyama(points, moved), known, atol=1e-3)
    rigid = _similarity(-0.2, 1.0, (5.0, 6.0))
    got = face_align.umeyama(points, points @ rigid[:, :2].T + rigid[:, 2], estimate_scale=False)
    np.testing.assert_allclose(got, rigid, atol=1e-3)


def test_alignment_puts_the_landmarks_on_the_template():
    template = np.asarray(face_align.face_template(64))
    inverse = _similarity(-0.4, 1.6, (10.0, -3.0))  # crop -> a rotated, larger face
    landmarks = template @ inverse[:, :2].T + inverse[:, 2]  # [5, 2] in the "photo"
    matrix = face_align.alignment_matrix(landmarks, 64)
    np.testing.assert_allclose(face_align.transform_points(matrix, landmarks), template, atol=1e-3)
    np.testing.assert_allclose(
        face_align.invert_affine(matrix), inverse, atol=1e-3
    )  # the exact inverse of the known map
    # Templates of other sizes are ArcFace's scaled; non-square crops scale x and y apart.
    np.testing.assert_allclose(face_align.face_template(56) * 2, face_align.face_template(112))
    assert face_align.face_template((112, 56))[:, 0].max() < 56


def test_warp_matches_skimage_bilinear_with_zero_border():
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 255, (40, 50, 3)).astype(np.float32)
    matrix = _similarity(0.5, 0.7, (3.0, -4.0))
    got = np.asarray(face_align.warp_affine(image, jnp.asarray(matrix, jnp.float32), (30, 32)))
    # skimage's pixel centres sit at integers: conjugate the map by the half-pixel shift.
    centred = TO_CENTRES @ np.vstack([matrix, [0, 0, 1]]) @ np.linalg.inv(TO_CENTRES)
    expected = sk_transform.warp(
        image,
        sk_transform.AffineTransform(np.linalg.inv(centred)),
        output_shape=(30, 32),
        order=1,
        mode="constant",
        cval=0.0,
        preserve_range=True,
    )
    assert 0 < np.mean(got == 0) < 0.9  # part of the output lies outside the input
    np.testing.assert_allclose(got, expected, atol=1e-2)


def test_align_faces_moves_marked_pixels_onto_the_template():
    size = 64
    template = np.asarray(face_align.face_template(size))
    inverse = _similarity(0.25, 1.2, (-6.0, -2.0))
    photo_points = template @ inverse[:, :2].T + inverse[:, 2]  # [5, 2]
    photo = np.zeros((2, 80, 80, 3), np.uint8)
    for x, y in photo_points:  # a bright 3x3 block at each landmark
        photo[:, int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2] = 255
    aligned = jax.jit(face_align.align_faces, static_argnums=2)(
        photo, jnp.broadcast_to(photo_points, (2, 5, 2)), size
    )
    assert aligned.shape == (2, size, size, 3) and aligned.dtype == jnp.uint8
    for x, y in template:  # each block lands on its template point
        assert aligned[0, int(y), int(x), 0] > 100
    assert int(aligned[0, 5, 5, 0]) == 0
    np.testing.assert_array_equal(aligned[0], aligned[1])


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="landmarks must be"):
        face_align.alignment_matrix(jnp.zeros((4, 2)), 64)
    with pytest.raises(ValueError, match="same points"):
        face_align.umeyama(jnp.zeros((5, 2)), jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match="matrix must be"):
        face_align.warp_affine(jnp.zeros((2, 8, 8, 3)), jnp.zeros((2, 3)), 8)
    with pytest.raises(ValueError, match="positive"):
        face_align.face_template(0)
