"""Classification on the built-in offline dataset, sized for a few CPU minutes (``make demo``).

Run:
  python -m train --config=train/configs/demo.py --workdir=/tmp/jaxvision_demo

On your own images (``PATH/train/<class>/*.jpg`` and ``PATH/test/<class>/*.jpg``):
  python -m train --config=train/configs/demo.py --workdir=/tmp/my_run \
    --config.dataset.name=image_folder --config.dataset.data_dir=PATH
"""

from train.configs import common


def get_config():
    c = common.base_config()
    c.total_steps = 600
    c.batch_size = 128
    c.log_every = 50
    c.checkpoint_every = 200
    c.model.name = "resnet_tiny"
    c.model.kwargs.stem = "cifar"
    c.optimizer.name = "sgd"
    c.optimizer.learning_rate = 0.2
    c.optimizer.momentum = 0.9
    c.optimizer.nesterov = True
    c.optimizer.weight_decay = 5e-4
    c.optimizer.schedule = "warmup_cosine"
    c.optimizer.warmup_steps = 50
    c.dataset.name = "jaxvision_shapes/classification"
    c.dataset.train_pp = "resize(32)|flip_lr"
    c.dataset.eval_pp = "resize(32)"
    return c
