"""What the face-crop tasks share: the data decoding in front of the specs, and the model.

``face_attributes`` and ``face_embedding`` read one face a crop, in the TFDS ``celeb_a``
schema (``jaxvision_faces_identity`` shares it), ``lfw``'s, or an image folder's. Each puts
``decode_face_crop(...)`` (``jaxvision.data.preprocess.face_crop_ops``: attributes and five
landmarks as arrays, landmarks normalised) in front of ``dataset.train_pp`` / ``eval_pp``,
and leaves it out of the preprocessing of a user's image at prediction time.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvision import models
from jaxvision.tasks.base import SingleNetworkTask, compute_dtype

# The generic flip moves boxes, not one crop's landmarks: specs use flip_face instead.
LANDMARK_BLIND_OPS = ("flip_lr",)


def landmark_pixels(landmarks: jax.Array, images: jax.Array) -> jax.Array:
    """Normalised (x, y) landmarks [b, k, 2] in pixels of images [b, h, w, c].

    Example:
      >>> landmark_pixels(jnp.full((1, 5, 2), 0.5), jnp.zeros((1, 10, 20, 3)))[0, 0].tolist()
      [10.0, 5.0]
    """
    h, w = images.shape[1:3]
    return landmarks.astype(jnp.float32) * jnp.array([w, h], jnp.float32)


class FaceCropTask(SingleNetworkTask):
    """A single-network task on face crops: ``decode_spec`` runs before the config's specs.

    Subclasses set ``decode_spec`` and ``model_fields`` (the model's task-given fields).
    """

    @property
    def decode_spec(self) -> str:
        """The ``decode_face_crop(...)`` (or other) ops that make the batch's arrays."""
        return ""

    def model_fields(self) -> dict:
        """Fields the task gives the model (``num_attributes``, ``num_classes`` ...)."""
        return {}

    def _spec(self, spec: str) -> str:
        uses_landmarks = "landmarks" in (*self.train_keys, *self.eval_keys)
        names = {p.split("(")[0].strip() for p in spec.split("|")}
        blind = [op for op in LANDMARK_BLIND_OPS if uses_landmarks and op in names]
        if blind:
            raise ValueError(
                f"{blind} would leave the crop's landmarks unmoved: use flip_face in {spec!r}"
            )
        return "|".join(p for p in (self.decode_spec, spec) if p)

    @property
    def train_pp(self) -> str:
        return self._spec(self.config.dataset.train_pp)

    @property
    def eval_pp(self) -> str:
        return self._spec(self.config.dataset.eval_pp)

    def predict_pp(self, input_shape: tuple[int, ...]) -> str:
        """``dataset.eval_pp`` (without the decoding: a user's crop has no labels), then a
        resize to the training input."""
        resize = f"resize({input_shape[0]}, {input_shape[1]})"
        return "|".join(p for p in (self.config.dataset.eval_pp, resize) if p)

    @property
    def model(self) -> nn.Module:
        cfg = self.config.model
        return models.get_model(
            cfg.name,
            dtype=compute_dtype(cfg.dtype),
            **self.model_fields(),
            **cfg.get("kwargs", {}),
        )
