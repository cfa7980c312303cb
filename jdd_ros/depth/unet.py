"""The depth network: a ResNet encoder and a U-Net decoder with skip connections and bilinear upsampling.

The output is metric depth in metres squashed into ``[min_depth, max_depth]`` by a sigmoid in log-depth space, so
the network can never emit a negative, zero or out-of-range depth, and relative errors weigh the same near and far
(indoor scenes span 0.1-10 m).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from jdd_ros.depth.resnet import ARCHITECTURES, ResNetEncoder

DECODER_CHANNELS = (256, 128, 64, 32, 16)
STRIDE = 32  # the encoder's total stride: other input sizes are padded up to a multiple of it


class _UpBlock(nn.Module):
    """Upsample bilinearly to the skip's size, concatenate the skip, two 3x3 conv + BN + ReLU."""

    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(cin + cskip, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None, size: tuple[int, int]) -> torch.Tensor:
        x = F.interpolate(x, size=size, mode='bilinear', align_corners=False)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv(x)


class DepthUNet(nn.Module):
    """Monocular metric depth: ``N,3,H,W`` normalised RGB -> ``N,1,H,W`` metres.

    Any H, W >= 32 works; multiples of 32 avoid the internal padding (240x320 runs as 256x320, cropped back).
    """

    def __init__(self, encoder: str = 'resnet18', min_depth: float = 0.1, max_depth: float = 10.0):
        super().__init__()
        if encoder not in ARCHITECTURES:
            raise ValueError(f"unknown encoder '{encoder}' (known: {', '.join(ARCHITECTURES)})")
        if not 0 < min_depth < max_depth:
            raise ValueError(f'need 0 < min_depth < max_depth, got {min_depth} and {max_depth}')
        self.encoder_name = encoder
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        self.encoder = ResNetEncoder(encoder)
        enc = self.encoder.channels  # strides 2, 4, 8, 16, 32
        d = DECODER_CHANNELS
        self.up1 = _UpBlock(enc[4], enc[3], d[0])  # -> stride 16
        self.up2 = _UpBlock(d[0], enc[2], d[1])  # -> stride 8
        self.up3 = _UpBlock(d[1], enc[1], d[2])  # -> stride 4
        self.up4 = _UpBlock(d[2], enc[0], d[3])  # -> stride 2
        self.up5 = _UpBlock(d[3], 0, d[4])  # -> full resolution
        self.head = nn.Conv2d(d[4], 1, 3, padding=1)
        self._log_min = math.log(self.min_depth)
        self._log_range = math.log(self.max_depth) - self._log_min

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = int(x.shape[-2]), int(x.shape[-1])
        if h < STRIDE or w < STRIDE:
            raise ValueError(f'input height and width must be at least {STRIDE}, got {h}x{w}')
        # Sizes that are not multiples of 32 (NYU's 240x320) are padded at the bottom/right and cropped back.
        pad_h, pad_w = (-h) % STRIDE, (-w) % STRIDE
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode='replicate')
        stem, f1, f2, f3, f4 = self.encoder(x)
        y = self.up1(f4, f3, f3.shape[-2:])
        y = self.up2(y, f2, f2.shape[-2:])
        y = self.up3(y, f1, f1.shape[-2:])
        y = self.up4(y, stem, stem.shape[-2:])
        y = self.up5(y, None, x.shape[-2:])
        depth = torch.exp(self._log_min + self._log_range * torch.sigmoid(self.head(y)))
        return depth[..., :h, :w] if pad_h or pad_w else depth

    def load_encoder_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Start from torchvision ImageNet weights (``resnetNN-*.pth``); ``fc.*`` is ignored."""
        self.encoder.load_torchvision_state_dict(state_dict)
