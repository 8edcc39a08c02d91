"""PyTorch reference ResNets (v1.5) for tests and benchmarks.

A copy of torchvision's ResNet in plain `torch.nn`, with torchvision's exact state-dict names
(conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, fc, ...), plus the width and "cifar" stem
options of `jaxvision.models.resnet.ResNet`. Checkpoints of torchvision and timm ResNets load
into it unchanged, and `jaxvision.convert.torch_resnet` converts its state dict.

Example:
  >>> model = torch_resnet("resnet18", num_classes=10, stem="cifar").eval()
  >>> model(torch.zeros(2, 3, 32, 32)).shape
  torch.Size([2, 10])
"""

import torch
from torch import nn

STEMS = ("imagenet", "cifar")


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)


def _conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs and a shortcut, as torchvision.models.resnet.BasicBlock."""

    expansion = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1, strided 3x3, 1x1 (x4) and a shortcut, as torchvision.models.resnet.Bottleneck."""

    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ):
        super().__init__()
        self.conv1 = _conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision's ResNet with a configurable width and stem.

    Args:
      block: `BasicBlock` or `Bottleneck`.
      layers: blocks per stage.
      num_classes: size of the logits.
      width: channels of the stem and the first stage (torchvision: 64).
      stem: "imagenet" (7x7/2 conv + 3x3/2 max-pool) or "cifar" (3x3/1 conv, no pool).
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: list[int],
        num_classes: int,
        width: int = 64,
        stem: str = "imagenet",
    ):
        super().__init__()
        if stem not in STEMS:
            raise ValueError(f"Unknown stem {stem!r}; valid stems: {', '.join(STEMS)}.")
        self.inplanes = width
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        else:
            self.conv1 = _conv3x3(3, width)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        for i, num_blocks in enumerate(layers):
            stage = self._make_layer(block, width * 2**i, num_blocks, stride=1 if i == 0 else 2)
            self.add_module(f"layer{i + 1}", stage)
        self.num_stages = len(layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 2 ** (len(layers) - 1) * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(
        self, block: type[BasicBlock] | type[Bottleneck], planes: int, blocks: int, stride: int
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                _conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        stage = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        stage += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: [b, 3, h, w]. Returns: logits [b, num_classes]."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


# name -> (block, blocks per stage, width); the same variants as jaxvision.models.MODELS.
_CONFIGS = {
    "resnet_tiny": (BasicBlock, [1, 1, 1, 1], 16),
    "resnet18": (BasicBlock, [2, 2, 2, 2], 64),
    "resnet34": (BasicBlock, [3, 4, 6, 3], 64),
    "resnet50": (Bottleneck, [3, 4, 6, 3], 64),
    "resnet101": (Bottleneck, [3, 4, 23, 3], 64),
    "resnet152": (Bottleneck, [3, 8, 36, 3], 64),
}


def torch_resnet(name: str, num_classes: int, stem: str = "imagenet") -> nn.Module:
    """Builds a reference PyTorch ResNet with torchvision's initialisation.

    Args:
      name: resnet_tiny, resnet18, resnet34, resnet50, resnet101 or resnet152.
      num_classes: size of the logits.
      stem: "imagenet" or "cifar".

    Returns:
      The module, in training mode (call `.eval()` for inference).

    Raises:
      ValueError: for an unknown name or stem.
    """
    if name not in _CONFIGS:
        raise ValueError(f"Unknown ResNet {name!r}; valid names: {', '.join(_CONFIGS)}.")
    block, layers, width = _CONFIGS[name]
    return ResNet(block, layers, num_classes, width=width, stem=stem)
