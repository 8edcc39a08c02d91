"""MTCNN's Flax networks against the same networks in plain torch.nn, both holding the
pretrained weights of facenet-pytorch 2.6.0's wheel (the shipped file's origin)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from torch import nn

from jaxvision.convert import facenet_mtcnn
from jaxvision.models import mtcnn

TOLERANCE = 1e-4


def _trunk(*layers: tuple[int, int, int, int]) -> list[nn.Module]:
    """(in, out, kernel, pool window or 0) convs, each with a PReLU and a ceil-mode pool."""
    modules = []
    for cin, cout, kernel, pool in layers:
        modules += [nn.Conv2d(cin, cout, kernel), nn.PReLU(cout)]
        if pool:
            modules.append(nn.MaxPool2d(pool, 2, ceil_mode=True))
    return modules


class TorchPNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1, self.pool1, self.conv2, self.prelu2, self.conv3, self.prelu3 = (
            _trunk((3, 10, 3, 2), (10, 16, 3, 0), (16, 32, 3, 0))
        )
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)


class TorchRNet(nn.Module):
    def __init__(self):
        super().__init__()
        layers = _trunk((3, 28, 3, 3), (28, 48, 3, 3), (48, 64, 2, 0))
        (self.conv1, self.prelu1, self.pool1, self.conv2, self.prelu2, self.pool2) = layers[:6]
        self.conv3, self.prelu3 = layers[6:]
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x)).permute(0, 3, 2, 1).reshape(x.shape[0], -1)  # (w, h, c)
        x = self.prelu4(self.dense4(x))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)


class TorchONet(nn.Module):
    def __init__(self):
        super().__init__()
        layers = _trunk((3, 32, 3, 3), (32, 64, 3, 3), (64, 64, 3, 2), (64, 128, 2, 0))
        self.conv1, self.prelu1, self.pool1, self.conv2, self.prelu2, self.pool2 = layers[:6]
        self.conv3, self.prelu3, self.pool3, self.conv4, self.prelu4 = layers[6:]
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2 = nn.Linear(256, 2), nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x)).permute(0, 3, 2, 1).reshape(x.shape[0], -1)  # (w, h, c)
        x = self.prelu5(self.dense5(x))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)


TORCH_NETS = {"pnet": TorchPNet, "rnet": TorchRNet, "onet": TorchONet}
# Input shapes [b, h, w, 3]: P-Net at odd and even sizes (its ceil-mode pool differs).
SHAPES = {"pnet": (2, 31, 24, 3), "rnet": (5, 24, 24, 3), "onet": (5, 48, 48, 3)}


@pytest.fixture(scope="module")
def state_dicts(facenet_wheel):
    return facenet_mtcnn.read_wheel(facenet_wheel)


def _outputs(name, state_dict, images: np.ndarray, conv_impl: str):
    torch_net = TORCH_NETS[name]().eval()
    torch_net.load_state_dict(state_dict)
    with torch.no_grad():
        expected = torch_net(torch.from_numpy(images.transpose(0, 3, 1, 2)))  # NCHW
    expected = [
        e.numpy().transpose(0, 2, 3, 1) if e.ndim == 4 else e.numpy() for e in expected
    ]  # NHWC
    variables = facenet_mtcnn.convert_state_dict(name, state_dict)
    flax_net = mtcnn.NETWORKS[name](conv_impl=conv_impl)
    got = jax.jit(flax_net.apply)(variables, jnp.asarray(images))
    return got, expected


@pytest.mark.parametrize("conv_impl", ["auto", "xla"])
@pytest.mark.parametrize("name", sorted(mtcnn.NETWORKS))
def test_flax_net_matches_torch_with_pretrained_weights(state_dicts, name, conv_impl):
    images = np.random.default_rng(0).uniform(-1, 1, SHAPES[name]).astype(np.float32)
    got, expected = _outputs(name, state_dicts[name], images, conv_impl)
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g.shape == e.shape
        np.testing.assert_allclose(np.asarray(g), e, atol=TOLERANCE, rtol=0)
    probs = np.asarray(got[-1])
    assert probs.std() > 1e-3  # real weights: the face probability varies over inputs


def test_the_flattening_order_matters(state_dicts):
    # Without the (w, h, c) -> (h, w, c) reordering of dense4's rows, R-Net disagrees.
    state_dict = state_dicts["rnet"]
    variables = facenet_mtcnn.convert_state_dict("rnet", state_dict)
    kernel = np.asarray(state_dict["dense4.weight"]).T  # [576, 128] rows in (w, h, c) order
    unordered = jax.tree.map(lambda x: x, variables)
    unordered["params"]["dense4"]["kernel"] = kernel
    images = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (4, 24, 24, 3)), jnp.float32)
    apply = jax.jit(mtcnn.RNet().apply)
    good, bad = apply(variables, images)[0], apply(unordered, images)[0]
    assert float(jnp.max(jnp.abs(good - bad))) > 1e-2


def test_pnet_mask_gives_each_packed_image_its_own_output(state_dicts):
    # Two images side by side at an even offset, the first of odd sizes (partial pool
    # windows at its edges), padded with junk: the mask of their own 3x3 windows gives each
    # its own P-Net output on the cells whose 12x12 window lies inside it.
    variables = facenet_mtcnn.convert_state_dict("pnet", state_dicts["pnet"])
    rng = np.random.default_rng(2)
    first = rng.uniform(-1, 1, (1, 17, 15, 3)).astype(np.float32)
    second = rng.uniform(-1, 1, (1, 14, 12, 3)).astype(np.float32)
    canvas = np.full((1, 22, 30, 3), 5.0, np.float32)
    canvas[:, :17, :15], canvas[:, :14, 16:28] = first, second
    mask = np.zeros((22 - 2, 30 - 2), bool)
    mask[: 17 - 2, : 15 - 2] = mask[: 14 - 2, 16 : 28 - 2] = True
    apply = jax.jit(mtcnn.PNet().apply)
    packed = apply(variables, jnp.asarray(canvas), jnp.asarray(mask))
    for image, (y, x) in ((first, (0, 0)), (second, (0, 8))):  # cell offsets: pixels / 2
        alone = apply(variables, jnp.asarray(image))
        oh, ow = (mtcnn.pnet_output_size(s) for s in image.shape[1:3])
        assert alone[0].shape[1:3] == (oh, ow)
        for a, b in zip(alone, packed, strict=True):
            np.testing.assert_allclose(np.asarray(b[:, y : y + oh, x : x + ow]), a, atol=1e-5)
    assert all(np.isfinite(np.asarray(p)).all() for p in packed)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="24x24"):
        mtcnn.RNet().init(jax.random.key(0), jnp.zeros((1, 20, 24, 3)))
    with pytest.raises(ValueError, match="at least 12x12"):
        mtcnn.PNet().init(jax.random.key(0), jnp.zeros((1, 11, 30, 3)))
    with pytest.raises(ValueError, match=r"\[b, h, w, 3\]"):
        mtcnn.ONet().init(jax.random.key(0), jnp.zeros((48, 48, 3)))


def test_max_pool_ceil_is_torchs():
    x = np.random.default_rng(3).normal(size=(1, 4, 11, 10)).astype(np.float32)  # NCHW
    for window, stride in ((2, 2), (3, 2)):
        expected = nn.MaxPool2d(window, stride, ceil_mode=True)(torch.from_numpy(x)).numpy()
        got = mtcnn.max_pool_ceil(jnp.asarray(x.transpose(0, 2, 3, 1)), window, stride)
        np.testing.assert_array_equal(np.asarray(got), expected.transpose(0, 2, 3, 1))
