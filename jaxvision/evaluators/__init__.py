"""Evaluators: an update on the device, a merge over batches and hosts, a result on the host.

Three kinds cover the tasks: ``MeanEvaluator`` (mask-weighted sums: classification,
localization), ``GatherEvaluator`` (per-example rows gathered over the split: COCO AP) and
``ConfusionMatrixEvaluator`` (a streaming confusion matrix: mIoU, per-class IoU, pixel
accuracy). ``jaxvision.evaluators.base`` describes the protocol.
"""

from jaxvision.evaluators.base import MASK_KEY, Evaluator
from jaxvision.evaluators.confusion import ConfusionMatrixEvaluator, argmax_labels
from jaxvision.evaluators.gather import GatherEvaluator
from jaxvision.evaluators.mean import MeanEvaluator

__all__ = [
    "MASK_KEY",
    "ConfusionMatrixEvaluator",
    "Evaluator",
    "GatherEvaluator",
    "MeanEvaluator",
    "argmax_labels",
]
