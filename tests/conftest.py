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
