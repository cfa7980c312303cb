"""RGB-D sources (NYU in its two layouts, synthetic scenes) turned into the tensors the U-Net trains on.

Every source yields ``RGBDSample``: uint8 RGB and float32 depth in metres at the source's own resolution, with
0 (or NaN) marking pixels without a measurement. ``DepthTensorDataset`` resizes to the network input exactly as
``DepthEstimator.preprocess`` does at inference time (area when shrinking, bilinear when enlarging, then
``(pixel / 255 - mean) / std``), so training and deployment see the same pixels. Depth is resized with nearest
neighbour: interpolating would invent depths on object edges and blend invalid zeros into valid pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from jdd_ros.depth.augment import AugmentPolicy
from jdd_ros.depth.checkpoint import IMAGENET_MEAN, IMAGENET_STD
from jdd_ros.depth.resize import resize_rgb


@dataclass
class RGBDSample:
    rgb: np.ndarray  # H x W x 3 uint8 RGB
    depth: np.ndarray  # H x W float32 metres; 0 or NaN = no measurement
    name: str


class RGBDSource(Protocol):
    def __len__(self) -> int: ...

    def load(self, index: int) -> RGBDSample: ...


def resize_depth(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    if depth.shape[:2] == (h, w):
        return depth
    return cv2.resize(depth, (w, h), interpolation=cv2.INTER_NEAREST)


class DepthTensorDataset(Dataset):
    """(image, depth) pairs for training: image ``3,H,W`` normalised float32, depth ``1,H,W`` metres (0 = invalid)."""

    def __init__(self, source: RGBDSource, input_size: tuple[int, int], *, augment: AugmentPolicy | None = None,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 indices: Sequence[int] | None = None):
        self.source = source
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.augment = augment
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.indices = list(range(len(source))) if indices is None else list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        sample = self.source.load(self.indices[i])
        rgb = resize_rgb(sample.rgb, self.input_size).astype(np.float32) / 255.0
        depth = resize_depth(np.nan_to_num(sample.depth.astype(np.float32), nan=0.0), self.input_size)
        if self.augment is not None:
            # torch's RNG: seeded by torch.manual_seed and distinct per DataLoader worker
            rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,)).item()))
            rgb, depth = self.augment(rgb, depth, rng)
        image = (rgb - self.mean) / self.std
        return (torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
                torch.from_numpy(np.ascontiguousarray(depth))[None])
