"""The face-crop tasks on tiny data: both small configs train a few steps and evaluate
(face attributes on the celeb_a schema, TFDS mock data; the embedding on the built-in
identities); the built-in identities, the lfw schema and an identity folder feed the tasks."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from jaxvision.data import pipeline, sources
from jaxvision.data.preprocess import face_crop_ops
from jaxvision.tasks.face_attributes import FaceAttributesTask
from jaxvision.tasks.face_embedding import FaceEmbeddingTask
from tests.engine import runs

TINY_IDENTITIES = dict(
    image_size=32,
    num_train_identities=12,
    num_test_identities=6,
    train_images_per_identity=4,
    test_images_per_identity=4,
)
# A few steps of a narrow network: what is checked is that everything runs and is reported.
TINY_RUN = {
    "total_steps": 3,
    "batch_size": 8,
    "eval_batch_size": 16,
    "log_every": 1,
    "eval_every": 0,
    "checkpoint_every": 3,
    "optimizer.warmup_steps": 1,
    "model.kwargs.backbone_kwargs": {"stem": "imagenet", "num_filters": 8},
    "model.kwargs.conv_impl": "xla",  # the quickest to compile
}
ATTRIBUTES = ("Male", "Young", "Smiling", "Eyeglasses")


@pytest.fixture(scope="module")
def identities(tmp_path_factory) -> tuple[str, str]:
    """(data_dir, name) of a tiny jaxvision_faces_identity variant: 12 + 6 people, 32 px."""
    from jaxvision.data.builders import faces_identity

    data_dir = str(tmp_path_factory.mktemp("tfds_faces"))
    builder = faces_identity.prepare_faces_identity(data_dir, **TINY_IDENTITIES)
    return data_dir, f"jaxvision_faces_identity/{builder.builder_config.name}"


def _overrides(data_dir: str, name: str, **more) -> dict:
    return {**TINY_RUN, "dataset.data_dir": data_dir, "dataset.name": name, **more}


def test_face_attributes_reads_the_builtin_identities(identities):
    data_dir, name = identities
    config = runs.named_config("face_attributes_small", _overrides(data_dir, name))
    source, meta = sources.open_split(name, "test", data_dir)
    task = FaceAttributesTask(config, meta)
    dataset, _ = pipeline.eval_dataset(source, task.eval_pp, task.eval_keys, global_batch_size=16)
    batch = next(iter(dataset))
    assert batch["landmarks"].shape == (16, 5, 2) and batch["attributes"].shape == (16, 4)
    assert np.all((batch["landmarks"] > 0.1) & (batch["landmarks"] < 0.9))  # a centred face
    first = source[0]["attributes"]
    assert batch["attributes"][0].tolist() == [float(first[name]) for name in ATTRIBUTES]
    # The evaluator on perfect outputs: every attribute right, no landmark error.
    perfect = {"landmarks": batch["landmarks"], "attributes": 20.0 * batch["attributes"] - 10.0}
    (evaluator,) = task.evaluators()
    result = evaluator.result(evaluator.merge(evaluator.init(), evaluator.update(perfect, batch)))
    assert result["attribute_accuracy"] == 1.0 and result["landmark_nme"] == 0.0
    assert result["num_examples"] == 16 and result["attribute_accuracy/Smiling"] == 1.0
    config.dataset.train_pp = "flip_lr"  # would not move the landmarks
    with pytest.raises(ValueError, match="flip_face"):
        _ = FaceAttributesTask(config, meta).train_pp


@pytest.mark.slow
def test_face_embedding_small_trains_and_evaluates(tmp_path, identities):
    overrides = _overrides(
        *identities,
        **{"model.kwargs.embedding_dim": 16, "face_embedding.num_pairs": 40},
    )
    config = runs.named_config("face_embedding_small", overrides)
    assert config.face_embedding.align  # crops are aligned on the device by their landmarks
    metrics = runs.train_in_process(config, tmp_path)
    assert 0.0 <= metrics["verification_accuracy"] <= 1.0
    assert metrics["num_pairs"] == 40 and -1.0 <= metrics["verification_threshold"] <= 2.0
    lines = runs.read_metrics(str(tmp_path))
    assert [line["step"] for line in lines] == [1, 2, 3]
    assert all(np.isfinite(line["loss"]) and 0 <= line["accuracy"] <= 1 for line in lines)
    assert "verification_accuracy" in runs.read_metrics(str(tmp_path), "eval")[-1]


@pytest.mark.slow
def test_face_attributes_small_trains_on_mock_celeb_a(tmp_path):
    overrides = {
        **TINY_RUN,
        "total_steps": 2,
        "checkpoint_every": 2,
        "dataset.data_dir": str(tmp_path / "tfds"),
        "dataset.name": "celeb_a",
        "dataset.eval_split": "validation",
        "dataset.train_pp": "resize(32)|flip_face",
        "dataset.eval_pp": "resize(32)",
        "model.kwargs.hidden": 16,
        "face_attributes.attributes": ("Male", "Smiling", "Wearing_Hat"),
    }
    config = runs.named_config("face_attributes_small", overrides)
    with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
        metrics = runs.train_in_process(config, tmp_path / "run")
    assert metrics["num_examples"] == 12
    assert 0.0 <= metrics["attribute_accuracy"] <= 1.0 and metrics["landmark_nme"] > 0
    per_attribute = [metrics[f"attribute_accuracy/{n}"] for n in ("Male", "Smiling", "Wearing_Hat")]
    assert metrics["attribute_accuracy"] == pytest.approx(np.mean(per_attribute))
    lines = runs.read_metrics(str(tmp_path / "run"))
    assert [line["step"] for line in lines] == [1, 2]
    assert all(np.isfinite(line[k]) for line in lines for k in ("loss", "landmark_loss"))
    assert {"landmark_nme", "attribute_accuracy"} <= set(
        runs.read_metrics(str(tmp_path / "run"), "eval")[-1]
    )


def test_lfw_schema_feeds_verification(tmp_path):
    config = runs.named_config(
        "face_embedding_small",
        {"face_embedding.align": False, "face_embedding.num_classes": 5,
         "dataset.eval_pp": "text_label|resize(32)"},
    )  # fmt: skip
    with tfds.testing.mock_data(num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE):
        source, meta = sources.open_split("lfw", "train", str(tmp_path))
        names = [str(source[i]["label"]) for i in range(len(source))]
    assert meta.num_classes == 0  # text labels: the config gives the number of identities
    task = FaceEmbeddingTask(config, meta)
    dataset, _ = pipeline.eval_dataset(
        [source[i] for i in range(6)], task.eval_pp, task.eval_keys, global_batch_size=4
    )
    batch = next(iter(dataset))
    assert batch["image"].shape == (4, 32, 32, 3)
    assert batch["label"].tolist() == [face_crop_ops.name_hash(n) for n in names[:4]]
    with pytest.raises(ValueError, match="num_classes"):
        config.face_embedding.num_classes = 0
        FaceEmbeddingTask(config, meta)


def test_identity_folder_splits_hold_their_own_people(tmp_path):
    rng = np.random.default_rng(0)
    for split, people in (("train", ("ann", "bob")), ("test", ("cy", "dee", "eve"))):
        for person in people:
            (tmp_path / split / person).mkdir(parents=True)
            for k in range(2):
                pixels = rng.integers(0, 255, (24, 20, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(tmp_path / split / person / f"{k}.png")
    train, meta = sources.open_split("identity_folder", "train", str(tmp_path))
    test, test_meta = sources.open_split(
        "identity_folder", "test", str(tmp_path), class_names=meta.class_names
    )
    assert meta.class_names == ("ann", "bob") and test_meta.class_names == ("cy", "dee", "eve")
    assert [test[i]["label"] for i in range(len(test))] == [0, 0, 1, 1, 2, 2]
