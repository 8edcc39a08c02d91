"""ResNet-18 (CIFAR stem) on CIFAR-10: about 95% test accuracy after 200 epochs.

Needs cifar10 prepared as ArrayRecord in the data_dir (see README, "Bring your own data").

Run:
  python -m train --config=train/configs/cifar10_resnet18.py --workdir=runs/cifar10_r18 \
    --config.dataset.data_dir=~/tensorflow_datasets
"""

from train.configs import common

CIFAR10_TRAIN_EXAMPLES = 50_000
EPOCHS = 200


def get_config():
    c = common.base_config()
    c.batch_size = 512
    c.total_steps = EPOCHS * CIFAR10_TRAIN_EXAMPLES // c.batch_size
    c.eval_batch_size = 1000
    c.log_every = 100
    c.eval_every = 1000
    c.checkpoint_every = 1000
    c.model.name = "resnet18"
    c.model.kwargs.stem = "cifar"
    c.optimizer.name = "sgd"
    c.optimizer.learning_rate = 0.4
    c.optimizer.nesterov = True
    c.optimizer.weight_decay = 5e-4
    c.optimizer.schedule = "warmup_cosine"
    c.optimizer.warmup_steps = 500
    c.dataset.name = "cifar10"
    c.dataset.train_pp = "pad_random_crop(32, 4)|flip_lr"
    c.dataset.eval_pp = ""
    c.dataset.worker_count = 4
    return c
