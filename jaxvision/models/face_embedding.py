"""Face recognition embedding (ArcFace's network) and the ArcFace head of class centres.

The embedding network is ArcFace's (Deng et al., 2019) "E" output on a ResNet trunk: the
last stage's features, BatchNorm, dropout, flattened (so the embedding keeps where on the
face each feature is), a fully connected layer to ``embedding_dim`` and a BatchNorm
without scale. The embedding is L2-normalised where it is used: by the ArcFace head,
which holds one centre per training identity and gives the cosines between normalised
embeddings and normalised centres (the margin is the loss's business,
``jaxvision.losses.face.arcface_loss``), and by verification (cosine similarity).

Parameter names::

  backbone/...        (the ResNet's)
  features_norm, embedding, embedding_norm
  arcface/centers     [embedding_dim, num_classes]

Example:
  >>> model = FaceEmbeddingNet(backbone="resnet_tiny", embedding_dim=32, num_classes=10)
  >>> images = jnp.zeros((2, 64, 64, 3))
  >>> out = model.apply(model.init(jax.random.key(0), images, train=False), images, train=False)
  >>> out["embedding"].shape, out["cosine"].shape
  ((2, 32), (2, 10))
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision.models.face_backbone import face_backbone
from jaxvision.ops.conv import ConvRules

# Floor of the norms that normalise embeddings and centres (an all-zero vector stays zero).
NORM_EPSILON = 1e-12
# Init of the class centres (insightface: normal, std 0.01; the scale cancels out).
CENTER_INIT_STD = 0.01


def l2_normalize(x: jax.Array, axis: int = -1) -> jax.Array:
    """``x`` divided by its L2 norm along ``axis`` (in float32 or wider).

    Example:
      >>> l2_normalize(jnp.array([[3.0, 4.0]])).tolist()
      [[0.6000000238418579, 0.800000011920929]]
    """
    x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x, axis=axis, keepdims=True), NORM_EPSILON))


class ArcFaceHead(nn.Module):
    """Cosines between embeddings and learned class centres, both L2-normalised.

    Attributes:
      num_classes: identities (class centres).
      param_dtype: dtype of the centres.

    Example:
      >>> head = ArcFaceHead(num_classes=3)
      >>> cosine, _ = head.init_with_output(jax.random.key(0), jnp.ones((2, 8)))
      >>> cosine.shape, bool(jnp.all(jnp.abs(cosine) <= 1.0 + 1e-6))
      ((2, 3), True)
    """

    num_classes: int
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, embeddings: jax.Array) -> jax.Array:
        """Args: embeddings [b, d]. Returns: float32 cosines [b, num_classes]."""
        centers = self.param(
            "centers",
            nn.initializers.normal(CENTER_INIT_STD),
            (embeddings.shape[-1], self.num_classes),
            self.param_dtype,
        )  # [d, k]
        return l2_normalize(embeddings) @ l2_normalize(centers.astype(jnp.float32), axis=0)


class FaceEmbeddingNet(nn.Module):
    """ResNet trunk -> BN -> dropout -> FC -> BN embedding, and optionally the ArcFace head.

    Attributes:
      embedding_dim: size of the embedding.
      num_classes: identities of the ArcFace head (0: no head, the embedding only).
      backbone: a key of ``jaxvision.models.face_backbone.BACKBONES``.
      backbone_kwargs: more ResNet fields (``num_filters``, ``stem``, ``remat`` ...).
      dropout_rate: dropout on the features before the FC layer (training only; rng
        "dropout").
      dtype: compute dtype of the trunk; the embedding is float32.
      param_dtype: dtype of the parameters.
      conv_impl: lowering of every conv (``jaxvision.models.layers.Conv``'s ``impl``).
      bn_momentum: running-average decay of every BatchNorm.
    """

    embedding_dim: int = 128
    num_classes: int = 0
    backbone: str = "resnet18"
    backbone_kwargs: Any = None
    dropout_rate: float = 0.0
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    conv_impl: str | ConvRules = "auto"
    bn_momentum: float = 0.9

    @nn.compact
    def __call__(self, images: jax.Array, train: bool = True) -> dict[str, jax.Array]:
        """Embeddings (and ArcFace cosines) of face crops.

        Args:
          images: normalised aligned crops [b, h, w, 3].
          train: batch statistics (pass ``mutable=["batch_stats"]``) and dropout.

        Returns:
          ``{"embedding": float32 [b, embedding_dim]`` (not normalised), and with a head
          ``"cosine": float32 [b, num_classes]}``.
        """
        if images.ndim != 4:
            raise ValueError(f"FaceEmbeddingNet expects crops [b, h, w, c], got {images.shape}")
        trunk = face_backbone(
            self.backbone,
            self.backbone_kwargs,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            conv_impl=self.conv_impl,
            bn_momentum=self.bn_momentum,
            name="backbone",
        )
        norm = dict(
            use_running_average=not train, momentum=self.bn_momentum, param_dtype=self.param_dtype
        )
        x = trunk(images, train=train)["C5"].astype(jnp.float32)  # [b, h', w', c]
        x = nn.BatchNorm(name="features_norm", **norm)(x)
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        x = x.reshape(x.shape[0], -1)  # [b, h' w' c]
        x = nn.Dense(self.embedding_dim, param_dtype=self.param_dtype, name="embedding")(x)
        embedding = nn.BatchNorm(use_scale=False, name="embedding_norm", **norm)(x)  # [b, d]
        outputs = {"embedding": embedding}
        if self.num_classes:
            head = ArcFaceHead(self.num_classes, self.param_dtype, name="arcface")
            outputs["cosine"] = head(embedding)  # [b, k]
        return outputs
