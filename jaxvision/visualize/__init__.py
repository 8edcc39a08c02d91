"""Pictures and JSON of predictions, one module a task family.

``for_task(task)`` gives the visualizer of a task: the one registered for its class (or a
base class of it), else the base ``Visualizer``, which draws nothing. Register one for a
task of your own with ``register(MyTask, MyVisualizer)``.

Example:
  >>> from jaxvision.data.sources import DatasetMeta
  >>> from jaxvision.tasks import get_task
  >>> from train.configs import demo
  >>> meta = DatasetMeta("shapes", ("circle", "square"), 8)
  >>> type(for_task(get_task("classification")(demo.get_config(), meta))).__name__
  'ClassificationVisualizer'
"""

from __future__ import annotations

from jaxvision.tasks.base import Task
from jaxvision.tasks.classification import ClassificationTask
from jaxvision.tasks.colorization import ColorizationMixin
from jaxvision.tasks.detection import DetectionTask
from jaxvision.tasks.face_detection import FaceDetectionTask
from jaxvision.tasks.localization import LocalizationTask
from jaxvision.tasks.maskrcnn import MaskRCNNTask
from jaxvision.tasks.restoration import RestorationMixin
from jaxvision.tasks.segmentation import SegmentationTask
from jaxvision.tasks.style_base import StyleTask
from jaxvision.visualize.base import Visualizer
from jaxvision.visualize.classification import ClassificationVisualizer
from jaxvision.visualize.colorization import ColorizationVisualizer
from jaxvision.visualize.detection import DetectionVisualizer
from jaxvision.visualize.face_detection import FaceDetectionVisualizer
from jaxvision.visualize.instance_segmentation import InstanceSegmentationVisualizer
from jaxvision.visualize.localization import LocalizationVisualizer
from jaxvision.visualize.restoration import RestorationVisualizer
from jaxvision.visualize.segmentation import SegmentationVisualizer
from jaxvision.visualize.style import StyleVisualizer

_REGISTRY: dict[type, type[Visualizer]] = {
    ClassificationTask: ClassificationVisualizer,
    LocalizationTask: LocalizationVisualizer,
    DetectionTask: DetectionVisualizer,
    FaceDetectionTask: FaceDetectionVisualizer,
    MaskRCNNTask: InstanceSegmentationVisualizer,
    RestorationMixin: RestorationVisualizer,
    SegmentationTask: SegmentationVisualizer,
    ColorizationMixin: ColorizationVisualizer,
    StyleTask: StyleVisualizer,
}


def register(task_cls: type[Task], visualizer_cls: type[Visualizer]) -> None:
    """Makes ``for_task`` give ``visualizer_cls`` for ``task_cls`` and its subclasses."""
    _REGISTRY[task_cls] = visualizer_cls


def for_task(task: Task) -> Visualizer:
    """The visualizer of ``task`` (by its class's method resolution order)."""
    for cls in type(task).__mro__:
        if cls in _REGISTRY:
            return _REGISTRY[cls](task.meta.class_names)
    return Visualizer(task.meta.class_names)


__all__ = ["Visualizer", "for_task", "register"]
