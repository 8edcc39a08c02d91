"""ResNet-18 (CIFAR stem) on CIFAR-100.

Run:
  python -m train --config=train/configs/cifar100_resnet18.py --workdir=runs/cifar100_r18 \
    --config.dataset.data_dir=~/tensorflow_datasets
"""

from train.configs import cifar10_resnet18


def get_config():
    c = cifar10_resnet18.get_config()
    c.dataset.name = "cifar100"
    c.label_smoothing = 0.1
    return c
