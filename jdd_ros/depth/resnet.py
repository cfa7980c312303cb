"""ResNet-18/34/50 with torchvision's module names, so torchvision's ImageNet state dicts load unchanged.

torchvision cannot be imported beside the CPU torch wheel used here, yet users who have its ImageNet weights (a
``resnet34-b627a593.pth`` file) must be able to start training from them. Keeping the exact attribute names
(``conv1, bn1, layer1..layer4`` with ``N.conv1/N.bn1/N.downsample.0``...) makes ``load_state_dict`` match key for key.
Bottleneck blocks put the stride on the 3x3 convolution (torchvision's "ResNet v1.5").
"""

from __future__ import annotations

import torch
from torch import nn

# name -> (block kind, blocks per stage)
ARCHITECTURES: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    'resnet18': ('basic', (2, 2, 2, 2)),
    'resnet34': ('basic', (3, 4, 6, 3)),
    'resnet50': ('bottleneck', (3, 4, 6, 3)),
}


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def _conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3(cin, planes, stride)
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
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv1x1(cin, planes)
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


class ResNetEncoder(nn.Module):
    """A torchvision-layout ResNet that returns the feature maps a U-Net decoder needs.

    ``forward`` returns five maps at strides 2, 4, 8, 16, 32 (stem, layer1..layer4). ``with_classifier`` adds
    torchvision's ``avgpool``/``fc`` only so that the full ImageNet model can be rebuilt (tests compare parameter
    counts with torchvision's); the depth model never uses it.
    """

    def __init__(self, name: str = 'resnet18', with_classifier: bool = False, num_classes: int = 1000):
        super().__init__()
        if name not in ARCHITECTURES:
            raise ValueError(f"unknown encoder '{name}' (known: {', '.join(ARCHITECTURES)})")
        kind, blocks = ARCHITECTURES[name]
        block = BasicBlock if kind == 'basic' else Bottleneck
        self.name = name
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self._inplanes = 64
        self.layer1 = self._make_layer(block, 64, blocks[0], 1)
        self.layer2 = self._make_layer(block, 128, blocks[1], 2)
        self.layer3 = self._make_layer(block, 256, blocks[2], 2)
        self.layer4 = self._make_layer(block, 512, blocks[3], 2)
        self.channels = (64, 64 * block.expansion, 128 * block.expansion, 256 * block.expansion,
                         512 * block.expansion)
        if with_classifier:
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block: type, planes: int, count: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self._inplanes != planes * block.expansion:
            downsample = nn.Sequential(_conv1x1(self._inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self._inplanes, planes, stride, downsample)]
        self._inplanes = planes * block.expansion
        layers += [block(self._inplanes, planes) for _ in range(1, count)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        stem = self.relu(self.bn1(self.conv1(x)))
        f1 = self.layer1(self.maxpool(stem))
        f2 = self.layer2(f1)
        f3 = self.layer3(f2)
        f4 = self.layer4(f3)
        return [stem, f1, f2, f3, f4]

    def load_torchvision_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Load a torchvision ResNet state dict; ``fc.*`` is ignored, every other key must match exactly."""
        own_has_fc = hasattr(self, 'fc')
        filtered = {k: v for k, v in state_dict.items() if own_has_fc or not k.startswith('fc.')}
        result = self.load_state_dict(filtered, strict=False)
        missing = [k for k in result.missing_keys if own_has_fc or not k.startswith('fc.')]
        if missing or result.unexpected_keys:
            raise ValueError(
                f'not a torchvision {self.name} state dict: {len(missing)} missing key(s) '
                f'{missing[:5]}, {len(result.unexpected_keys)} unexpected key(s) {result.unexpected_keys[:5]}')
