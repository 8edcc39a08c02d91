"""The task registry: config ``task`` -> ``Task`` subclass.

``task`` is a registered name, or ``"package.module:ClassName"`` for a task of your own (a
``jaxvision.tasks.base.Task`` subclass importable from where the run starts).

Example:
  >>> get_task("classification").__name__
  'ClassificationTask'
  >>> get_task("jaxvision.tasks.fcos:FCOSTask").__name__
  'FCOSTask'
"""

from __future__ import annotations

import importlib

from jaxvision.tasks.adain import AdaINTask
from jaxvision.tasks.base import SingleNetworkTask, Task
from jaxvision.tasks.classification import ClassificationTask
from jaxvision.tasks.colorization import ColorizationTask
from jaxvision.tasks.colorization_gan import ColorizationGANTask
from jaxvision.tasks.face_attributes import FaceAttributesTask
from jaxvision.tasks.face_detection import FaceDetectionTask
from jaxvision.tasks.face_embedding import FaceEmbeddingTask
from jaxvision.tasks.fast_style import FastStyleTask
from jaxvision.tasks.fcos import FCOSTask
from jaxvision.tasks.localization import LocalizationTask
from jaxvision.tasks.maskrcnn import MaskRCNNTask
from jaxvision.tasks.restoration import RestorationTask
from jaxvision.tasks.restoration_gan import RestorationGANTask
from jaxvision.tasks.retinanet import RetinaNetTask
from jaxvision.tasks.segmentation import SegmentationTask

TASKS: dict[str, type[Task]] = {
    "classification": ClassificationTask,
    "localization": LocalizationTask,
    "retinanet": RetinaNetTask,
    "fcos": FCOSTask,
    "maskrcnn": MaskRCNNTask,
    "face_detection": FaceDetectionTask,
    "face_attributes": FaceAttributesTask,
    "face_embedding": FaceEmbeddingTask,
    "restoration": RestorationTask,
    "restoration_gan": RestorationGANTask,
    "segmentation": SegmentationTask,
    "colorization": ColorizationTask,
    "colorization_gan": ColorizationGANTask,
    "fast_style": FastStyleTask,
    "adain": AdaINTask,
}
# Names a task had before; a saved config naming one gets a message, not a KeyError.
RENAMED = {"yolo": "fcos"}
IMPORT_SEPARATOR = ":"


def get_task(name: str) -> type[Task]:
    """The task class of a config's ``task``: a registered name or ``"module:Class"``.

    Raises:
      ValueError: for an unknown name (the message lists the registered ones), a renamed
        one, or an import path that does not lead to a ``Task`` subclass.
    """
    if name in TASKS:
        return TASKS[name]
    if name in RENAMED:
        raise ValueError(
            f"task {name!r} is now called {RENAMED[name]!r} (configs "
            f"train/configs/{RENAMED[name]}_*.py); its detector-specific keys moved to the "
            f"{RENAMED[name]!r} sub-config"
        )
    if IMPORT_SEPARATOR not in name:
        raise ValueError(f"unknown task {name!r}; valid: {sorted(TASKS)} or 'module:Class'")
    module_name, _, class_name = name.partition(IMPORT_SEPARATOR)
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"cannot import task {name!r}: {e}") from e
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise ValueError(f"task {name!r} is not a jaxvision.tasks.base.Task subclass")
    return cls


__all__ = ["TASKS", "SingleNetworkTask", "Task", "get_task"]
