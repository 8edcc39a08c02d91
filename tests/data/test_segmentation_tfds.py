"""The TFDS segmentation schemas (oxford_iiit_pet, cityscapes, scene_parse150) against the real
builders' features, served by ``tfds.testing.mock_data`` (no download, no TensorFlow)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxvision.data import preprocess, segmentation_schemas
from jaxvision.data.preprocess.geometry import resize_nearest
from jaxvision.data.sources import open_split

# (dataset, split, number of classes of its schema)
DATASETS = (
    ("oxford_iiit_pet", "train", 2),
    ("cityscapes/semantic_segmentation", "validation", 19),
    ("scene_parse150", "train", 150),
)


@pytest.mark.parametrize("name, split, num_classes", DATASETS)
def test_schema_reads_the_real_builders_features(name, split, num_classes):
    schema = segmentation_schemas.schema_for(name)
    with tfds.testing.mock_data(num_examples=2, policy=tfds.testing.MockPolicy.USE_CODE):
        source, _ = open_split(name, split)
        raw = dict(source[0])
    assert len(schema.class_names) == num_classes
    image, labels = np.asarray(raw[schema.image_key]), np.asarray(raw[schema.mask_key])
    assert image.dtype == np.uint8 and image.ndim == 3 and labels.dtype == np.uint8
    # The mock's label map has a random size of its own; a real one has its image's.
    raw[schema.mask_key] = resize_nearest(labels, *image.shape[:2])
    spec = f"decode_segmentation({schema.name!r})|scale_jitter(32)|flip_lr"
    out = preprocess.build(spec)(raw, np.random.default_rng(0))
    assert out["image"].shape == (32, 32, 3) and out["segmentation_mask"].shape == (32, 32, 1)
    expected = schema.lookup_table()[raw[schema.mask_key][..., 0]]
    values = set(np.unique(out["segmentation_mask"]).tolist())
    assert values <= set(np.unique(expected).tolist()) | {255}
    assert max(values - {255}, default=0) < num_classes
    assert "tensorflow" not in sys.modules


def test_schema_names_and_tables():
    assert segmentation_schemas.schema_for("jaxvision_shapes/segmentation").class_names[:2] == (
        "background",
        "circle",
    )
    assert segmentation_schemas.schema_for("oxford_iiit_pet:4.0.0").name == "oxford_iiit_pet"
    ade = segmentation_schemas.schema_for("scene_parse150")
    assert ade.class_names[0] == "wall" and ade.class_names[-1] == "flag"
    assert ade.lookup_table()[[0, 1, 150, 151]].tolist() == [255, 0, 149, 255]
    city = segmentation_schemas.schema_for("cityscapes/semantic_segmentation")
    table = city.lookup_table()
    assert sorted(table[table != 255].tolist()) == list(range(19))  # each trainId once
    with pytest.raises(ValueError, match="no segmentation schema"):
        segmentation_schemas.schema_for("voc/2012")
