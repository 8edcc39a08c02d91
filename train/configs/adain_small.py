"""Arbitrary style transfer with AdaIN (Huang & Belongie) on the built-in photos.

A decoder (widths 64, 32, 16: a quarter of the paper's) learns to invert VGG-19's
``relu4_1`` after AdaIN, on the paper's losses: content against the AdaIN target at
``relu4_1``, channel means and standard deviations at ``relu1_1`` ... ``relu4_1``, style
weight 10. Content and styles both come from the photo patches: each image's style is
another patch of the batch with its colours jittered (``jaxvision.tasks.adain``). Evaluated
on the three held-out photographs styled with scikit-image's immunohistochemistry photograph
(``style.image``): ``style_loss`` against ``baseline_style_loss`` (the unstyled
photograph's).

VGG-19 weights: this small config runs offline, so it uses RANDOM VGG-19 weights
(``style.vgg_weights="random"``, a warning says so at start): the run checks the plumbing
and the loss falling, not the look of a real style transfer. For that, pass torchvision's
ImageNet weights (https://download.pytorch.org/models/vgg19-dcbb9e9d.pth):

  python -m train --config=train/configs/adain_small.py --workdir=runs/adain_small \
    --config.style.vgg_weights=vgg19-dcbb9e9d.pth

Then style any photo with any style image: ``python -m jaxvision.style CONTENT STYLE
--method=adain --workdir=runs/adain_small --out=OUT.png``.
"""

from train.configs import style_common

RELU_1 = {f"relu{b}_1": 1.0 for b in range(1, 5)}


def get_config():
    c = style_common.style_config("adain")
    c.total_steps = 1500
    c.batch_size = 8  # Huang and Belongie's
    c.model.name = "adain_decoder"
    c.model.kwargs.widths = (64, 32, 16)
    c.style.vgg_weights = "random"
    c.style.image_size = style_common.EVAL_SIZE
    c.style.content_layers = {"relu4_1": 1.0}
    c.style.style_layers = RELU_1
    c.style.content_weight = 1.0
    c.style.style_weight = 10.0
    c.optimizer.learning_rate = 1e-4
    return c
