"""ViT-B/16 on ImageNet-1k from scratch, 300 epochs, AdamW, bfloat16 (DeiT-style recipe).

Run:
  python -m train --config=train/configs/imagenet_vit_b16.py --workdir=runs/in1k_vit_b16 \
    --config.dataset.data_dir=/data/tensorflow_datasets
"""

from train.configs import imagenet_resnet50

EPOCHS = 300


def get_config():
    c = imagenet_resnet50.get_config()
    c.total_steps = EPOCHS * imagenet_resnet50.IMAGENET_TRAIN_EXAMPLES // c.batch_size
    c.model.name = "vit_b16"
    c.model.kwargs = {"dropout_rate": 0.0, "remat": False, "conv_impl": "auto"}
    c.optimizer.name = "adamw"
    c.optimizer.learning_rate = 1e-3
    c.optimizer.b2 = 0.999
    c.optimizer.weight_decay = 0.05
    c.optimizer.nesterov = False
    c.optimizer.grad_clip_norm = 1.0
    c.optimizer.warmup_steps = 10_000
    return c
