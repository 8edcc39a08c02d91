"""Classification + localization: one object an image, its class and its box.

A classification backbone, global average pooling of its last stage, and two heads:
class logits and one box (Sermanet et al.'s OverFeat setting; the classic
"classification with localization" of ImageNet). The box is predicted as a normalised
(cx, cy, w, h) through a sigmoid (its corners may still reach past the image: the task
clips them).

Example:
  >>> from jaxvision.models.resnet import ResNetTiny
  >>> model = Localizer(backbone=ResNetTiny(num_classes=1, features_only=True), num_classes=8)
  >>> x = jnp.zeros((2, 64, 64, 3))
  >>> out = model.apply(model.init(jax.random.key(0), x, train=False), x, train=False)
  >>> out["logits"].shape, out["box"].shape
  ((2, 8), (2, 4))
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class Localizer(nn.Module):
    """Backbone + class head + box head.

    Attributes:
      backbone: a module mapping images to ``{"C{l}": features}``; it receives ``train``;
        the highest level is pooled.
      num_classes: classes.
      hidden: width of the box head's hidden layer (0: a linear box head).
    """

    backbone: nn.Module
    num_classes: int
    hidden: int = 256

    @nn.compact
    def __call__(self, images: jax.Array, train: bool = True) -> dict[str, jax.Array]:
        """Class logits and a box.

        Args:
          images: normalised images [b, h, w, 3].
          train: passed to the backbone (BatchNorm mode).

        Returns:
          float32 ``{"logits": [b, num_classes], "box": [b, 4]}``; ``box`` is normalised
          (cx, cy, w, h) in (0, 1).
        """
        features = self.backbone(images, train=train)
        top = max(features, key=lambda k: int(k[1:]))
        x = jnp.mean(features[top].astype(jnp.float32), axis=(1, 2))  # [b, c]
        logits = nn.Dense(self.num_classes, name="cls_head")(x)  # [b, k]
        h = nn.relu(nn.Dense(self.hidden, name="box_hidden")(x)) if self.hidden else x
        box = nn.sigmoid(nn.Dense(4, name="box_head")(h))  # [b, 4] (cx, cy, w, h)
        return {"logits": logits, "box": box}
