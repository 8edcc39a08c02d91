"""The task registry: config ``task`` name -> ``Task`` subclass."""

from __future__ import annotations

from jaxvision.tasks.base import Task
from jaxvision.tasks.classification import ClassificationTask

TASKS: dict[str, type[Task]] = {
    "classification": ClassificationTask,
}


def get_task(name: str) -> type[Task]:
    """Looks a task class up by name (ValueError naming the valid ones otherwise)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid: {sorted(TASKS)}")
    return TASKS[name]
