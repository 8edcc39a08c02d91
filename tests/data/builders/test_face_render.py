"""Tests of the procedural face renderer: exact landmarks and boxes, poses, attributes."""

import dataclasses

import numpy as np
import pytest

from jaxvision.data.builders import face_params, face_parts, face_render
from jaxvision.data.builders.face_params import FaceView


def _face(seed, **changes):
    face = face_params.sample_face(np.random.default_rng(seed))
    return dataclasses.replace(face, **changes)


def _upright_views(seed, count, size=40.0):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        face = face_params.sample_face(rng)
        view = face_params.sample_view(rng, (50.3, 48.7), size, max_roll=0.0)
        yield face, view


def test_landmarks_inside_box_and_eyes_above_mouth_when_upright():
    for face, view in _upright_views(0, 40):
        rendered = face_render.render_face(face, view)
        x1, y1, x2, y2 = rendered.box
        (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = rendered.landmarks
        assert ((rendered.landmarks >= [x1, y1]) & (rendered.landmarks <= [x2, y2])).all()
        assert max(ly, ry) < ny < min(mly, mry)  # Eyes above the nose above the mouth.
        assert lx < rx and mlx < mrx  # "Left" is the image's left.
        assert lx < nx < rx  # Within the head-turn limits the nose stays between the eyes.
        # Every landmark lies on the face's skin region.
        skin = face_render.in_frame(rendered, rendered.skin, 100, 100)
        for x, y in rendered.landmarks:
            assert skin[int(y), int(x)] > 0.5


def test_box_is_tight_around_the_head_outline():
    for face, view in _upright_views(1, 10):
        view = dataclasses.replace(view, roll=0.4)
        rendered = face_render.render_face(face, view)
        outline = face_render.to_pixels(face_parts.outline(face, 720), view)  # [k, 2]
        expected = np.concatenate([outline.min(axis=0), outline.max(axis=0)])  # [4]
        # The box holds the pixels the outline covers at least half: within a pixel.
        np.testing.assert_allclose(rendered.box, expected, atol=1.0)


def test_landmark_pixels_show_the_features():
    """At a large size, each landmark sits on the feature it names."""
    face = _face(3, glasses=False, beard="none")
    view = FaceView(center=(100.0, 100.0), size=120.0)
    rendered = face_render.render_face(face, view)
    image = np.zeros((200, 200, 3), np.float32)
    face_render.paint(image, rendered)
    pixel = lambda i: image[int(rendered.landmarks[i, 1]), int(rendered.landmarks[i, 0])]
    for eye in (0, 1):
        np.testing.assert_allclose(pixel(eye), face_parts.PUPIL, atol=1.0)
    tip = np.clip(np.asarray(face.skin) * 1.06, 0, 255)
    np.testing.assert_allclose(pixel(2), tip, atol=2.0)
    for corner in (3, 4):  # The lips or the line between them lie within a pixel.
        x, y = rendered.landmarks[corner].astype(int)
        patch = image[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3)  # [9, 3]
        lips = np.asarray(face.lips)
        assert np.linalg.norm(patch - lips, axis=-1).min() < 30 or (
            np.linalg.norm(patch - lips * 0.55, axis=-1).min() < 30
        )


def test_roll_rotates_landmarks_about_the_centre():
    face = _face(4)
    base = FaceView(center=(60.25, 55.5), size=50.0, yaw=0.2, smile=0.8)
    theta = 0.5
    upright = face_render.render_face(face, base).landmarks
    rolled = face_render.render_face(face, dataclasses.replace(base, roll=theta)).landmarks
    c, s = np.cos(theta), np.sin(theta)
    offset = upright - base.center  # [5, 2]
    expected = base.center + offset @ np.array([[c, s], [-s, c]])  # [5, 2]
    np.testing.assert_allclose(rolled, expected, atol=1e-3)


def test_yaw_moves_the_nose_more_than_the_eyes():
    face = _face(5)
    shifts = []
    for yaw in (0.0, 0.2, 0.4):
        view = FaceView(center=(50.0, 50.0), size=60.0, yaw=yaw)
        lm = face_render.render_face(face, view).landmarks
        shifts.append((lm[2, 0] - (lm[0, 0] + lm[1, 0]) / 2, lm[1, 0] - lm[0, 0]))
    nose_shift, eye_distance = np.array(shifts).T
    assert abs(nose_shift[0]) < 1e-4 and 0 < nose_shift[1] < nose_shift[2]
    assert eye_distance[0] > eye_distance[1] > eye_distance[2]  # Foreshortened.


def test_smile_lifts_and_widens_the_mouth():
    face = _face(6)
    neutral, smiling = (
        face_render.render_face(face, FaceView(center=(50.0, 50.0), size=60.0, smile=s)).landmarks
        for s in (-0.2, 1.0)
    )
    assert smiling[3, 1] < neutral[3, 1] and smiling[4, 1] < neutral[4, 1]
    assert smiling[4, 0] - smiling[3, 0] > neutral[4, 0] - neutral[3, 0]
    np.testing.assert_allclose(smiling[:3], neutral[:3])  # Eyes and nose stay.


def test_shifted_is_the_same_as_drawing_elsewhere():
    face = _face(7)
    view = FaceView(center=(30.3, 40.6), size=36.0, roll=0.3, yaw=-0.3, blur=1)
    here = face_render.render_face(face, view)
    there = face_render.render_face(face, dataclasses.replace(view, center=(33.3, 38.6)))
    moved = face_render.shifted(here, 3, -2)
    assert (moved.top, moved.left) == (there.top, there.left)
    np.testing.assert_allclose(moved.landmarks, there.landmarks, atol=1e-4)
    np.testing.assert_allclose(moved.box, there.box)
    np.testing.assert_allclose(moved.rgb, there.rgb, atol=1e-3)
    np.testing.assert_allclose(moved.alpha, there.alpha, atol=1e-6)


def test_paint_only_changes_the_face_pixels_and_cuts_at_the_border():
    rendered = face_render.render_face(_face(8), FaceView(center=(4.0, 30.0), size=30.0))
    image = np.full((60, 60, 3), 77.0, np.float32)
    face_render.paint(image, rendered)  # Half the face lies left of the image.
    alpha = face_render.in_frame(rendered, rendered.alpha, 60, 60)
    assert (image[alpha == 0] == 77.0).all()
    assert (image[alpha == 1] != 77.0).any(axis=-1).mean() > 0.9


def test_deterministic_given_rng():
    def draw(seed):
        rng = np.random.default_rng(seed)
        face = face_params.sample_face(rng)
        view = face_params.sample_view(rng, (40.0, 40.0), 40.0, blur_probabilities=(0.3, 0.3))
        return face, view, face_render.render_face(face, view)

    (fa, va, ra), (fb, vb, rb), (fc, _, rc) = draw(11), draw(11), draw(12)
    assert fa == fb and va == vb and fa != fc
    np.testing.assert_array_equal(ra.rgb, rb.rgb)
    np.testing.assert_array_equal(ra.landmarks, rb.landmarks)
    assert not np.array_equal(ra.landmarks, rc.landmarks)


def test_attributes_follow_the_parameters():
    rng = np.random.default_rng(13)
    faces = [face_params.sample_face(rng) for _ in range(300)]
    for face in faces:
        smile = face_params.sample_smile(rng)
        view = FaceView(center=(0.0, 0.0), size=10.0, smile=smile)
        a = face_params.attributes(face, view)
        assert a == {
            "Male": face.male,
            "Young": face.young,
            "Smiling": smile >= face_params.SMILE_THRESHOLD,
            "Eyeglasses": face.glasses,
        }
        # The visible cues of each attribute.
        styles = face_params.MALE_HAIR if face.male else face_params.FEMALE_HAIR
        assert face.hair_style in styles
        assert face.male or face.beard == "none"
        assert (face.wrinkles == 0) == face.young
        assert face.young is False or face.hair_style != "bald"
        gap = (face_params.NEUTRAL_SMILE[1], face_params.SMILING_SMILE[0])
        assert not gap[0] < smile < gap[1]
    for key in ("male", "young", "glasses"):
        share = np.mean([getattr(f, key) for f in faces])
        assert 0.15 < share < 0.85, (key, share)


@pytest.mark.parametrize(
    "kwargs",
    [dict(size=0.0), dict(size=10.0, yaw=0.9), dict(size=10.0, blur=3)],
)
def test_bad_views(kwargs):
    with pytest.raises(ValueError):
        FaceView(center=(0.0, 0.0), **kwargs)


def test_bad_sizes_and_limits():
    with pytest.raises(ValueError, match="size"):
        face_render.render_face(_face(0), FaceView(center=(5.0, 5.0), size=2.0))
    with pytest.raises(ValueError, match="max_roll"):
        face_params.sample_view(np.random.default_rng(0), (0.0, 0.0), 10.0, max_roll=2.0)
