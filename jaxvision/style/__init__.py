"""Neural style transfer a user calls directly.

- ``transfer`` (Gatys et al.): optimise an image so that its VGG-19 features match a
  content image's and its Gram matrices a style image's (``jaxvision.style.gatys``).
- ``trained.load(workdir)``: apply a trained AdaIN decoder (any style) or feed-forward
  network (one style), runs of ``train/configs/adain_small.py`` and
  ``train/configs/fast_style_small.py`` (``jaxvision.style.trained``).
- ``python -m jaxvision.style CONTENT [STYLE] --out=OUT.png --vgg_weights=FILE
  [--method=gatys|adain|fast --steps=N --style_weight=W --size=S]``: the command
  (``jaxvision.style.__main__``).

VGG-19 weights come from a file the user supplies (torchvision's ``vgg19-dcbb9e9d.pth``;
``vgg19_variables``); images of any size are resized by ``jaxvision.style.images``' rule.

Example:
  >>> content = np.full((32, 32, 3), 128, np.uint8)
  >>> style = load_style_image("texture:waves")  # 256 x 256, resized to 32 x 32
  >>> layers = {"content_layers": {"relu2_1": 1.0}, "style_layers": {"relu1_1": 1.0}}
  >>> vgg = vgg19_variables("random", layers=["relu2_1"])  # or the path of vgg19-dcbb9e9d.pth
  >>> result = transfer(content, style, vgg, GatysOptions(steps=1, **layers), progress=False)
  >>> result.image.shape
  (32, 32, 3)
"""

from jaxvision.style.gatys import GatysOptions, GatysResult, transfer
from jaxvision.style.images import fit_sizes, load_style_image, read_image, save_image
from jaxvision.style.vgg_weights import RANDOM_WEIGHTS, random_vgg19_variables, vgg19_variables

__all__ = [
    "RANDOM_WEIGHTS",
    "GatysOptions",
    "GatysResult",
    "fit_sizes",
    "load_style_image",
    "random_vgg19_variables",
    "read_image",
    "save_image",
    "transfer",
    "vgg19_variables",
]
