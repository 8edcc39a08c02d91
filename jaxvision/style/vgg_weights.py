"""The VGG-19 variables style transfer measures images with: a weights file, or random ones.

Style transfer needs torchvision's ImageNet VGG-19 (``vgg19-dcbb9e9d.pth``); these machines
cannot download it, so a user supplies the file. ``"random"`` instead of a path asks for
He-normal random weights (seeded): random filters still capture texture statistics
(Ustyuzhaninov et al., 2017, "What does it take to generate natural textures?"), enough for
tests and smoke runs, not for the results of the papers. Nothing falls back to random
weights silently: a missing or empty path is an error that names the file needed.

Example:
  >>> variables = vgg19_variables("random", seed=0, layers=["relu2_1"])  # the convs it needs
  >>> {name: p["kernel"].shape for name, p in variables["params"].items()}["conv2_1"]
  (3, 3, 64, 128)
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from jaxvision.models.vgg import VGG19_BLOCK_SIZES, VGG_WIDTHS, layer_names

# The file a user supplies (the perceptual loss's, ``jaxvision.tasks.perceptual``, which this
# module does not import: ``jaxvision.style`` stays clear of the task registry).
VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_SOURCE = f"https://download.pytorch.org/models/{VGG19_FILE} (torchvision's VGG19)"

# The value of a ``vgg_weights`` setting that asks for random weights.
RANDOM_WEIGHTS = "random"
# He-normal gain for ReLU networks: activations keep their scale through the 16 convs.
HE_GAIN = 2.0
KERNEL = 3
RGB = 3


def missing_weights_message(path: str) -> str:
    """What a user is told when the VGG-19 weights file is missing (``path`` may be "").

    Example:
      >>> "vgg19-dcbb9e9d.pth" in missing_weights_message("")
      True
    """
    where = f"no file at {path!r}" if path else "no file given"
    return (
        f"VGG-19 weights needed ({where}): pass the path of torchvision's ImageNet VGG-19 "
        f"state dict, {VGG19_FILE}, from {VGG19_SOURCE}; or {RANDOM_WEIGHTS!r} for random "
        f"weights (tests and smoke runs only)"
    )


def convs_for(layers: Sequence[str] | None) -> tuple[str, ...]:
    """The VGG-19 convs that computing ``layers`` runs (all 16 for None).

    Example:
      >>> convs_for(["relu1_2", "conv2_1"])
      ('conv1_1', 'conv1_2', 'conv2_1')
    """
    order = layer_names(VGG19_BLOCK_SIZES)
    deepest = len(order) - 1 if layers is None else max(order.index(name) for name in layers)
    return tuple(name for name in order[: deepest + 1] if name.startswith("conv"))


def random_vgg19_variables(seed: int = 0, layers: Sequence[str] | None = None) -> dict:
    """He-normal random VGG-19 variables (biases zero), deterministic in ``seed``.

    Args:
      seed: the PRNG seed.
      layers: keep only the convs these layers need (None: all 16); a conv's weights do not
        depend on which others are kept.

    Returns:
      ``{"params": {"conv1_1": {"kernel", "bias"}, ...}}`` float32 arrays.

    Example:
      >>> a = random_vgg19_variables(1)["params"]
      >>> b = random_vgg19_variables(1, layers=["relu1_1"])["params"]
      >>> list(b), bool(jnp.all(a["conv1_1"]["kernel"] == b["conv1_1"]["kernel"]))
      (['conv1_1'], True)
    """
    keep = convs_for(layers)
    # NumPy draws them, conv by conv in order: no PRNG program to compile for 16 shapes.
    rng = np.random.default_rng(seed)
    params, cin = {}, RGB
    for b, (n, width) in enumerate(zip(VGG19_BLOCK_SIZES, VGG_WIDTHS, strict=True), start=1):
        for i in range(1, n + 1):
            if f"conv{b}_{i}" not in keep:
                return {"params": params}
            std = np.float32(np.sqrt(HE_GAIN / (KERNEL * KERNEL * cin)))
            kernel = std * rng.standard_normal((KERNEL, KERNEL, cin, width), np.float32)
            params[f"conv{b}_{i}"] = {
                "kernel": jnp.asarray(kernel),
                "bias": jnp.zeros((width,), jnp.float32),
            }
            cin = width
    return {"params": params}


def vgg19_variables(weights: str, seed: int = 0, layers: Sequence[str] | None = None) -> dict:
    """VGG-19 variables from a torchvision weights file, or random ones.

    Args:
      weights: the path of torchvision's VGG-19 state dict (.pth, .safetensors or .npz;
        ``jaxvision.convert.torch_vgg.load_torch_vgg19``), or ``"random"``.
      seed: the seed of random weights.
      layers: keep only the convs these layers need (``convs_for``; None: all 16), so that
        a loss on shallow layers holds and passes around only those.

    Returns:
      ``{"params": ...}`` for ``jaxvision.models.vgg.VGG19``.

    Raises:
      FileNotFoundError: an empty path, or no file there (the message names the file needed
        and where it comes from).
    """
    if weights == RANDOM_WEIGHTS:
        return random_vgg19_variables(seed, layers)
    if not weights or not os.path.isfile(weights):
        raise FileNotFoundError(missing_weights_message(weights))
    from jaxvision.convert.torch_vgg import load_torch_vgg19

    params = load_torch_vgg19(weights)["params"]
    return {"params": {name: params[name] for name in convs_for(layers)}}
