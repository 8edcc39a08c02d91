"""PyTorch reference of the U-Net (`jaxvision.models.unet.UNet`), for tests and benchmarks.

The same layers, parameter shapes and function in plain `torch.nn`: per level two 3x3 convs
(padding 1) each followed by a norm and a ReLU, 2x2 max pools that round up
(`ceil_mode=True`, what the Flax model's SAME pooling computes), 2x2 stride-2 transposed
convs cropped to the skip's size, concatenation [skip, upsampled], a 1x1 conv head.
Submodules are named like the Flax parameters (`down0_conv1`, `up1`, `head` ...) so that
weights map one to one. Input [b, 3, h, w] (normalised), logits [b, k, h, w]. This module
does not import JAX.

Example:
  >>> model = UNet(num_classes=3, features=(4, 8)).eval()
  >>> model(torch.zeros(1, 3, 10, 13)).shape
  torch.Size([1, 3, 10, 13])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

# ImageNet statistics, as `jaxvision.ops.image.normalize` applies them on the device.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
IGNORE_LABEL = 255
# Channels a GroupNorm group holds at most (`jaxvision.models.unet.GROUP_NORM_CHANNELS`).
GROUP_NORM_CHANNELS = 16
# Flax's BatchNorm epsilon in the U-Net, and torch's momentum for its 0.9 decay.
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.1


def _norm(kind: str, width: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(width, eps=BN_EPSILON, momentum=BN_MOMENTUM)
    if kind == "group":
        return nn.GroupNorm(max(1, width // GROUP_NORM_CHANNELS), width, eps=1e-6)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; valid: batch, group, none")


class UNet(nn.Module):
    """`jaxvision.models.unet.UNet` in torch.

    Args:
      num_classes: channels of the logits.
      features: widths of the levels, full resolution first.
      norm: "batch", "group" or "none" after every 3x3 conv (convs before a norm have no
        bias).
      in_channels: image channels.
    """

    def __init__(
        self,
        num_classes: int,
        features: Sequence[int] = (64, 128, 256, 512, 1024),
        norm: str = "batch",
        in_channels: int = 3,
    ):
        super().__init__()
        self.features = tuple(features)
        bias = norm == "none"
        cin = in_channels
        for i, width in enumerate(self.features):
            self._add_level(f"down{i}", cin, width, norm, bias)
            cin = width
        for i in range(len(self.features) - 2, -1, -1):
            width = self.features[i]
            self.add_module(f"up{i}", nn.ConvTranspose2d(self.features[i + 1], width, 2, 2))
            self._add_level(f"up{i}", 2 * width, width, norm, bias)
        self.head = nn.Conv2d(self.features[0], num_classes, 1)

    def _add_level(self, prefix: str, cin: int, width: int, norm: str, bias: bool) -> None:
        for k, c in ((1, cin), (2, width)):
            self.add_module(f"{prefix}_conv{k}", nn.Conv2d(c, width, 3, padding=1, bias=bias))
            self.add_module(f"{prefix}_norm{k}", _norm(norm, width))

    def _level(self, x: torch.Tensor, prefix: str) -> torch.Tensor:
        for k in (1, 2):
            x = getattr(self, f"{prefix}_conv{k}")(x)
            x = torch.relu(getattr(self, f"{prefix}_norm{k}")(x))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i in range(len(self.features)):
            if i > 0:
                x = F.max_pool2d(x, 2, 2, ceil_mode=True)
            x = self._level(x, f"down{i}")
            skips.append(x)
        for i in range(len(self.features) - 2, -1, -1):
            skip = skips[i]
            up = getattr(self, f"up{i}")(x)[:, :, : skip.shape[2], : skip.shape[3]]
            x = self._level(torch.cat([skip, up], dim=1), f"up{i}")
        return self.head(x)


# Names of `jaxvision.models.MODELS` -> (class, its defaults).
MODELS = {"unet": (UNet, {}), "unet_small": (UNet, {"features": (8, 16, 32, 64, 128)})}
# Fields of the Flax model that only concern its lowering or dtype.
_FLAX_ONLY = ("conv_impl", "dtype", "param_dtype", "remat", "bn_momentum")


def build_model(name: str, num_classes: int, **kwargs) -> nn.Module:
    """The torch reference of a registered Flax segmentation model.

    Args:
      name: a key of `MODELS`.
      num_classes: channels of the logits.
      **kwargs: the Flax fields (`features`, `norm`); lowering fields (`conv_impl` ...) are
        dropped.

    Returns:
      The module, in training mode.

    Raises:
      ValueError: for an unknown name; the message lists the valid ones.
    """
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; valid names: {', '.join(sorted(MODELS))}.")
    cls, defaults = MODELS[name]
    fields = {k: v for k, v in kwargs.items() if k not in _FLAX_ONLY}
    return cls(num_classes=num_classes, **(defaults | fields))


def _batch(job) -> tuple[torch.Tensor, torch.Tensor]:
    """The suite job's synthetic batch: normalised images [b, 3, s, s], labels [b, s, s]."""
    from benchmarks import synthetic

    batch = synthetic.make_batch(
        "segmentation", job["cpu_batch_size"], job["image_size"], job["num_classes"]
    )
    images = torch.from_numpy(batch["image"]).permute(0, 3, 1, 2).float() / 255.0
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (MEAN, STD))
    labels = torch.from_numpy(batch["segmentation_mask"][..., 0]).long()
    return ((images - mean) / std).contiguous(), labels


def _steps(job) -> tuple[nn.Module, Callable, Callable]:
    """The job's U-Net, and its train and predict steps on the job's batch."""
    config = job["torch_config"]
    model_cfg = config["model"]
    model = build_model(model_cfg["name"], job["num_classes"], **model_cfg.get("kwargs", {}))
    images, labels = _batch(job)
    opt = config["optimizer"]
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=opt["learning_rate"], weight_decay=opt.get("weight_decay", 0.0)
    )

    def train_step(_):
        loss = F.cross_entropy(model(images), labels, ignore_index=IGNORE_LABEL)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    def predict_step(_):
        with torch.inference_mode():
            return model(images).argmax(dim=1)

    return model, train_step, predict_step


def run(job, threads: int) -> dict[str, dict]:
    """Times a suite job's U-Net reference: train (cross entropy ignoring 255, AdamW at the
    config's learning rate and weight decay), then inference (the class map), as the JAX task.

    Args:
      job: from `benchmarks.suite.make_job`: `torch_config` (`model`; `optimizer`'s
        `learning_rate`, `weight_decay`), `num_classes`, `image_size`, `cpu_batch_size`,
        `steps`, `warmup`.
      threads: PyTorch intra-op threads.

    Returns:
      {"train": record, "inference": record}, as `throughput.time_torch_reference`'s.
    """
    from benchmarks import throughput

    return throughput.time_torch_reference(job, threads, _steps)
