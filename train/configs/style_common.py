"""The keys the trained style-transfer configs share (fast_style, adain).

``style_config(task)`` adds to ``common.base_config()`` the ``style`` sub-tree of
``jaxvision.tasks.style_base`` (and ``jaxvision.tasks.adain``):

- ``vgg_weights``: torchvision's VGG-19 state dict, ``vgg19-dcbb9e9d.pth`` (from
  https://download.pytorch.org/models/vgg19-dcbb9e9d.pth), or ``"random"`` for random
  VGG-19 weights seeded by ``vgg_seed``: smoke runs only. Empty here: a config must choose,
  and a missing file is refused at start with a message naming it.
- ``pool``: VGG-19's pooling ("max", the network as trained).
- ``image``, ``image_size``: the style image (``skimage:NAME``, ``texture:NAME`` or a file)
  and its longer side in pixels.
- ``content_layers``, ``style_layers`` (VGG-19 layer -> weight), ``content_weight``,
  ``style_weight``, ``tv_weight``.
- AdaIN only: ``alpha`` (the content-style trade-off of evaluation and prediction) and
  ``style_gain_range`` (the colour jitter of the training styles).

The data is the built-in ``jaxvision_photos``: 96 px patches of scikit-image's photographs
as content (random 64 px crops, flipped), and the held-out ``astronaut``, ``coffee`` and
``chelsea`` for evaluation (the central square of each at 128 px).
"""

from __future__ import annotations

import ml_collections

from train.configs import common

PHOTOS = "jaxvision_photos"
TRAIN_CROP = 64
EVAL_SIZE = 128


def style_config(task: str) -> ml_collections.ConfigDict:
    """``common.base_config()`` with the style keys and the built-in photos."""
    c = common.base_config()
    c.task = task
    c.batch_size = 8
    c.eval_batch_size = 3
    c.log_every = 50
    c.checkpoint_every = 500
    c.model.kwargs = ml_collections.ConfigDict()
    c.style = ml_collections.ConfigDict(
        {
            "vgg_weights": "",
            "vgg_seed": 0,
            "pool": "max",
            "image": "skimage:immunohistochemistry",
            "image_size": TRAIN_CROP,
            "content_layers": {"relu2_2": 1.0},
            "style_layers": {"relu1_2": 1.0, "relu2_2": 1.0, "relu3_3": 1.0, "relu4_3": 1.0},
            "content_weight": 1.0,
            "style_weight": 1e5,
            "tv_weight": 0.0,
            "alpha": 1.0,
            "style_gain_range": [0.5, 1.5],
        }
    )
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 1e-3
    c.optimizer.schedule = "constant"
    c.optimizer.warmup_steps = 0
    c.dataset.name = PHOTOS
    c.dataset.train_pp = f"random_crop({TRAIN_CROP})|flip_lr"
    c.dataset.eval_pp = f"resize_small({EVAL_SIZE})|center_crop({EVAL_SIZE})"
    return c
