"""Import torchvision VGG weights into `jaxvision.models.vgg.VGG` (features only).

torchvision's VGG keeps its convs in `features`, an `nn.Sequential` of conv, ReLU, ..., max
pool: conv j of the whole stack is `features.{idx}` with idx counting every conv and ReLU
(two each) and every pool (one). For VGG-19 the convs are features.0, 2 | 5, 7 | 10, 12, 14,
16 | 19, 21, 23, 25 | 28, 30, 32, 34, and they become conv1_1, conv1_2 | conv2_1, ... conv5_4.
The `classifier.*` tensors are ignored (the Flax model has no head).

Layouts: conv weights are OIHW in torch and HWIO in Flax (transposed here); biases are the
same vectors.

Example (torchvision's ImageNet VGG-19 weights, downloaded beforehand):
  >>> from jaxvision.models.vgg import VGG19
  >>> variables = load_torch_vgg19("vgg19-dcbb9e9d.pth")  # doctest: +SKIP
  >>> images = jnp.zeros((1, 224, 224, 3))  # NHWC, [0, 1]
  >>> features = VGG19().apply(variables, images, layers=("relu2_2",))  # doctest: +SKIP
"""

import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# The checkpoint readers are torch_resnet's: same file formats and wrappers.
from jaxvision.convert.torch_resnet import _read_checkpoint, _to_numpy, _unwrap_state_dict
from jaxvision.models.vgg import VGG19_BLOCK_SIZES, VGG_WIDTHS

_CONV_OIHW_TO_HWIO = (2, 3, 1, 0)
_KERNEL = 3
_IGNORED_PREFIX = "classifier."  # torchvision's fully connected head


def torch_feature_indices(block_sizes: Sequence[int] = VGG19_BLOCK_SIZES) -> dict[str, int]:
    """Flax conv name -> index of that conv in torchvision's `features` Sequential.

    Args:
      block_sizes: convs of each block.

    Returns:
      {"conv1_1": 0, "conv1_2": 2, "conv2_1": 5, ...}.

    Example:
      >>> torch_feature_indices()["conv5_4"]
      34
    """
    indices, idx = {}, 0
    for b, n in enumerate(block_sizes, start=1):
        for i in range(1, n + 1):
            indices[f"conv{b}_{i}"] = idx
            idx += 2  # the conv and its ReLU
        idx += 1  # the block's pool
    return indices


def _expected_shapes(
    block_sizes: Sequence[int], widths: Sequence[int], in_channels: int
) -> dict[str, tuple[str, tuple[int, ...]]]:
    """torch key -> (Flax conv name, torch shape) of every conv weight and bias."""
    expected, cin = {}, in_channels
    for name, idx in torch_feature_indices(block_sizes).items():
        cout = widths[int(name.removeprefix("conv").split("_")[0]) - 1]
        expected[f"features.{idx}.weight"] = (name, (cout, cin, _KERNEL, _KERNEL))
        expected[f"features.{idx}.bias"] = (name, (cout,))
        cin = cout
    return expected


def convert_state_dict(
    state_dict: Mapping[str, Any],
    block_sizes: Sequence[int] = VGG19_BLOCK_SIZES,
    widths: Sequence[int] = VGG_WIDTHS,
    in_channels: int = 3,
) -> dict:
    """Converts a torchvision VGG state dict (in memory) into Flax variables.

    Args:
      state_dict: torch key -> numpy array or torch tensor (torch itself is not imported):
        `features.{idx}.weight` [out, in, 3, 3] and `features.{idx}.bias` [out];
        `classifier.*` keys may be present and are ignored.
      block_sizes: convs of each block (VGG-19's by default; `vgg.VGG16_BLOCK_SIZES` for 16).
      widths: channels of each block's convs.
      in_channels: channels of the input image.

    Returns:
      `{"params": {"conv1_1": {"kernel": [3, 3, in, out], "bias": [out]}, ...}}`, float32 numpy
      arrays, for `jaxvision.models.vgg.VGG` of the same block sizes.

    Raises:
      ValueError: naming every missing, unexpected or mis-shaped key.

    Example:
      >>> state_dict = {
      ...     f"features.{idx}.{kind}": np.zeros((64, 3, 3, 3) if kind == "weight" else (64,))
      ...     for idx in (0,) for kind in ("weight", "bias")
      ... }
      >>> variables = convert_state_dict(state_dict, block_sizes=(1,), widths=(64,))
      >>> variables["params"]["conv1_1"]["kernel"].shape
      (3, 3, 3, 64)
    """
    expected = _expected_shapes(block_sizes, widths, in_channels)
    keys = {key for key in state_dict if not key.startswith(_IGNORED_PREFIX)}
    missing = sorted(expected.keys() - keys)
    unexpected = sorted(keys - expected.keys())
    arrays = {key: _to_numpy(state_dict[key]) for key in expected.keys() & keys}
    mismatched = [
        f"{key}: {arrays[key].shape}, expected {shape}"
        for key, (_, shape) in expected.items()
        if key in arrays and arrays[key].shape != shape
    ]
    if missing or unexpected or mismatched:
        raise ValueError(
            f"State dict does not match a VGG with blocks {tuple(block_sizes)}. "
            f"Missing keys: {missing or 'none'}. Unexpected keys: {unexpected or 'none'}. "
            f"Mis-shaped: {mismatched or 'none'}."
        )
    params: dict[str, dict[str, np.ndarray]] = {}
    for key, (name, _) in expected.items():
        value = arrays[key]
        if key.endswith(".weight"):
            params.setdefault(name, {})["kernel"] = np.transpose(value, _CONV_OIHW_TO_HWIO)
        else:
            params.setdefault(name, {})["bias"] = value
    return {"params": params}


def load_torch_vgg19(path: str | pathlib.Path) -> dict:
    """Reads a torchvision VGG-19 weights file (e.g. vgg19-dcbb9e9d.pth) into Flax variables.

    Args:
      path: a .pth/.pt file (needs torch), a .safetensors file (needs safetensors) or a .npz
        file holding a state dict; a {"state_dict": ...} or {"model": ...} wrapper and a
        "module." key prefix are removed.

    Returns:
      `{"params": ...}` of float32 numpy arrays for `jaxvision.models.vgg.VGG19`.

    Raises:
      FileNotFoundError: if `path` is not a file.
      ImportError: if the library that reads the file's format is not installed.
      ValueError: for an unsupported suffix, or from `convert_state_dict`.

    Example:
      >>> import tempfile
      >>> import torch
      >>> from benchmarks.torch_restoration import vgg_features  # torchvision's layout
      >>> from jaxvision.models.vgg import VGG19
      >>> path = tempfile.mkdtemp() + "/vgg19.pth"
      >>> features = vgg_features()  # or: torchvision.models.vgg19(weights=...).features
      >>> torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
      >>> variables = load_torch_vgg19(path)
      >>> activations = VGG19().apply(variables, jnp.zeros((1, 32, 32, 3)), layers="relu4_1")
      >>> activations["relu4_1"].shape
      (1, 4, 4, 512)
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint file at {path}.")
    return convert_state_dict(_unwrap_state_dict(_read_checkpoint(path)))
