"""The keys the face-analysis configs share (imported by face_attributes_small.py and
face_embedding_small.py): a small ResNet on the built-in ``jaxvision_faces_identity`` crops."""

from __future__ import annotations

import ml_collections

from train.configs import common

# The built-in 64x64 face crops: 1,000 training identities, 200 held out for evaluation.
FACE_CROPS = "jaxvision_faces_identity/aligned64"


def face_analysis_config(task: str, model: str) -> ml_collections.ConfigDict:
    """``common.base_config()`` plus what the face-analysis configs share.

    Keys set: ``task`` and ``model.name`` (the arguments), batch 64, eval batch 400;
    ``model.kwargs``: the ``resnet_tiny`` backbone (32 filters, ImageNet stem) and a dropout
    of 0.1 before the heads (a config adds its head's fields); AdamW at 2e-3 with a
    warmup-cosine schedule (a config sets the weight decay); the built-in crops, flipped
    with their landmarks (``flip_face``) for training.

    Args:
      task: a face-analysis task (``face_attributes``, ``face_embedding``).
      model: its model's name in ``jaxvision.models.MODELS``.

    Returns:
      The config; the caller sets the run length and the task's own keys.
    """
    c = common.base_config()
    c.task = task
    c.batch_size = 64
    c.eval_batch_size = 400
    c.log_every = 100
    c.model.name = model
    c.model.kwargs = ml_collections.ConfigDict(
        {
            "backbone": "resnet_tiny",
            "backbone_kwargs": {"stem": "imagenet", "num_filters": 32},
            "dropout_rate": 0.1,
            "conv_impl": "auto",
        }
    )
    c.optimizer.name = "adamw"
    c.optimizer.learning_rate = 2e-3
    c.optimizer.schedule = "warmup_cosine"
    c.optimizer.warmup_steps = 100
    c.dataset.name = FACE_CROPS
    c.dataset.train_split = "train"
    c.dataset.eval_split = "test"
    c.dataset.train_pp = "flip_face"
    c.dataset.eval_pp = ""
    return c
