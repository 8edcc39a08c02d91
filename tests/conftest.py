"""Fixtures shared by the whole suite, and its compilation cache.

The suite compiles many programs more than once: a resumed run compiles the steps of the run
it resumes, subprocesses compile what the test process did. One JAX persistent compilation
cache for the whole session (this process, the pytest-xdist workers of the same run and the
training subprocesses they start, through the environment) compiles each of them once.
"""

from __future__ import annotations

import os
import tempfile

# The xdist workers of one run share its id; a plain run uses its own pid.
_RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID", str(os.getpid()))
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"jaxvision-jax-{_RUN_ID}")
)
# Programs that compile faster than this are not worth a cache entry.
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")

import pytest  # noqa: E402


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


@pytest.fixture(scope="session")
def facenet_wheel(request, tmp_path_factory) -> str:
    """facenet-pytorch 2.6.0's wheel (MTCNN's weights), downloaded once into pytest's cache
    (a temporary folder without the cache plugin).

    ``FACENET_PYTORCH_WHEEL=PATH`` names a copy instead; without either (no package index),
    the tests that need it are skipped. The wheel is read as a zip, never installed.
    """
    import os
    import shutil
    from pathlib import Path

    from jaxvision.convert import facenet_mtcnn

    if os.environ.get("FACENET_PYTORCH_WHEEL"):
        return os.environ["FACENET_PYTORCH_WHEEL"]
    cache_plugin = getattr(request.config, "cache", None)
    if cache_plugin is not None:
        cache = Path(cache_plugin.mkdir("facenet_wheel"))
    else:
        cache = tmp_path_factory.mktemp("facenet_wheel")
    wheel = cache / facenet_mtcnn.WHEEL_NAME
    if not wheel.is_file():
        try:
            downloaded = facenet_mtcnn.download_wheel(tmp_path_factory.mktemp("download"))
        except RuntimeError as error:
            pytest.skip(f"no facenet-pytorch wheel (set FACENET_PYTORCH_WHEEL): {error}")
        # Copied under a private name, then renamed: parallel workers never see half a file.
        partial = cache / f"{wheel.name}.{os.getpid()}"
        shutil.copyfile(downloaded, partial)
        os.replace(partial, wheel)
    return str(wheel)


def pytest_collection_modifyitems(items):
    """The end-to-end (``slow``) tests first, in their order, then the rest: under
    pytest-xdist the workers then finish together on short tests, instead of one idling
    while the other runs a long test it was handed last."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
