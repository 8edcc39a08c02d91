"""Face attributes and 5-point landmarks on face crops (CelebA's task).

One network (``face_analysis``: a ResNet trunk, a landmark head and an attribute head)
trained on ``face_attributes.landmark_weight`` x the L1 error of the normalised landmarks
plus ``face_attributes.attribute_weight`` x the binary cross-entropy of the attributes.

Evaluator ``face_attributes``: ``attribute_accuracy`` (the mean over the attributes of the
fraction of crops where the attribute is predicted right), ``attribute_accuracy/<name>``
for each, ``landmark_nme`` (mean point error over the inter-ocular distance,
``jaxvision.metrics.face_analysis``), ``attribute_loss``.
``predict`` gives the landmarks in pixels of the input and each attribute's probability.

Data: the TFDS ``celeb_a`` schema (``attributes`` dict, ``landmarks`` pixel fields), which
the built-in ``jaxvision_faces_identity`` shares; the task puts
``decode_face_crop(attributes=...)`` in front of the specs. Landmarks are normalised, so
``resize`` keeps them right; flip with ``flip_face``, not ``flip_lr``.

Config keys (besides the engine's): ``model.name`` ("face_analysis"), ``model.dtype``,
``model.kwargs`` (``FaceAnalysisNet`` fields: ``backbone``, ``backbone_kwargs``,
``hidden`` ...); ``face_attributes.attributes`` (names of the dataset's attributes),
``face_attributes.landmark_weight``, ``face_attributes.attribute_weight``.

Example:
  python -m train --config=train/configs/face_attributes_small.py --workdir=/tmp/face_attr
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from jaxvision.data.preprocess.face_crop_ops import DEFAULT_ATTRIBUTES
from jaxvision.data.sources import DatasetMeta
from jaxvision.evaluators import Evaluator, MeanEvaluator
from jaxvision.losses.face import landmark_l1_loss, multilabel_sigmoid_loss
from jaxvision.metrics.face_analysis import attribute_correct, interocular_nme
from jaxvision.tasks.base import MODEL, Batch, Metrics, Variables
from jaxvision.tasks.face_crops import FaceCropTask, landmark_pixels

CONFIG_KEY = "face_attributes"
CONFIG_KEYS = ("attributes", "landmark_weight", "attribute_weight")
# Metric key of one attribute's accuracy.
ATTRIBUTE_ACCURACY_KEY = "attribute_accuracy/{}"


class FaceAttributesTask(FaceCropTask):
    """Landmarks (regression) and binary attributes (multi-label) of face crops."""

    train_keys = ("image", "attributes", "landmarks")
    eval_keys = ("image", "attributes", "landmarks")

    def __init__(self, config: ml_collections.ConfigDict, meta: DatasetMeta):
        super().__init__(config, meta)
        cfg = config.get(CONFIG_KEY, ml_collections.ConfigDict())
        unknown = sorted(set(cfg.keys()) - set(CONFIG_KEYS))
        if unknown:
            raise ValueError(f"unknown {CONFIG_KEY} keys {unknown}; valid: {list(CONFIG_KEYS)}")
        self.attributes = tuple(cfg.get("attributes", DEFAULT_ATTRIBUTES))
        if not self.attributes:
            raise ValueError(f"{CONFIG_KEY}.attributes names no attribute")
        self.landmark_weight = float(cfg.get("landmark_weight", 1.0))
        self.attribute_weight = float(cfg.get("attribute_weight", 1.0))

    @property
    def decode_spec(self) -> str:
        return f"decode_face_crop(attributes={self.attributes!r})"

    def model_fields(self) -> dict:
        return {"num_attributes": len(self.attributes)}

    def loss(
        self, params: Any, model_state: Any, batch: Batch, rng: jax.Array
    ) -> tuple[jax.Array, tuple[Any, Metrics]]:
        outputs, new_state = self.apply_model(
            {"params": params, **model_state},
            batch["image"],
            train=True,
            mutable=list(model_state),
            rngs={"dropout": rng},
        )
        landmark_loss = jnp.mean(landmark_l1_loss(outputs["landmarks"], batch["landmarks"]))
        attribute_loss = jnp.mean(
            multilabel_sigmoid_loss(outputs["attributes"], batch["attributes"])
        )
        loss = self.landmark_weight * landmark_loss + self.attribute_weight * attribute_loss
        correct = attribute_correct(outputs["attributes"], batch["attributes"])  # [b, a]
        metrics = {
            "landmark_loss": landmark_loss,
            "attribute_loss": attribute_loss,
            "attribute_accuracy": jnp.mean(correct),
        }
        return loss, (new_state, metrics)

    def eval_forward(self, variables: dict[str, Variables], batch: Batch) -> dict[str, jax.Array]:
        """The network's outputs (normalised ``landmarks`` [b, 5, 2], ``attributes`` logits)."""
        return self.apply_model(variables[MODEL], batch["image"], train=False)

    def evaluators(self) -> list[Evaluator]:
        def values(outputs: dict[str, jax.Array], batch: Batch) -> dict[str, jax.Array]:
            correct = attribute_correct(outputs["attributes"], batch["attributes"])  # [b, a]
            pred = landmark_pixels(outputs["landmarks"], batch["image"])  # [b, 5, 2]
            true = landmark_pixels(batch["landmarks"], batch["image"])  # [b, 5, 2]
            per_attribute = {
                ATTRIBUTE_ACCURACY_KEY.format(name): correct[:, i]
                for i, name in enumerate(self.attributes)
            }
            return {
                "attribute_accuracy": jnp.mean(correct, axis=-1),
                **per_attribute,
                "landmark_nme": interocular_nme(pred, true),
                "attribute_loss": multilabel_sigmoid_loss(
                    outputs["attributes"], batch["attributes"]
                ),
            }

        return [MeanEvaluator(CONFIG_KEY, values)]

    def predict(self, variables: dict[str, Variables], images: jax.Array) -> dict[str, jax.Array]:
        """``landmarks`` [b, 5, 2] (x, y) pixels of the input crops and ``attributes``
        [b, a] probabilities (in ``face_attributes.attributes`` order)."""
        outputs = self.apply_model(variables[MODEL], images, train=False)
        return {
            "landmarks": landmark_pixels(outputs["landmarks"], images),
            "attributes": jax.nn.sigmoid(outputs["attributes"]),
        }
