"""The ResNet trunk of the face-analysis networks, by name, as a feature extractor."""

from __future__ import annotations

from typing import Any

import flax.linen as nn

from jaxvision.models import resnet

# Backbones by name: the ResNet variants of ``jaxvision.models.resnet``.
BACKBONES = {
    "resnet_tiny": resnet.ResNetTiny,
    "resnet18": resnet.ResNet18,
    "resnet34": resnet.ResNet34,
    "resnet50": resnet.ResNet50,
}


def face_backbone(backbone: str, kwargs: Any, **fields: Any) -> nn.Module:
    """A ResNet that returns its stage outputs ({"C2": ..., "C5": ...}).

    Args:
      backbone: a key of ``BACKBONES``.
      kwargs: more ResNet fields from the config (``num_filters``, ``stem``, ``remat`` ...);
        None for none.
      **fields: the owner's ResNet fields (``dtype``, ``conv_impl``, ``name`` ...).

    Returns:
      The unbound ResNet module, ``features_only``.

    Raises:
      ValueError: an unknown name (the message lists the valid ones).

    Example:
      >>> type(face_backbone("resnet_tiny", {"stem": "cifar"})).__name__
      'ResNet'
    """
    if backbone not in BACKBONES:
        raise ValueError(f"unknown face backbone {backbone!r}; valid: {sorted(BACKBONES)}")
    return BACKBONES[backbone](num_classes=1, features_only=True, **fields, **dict(kwargs or {}))
