"""The keys the semantic-segmentation configs share (imported by unet_small.py and
deeplabv3plus_small.py)."""

from __future__ import annotations

import ml_collections

from train.configs import common

# The built-in jaxvision_shapes/segmentation: 128 px images, background + 8 shape classes.
SMALL_IMAGE_SIZE = 128


def segmentation_config() -> ml_collections.ConfigDict:
    """``common.base_config()`` plus the segmentation keys, on the built-in shapes.

    Keys added:
      segmentation: ``schema`` (which features hold the image and the label map and how raw
        ids become classes, ``jaxvision.data.segmentation_schemas``; "" picks it from
        ``dataset.name``), ``class_weights`` (() or one weight a class, e.g. to lift rare
        classes), ``balance_classes`` (0.5: square-root median-frequency weights counted
        from the training labels, which lift the rare classes of any dataset; 0 for none),
        ``dice_weight`` (weight of the soft Dice loss added to the cross entropy).
      model.kwargs: the segmentation model's fields (a config replaces them).

    Data: ``train_pp`` rescales by 0.75-1.25 and crops or pads (with the ignore label) to
    128 px, then flips; ``eval_pp`` letterboxes to 128 px (a no-op on the built-in images;
    it sizes a user's, whose label maps follow nearest-neighbour).
    """
    c = common.base_config()
    c.task = "segmentation"
    c.batch_size = 16
    c.eval_batch_size = 50
    c.log_every = 100
    c.checkpoint_every = 500
    c.model.kwargs = ml_collections.ConfigDict({"conv_impl": "auto"})
    c.segmentation = ml_collections.ConfigDict()
    c.segmentation.schema = ""
    c.segmentation.class_weights = ()
    c.segmentation.balance_classes = 0.5
    c.segmentation.dice_weight = 0.0
    c.optimizer.name = "adamw"
    c.optimizer.learning_rate = 2e-3
    c.optimizer.weight_decay = 1e-4
    c.optimizer.schedule = "warmup_cosine"
    c.optimizer.warmup_steps = 100
    c.dataset.name = "jaxvision_shapes/segmentation"
    size = SMALL_IMAGE_SIZE
    c.dataset.train_pp = f"scale_jitter({size}, 0.75, 1.25)|flip_lr"
    c.dataset.eval_pp = f"letterbox({size})"
    return c
