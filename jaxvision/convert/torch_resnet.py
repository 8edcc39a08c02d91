"""Import torchvision / timm ResNet weights into `jaxvision.models.resnet.ResNet`.

torchvision and timm name a ResNet's tensors alike (conv1, bn1, layer{i}.{j}.conv{k},
layer{i}.{j}.bn{k}, layer{i}.{j}.downsample.{0,1}, fc). The block type (basic or bottleneck),
the stage sizes and the stem come from the state dict itself; build the Flax model with the
same variant, `num_classes` and `stem` to use the result.

Layouts: conv weights are OIHW in torch and HWIO in Flax; linear weights are [out, in] in torch
and [in, out] in Flax; BatchNorm `weight`/`bias` are the Flax `scale`/`bias` params and
`running_mean`/`running_var` are the `mean`/`var` batch stats.

Example (torchvision's ImageNet ResNet-50 weights file, downloaded beforehand):
  >>> from jaxvision.models.resnet import ResNet50
  >>> variables = load_torch_resnet_checkpoint("resnet50-11ad3fa6.pth")  # doctest: +SKIP
  >>> model = ResNet50(num_classes=1000)
  >>> images = jnp.zeros((1, 224, 224, 3))  # NHWC
  >>> logits = model.apply(variables, images, train=False)  # doctest: +SKIP
"""

import pathlib
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
from flax import traverse_util

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".safetensors", ".npz")
_WRAPPER_KEYS = ("state_dict", "model")  # what training scripts nest the weights under
_DDP_PREFIX = "module."
_BLOCK_KEY = re.compile(r"^layer(\d+)\.(\d+)\.")
_BN_BUFFER_OPTIONAL = "num_batches_tracked"  # read by nothing in eval; often dropped

# torch tensor layout -> Flax layout, keyed by the tensor's rank.
_CONV_OIHW_TO_HWIO = (2, 3, 1, 0)


def _to_numpy(value: Any) -> np.ndarray:
    """A float32 numpy copy of a numpy array, a jax array or a torch tensor."""
    if hasattr(value, "detach"):  # A torch.Tensor; torch is not imported here.
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.float()  # bfloat16 has no numpy dtype.
        value = value.numpy()
    return np.asarray(value, dtype=np.float32)


def _conv_entry(torch_prefix: str, flax_path: tuple[str, ...]) -> dict[str, tuple]:
    return {f"{torch_prefix}.weight": ("params", *flax_path, "kernel")}


def _norm_entries(torch_prefix: str, flax_path: tuple[str, ...]) -> dict[str, tuple]:
    return {
        f"{torch_prefix}.weight": ("params", *flax_path, "scale"),
        f"{torch_prefix}.bias": ("params", *flax_path, "bias"),
        f"{torch_prefix}.running_mean": ("batch_stats", *flax_path, "mean"),
        f"{torch_prefix}.running_var": ("batch_stats", *flax_path, "var"),
    }


def _stage_sizes(keys: list[str]) -> list[int]:
    """Blocks per stage, from the layer{i}.{j}. keys (a stage with no key counts one block)."""
    last_block: dict[int, int] = {}
    for key in keys:
        match = _BLOCK_KEY.match(key)
        if match:
            stage, block = int(match.group(1)), int(match.group(2))
            last_block[stage] = max(last_block.get(stage, 0), block)
    if not last_block:
        raise ValueError(
            "No ResNet block keys (layer{i}.{j}.*) in the state dict; first keys: "
            f"{', '.join(keys[:5])}."
        )
    return [last_block.get(stage, 0) + 1 for stage in range(1, max(last_block) + 1)]


def _key_map(
    stage_sizes: list[int], bottleneck: bool, include_head: bool
) -> tuple[dict[str, tuple], set[str]]:
    """torch key -> Flax variable path, and the torch keys that may be present but are unused.

    A stage's first block has a projection shortcut when it changes the resolution (stages
    after the first) or the width (every bottleneck stage); see `resnet._shortcut`.
    """
    key_map = _conv_entry("conv1", ("stem_conv",)) | _norm_entries("bn1", ("stem_norm",))
    num_convs = 3 if bottleneck else 2
    for i, num_blocks in enumerate(stage_sizes, start=1):
        for j in range(num_blocks):
            torch_block, flax_block = f"layer{i}.{j}", f"stage{i}_block{j}"
            for k in range(1, num_convs + 1):
                key_map |= _conv_entry(f"{torch_block}.conv{k}", (flax_block, f"conv{k}"))
                key_map |= _norm_entries(f"{torch_block}.bn{k}", (flax_block, f"norm{k}"))
            if j == 0 and (i > 1 or bottleneck):
                key_map |= _conv_entry(
                    f"{torch_block}.downsample.0", (flax_block, "downsample_conv")
                )
                key_map |= _norm_entries(
                    f"{torch_block}.downsample.1", (flax_block, "downsample_norm")
                )
    head = {"fc.weight": ("params", "head", "kernel"), "fc.bias": ("params", "head", "bias")}
    unused = {
        key.replace("running_mean", _BN_BUFFER_OPTIONAL)
        for key in key_map
        if key.endswith(".running_mean")
    }
    if include_head:
        key_map |= head
    else:
        unused |= set(head)
    return key_map, unused


def _to_flax_layout(value: np.ndarray, torch_key: str, flax_path: tuple[str, ...]) -> np.ndarray:
    """Transposes a torch tensor into the layout of its Flax variable, checking its rank."""
    if flax_path[-1] != "kernel":
        expected_rank = 1
    else:
        expected_rank = 2 if flax_path[-2] == "head" else 4
    if value.ndim != expected_rank:
        raise ValueError(
            f"{torch_key} has shape {value.shape}; expected a rank-{expected_rank} tensor."
        )
    if expected_rank == 4:
        return np.transpose(value, _CONV_OIHW_TO_HWIO)  # [o, i, kh, kw] -> [kh, kw, i, o]
    if expected_rank == 2:
        return value.T  # [out, in] -> [in, out]
    return value


def _check_against_reference(flat: dict[tuple, np.ndarray], reference: Mapping) -> None:
    """Raises ValueError unless `flat` has exactly the reference's variables and shapes."""
    flat_reference = traverse_util.flatten_dict(reference)
    missing = sorted("/".join(p) for p in flat_reference.keys() - flat.keys())
    unexpected = sorted("/".join(p) for p in flat.keys() - flat_reference.keys())
    if missing or unexpected:
        raise ValueError(
            "Converted variables do not match the reference tree "
            "(is it the same variant, stem and num_classes?). "
            f"Missing: {missing or 'none'}. Unexpected: {unexpected or 'none'}."
        )
    mismatched = [
        f"{'/'.join(path)}: converted {value.shape} vs reference {reference_shape}"
        for path, value in sorted(flat.items())
        if value.shape != (reference_shape := tuple(flat_reference[path].shape))
    ]
    if mismatched:
        raise ValueError("Shape mismatch against the reference: " + "; ".join(mismatched))


def convert_resnet_state_dict(
    state_dict: Mapping[str, Any],
    reference: Mapping | None = None,
    *,
    include_head: bool = True,
) -> dict:
    """Converts a torchvision/timm ResNet state dict into Flax variables.

    Args:
      state_dict: torch key -> numpy array or torch tensor (torch itself is not imported).
      reference: optional Flax variables of the target model (arrays or `jax.ShapeDtypeStruct`
        from `jax.eval_shape(model.init, ...)`); when given, the converted tree must have the
        same variables with the same shapes.
      include_head: convert `fc.*` into the "head" Dense. False drops it (`fc.*` may then be
        present or not), for a `features_only` backbone.

    Returns:
      `{"params": ..., "batch_stats": ...}`, nested dicts of float32 numpy arrays, for
      `jaxvision.models.resnet.ResNet` of the same variant and stem.

    Raises:
      ValueError: on missing or unexpected keys (all named), a tensor of the wrong rank, or a
        mismatch against `reference`.

    Example:
      >>> from benchmarks.torch_models import torch_resnet  # torchvision's ResNet and keys
      >>> from jaxvision.models.resnet import ResNet18
      >>> torch_model = torch_resnet("resnet18", num_classes=1000)
      >>> # or: torch_model = torchvision.models.resnet18(weights="IMAGENET1K_V1")
      >>> variables = convert_resnet_state_dict(torch_model.state_dict())
      >>> images_nhwc = jnp.zeros((1, 64, 64, 3))
      >>> ResNet18(num_classes=1000).apply(variables, images_nhwc, train=False).shape
      (1, 1000)
    """
    keys = list(state_dict)
    bottleneck = any(re.match(r"^layer\d+\.\d+\.conv3\.weight$", key) for key in keys)
    key_map, unused = _key_map(_stage_sizes(keys), bottleneck, include_head)

    missing = sorted(key_map.keys() - state_dict.keys())
    unexpected = sorted(state_dict.keys() - key_map.keys() - unused)
    if missing or unexpected:
        raise ValueError(
            f"State dict does not match a {'bottleneck' if bottleneck else 'basic-block'} "
            f"ResNet. Missing keys: {missing or 'none'}. Unexpected keys: {unexpected or 'none'}."
        )

    flat = {
        flax_path: _to_flax_layout(_to_numpy(state_dict[torch_key]), torch_key, flax_path)
        for torch_key, flax_path in key_map.items()
    }
    if reference is not None:
        _check_against_reference(flat, reference)
    return traverse_util.unflatten_dict(flat)


def _unwrap_state_dict(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """Removes {"state_dict": ...} / {"model": ...} nesting and DDP's "module." prefix."""
    unwrapped = True
    while unwrapped:
        unwrapped = False
        for wrapper in _WRAPPER_KEYS:
            if isinstance(checkpoint.get(wrapper), Mapping):
                checkpoint, unwrapped = checkpoint[wrapper], True
                break
    return {key.removeprefix(_DDP_PREFIX): value for key, value in checkpoint.items()}


def _read_checkpoint(path: pathlib.Path) -> Mapping[str, Any]:
    """Reads a checkpoint file into a mapping (possibly still wrapped)."""
    suffix = path.suffix.lower()
    if suffix in (".pth", ".pt"):
        try:
            import torch
        except ImportError as e:
            raise ImportError(
                f"Reading {path} needs PyTorch (pip install torch); or save the state dict "
                "as .npz (numpy.savez) and load that."
            ) from e
        # weights_only: unpickles tensors and containers only, never arbitrary objects.
        return torch.load(path, map_location="cpu", weights_only=True)
    if suffix == ".safetensors":
        try:
            from safetensors.numpy import load_file
        except ImportError as e:
            raise ImportError(f"Reading {path} needs the safetensors package.") from e
        return load_file(path)
    if suffix == ".npz":
        with np.load(path) as data:
            return {key: data[key] for key in data.files}
    raise ValueError(
        f"Unsupported checkpoint suffix {suffix!r} ({path}); supported: "
        f"{', '.join(CHECKPOINT_SUFFIXES)}."
    )


def load_torch_resnet_checkpoint(
    path: str | pathlib.Path,
    reference: Mapping | None = None,
    *,
    include_head: bool = True,
) -> dict:
    """Reads a torchvision/timm ResNet checkpoint file and converts it to Flax variables.

    Args:
      path: a .pth/.pt file (needs torch), a .safetensors file (needs safetensors) or a .npz
        file. A {"state_dict": ...} or {"model": ...} wrapper and a "module." key prefix
        (DistributedDataParallel) are removed.
      reference: optional Flax variables to check the result against; see
        `convert_resnet_state_dict`.
      include_head: see `convert_resnet_state_dict`.

    Returns:
      `{"params": ..., "batch_stats": ...}` of float32 numpy arrays.

    Raises:
      FileNotFoundError: if `path` is not a file.
      ImportError: if the library that reads the file's format is not installed.
      ValueError: for an unsupported suffix, or from `convert_resnet_state_dict`.

    Example:
      >>> import tempfile
      >>> import torch
      >>> from benchmarks.torch_models import torch_resnet
      >>> from jaxvision.models.resnet import ResNet18
      >>> path = tempfile.mkdtemp() + "/resnet18.pth"
      >>> torch.save(torch_resnet("resnet18", num_classes=1000).state_dict(), path)
      >>> variables = load_torch_resnet_checkpoint(path)
      >>> images = jnp.zeros((1, 64, 64, 3))  # NHWC
      >>> ResNet18(num_classes=1000).apply(variables, images, train=False).shape
      (1, 1000)
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint file at {path}.")
    state_dict = _unwrap_state_dict(_read_checkpoint(path))
    return convert_resnet_state_dict(state_dict, reference, include_head=include_head)
