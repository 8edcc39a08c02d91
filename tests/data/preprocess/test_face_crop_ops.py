"""Face-crop ops: celeb_a / faces_identity targets as arrays, the landmark-aware flip, and
text identities (lfw)."""

from __future__ import annotations

import numpy as np
import pytest

from jaxvision.data import preprocess
from jaxvision.data.preprocess import face_crop_ops
from tests.data.preprocess.images import coords

H, W = 20, 30
# Integer celeb_a fields (the pixel holding each point): left eye, right eye, nose, mouth.
PIXELS = {"lefteye": (8, 5), "righteye": (20, 5), "nose": (14, 10), "leftmouth": (9, 15),
          "rightmouth": (19, 15)}  # fmt: skip


def _celeba_example(**attributes):
    fields = {f"{n}_{a}": v for n, (x, y) in PIXELS.items() for a, v in (("x", x), ("y", y))}
    attrs = {"Male": True, "Young": False, "Smiling": True, "Eyeglasses": False, "Bald": True}
    return {"image": coords(H, W), "attributes": {**attrs, **attributes}, "landmarks": fields}


def test_decode_face_crop_gives_normalised_pixel_centres_and_ordered_attributes():
    out = preprocess.build("decode_face_crop")(_celeba_example(), np.random.default_rng(0))
    np.testing.assert_array_equal(out["attributes"], [1.0, 0.0, 1.0, 0.0])  # the default four
    assert out["attributes"].dtype == np.float32 and out["landmarks"].shape == (5, 2)
    expected = (np.array(list(PIXELS.values()), np.float32) + 0.5) / [W, H]
    np.testing.assert_allclose(out["landmarks"], expected, rtol=1e-6)
    chosen = preprocess.build("decode_face_crop(attributes=('Bald', 'Male'), landmarks=False)")
    out = chosen(_celeba_example(), None)
    np.testing.assert_array_equal(out["attributes"], [1.0, 1.0])
    assert isinstance(out["landmarks"], dict)  # left as it was


def test_resize_keeps_normalised_landmarks_on_the_face():
    fn = preprocess.build("decode_face_crop|resize(40, 60)")
    out = fn(_celeba_example(), np.random.default_rng(0))
    assert out["image"].shape == (40, 60, 3)
    x, y = out["landmarks"][2] * [60, 40]  # the nose, in pixels of the resized image
    # The coords image holds each pixel's row and column: the nose's pixel still reads them.
    row, col = out["image"][int(y), int(x), :2].astype(int)
    assert abs(row - PIXELS["nose"][1]) <= 1 and abs(col - PIXELS["nose"][0]) <= 1


def test_flip_face_mirrors_points_and_swaps_sides():
    decoded = preprocess.build("decode_face_crop")(_celeba_example(), None)
    flipped = face_crop_ops.flip_face(1.0)(decoded, np.random.default_rng(0))
    np.testing.assert_array_equal(flipped["image"], decoded["image"][:, ::-1])
    # The new left eye is the old right eye, mirrored; each point still names its pixel.
    np.testing.assert_allclose(flipped["landmarks"][0, 0], 1.0 - decoded["landmarks"][1, 0])
    for (x, y), (ox, oy) in zip(
        flipped["landmarks"] * [W, H], decoded["landmarks"][[1, 0, 2, 4, 3]] * [W, H], strict=True
    ):
        np.testing.assert_array_equal(
            flipped["image"][int(y), int(x)], decoded["image"][int(oy), int(ox)]
        )
    same = face_crop_ops.flip_face(0.0)(decoded, np.random.default_rng(0))
    assert same is decoded
    with pytest.raises(ValueError, match="decode_face_crop first"):
        face_crop_ops.flip_face(1.0)(_celeba_example(), np.random.default_rng(0))


def test_text_label_hashes_or_looks_up_names(tmp_path):
    hashed = preprocess.build("text_label")
    a = hashed({"label": "George_W_Bush"}, None)["label"]
    assert (
        a
        == hashed({"label": b"George_W_Bush"}, None)["label"]
        == face_crop_ops.name_hash("George_W_Bush")
    )
    assert a != hashed({"label": "Laura_Bush"}, None)["label"] and 0 <= a < 2**31
    vocabulary = tmp_path / "names.txt"
    vocabulary.write_text("Laura_Bush\nGeorge_W_Bush\n")
    looked_up = preprocess.build(f"text_label(vocabulary={str(vocabulary)!r})")
    assert looked_up({"label": np.array("George_W_Bush")}, None)["label"] == 1
    with pytest.raises(ValueError, match="not in the vocabulary"):
        looked_up({"label": "Nobody"}, None)


def test_missing_fields_are_named():
    with pytest.raises(ValueError, match="Smiling"):
        preprocess.build("decode_face_crop")({"image": coords(H, W), "attributes": {}}, None)
    broken = _celeba_example()
    del broken["landmarks"]["nose_x"]
    with pytest.raises(ValueError, match="nose_x"):
        preprocess.build("decode_face_crop")(broken, None)
