"""Face recognition: an embedding trained with ArcFace, evaluated as LFW-style verification.

One network (``face_embedding``: a ResNet trunk, the embedding and the ArcFace head of
class centres, ``jaxvision.models.face_embedding``) trained with the additive angular
margin loss (``jaxvision.losses.face.arcface_loss``: ``face_embedding.scale``,
``margin``, ``easy_margin``) on identity labels.

With ``face_embedding.align``, every crop is first warped on the device so that its five
landmarks land on ArcFace's 5-point template (``jaxvision.ops.face_align``), at
``face_embedding.align_size`` (0: the crop's own size); data without landmarks (``lfw``,
an image folder) must be aligned beforehand (``jaxvision.faces.align``) and trains with
``align=False``.

Evaluator ``verification``: the embeddings of the whole eval split (held-out identities),
each the sum of the crop's and its mirror image's with ``face_embedding.flip_test``; then
``face_embedding.num_pairs`` balanced same / different identity pairs drawn
deterministically from its labels, and the LFW protocol's 10-fold accuracy
(``jaxvision.metrics.verification``): ``verification_accuracy``,
``verification_accuracy_std``, ``verification_threshold`` (cosine), ``num_pairs``.
``predict`` gives L2-normalised embeddings of (aligned) crops.

Data: ``jaxvision_faces_identity`` (train and test hold disjoint identities), TFDS ``lfw``
(its text labels become ids with ``text_label``), or ``identity_folder``
(``data_dir/<split>/<person>/<images>``, each split with its own people).

Config keys (besides the engine's): ``model.name`` ("face_embedding"), ``model.dtype``,
``model.kwargs`` (``FaceEmbeddingNet`` fields); ``face_embedding.num_classes`` (0: the
dataset's classes), ``scale``, ``margin``, ``easy_margin``, ``align``, ``align_size``,
``flip_test``, ``num_pairs``, ``pair_seed``, ``num_folds``.

Example:
  python -m train --config=train/configs/face_embedding_small.py --workdir=/tmp/face_emb
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxvision.data.sources import DatasetMeta
from jaxvision.evaluators import Evaluator, GatherEvaluator
from jaxvision.losses.face import arcface_loss
from jaxvision.metrics import verification
from jaxvision.models.face_embedding import l2_normalize
from jaxvision.ops.face_align import align_faces
from jaxvision.tasks.base import MODEL, Batch, Metrics, Variables
from jaxvision.tasks.face_crops import FaceCropTask, landmark_pixels

CONFIG_KEY = "face_embedding"
DEFAULTS = {
    "num_classes": 0,
    "scale": 64.0,
    "margin": 0.5,
    "easy_margin": False,
    "align": False,
    "align_size": 0,
    "flip_test": True,
    "num_pairs": verification.DEFAULT_NUM_PAIRS,
    "pair_seed": verification.DEFAULT_SEED,
    "num_folds": verification.NUM_FOLDS,
}


class FaceEmbeddingTask(FaceCropTask):
    """ArcFace training on identity labels; verification accuracy on held-out identities."""

    def __init__(self, config: ml_collections.ConfigDict, meta: DatasetMeta):
        super().__init__(config, meta)
        given = dict(config.get(CONFIG_KEY, ml_collections.ConfigDict()))
        unknown = sorted(set(given) - set(DEFAULTS))
        if unknown:
            raise ValueError(f"unknown {CONFIG_KEY} keys {unknown}; valid: {sorted(DEFAULTS)}")
        self.options = {**DEFAULTS, **given}
        self.num_classes = int(self.options["num_classes"]) or meta.num_classes
        if not self.num_classes:
            raise ValueError(
                f"dataset {meta.name!r} names no identities (lfw's labels are text): set "
                f"{CONFIG_KEY}.num_classes and map names to ids with text_label(vocabulary=...)"
            )
        keys = ("image", "label", "landmarks") if self.options["align"] else ("image", "label")
        self.train_keys = self.eval_keys = keys

    @property
    def decode_spec(self) -> str:
        return "decode_face_crop(attributes=())" if self.options["align"] else ""

    def model_fields(self) -> dict:
        return {"num_classes": self.num_classes}

    def aligned(self, batch: Batch) -> jax.Array:
        """The batch's crops, warped to the landmark template when ``align`` (uint8)."""
        images = batch["image"]  # [b, h, w, 3]
        if not self.options["align"]:
            return images
        size = self.options["align_size"] or images.shape[1:3]
        return align_faces(images, landmark_pixels(batch["landmarks"], images), size)

    def loss(
        self, params: Any, model_state: Any, batch: Batch, rng: jax.Array
    ) -> tuple[jax.Array, tuple[Any, Metrics]]:
        outputs, new_state = self.apply_model(
            {"params": params, **model_state},
            self.aligned(batch),
            train=True,
            mutable=list(model_state),
            rngs={"dropout": rng},
        )
        opts, labels = self.options, batch["label"]
        losses = arcface_loss(
            outputs["cosine"], labels, opts["scale"], opts["margin"], opts["easy_margin"]
        )  # [b]
        accuracy = jnp.mean(jnp.argmax(outputs["cosine"], axis=-1) == labels)
        return jnp.mean(losses), (new_state, {"accuracy": accuracy})

    def embed(self, variables: Variables, images: jax.Array) -> jax.Array:
        """L2-normalised embeddings [b, d] of (aligned) uint8 crops; with ``flip_test``, of the
        sum of each crop's and its mirror image's embeddings."""
        embedding = self.apply_model(variables, images, train=False)["embedding"]  # [b, d]
        if self.options["flip_test"]:
            mirrored = self.apply_model(variables, images[:, :, ::-1], train=False)
            embedding = l2_normalize(embedding) + l2_normalize(mirrored["embedding"])
        return l2_normalize(embedding)

    def eval_forward(self, variables: dict[str, Variables], batch: Batch) -> jax.Array:
        """The normalised embeddings [b, d] of the eval crops (aligned when ``align``)."""
        return self.embed(variables[MODEL], self.aligned(batch))

    def _summarize(self, rows: dict[str, np.ndarray]) -> dict[str, float]:
        opts = self.options
        pairs, same, folds = verification.verification_pairs(
            rows["label"], opts["num_pairs"], opts["num_folds"], opts["pair_seed"]
        )
        similarities = verification.pair_similarities(rows["embedding"], pairs)
        result = verification.verification_accuracy(similarities, same, folds)
        return {
            "verification_accuracy": result["accuracy"],
            "verification_accuracy_std": result["accuracy_std"],
            "verification_threshold": result["threshold"],
            "num_pairs": result["num_pairs"],
        }

    def evaluators(self) -> list[Evaluator]:
        def rows(embeddings: jax.Array, batch: Batch) -> dict[str, jax.Array]:
            return {"embedding": embeddings, "label": batch["label"]}

        return [GatherEvaluator("verification", rows, self._summarize)]

    def predict(self, variables: dict[str, Variables], images: jax.Array) -> dict[str, jax.Array]:
        """``embedding`` [b, d], L2-normalised, of face crops [b, h, w, 3] aligned as in
        training (``jaxvision.faces.align`` aligns a photo's faces), resized to
        ``align_size`` when training warped to that size."""
        size = self.options["align_size"]
        if self.options["align"] and size and images.shape[1:3] != (size, size):
            shape = (images.shape[0], size, size, images.shape[3])
            images = jax.image.resize(images.astype(jnp.float32), shape, "bilinear")
        return {"embedding": self.embed(variables[MODEL], images)}
