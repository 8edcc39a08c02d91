"""Classification + localization on the built-in ``jaxvision_shapes/localization`` data.

One shape a 64 px image; the model predicts its class and its box. Eval lines carry
``accuracy``, ``mean_iou`` and ``correct_iou50`` (right class and IoU >= 0.5).

Run:
  python -m train --config=train/configs/localization_small.py --workdir=runs/localization
"""

import ml_collections

from train.configs import common


def get_config():
    c = common.base_config()
    c.task = "localization"
    c.total_steps = 1500
    c.batch_size = 64
    c.log_every = 100
    c.checkpoint_every = 500
    c.model.name = "localizer"
    c.model.backbone = "resnet_tiny"
    c.model.backbone_kwargs = c.model.kwargs  # the ResNet keys of common.base_config
    c.model.backbone_kwargs.num_filters = 32
    c.model.kwargs = ml_collections.ConfigDict({"hidden": 128})
    c.localization = ml_collections.ConfigDict()
    c.localization.l1_weight = 5.0
    c.localization.giou_weight = 2.0
    c.optimizer.name = "adamw"
    c.optimizer.learning_rate = 2e-3
    c.optimizer.weight_decay = 1e-4
    c.optimizer.schedule = "warmup_cosine"
    c.optimizer.warmup_steps = 100
    c.dataset.name = "jaxvision_shapes/localization"
    c.dataset.train_pp = "flip_lr"
    c.dataset.eval_pp = ""
    return c
