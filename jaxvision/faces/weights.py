"""The pretrained MTCNN parameters that ship with jaxvision: file format, loading, checks.

``jaxvision/faces/weights/mtcnn.npz`` holds the three networks' Flax parameters as float32
arrays named ``<net>/params/<layer>/<variable>`` (e.g. ``onet/params/dense5/kernel``),
converted from facenet-pytorch 2.6.0 by `jaxvision.convert.facenet_mtcnn`; origin and licence
are in ``NOTICE`` beside it. `load` checks every array's name, shape and finiteness, and a
missing or damaged file raises an error that says how to rebuild it (``REBUILD_COMMAND``).

Example:
  >>> variables = load()
  >>> sorted(variables), variables["pnet"]["params"]["conv1"]["kernel"].shape
  (['onet', 'pnet', 'rnet'], (3, 3, 3, 10))
"""

from __future__ import annotations

import functools
import pathlib
import zipfile
from collections.abc import Mapping

import numpy as np
from flax import traverse_util

from jaxvision.models import mtcnn

DEFAULT_PATH = pathlib.Path(__file__).resolve().parent / "weights" / "mtcnn.npz"
REBUILD_COMMAND = (
    "python -m jaxvision.convert.facenet_mtcnn [facenet_pytorch-2.6.0-py3-none-any.whl]"
)
_SEPARATOR = "/"


def _rebuild_hint(path: pathlib.Path) -> str:
    return (
        f"Rebuild it with `{REBUILD_COMMAND} --out={path}` (with no wheel path it runs "
        "`pip download facenet-pytorch==2.6.0 --no-deps`; the conversion needs torch)."
    )


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Flat name -> shape of every array the file must hold.

    Returns:
      {"pnet/params/conv1/kernel": (3, 3, 3, 10), ...}.

    Example:
      >>> expected_shapes()["rnet/params/dense4/kernel"]
      (576, 128)
    """
    shapes = {}
    for name in mtcnn.NETWORKS:
        flat = traverse_util.flatten_dict(
            mtcnn.parameter_shapes(name), is_leaf=lambda _, x: isinstance(x, tuple)
        )
        shapes |= {_SEPARATOR.join((name, *path)): shape for path, shape in flat.items()}
    return shapes


def save(variables: Mapping[str, Mapping], path: str | pathlib.Path = DEFAULT_PATH) -> pathlib.Path:
    """Writes the three networks' variables as one ``.npz`` (float32, uncompressed).

    Args:
      variables: {"pnet": {"params": ...}, "rnet": ..., "onet": ...}.
      path: the file to write (its folder is created).

    Returns:
      The path written.

    Example:
      >>> import tempfile
      >>> with tempfile.TemporaryDirectory() as tmp:
      ...     path = save(load(), f"{tmp}/mtcnn.npz")
      ...     len(load(path)["onet"]["params"])
      13
    """
    path = pathlib.Path(path)
    flat = {}
    for name in mtcnn.NETWORKS:
        for key, value in traverse_util.flatten_dict(variables[name]).items():
            flat[_SEPARATOR.join((name, *key))] = np.asarray(value, np.float32)
    unknown = sorted(flat.keys() ^ expected_shapes().keys())
    if unknown:
        raise ValueError(f"Not MTCNN's variables; unexpected or missing: {', '.join(unknown)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez(f, **dict(sorted(flat.items())))
    return path


def _read(path: pathlib.Path) -> dict[str, np.ndarray]:
    """Every array of the file; raises FileNotFoundError / ValueError with the rebuild hint."""
    if not path.is_file():
        raise FileNotFoundError(f"MTCNN weights file {path} is missing. {_rebuild_hint(path)}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"MTCNN weights file {path} is damaged ({error}). {_rebuild_hint(path)}"
        ) from error


@functools.cache
def _load_cached(path: pathlib.Path, mtime_ns: int) -> dict[str, dict]:
    del mtime_ns  # part of the cache key: a rewritten file is read again
    arrays = _read(path)
    expected = expected_shapes()
    problems = [f"missing {key}" for key in sorted(expected.keys() - arrays.keys())]
    problems += [f"unexpected {key}" for key in sorted(arrays.keys() - expected.keys())]
    for key in sorted(expected.keys() & arrays.keys()):
        value = arrays[key]
        if value.shape != expected[key] or value.dtype != np.float32:
            problems.append(
                f"{key} is {value.dtype}{list(value.shape)}, not float32{expected[key]}"
            )
        elif not np.isfinite(value).all():
            problems.append(f"{key} holds NaN or Inf")
    if problems:
        raise ValueError(
            f"MTCNN weights file {path} is damaged: {'; '.join(problems)}. {_rebuild_hint(path)}"
        )
    nested = traverse_util.unflatten_dict(
        {tuple(k.split(_SEPARATOR)): v for k, v in arrays.items()}
    )
    return nested


def load(path: str | pathlib.Path | None = None) -> dict[str, dict]:
    """Loads and checks the MTCNN parameters (read once a file; the arrays are read-only).

    Args:
      path: an ``.npz`` written by `save`; None for the file shipped with jaxvision.

    Returns:
      {"pnet": {"params": ...}, "rnet": ..., "onet": ...} of float32 numpy arrays.

    Raises:
      FileNotFoundError: the file is missing (the message says how to rebuild it).
      ValueError: the file is damaged or holds other arrays (the message says how to
        rebuild it).

    Example:
      >>> load()["onet"]["params"]["dense6_3"]["kernel"].shape
      (256, 10)
    """
    path = pathlib.Path(DEFAULT_PATH if path is None else path).resolve()
    mtime_ns = path.stat().st_mtime_ns if path.is_file() else -1
    variables = _load_cached(path, mtime_ns)
    for array in traverse_util.flatten_dict(variables).values():
        array.setflags(write=False)
    return variables


__all__ = ["DEFAULT_PATH", "REBUILD_COMMAND", "expected_shapes", "load", "save"]
