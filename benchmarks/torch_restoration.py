"""PyTorch references of the image-restoration models, for tests and benchmarks.

Plain `torch.nn` equals of `jaxvision.models.srgan.SRResNet`,
`jaxvision.models.deblurgan.DeblurGANGenerator` and the features of
`jaxvision.models.vgg.VGG`: the same layers, parameter shapes, value ranges (images in [0, 1]
in and out) and function, with submodules named like the Flax parameters (`blocks.{j}` for
`block{j}`, `upsample.{k}.conv` for `upsample{k}_conv`) so that weights map one to one. They use
only ops with channels-last kernels; move a model and its input to
`memory_format=torch.channels_last` to run NHWC. This module does not import JAX.

Example:
  >>> model = build_model("srresnet_x2", num_blocks=2, features=16).eval()
  >>> model(torch.rand(1, 3, 12, 10)).shape
  torch.Size([1, 3, 24, 20])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

VGG19_BLOCK_SIZES = (2, 2, 4, 4, 4)
VGG_WIDTHS = (64, 128, 256, 512, 512)


class _SRResidualBlock(nn.Module):
    """conv3x3-BN-PReLU-conv3x3-BN plus the input."""

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(features)
        self.prelu = nn.PReLU(features)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))


class _SubPixelBlock(nn.Module):
    """conv3x3 to 4x the channels, pixel shuffle x2, PReLU."""

    def __init__(self, features: int):
        super().__init__()
        self.conv = nn.Conv2d(features, 4 * features, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        self.prelu = nn.PReLU(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.shuffle(self.conv(x)))


class SRResNet(nn.Module):
    """`jaxvision.models.srgan.SRResNet` in torch: [b, c, h, w] in [0, 1] -> [b, c, sh, sw].

    ``bicubic_residual`` upsamples with torch's bicubic (a = -0.75; the Flax model's is PIL's,
    a = -0.5): the same cost, for timing.
    """

    def __init__(
        self,
        scale: int = 4,
        num_blocks: int = 16,
        features: int = 64,
        channels: int = 3,
        bicubic_residual: bool = False,
    ):
        super().__init__()
        self.scale, self.bicubic_residual = scale, bicubic_residual
        if scale not in (2, 4, 8):
            raise ValueError(f"scale must be 2, 4 or 8, got {scale}.")
        self.conv_in = nn.Conv2d(channels, features, 9, padding=4)
        self.prelu_in = nn.PReLU(features)
        self.blocks = nn.Sequential(*(_SRResidualBlock(features) for _ in range(num_blocks)))
        self.conv_mid = nn.Conv2d(features, features, 3, padding=1, bias=False)
        self.bn_mid = nn.BatchNorm2d(features)
        self.upsample = nn.Sequential(
            *(_SubPixelBlock(features) for _ in range(int(math.log2(scale))))
        )
        self.conv_out = nn.Conv2d(features, channels, 9, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.prelu_in(self.conv_in(x))
        y = self.bn_mid(self.conv_mid(self.blocks(skip))) + skip
        y = torch.tanh(self.conv_out(self.upsample(y)))
        if self.bicubic_residual:
            base = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
            return torch.clamp(base + y / 2, 0, 1)
        return (y + 1) / 2


def _norm(kind: str, features: int) -> nn.Module:
    """The generator's normalization: instance norm (the paper's) or none."""
    if kind == "none":
        return nn.Identity()
    if kind != "instance":
        raise ValueError(f"DeblurGANGenerator norm must be 'instance' or 'none', got {kind!r}.")
    return nn.InstanceNorm2d(features, eps=1e-5, affine=False)


class _ResnetBlock(nn.Module):
    """x + IN(conv3x3(dropout(ReLU(IN(conv3x3(x)))))), reflection padding."""

    def __init__(self, features: int, dropout_rate: float = 0.0, norm: str = "instance"):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1, padding_mode="reflect")
        self.norm1 = _norm(norm, features)
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate else nn.Identity()
        self.conv2 = nn.Conv2d(features, features, 3, padding=1, padding_mode="reflect")
        self.norm2 = _norm(norm, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dropout(torch.relu(self.norm1(self.conv1(x))))
        return x + self.norm2(self.conv2(y))


class DeblurGANGenerator(nn.Module):
    """`jaxvision.models.deblurgan.DeblurGANGenerator` in torch (the DeblurGAN authors' network
    with images in [0, 1]): [b, c, h, w] -> [b, c, h, w], h and w multiples of 4. `norm`
    "none" drops the instance norms (the Flax model's option; the convs then start from
    He's fan-in init, untruncated here)."""

    def __init__(
        self,
        features: int = 64,
        num_blocks: int = 9,
        dropout_rate: float = 0.0,
        channels: int = 3,
        zero_init_output: bool = False,
        norm: str = "instance",
    ):
        super().__init__()
        f = features
        self.conv_in = nn.Conv2d(channels, f, 7, padding=3, padding_mode="reflect")
        self.down1 = nn.Conv2d(f, 2 * f, 3, stride=2, padding=1)
        self.down2 = nn.Conv2d(2 * f, 4 * f, 3, stride=2, padding=1)
        self.blocks = nn.Sequential(
            *(_ResnetBlock(4 * f, dropout_rate, norm) for _ in range(num_blocks))
        )
        self.up1 = nn.ConvTranspose2d(4 * f, 2 * f, 3, stride=2, padding=1, output_padding=1)
        self.up2 = nn.ConvTranspose2d(2 * f, f, 3, stride=2, padding=1, output_padding=1)
        self.conv_out = nn.Conv2d(f, channels, 7, padding=3, padding_mode="reflect")
        self.norms = nn.ModuleList(_norm(norm, n * f) for n in (1, 2, 4, 2, 1))
        # N(0, 0.02) weights and zero biases, as the authors'; without norms He's init over
        # the input channels times the kernel, as the Flax model's (a transposed conv's
        # weight is [in, out, k, k], whose torch "fan_out" is in * k * k).
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
                if norm == "none":
                    transposed = isinstance(module, nn.ConvTranspose2d)
                    mode = "fan_out" if transposed else "fan_in"
                    nn.init.kaiming_normal_(module.weight, mode=mode, nonlinearity="relu")
                else:
                    nn.init.normal_(module.weight, 0.0, 0.02)
                nn.init.zeros_(module.bias)
        if zero_init_output:
            nn.init.zeros_(self.conv_out.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"Height and width must be multiples of 4, got {tuple(x.shape)}.")
        y = 2 * x - 1
        convs = (self.conv_in, self.down1, self.down2)
        for conv, norm in zip(convs, self.norms[:3], strict=True):
            y = torch.relu(norm(conv(y)))
        y = self.blocks(y)
        for conv, norm in zip((self.up1, self.up2), self.norms[3:], strict=True):
            y = torch.relu(norm(conv(y)))
        return torch.clamp(x + torch.tanh(self.conv_out(y)) / 2, 0, 1)


def vgg_features(
    block_sizes: Sequence[int] = VGG19_BLOCK_SIZES,
    widths: Sequence[int] = VGG_WIDTHS,
    in_channels: int = 3,
) -> nn.Sequential:
    """torchvision's `vgg19().features` (by default) with random weights: conv3x3 (padding
    1) + ReLU, a 2x2 max pool after each block. Indices and state-dict keys are torchvision's.
    The input is ImageNet-normalised, as torchvision's VGG expects.

    Example:
      >>> vgg_features()[34]  # conv5_4
      Conv2d(512, 512, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    """
    modules: list[nn.Module] = []
    cin = in_channels
    for n, width in zip(block_sizes, widths, strict=True):
        for _ in range(n):
            modules += [nn.Conv2d(cin, width, 3, padding=1), nn.ReLU(inplace=True)]
            cin = width
        modules.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*modules)


# Names of `jaxvision.models.MODELS` -> (class, its defaults).
MODELS = {
    "srresnet": (SRResNet, {"scale": 4}),
    "srresnet_x2": (SRResNet, {"scale": 2}),
    "deblurgan_generator": (DeblurGANGenerator, {}),
}


def build_model(name: str, **kwargs) -> nn.Module:
    """The torch reference of a registered Flax restoration model.

    Args:
      name: a key of `MODELS` ("srresnet", "srresnet_x2", "deblurgan_generator").
      **kwargs: constructor arguments (num_blocks, features, ...), as the Flax fields.

    Returns:
      The torch module, in training mode.

    Raises:
      ValueError: for an unknown name; the message lists the valid ones.
    """
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; valid names: {', '.join(sorted(MODELS))}.")
    cls, defaults = MODELS[name]
    return cls(**(defaults | kwargs))


def _pair(job) -> tuple[torch.Tensor, torch.Tensor]:
    """The suite job's synthetic uint8 pair as NCHW tensors (input, target)."""
    from benchmarks import synthetic

    batch = synthetic.make_batch(
        "restoration", job["cpu_batch_size"], job["image_size"], 0, scale=job.get("scale") or 1
    )
    return tuple(
        torch.from_numpy(batch[k]).permute(0, 3, 1, 2).contiguous() for k in ("input", "target")
    )


def _steps(job) -> tuple[nn.Module, Callable, Callable]:
    """The job's network, and its train and predict steps on the job's pair."""
    config = job["torch_config"]
    model = build_model(config["model"]["name"], **config["model"].get("kwargs", {}))
    inputs, targets = _pair(job)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["optimizer"]["learning_rate"])

    def train_step(_):
        restored = model(inputs.float() / 255.0)
        loss = torch.nn.functional.l1_loss(restored, targets.float() / 255.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    def predict_step(_):
        with torch.inference_mode():
            restored = model(inputs.float() / 255.0)
            return (restored.clamp(0, 1) * 255.0).round().to(torch.uint8)

    return model, train_step, predict_step


def run(job, threads: int) -> dict[str, dict]:
    """Times a suite job's restoration reference: train (the network on the pair's input, an L1
    loss against its target, Adam), then inference (uint8 in, uint8 out), as the JAX task.

    Args:
      job: from `benchmarks.suite.make_job`: `torch_config` (`model`; `optimizer`'s
        `learning_rate`), `image_size`, `scale` (super-resolution), `cpu_batch_size`, `steps`,
        `warmup`.
      threads: PyTorch intra-op threads.

    Returns:
      {"train": record, "inference": record}, as `throughput.time_torch_reference`'s.
    """
    from benchmarks import throughput

    return throughput.time_torch_reference(job, threads, _steps)
