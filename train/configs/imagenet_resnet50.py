"""ResNet-50 v1.5 on ImageNet-1k, 90 epochs, bfloat16 compute (Goyal et al. recipe).

Needs imagenet2012 prepared as ArrayRecord in the data_dir. On a multi-host cluster,
start the same command on every host (see README, "Several hosts").

Run:
  python -m train --config=train/configs/imagenet_resnet50.py --workdir=runs/in1k_r50 \
    --config.dataset.data_dir=/data/tensorflow_datasets
"""

from train.configs import common

IMAGENET_TRAIN_EXAMPLES = 1_281_167
EPOCHS = 90
REFERENCE_BATCH = 256


def get_config():
    c = common.base_config()
    c.batch_size = 1024
    c.total_steps = EPOCHS * IMAGENET_TRAIN_EXAMPLES // c.batch_size
    c.eval_batch_size = 1000
    c.log_every = 100
    c.eval_every = 5000
    c.checkpoint_every = 2000
    c.label_smoothing = 0.1
    c.model.name = "resnet50"
    c.model.dtype = "bfloat16"
    c.model.kwargs.stem = "imagenet"
    c.model.kwargs.zero_init_residual = True
    c.optimizer.name = "sgd"
    c.optimizer.learning_rate = 0.1 * c.batch_size / REFERENCE_BATCH
    c.optimizer.nesterov = True
    c.optimizer.weight_decay = 1e-4
    c.optimizer.schedule = "warmup_cosine"
    c.optimizer.warmup_steps = 5 * IMAGENET_TRAIN_EXAMPLES // c.batch_size
    c.dataset.name = "imagenet2012"
    c.dataset.eval_split = "validation"
    c.dataset.train_pp = "random_resized_crop(224)|flip_lr"
    c.dataset.eval_pp = "resize_center_crop(224)"
    c.dataset.worker_count = 16
    return c
