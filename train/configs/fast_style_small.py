"""Feed-forward style transfer (Johnson et al.) on the built-in photos, for one style image.

A transformation network (widths 16, 32, 64, three residual blocks: half the paper's width)
learns the style of scikit-image's immunohistochemistry photograph (stained tissue: blue,
brown and pink blotches) over the photo patches, on the paper's losses: content at
``relu2_2``, Gram matrices at ``relu1_2``, ``relu2_2``, ``relu3_3`` and ``relu4_3``, style
weight 1e5 (PyTorch's fast-neural-style example's ratio, in ``jaxvision.losses.style``'s
units). Evaluated on the three held-out photographs: ``style_loss`` must fall well below
``baseline_style_loss`` (the unstyled photograph's) while ``content_loss`` stays moderate.

VGG-19 weights: this small config runs offline, so it uses RANDOM VGG-19 weights
(``style.vgg_weights="random"``, a warning says so at start): the run then checks the
plumbing and the loss falling, not the look of a real style transfer. For that, pass
torchvision's ImageNet weights (https://download.pytorch.org/models/vgg19-dcbb9e9d.pth):

  python -m train --config=train/configs/fast_style_small.py --workdir=runs/fast_style_small \
    --config.style.vgg_weights=vgg19-dcbb9e9d.pth

Another style: ``--config.style.image=PATH`` (or ``texture:waves``, ``skimage:coffee``).
Then style any photo: ``python -m jaxvision.style CONTENT --method=fast
--workdir=runs/fast_style_small --out=OUT.png``.
"""

from train.configs import style_common


def get_config():
    c = style_common.style_config("fast_style")
    c.total_steps = 1000
    c.batch_size = 4  # Johnson et al.'s
    c.model.name = "transform_net"
    c.model.kwargs.features = 16
    c.model.kwargs.num_blocks = 3
    c.style.vgg_weights = "random"
    c.optimizer.learning_rate = 1e-3
    return c
