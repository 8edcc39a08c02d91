"""The task registry: config ``task`` name -> ``Task`` subclass."""

from __future__ import annotations

from jaxvision.tasks.base import Task
from jaxvision.tasks.classification import ClassificationTask
from jaxvision.tasks.localization import LocalizationTask
from jaxvision.tasks.retinanet import RetinaNetTask
from jaxvision.tasks.yolo import YOLOTask

TASKS: dict[str, type[Task]] = {
    "classification": ClassificationTask,
    "localization": LocalizationTask,
    "retinanet": RetinaNetTask,
    "yolo": YOLOTask,
}


def get_task(name: str) -> type[Task]:
    """Looks a task class up by name (ValueError naming the valid ones otherwise)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid: {sorted(TASKS)}")
    return TASKS[name]
