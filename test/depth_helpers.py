"""Small depth checkpoints for tests of plumbing (shapes, formats, backends, the node), not of depth quality.

``plumbing_checkpoint`` writes a U-Net with seeded random weights and marks it ``trained_on='plumbing-test'`` with
``epochs=1`` so that the loaders accept it: ONLY so that format, backend and node tests can run without a training
run. Its depth is meaningless. The refusal of really untrained checkpoints is tested separately
(``untrained_checkpoint``). Training quality is tested by the synthetic training tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from jdd_ros.depth.checkpoint import DepthModelMeta, save_checkpoint
from jdd_ros.depth.unet import DepthUNet

PLUMBING_NOTE = 'random weights marked trained ONLY for plumbing tests; depth values are meaningless'


def plumbing_model(encoder: str = 'resnet18', seed: int = 0) -> DepthUNet:
    torch.manual_seed(seed)
    model = DepthUNet(encoder)
    # Batch-norm statistics from a few images (no weight update), so outputs vary over the frame and the depth range
    # instead of sitting at one value: comparisons between backends are then not trivially flat.
    images = np.stack([sample_image(64, 96, seed=s) for s in range(4)]).astype(np.float32) / 255.0
    x = torch.from_numpy(((images - 0.45) / 0.225).transpose(0, 3, 1, 2).copy())
    model.train()
    with torch.no_grad():
        model.head.weight.mul_(30.0)
        for _ in range(3):
            model(x)
    return model.eval()


def plumbing_checkpoint(path: Path, encoder: str = 'resnet18', input_size: tuple[int, int] = (64, 96),
                        trained_on: str = 'plumbing-test', epochs: int = 1, seed: int = 0,
                        metrics: dict | None = None) -> Path:
    model = plumbing_model(encoder, seed)
    meta = DepthModelMeta(encoder=encoder, input_size=input_size, trained_on=trained_on, epochs=epochs,
                          metrics=metrics if metrics is not None else {'delta1': np.float32(0.5)}, notes=PLUMBING_NOTE)
    save_checkpoint(path, model, meta)
    return path


def untrained_checkpoint(path: Path) -> Path:
    """What a checkpoint written before any training step looks like: must be refused everywhere."""
    return plumbing_checkpoint(path, trained_on='', epochs=0)


def sample_image(height: int = 100, width: int = 150, seed: int = 1) -> np.ndarray:
    """A structured RGB image (gradients + a bright box), so depth outputs vary over the frame."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1),
                    (x + y) * 255 // max(width + height - 2, 1)], axis=-1).astype(np.uint8)
    img[height // 4: height // 2, width // 3: width // 2] = 250
    noise = rng.integers(0, 20, img.shape, dtype=np.uint8)
    return (img // 2 + noise).astype(np.uint8)
