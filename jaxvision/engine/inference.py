"""Loading a trained run (config, labels, latest checkpoint) for prediction."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from PIL import Image

from jaxvision.data import preprocess
from jaxvision.data.sources import DatasetMeta
from jaxvision.engine import compiler_options, loop
from jaxvision.engine import mesh as mesh_lib
from jaxvision.engine.checkpoint import Checkpointer
from jaxvision.tasks.base import Task


@dataclasses.dataclass
class LoadedRun:
    """A trained run ready for inference.

    Attributes:
      task: the run's task (its ``predict`` and ``meta.class_names``).
      variables: the model variables of the latest checkpoint.
      step: that checkpoint's step.
      input_shape: [h, w, c] of the training images.
      predict_pp: preprocessing spec applied to images before ``predict``.
    """

    task: Task
    variables: dict[str, Any]
    step: int
    input_shape: tuple[int, int, int]
    predict_pp: str

    @functools.cached_property
    def _preprocess_op(self) -> preprocess.Op:
        return preprocess.build(self.predict_pp)

    @functools.cached_property
    def _predict_fn(self) -> Any:
        return jax.jit(
            self.task.predict, compiler_options=compiler_options.for_backend(inference=True)
        )

    def preprocess_features(self, image: np.ndarray) -> dict[str, Any]:
        """An RGB uint8 image [h, w, 3] -> its preprocessed features (``image`` [h', w', 3]
        and whatever the task's ops record, e.g. a detection's ``image_window``)."""
        return self._preprocess_op(self.task.predict_features(image), np.random.default_rng(0))

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """An RGB uint8 image [h, w, 3] -> the model's input [h', w', 3]."""
        return self.preprocess_features(image)["image"]

    def predict(self, images: np.ndarray) -> Any:
        """Task outputs for a batch of preprocessed uint8 images [b, h, w, 3]."""
        return jax.device_get(self._predict_fn(self.variables, jnp.asarray(images)))


def load_run(workdir: str) -> LoadedRun:
    """Loads the latest checkpoint of a training workdir.

    Args:
      workdir: the ``--workdir`` of a ``python -m train`` run.

    Returns:
      A ``LoadedRun``.

    Raises:
      FileNotFoundError: the workdir has no config, metadata or checkpoint.

    Example:
      >>> run = load_run("runs/demo")  # a `python -m train` workdir  # doctest: +SKIP
      >>> image = np.zeros((48, 64, 3), np.uint8)  # RGB uint8, e.g. read_image("cat.jpg")
      >>> outputs = run.predict(run.preprocess(image)[None])  # doctest: +SKIP
    """
    paths = {
        name: os.path.join(workdir, name) for name in (loop.CONFIG_FILE, loop.DATASET_META_FILE)
    }
    for path in paths.values():
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} not found: is {workdir!r} a training workdir?")
    with open(paths[loop.CONFIG_FILE]) as f:
        config = ml_collections.ConfigDict(json.load(f))
    with open(paths[loop.DATASET_META_FILE]) as f:
        saved = json.load(f)
    input_shape = tuple(saved.pop("input_shape"))
    meta = DatasetMeta(
        name=saved["name"],
        class_names=tuple(saved["class_names"]),
        num_examples=saved["num_examples"],
    )
    task, tx, schedule = loop.build_task(config, meta)
    mesh = mesh_lib.make_mesh(jax.local_devices()[:1])
    setup = loop.Setup(config=config, mesh=mesh, task=task, tx=tx, schedule=schedule)
    sample = {key: jnp.zeros((1, *input_shape), jnp.uint8) for key in ("image",)}
    abstract = jax.eval_shape(lambda: loop.init_state(setup, sample, jax.random.key(0)))
    replicated = mesh_lib.replicated(mesh)
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated), abstract
    )
    checkpointer = Checkpointer(os.path.join(workdir, loop.CHECKPOINT_DIR))
    try:
        state = checkpointer.restore_latest(abstract)
    finally:
        checkpointer.close()
    if state is None:
        raise FileNotFoundError(f"no checkpoint in {workdir}/{loop.CHECKPOINT_DIR}")
    return LoadedRun(
        task, state.variables, int(state.step), input_shape, task.predict_pp(input_shape)
    )


def read_image(path: str) -> np.ndarray:
    """Reads an image file as RGB uint8 [h, w, 3]; ValueError naming the path if unreadable."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read image {path}: {e}") from e
