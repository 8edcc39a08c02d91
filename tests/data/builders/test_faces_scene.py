"""Tests of the `jaxvision_faces_scene` TFDS builder: a tiny variant built in a temp dir."""

import dataclasses
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxvision.data import sources
from jaxvision.data.builders import face_render, faces_scene

# Enough empty images that the tiny splits surely hold some.
TINY = dict(num_train=12, num_test=4, empty_fraction=0.25)
SIZE = 128


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


@pytest.fixture(scope="module")
def built(data_dir):
    builder = faces_scene.prepare_faces_scene(data_dir, **TINY)
    return builder, {split: builder.as_data_source(split) for split in ("train", "test")}


def _faces(example):
    """The per-face features as arrays with a leading [n] (TFDS may give [] when empty)."""
    f = example["faces"]
    n = len(np.asarray(f["bbox"]).reshape(-1, 4))
    return {
        "bbox": np.asarray(f["bbox"], np.float32).reshape(n, 4),
        "landmarks": np.asarray(f["landmarks"], np.float32).reshape(n, 5, 2),
        **{k: np.asarray(f[k]).reshape(n) for k in f if k not in ("bbox", "landmarks")},
    }


def test_registered_config():
    (config,) = faces_scene.JaxvisionFacesScene.BUILDER_CONFIGS
    assert faces_scene.JaxvisionFacesScene.name == "jaxvision_faces_scene"
    assert (config.name, config.image_size, config.num_train, config.num_test) == (
        "scenes",
        128,
        8_000,
        1_000,
    )
    assert (config.min_faces, config.max_faces) == (1, 6)


def test_schema_extends_wider_face(built, tmp_path):
    from tensorflow_datasets.object_detection import wider_face

    ours = built[0].info.features
    theirs = wider_face.WiderFace(data_dir=str(tmp_path)).info.features
    assert set(theirs) <= set(ours)
    for key, feature in theirs["faces"].feature.items():
        assert type(ours["faces"].feature[key]) is type(feature), key
        assert ours["faces"].feature[key].np_dtype == feature.np_dtype, key
    assert set(ours["faces"].feature) - set(theirs["faces"].feature) == {
        "landmarks",
        "landmarks_valid",
    }
    assert ours["faces"]["landmarks"].shape == (5, 2)


def test_declared_features_and_targets(built):
    _, splits = built
    counts = []
    for split, source in splits.items():
        assert len(source) == TINY[f"num_{split}"]
        for i in range(len(source)):
            ex = source[i]
            assert set(ex) == {"image", "image/filename", "faces"}
            assert ex["image"].shape == (SIZE, SIZE, 3) and ex["image"].dtype == np.uint8
            f = _faces(ex)
            n = len(f["bbox"])
            counts.append(n)
            assert n <= 6 and all(len(v) == n for v in f.values())
            boxes, lm = f["bbox"], f["landmarks"]
            assert ((boxes >= 0) & (boxes <= 1)).all() and (boxes[:, :2] < boxes[:, 2:]).all()
            # Landmarks (x, y) lie in their face's box (ymin, xmin, ymax, xmax).
            assert (lm[..., 0] >= boxes[:, None, 1]).all() and (
                lm[..., 0] <= boxes[:, None, 3]
            ).all()
            assert (lm[..., 1] >= boxes[:, None, 0]).all() and (
                lm[..., 1] <= boxes[:, None, 2]
            ).all()
            assert (f["occlusion"] <= 2).all() and (f["blur"] <= 2).all() and not f["invalid"].any()
            if n:
                assert f["landmarks_valid"][-1]  # Nothing stands in front of the last face.
    assert 0 in counts and max(counts) > 1


def test_examples_are_the_renderer_s_and_re_render_exactly(built):
    builder, splits = built
    config = builder.builder_config
    for j in range(config.num_test):
        ex = splits["test"][j]  # TFDS stores the examples shuffled: find i by filename.
        filename = ex["image/filename"]
        filename = filename.decode() if isinstance(filename, bytes) else str(filename)
        split, i = filename.removesuffix(".png").split("/")
        scene = faces_scene.render_example(config, split, int(i))
        np.testing.assert_array_equal(ex["image"], scene["image"])  # PNG is lossless.
        np.testing.assert_allclose(_faces(ex)["landmarks"], scene["faces"]["landmarks"])
        faces = zip(scene["params"], scene["views"], scene["faces"]["landmarks"], strict=True)
        for face, view, lm in faces:
            again = face_render.render_face(face, view)
            np.testing.assert_allclose(again.landmarks / SIZE, lm, atol=1e-6)


def test_upright_faces_have_eyes_above_mouth():
    config = dataclasses.replace(faces_scene.BUILDER_CONFIGS[0], max_roll=0.0, empty_fraction=0.0)
    for i in range(6):
        scene = faces_scene.render_faces_scene(np.random.default_rng(i), config)
        lm = scene["faces"]["landmarks"]  # [n, 5, 2]
        assert len(lm) >= 1
        assert (lm[:, :2, 1].max(axis=1) < lm[:, 3:, 1].min(axis=1)).all()
        assert (lm[:, 0, 0] < lm[:, 1, 0]).all()


def test_deterministic_by_seed():
    config = faces_scene.BUILDER_CONFIGS[0]
    a, b = (faces_scene.render_example(config, "train", 5) for _ in range(2))
    np.testing.assert_array_equal(a["image"], b["image"])
    for key in a["faces"]:
        np.testing.assert_array_equal(a["faces"][key], b["faces"][key])
    other = faces_scene.render_example(config, "test", 5)
    assert not np.array_equal(a["image"], other["image"])


def test_open_split_reads_a_variant_and_prepares_the_registered_config(
    built, data_dir, monkeypatch
):
    builder, _ = built
    name = f"{faces_scene.NAME}/{builder.builder_config.name}"
    source, meta = sources.open_split(name, "train", data_dir=data_dir)
    assert len(source) == meta.num_examples == TINY["num_train"]
    assert tfds.data_source(name, split="test", data_dir=data_dir, download=False)
    calls = []
    monkeypatch.setattr(faces_scene, "prepare_faces_scene", lambda *a: calls.append(a))
    with pytest.raises(sources.DatasetNotFoundError):
        sources.open_split(faces_scene.NAME, "train", data_dir=data_dir + "/empty")
    assert calls == [(data_dir + "/empty", "scenes")]


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(num_trian=3), "num_train"),
        (dict(min_faces=3, max_faces=2), "min_faces"),
        (dict(max_size=0.9), "max_size"),
        (dict(max_yaw=1.0), "max_yaw"),
        (dict(image_size=16), "px"),
    ],
)
def test_config_errors(tmp_path, overrides, match):
    with pytest.raises(ValueError, match=match):
        faces_scene.prepare_faces_scene(str(tmp_path), **overrides)
    with pytest.raises(ValueError, match="split"):
        faces_scene.example_rng("validation", 0)


def test_no_tensorflow(built):
    assert "tensorflow" not in sys.modules
