"""`jaxvision.convert.facenet_mtcnn`: the shipped MTCNN file is the wheel's weights, converted."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from flax import traverse_util

from jaxvision.convert import facenet_mtcnn
from jaxvision.faces import weights
from jaxvision.models import mtcnn


def _zeros_state_dict(name: str) -> dict[str, np.ndarray]:
    """A state dict of the torch shapes of one network (from the Flax shapes)."""
    state_dict = {}
    for layer, variables in mtcnn.parameter_shapes(name)["params"].items():
        for variable, shape in variables.items():
            if variable == "kernel":
                shape = (shape[3], shape[2], shape[0], shape[1]) if len(shape) == 4 else shape[::-1]
            state_dict[facenet_mtcnn._torch_key(layer, variable)] = np.zeros(shape, np.float32)
    return state_dict


def test_reconverting_the_wheel_gives_the_shipped_file(facenet_wheel, tmp_path):
    out = facenet_mtcnn.main([facenet_wheel, f"--out={tmp_path / 'mtcnn.npz'}"])
    converted = traverse_util.flatten_dict(weights.load(out))
    shipped = traverse_util.flatten_dict(weights.load())
    assert converted.keys() == shipped.keys()
    assert len(shipped) == len(weights.expected_shapes()) == 13 + 16 + 21
    for key, value in shipped.items():
        np.testing.assert_array_equal(converted[key], value, err_msg="/".join(key))


def test_layouts_are_transposed_explicitly():
    rng = np.random.default_rng(0)
    state_dict = _zeros_state_dict("onet")
    conv = rng.normal(size=(32, 3, 3, 3)).astype(np.float32)  # [out, in, kh, kw]
    dense = rng.normal(size=(256, 1152)).astype(np.float32)  # [out, (w, h, c) in]
    state_dict |= {"conv1.weight": conv, "dense5.weight": dense}
    params = facenet_mtcnn.convert_state_dict("onet", state_dict)["params"]
    np.testing.assert_array_equal(params["conv1"]["kernel"][1, 2, 0, 5], conv[5, 0, 1, 2])
    h, w, c = 2, 0, 17  # NHWC flattening index (h * 3 + w) * 128 + c, torch's (w * 3 + h) * 128 + c
    np.testing.assert_array_equal(
        params["dense5"]["kernel"][(h * 3 + w) * 128 + c], dense[:, (w * 3 + h) * 128 + c]
    )


def test_a_mismatched_state_dict_is_refused_naming_the_keys():
    state_dict = _zeros_state_dict("rnet")
    del state_dict["prelu2.weight"]
    state_dict["dense9.weight"] = np.zeros(3)
    state_dict["conv1.bias"] = np.zeros(27)
    with pytest.raises(ValueError) as error:
        facenet_mtcnn.convert_state_dict("rnet", state_dict)
    message = str(error.value)
    assert "Missing: prelu2.weight" in message and "Unexpected: dense9.weight" in message
    assert "conv1.bias (27,)" in message


def test_a_file_that_is_not_the_wheel_is_refused(tmp_path):
    not_zip = tmp_path / "not.whl"
    not_zip.write_bytes(b"not a zip")
    other = tmp_path / "other.whl"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("facenet_pytorch/data/pnet.pt", b"")
    for path in (not_zip, other):
        with pytest.raises(ValueError, match="not a facenet-pytorch wheel"):
            facenet_mtcnn.read_wheel(path)
