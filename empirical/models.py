"""The paper's networks (PAPER.md §6) and small ones for CPU runs.

``cnn8``      the CIFAR-10 8-layer CNN: three blocks [conv3×3, conv3×3, max-pool 2] with 64, 128 and
              196 channels, every conv with bias + BatchNorm + ReLU, then FC 3136→256 + BatchNorm1d
              + ReLU → FC 256→K; Kaiming-uniform conv weights, Xavier-uniform linear weights, zero
              biases. 1,639,794 parameters at K = 10.
``resnet34``  the CIFAR ResNet-34: 3×3 stride-1 stem (no max-pool), BasicBlocks [3, 4, 6, 3] with
              64..512 channels, 4×4 average pool, linear 512→K; convolutions without bias,
              PyTorch's default initialisation. 21,328,292 parameters at K = 100.
``small``     four conv + BN + ReLU + max-pool stages (32..256 channels), global average pool,
              linear: 391,946 parameters at K = 10, for CPU runs in minutes.
``tiny``      the same with two stages (16, 32 channels; 5,514 parameters), for tests.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MODELS", "build_model", "count_parameters"]


def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class CNN8(nn.Module):
    """The 8-layer CNN of the paper's CIFAR-10 experiments (see the module docstring)."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for width in (64, 128, 196):
            layers += _conv_bn_relu(c_in, width) + _conv_bn_relu(width, width) + [nn.MaxPool2d(2)]
            c_in = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(196 * 4 * 4, 256), nn.BatchNorm1d(256), nn.ReLU(inplace=True),
            nn.Linear(256, num_classes))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet34(nn.Module):
    """ResNet-34 for 32×32 inputs (see the module docstring)."""

    def __init__(self, num_classes: int = 100, blocks: tuple[int, ...] = (3, 4, 6, 3)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        stages, c_in = [], 64
        for i, n in enumerate(blocks):
            c_out = 64 * 2 ** i
            for j in range(n):
                stages.append(BasicBlock(c_in, c_out, stride=2 if (i > 0 and j == 0) else 1))
                c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AvgPool2d(4)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.stages(self.stem(x))).flatten(1))


class SmallCNN(nn.Module):
    """Conv widths ``widths`` (each conv + BN + ReLU, max-pool after each), global average pool, linear."""

    def __init__(self, num_classes: int = 10, widths: tuple[int, ...] = (32, 64, 128, 256)):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for width in widths:
            layers += _conv_bn_relu(c_in, width) + [nn.MaxPool2d(2)]
            c_in = width
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


MODELS = {
    "cnn8": CNN8,
    "resnet34": ResNet34,
    "small": SmallCNN,
    "tiny": lambda num_classes: SmallCNN(num_classes, widths=(16, 32)),
}


def build_model(name: str, num_classes: int) -> nn.Module:
    """A fresh ``name`` network (``MODELS``) for ``num_classes`` classes, initialised from torch's
    current RNG (seed it first: the trainer does)."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {name!r}")
    return MODELS[name](num_classes=num_classes)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
