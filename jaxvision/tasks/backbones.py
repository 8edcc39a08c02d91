"""The backbone of the localization and detection tasks: a registered model as a feature
extractor."""

from __future__ import annotations

from typing import Any

import flax.linen as nn

from jaxvision import models
from jaxvision.tasks.base import compute_dtype


def build_backbone(cfg: Any) -> nn.Module:
    """The feature extractor of ``config.model``: ``backbone`` with ``features_only``.

    Args:
      cfg: ``config.model``: ``backbone`` (a ``jaxvision.models.MODELS`` name), ``dtype``
        and ``backbone_kwargs`` (its fields: ``conv_impl``, ``remat`` ...).

    Returns:
      The module, mapping images to ``{"C2": ..., "C5": ...}`` stage outputs.

    Example:
      >>> import ml_collections
      >>> cfg = ml_collections.ConfigDict({"backbone": "resnet_tiny", "dtype": "float32"})
      >>> type(build_backbone(cfg)).__name__
      'ResNet'
    """
    return models.get_model(
        cfg.backbone,
        num_classes=1,
        features_only=True,
        dtype=compute_dtype(cfg.dtype),
        **cfg.get("backbone_kwargs", {}),
    )
