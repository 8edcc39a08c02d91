"""Tests of the `jaxvision_faces_identity` TFDS builder: a tiny variant built in a temp dir."""

import sys

import numpy as np
import pytest

from jaxvision.data import sources
from jaxvision.data.builders import face_params, faces_identity

TINY = dict(
    num_train_identities=5,
    num_test_identities=3,
    train_images_per_identity=3,
    test_images_per_identity=2,
)
SIZE = 64


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


@pytest.fixture(scope="module")
def built(data_dir):
    builder = faces_identity.prepare_faces_identity(data_dir, **TINY)
    return builder, {split: builder.as_data_source(split) for split in ("train", "test")}


def _examples(source):
    return [source[i] for i in range(len(source))]


def test_registered_configs():
    configs = {c.name: c for c in faces_identity.JaxvisionFacesIdentity.BUILDER_CONFIGS}
    assert faces_identity.JaxvisionFacesIdentity.name == "jaxvision_faces_identity"
    assert {n: c.image_size for n, c in configs.items()} == {"aligned64": 64, "aligned112": 112}
    for c in configs.values():
        assert (c.num_train_identities, c.num_test_identities) == (1_000, 200)


def test_identities_are_disjoint_between_splits(built):
    builder, splits = built
    labels = {s: {int(e["label"]) for e in _examples(src)} for s, src in splits.items()}
    assert labels["train"] == set(range(5)) and labels["test"] == {5, 6, 7}
    assert not labels["train"] & labels["test"]
    assert len(splits["train"]) == 15 and len(splits["test"]) == 6
    assert builder.info.features["label"].num_classes == 8
    for e in _examples(splits["train"]) + _examples(splits["test"]):
        assert int(e["identity"]["Identity_No"]) == int(e["label"]) + 1
    # Different identities are different faces; one identity is always the same face.
    assert len({faces_identity.identity_face(i) for i in range(8)}) == 8
    assert faces_identity.identity_face(3) == faces_identity.identity_face(3)
    with pytest.raises(ValueError, match="split"):
        faces_identity.identity_ids(builder.builder_config, "validation")


def test_schema_matches_celeb_a_and_lfw(built, tmp_path):
    from tensorflow_datasets.datasets.celeb_a import celeb_a_dataset_builder
    from tensorflow_datasets.datasets.lfw import lfw_dataset_builder

    ours = built[0].info.features
    celeb_a = celeb_a_dataset_builder.Builder(data_dir=str(tmp_path)).info.features
    for group in ("landmarks", "identity", "attributes"):
        assert set(ours[group]) <= set(celeb_a[group]), group
        for key in ours[group]:
            assert ours[group][key].np_dtype == celeb_a[group][key].np_dtype, (group, key)
    assert set(ours["landmarks"]) == set(celeb_a["landmarks"])
    assert set(ours["attributes"]) == {"Male", "Young", "Smiling", "Eyeglasses"}
    lfw = lfw_dataset_builder.Builder(data_dir=str(tmp_path)).info.features
    assert set(lfw) <= set(ours)
    assert ours["image"].shape == (SIZE, SIZE, 3)


def test_attributes_and_landmarks_match_the_parameters(built):
    builder, splits = built
    config = builder.builder_config
    renders = []
    for e in _examples(splits["train"]) + _examples(splits["test"]):
        assert e["image"].shape == (SIZE, SIZE, 3) and e["image"].dtype == np.uint8
        identity = int(e["label"])
        face = faces_identity.identity_face(identity)
        attrs = {k: bool(v) for k, v in e["attributes"].items()}
        assert (attrs["Male"], attrs["Young"], attrs["Eyeglasses"]) == (
            face.male,
            face.young,
            face.glasses,
        )
        # Find which image of the identity this is (TFDS stores examples shuffled).
        split_images = config.train_images_per_identity if identity < 5 else 2
        matches = [faces_identity.render_example(config, identity, k) for k in range(split_images)]
        (render,) = [r for r in matches if np.array_equal(r["image"], e["image"])]
        assert attrs["Smiling"] == (render["view"].smile >= face_params.SMILE_THRESHOLD)
        assert attrs == render["attributes"]
        expected = faces_identity.celeba_landmarks(render["landmarks"])
        assert {k: int(v) for k, v in e["landmarks"].items()} == expected
        renders.append(render)
    for render in renders:
        lm, (x1, y1, x2, y2) = render["landmarks"], render["box"]
        assert ((lm >= [x1, y1]) & (lm <= [x2, y2])).all() and (lm < SIZE).all()
        assert lm[:2, 1].max() < lm[3:, 1].min()  # Rolls stay small: eyes above the mouth.


def test_smiling_varies_per_image_of_one_identity():
    config = faces_identity.BUILDER_CONFIGS[0]
    smiling = {
        faces_identity.render_example(config, 0, k)["attributes"]["Smiling"] for k in range(12)
    }
    assert smiling == {True, False}


def test_deterministic_and_the_same_identity_in_every_config():
    small, large = faces_identity.BUILDER_CONFIGS
    a, b = (faces_identity.render_example(small, 7, 1) for _ in range(2))
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["landmarks"], b["landmarks"])
    big = faces_identity.render_example(large, 7, 1)
    assert big["face"] == a["face"] and big["image"].shape == (112, 112, 3)
    np.testing.assert_allclose(big["landmarks"] / 112, a["landmarks"] / 64, atol=1e-5)


def test_open_split_reads_a_variant(built, data_dir):
    builder, _ = built
    name = f"{faces_identity.NAME}/{builder.builder_config.name}"
    source, meta = sources.open_split(name, "test", data_dir=data_dir)
    assert len(source) == meta.num_examples == 6
    assert meta.class_names[:2] == ("person_00000", "person_00001")


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(num_train_identities=-1), "counts"),
        (dict(face_size=0.9), "face_size"),
        (dict(shift_jitter=0.5), "shift_jitter"),
        (dict(image_size=16), "too small"),
        (dict(max_roll=3.0), "max_roll"),
    ],
)
def test_config_errors(tmp_path, overrides, match):
    with pytest.raises(ValueError, match=match):
        faces_identity.prepare_faces_identity(str(tmp_path), **overrides)


def test_no_tensorflow(built):
    assert "tensorflow" not in sys.modules
