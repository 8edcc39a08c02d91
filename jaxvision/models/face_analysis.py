"""Face analysis on crops: 5-point landmarks and binary attributes from one ResNet trunk.

The last stage's features are flattened (keeping where each feature is, which landmark
regression needs), mapped by a hidden layer, and read by two linear heads: the landmarks
as normalised (x / width, y / height) coordinates, and one logit per attribute (CelebA's
``Male``, ``Young``, ``Smiling``, ``Eyeglasses`` by default; any number). The landmark
head starts at ArcFace's template (``jaxvision.ops.face_align``: zero weights, the
template as bias), the mean face of an aligned crop.

Parameter names::

  backbone/...        (the ResNet's: stem_conv, stage{i}_block{j}/...)
  hidden, landmark_head, attribute_head

Example:
  >>> model = FaceAnalysisNet(backbone="resnet_tiny")
  >>> images = jnp.zeros((2, 64, 64, 3))
  >>> out = model.apply(model.init(jax.random.key(0), images, train=False), images, train=False)
  >>> out["landmarks"].shape, out["attributes"].shape
  ((2, 5, 2), (2, 4))
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.models.face_backbone import face_backbone
from jaxvision.ops.conv import ConvRules
from jaxvision.ops.face_align import ARCFACE_TEMPLATE_112, PIXEL_CENTER, TEMPLATE_SIZE

NUM_LANDMARKS = 5
DEFAULT_NUM_ATTRIBUTES = 4


def template_bias_init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32):
    """The landmark head's bias: ArcFace's template as normalised (x, y), flattened [10]."""
    del key
    template = (ARCFACE_TEMPLATE_112 + PIXEL_CENTER) / TEMPLATE_SIZE  # [5, 2]
    if shape != (template.size,):
        raise ValueError(f"the template bias has shape {(template.size,)}, asked for {shape}")
    return jnp.asarray(template.reshape(-1), dtype)


class FaceAnalysisNet(nn.Module):
    """ResNet trunk + landmark head + attribute head.

    Attributes:
      num_attributes: attribute logits.
      backbone: a key of ``jaxvision.models.face_backbone.BACKBONES``.
      backbone_kwargs: more ResNet fields (``num_filters``, ``stem``, ``remat`` ...).
      hidden: width of the hidden layer between the features and the heads.
      dropout_rate: dropout before the heads (training only; rng "dropout").
      dtype: compute dtype of the trunk; the heads and outputs are float32.
      param_dtype: dtype of the parameters.
      conv_impl: lowering of every conv (``jaxvision.models.layers.Conv``'s ``impl``).
    """

    num_attributes: int = DEFAULT_NUM_ATTRIBUTES
    backbone: str = "resnet18"
    backbone_kwargs: Any = None
    hidden: int = 256
    dropout_rate: float = 0.0
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    conv_impl: str | ConvRules = "auto"

    @nn.compact
    def __call__(self, images: jax.Array, train: bool = True) -> dict[str, jax.Array]:
        """Landmarks and attribute logits of face crops.

        Args:
          images: normalised crops [b, h, w, 3].
          train: batch statistics (pass ``mutable=["batch_stats"]``) and dropout.

        Returns:
          float32 ``{"landmarks": [b, 5, 2]`` normalised (x, y) (left eye, right eye, nose
          tip, left and right mouth corner), ``"attributes": [b, num_attributes]`` logits}.
        """
        if images.ndim != 4:
            raise ValueError(f"FaceAnalysisNet expects crops [b, h, w, c], got {images.shape}")
        trunk = face_backbone(
            self.backbone,
            self.backbone_kwargs,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            conv_impl=self.conv_impl,
            name="backbone",
        )
        features = trunk(images, train=train)["C5"]  # [b, h', w', c]
        x = features.astype(jnp.float32).reshape(features.shape[0], -1)  # [b, h' w' c]
        dense = dict(param_dtype=self.param_dtype)
        x = nn.relu(nn.Dense(self.hidden, name="hidden", **dense)(x))  # [b, hidden]
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        landmarks = nn.Dense(
            2 * NUM_LANDMARKS,
            kernel_init=nn.initializers.zeros,
            bias_init=template_bias_init,
            name="landmark_head",
            **dense,
        )(x)  # [b, 10], the template at initialisation
        attributes = nn.Dense(self.num_attributes, name="attribute_head", **dense)(x)  # [b, a]
        return {"landmarks": landmarks.reshape(-1, NUM_LANDMARKS, 2), "attributes": attributes}
