"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def shapes_data_dir(tmp_path_factory) -> str:
    """A TFDS data_dir holding the built-in ``jaxvision_shapes/classification`` dataset."""
    from jaxvision.data.builders import shapes

    data_dir = str(tmp_path_factory.mktemp("tfds"))
    shapes.prepare_shapes(data_dir, "classification")
    return data_dir


@pytest.fixture(scope="session")
def detection_data(tmp_path_factory) -> tuple[str, str]:
    """(data_dir, dataset name) of a small ``jaxvision_shapes/detection`` variant."""
    from jaxvision.data.builders import shapes

    data_dir = str(tmp_path_factory.mktemp("tfds_detection"))
    builder = shapes.prepare_shapes(data_dir, "detection", num_train=256, num_test=48)
    return data_dir, f"jaxvision_shapes/{builder.builder_config.name}"


@pytest.fixture(scope="session")
def localization_data(tmp_path_factory) -> tuple[str, str]:
    """(data_dir, dataset name) of a small ``jaxvision_shapes/localization`` variant."""
    from jaxvision.data.builders import shapes

    data_dir = str(tmp_path_factory.mktemp("tfds_localization"))
    builder = shapes.prepare_shapes(data_dir, "localization", num_train=256, num_test=48)
    return data_dir, f"jaxvision_shapes/{builder.builder_config.name}"


@pytest.fixture(scope="session")
def photos_data_dir(tmp_path_factory) -> str:
    """A TFDS data_dir holding the built-in ``jaxvision_photos`` (scikit-image's photographs)."""
    from jaxvision.data.builders import photos

    data_dir = str(tmp_path_factory.mktemp("tfds_photos"))
    photos.prepare_photos(data_dir)
    return data_dir
