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
from jaxvision.engine import build, loop
from jaxvision.engine import mesh as mesh_lib
from jaxvision.engine.checkpoint import Checkpointer
from jaxvision.tasks.base import Task


@dataclasses.dataclass
class LoadedRun:
    """A trained run ready for inference.

    Attributes:
      task: the run's task (its ``predict`` and ``meta.class_names``).
      variables: network name -> variables of the latest checkpoint (EMA parameters where
        the run kept an EMA), frozen networks included.
      step: that checkpoint's step.
      input_shape: [h, w, c] of the training images.
      predict_pp: preprocessing spec applied to images before ``predict``.
      compiler_options: XLA options of the compiled ``predict``.
    """

    task: Task
    variables: dict[str, Any]
    step: int
    input_shape: tuple[int, int, int]
    predict_pp: str
    compiler_options: dict[str, Any] = dataclasses.field(default_factory=dict)

    @functools.cached_property
    def _preprocess_op(self) -> preprocess.Op:
        return preprocess.build(self.predict_pp)

    @functools.cached_property
    def _predict_fn(self) -> Any:
        return jax.jit(self.task.predict, compiler_options=self.compiler_options)

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


@dataclasses.dataclass
class RestoredRun:
    """A training run's setup and the train state of its latest checkpoint.

    Attributes:
      setup: the run's ``jaxvision.engine.build.Setup`` (its config, task, optimizers) on one
        local device.
      state: the latest checkpoint's ``TrainState``, frozen variables rebuilt.
      input_shape: [h, w, c] of the training images.
    """

    setup: build.Setup
    state: Any
    input_shape: tuple[int, ...]


class ConfigOverrideError(ValueError):
    """A config override under a section the run's saved config does not have."""


def restore_run(workdir: str, overrides: dict[str, Any] | None = None) -> RestoredRun:
    """The setup and latest train state of a ``python -m train`` workdir.

    Args:
      workdir: the run's workdir.
      overrides: dotted config keys -> values that replace the saved config's (e.g. where
        a frozen network's weights file is now: ``{"style.vgg_weights": path}``).

    Raises:
      FileNotFoundError: the workdir has no config, metadata or checkpoint.
      ConfigOverrideError: an override under a section the saved config lacks (another
        task's); the last key itself may be new (a key added since the run was saved).
    """
    paths = {
        name: os.path.join(workdir, name) for name in (loop.CONFIG_FILE, loop.DATASET_META_FILE)
    }
    for path in paths.values():
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} not found: is {workdir!r} a training workdir?")
    with open(paths[loop.CONFIG_FILE]) as f:
        config = ml_collections.ConfigDict(json.load(f))
    for key, value in (overrides or {}).items():
        *parents, leaf = key.split(".")
        node = config
        for parent in parents:
            node = node.get(parent)  # node is a ConfigDict: the config, or checked below
            if not isinstance(node, ml_collections.ConfigDict):
                raise ConfigOverrideError(
                    f"{key} does not apply to this run: its config has no section {parent!r}"
                )
        node[leaf] = value
    with open(paths[loop.DATASET_META_FILE]) as f:
        saved = json.load(f)
    input_shape = tuple(saved.pop("input_shape"))
    meta = DatasetMeta(
        name=saved["name"],
        class_names=tuple(saved["class_names"]),
        num_examples=saved["num_examples"],
    )
    setup = build.build(config, meta, mesh_lib.make_mesh(jax.local_devices()[:1]))
    sample = {"image": jnp.zeros((1, *input_shape), jnp.uint8)}
    abstract = build.abstract_state(setup, sample, jax.random.key(0))
    checkpointer = Checkpointer(os.path.join(workdir, loop.CHECKPOINT_DIR))
    try:
        state = checkpointer.restore_latest(abstract)
    finally:
        checkpointer.close()
    if state is None:
        raise FileNotFoundError(f"no checkpoint in {workdir}/{loop.CHECKPOINT_DIR}")
    state = state.replace(frozen=_frozen_variables(setup.task, sample))
    return RestoredRun(setup, state, input_shape)


def load_run(
    workdir: str,
    compiler_options: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> LoadedRun:
    """Loads the latest checkpoint of a training workdir for prediction.

    Args:
      workdir: the ``--workdir`` of a ``python -m train`` run.
      compiler_options: XLA options of ``predict`` (``python -m train.predict`` passes its
        host's inference options); None: JAX's defaults.
      overrides: dotted config keys -> values that replace the saved config's
        (``restore_run``'s), e.g. ``{"restoration.self_ensemble": 8}``.

    Returns:
      A ``LoadedRun``.

    Raises:
      FileNotFoundError: the workdir has no config, metadata or checkpoint.
      ConfigOverrideError: an override under a section the saved config lacks.
      ValueError: the config (with its overrides) does not build, e.g. an unknown
        ``restoration.self_ensemble`` count.

    Example:
      >>> run = load_run("runs/demo")  # a `python -m train` workdir  # doctest: +SKIP
      >>> image = np.zeros((48, 64, 3), np.uint8)  # RGB uint8, e.g. read_image("cat.jpg")
      >>> outputs = run.predict(run.preprocess(image)[None])  # doctest: +SKIP
    """
    restored = restore_run(workdir, overrides)
    task = restored.setup.task
    return LoadedRun(
        task,
        restored.state.eval_variables(),
        int(restored.state.step),
        restored.input_shape,
        task.predict_pp(restored.input_shape),
        dict(compiler_options or {}),
    )


def _frozen_variables(task: Any, sample: dict[str, Any]) -> dict[str, Any]:
    """The frozen networks' variables (checkpoints leave them out): the task's init of
    them alone (XLA drops the trained networks' initialisers)."""
    if not task.frozen_networks:
        return {}
    init = lambda rng, batch: {  # noqa: E731
        name: task.init_variables(rng, batch)[name] for name in task.frozen_networks
    }
    return jax.jit(init)(jax.random.key(0), sample)


def read_image(path: str) -> np.ndarray:
    """Reads an image file as RGB uint8 [h, w, 3]; ValueError naming the path if unreadable."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read image {path}: {e}") from e
