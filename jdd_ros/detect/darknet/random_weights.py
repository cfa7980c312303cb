"""Random Darknet weights with realistic statistics, for checking a whole architecture whose trained weights are not
at hand (the official yolov4.weights cannot be downloaded on every machine).

Plain random numbers through 110 convolutions either vanish or explode, which would make a comparison meaningless.
Here each batch-normalised convolution gets random He-initialised kernels and batch-norm statistics measured on a
calibration image — what a trained network's running mean/variance are — so every layer's output stays near unit
scale, like a real model's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from jdd_ros.detect.darknet.network import BN_EPS, ConvBlock, DarknetModel, YoloHead
from jdd_ros.detect.darknet.weights import WeightsHeader, write_weights

_CHANNELS = (1, -1, 1, 1)  # a per-channel vector broadcast over an NCHW output
Hook = Callable[[nn.Module, tuple[torch.Tensor, ...], torch.Tensor], torch.Tensor]


def _normalise_batch(params: dict[str, np.ndarray]) -> Hook:
    """A forward hook that measures the batch-norm statistics of a convolution's output on the calibration images
    (stored in ``params``) and applies them, so the next layer sees what it would in a trained network."""
    def hook(_module: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        mean = output.mean(dim=(0, 2, 3))
        # A floor keeps channels that were nearly constant on the calibration images from being amplified
        # without bound on another image.
        var = output.var(dim=(0, 2, 3), unbiased=False)
        var = var + 0.1 * var.mean()
        params['mean'], params['var'] = mean.numpy(), var.numpy()
        scale, beta = torch.from_numpy(params['scale']), torch.from_numpy(params['bias'])
        return (output - mean.view(_CHANNELS)) / torch.sqrt(var.view(_CHANNELS) + BN_EPS) * scale.view(_CHANNELS) \
            + beta.view(_CHANNELS)
    return hook


def _unit_logits(params: dict[str, np.ndarray]) -> Hook:
    """A forward hook that scales a head's kernel (in ``params``) to unit-variance logits on the calibration images."""
    def hook(_module: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        bias = torch.from_numpy(params['bias']).view(_CHANNELS)
        std = float((output - bias).std()) or 1.0
        params['kernel'] = params['kernel'] / std
        return (output - bias) / std + bias
    return hook


def _random_params(model: DarknetModel, block: ConvBlock, rng: np.random.Generator,
                   objectness_bias: float) -> dict[str, np.ndarray]:
    """He-initialised kernel and biases (batch-norm scales too) for one convolution, set in ``block`` for the
    calibration pass (a batch-normalised convolution runs with bias 0 there: its hook adds the bias)."""
    conv = block.conv
    filters = conv.out_channels
    params = {'kernel': rng.normal(0, np.sqrt(2 / conv.weight[0].numel()), conv.weight.shape).astype(np.float32)}
    if block.batch_normalize:
        params['bias'] = rng.normal(0, 0.5, filters).astype(np.float32)
        params['scale'] = rng.uniform(0.1, 0.4, filters).astype(np.float32)
    else:
        params['bias'] = rng.normal(0, 0.2, filters).astype(np.float32)
        head = _head_of(model, block)
        if head is not None:
            params['bias'][4::head.classes + 5] += objectness_bias
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(params['kernel']))
        conv.bias.copy_(torch.zeros(filters) if block.batch_normalize else torch.from_numpy(params['bias']))
    return params


def _calibrate(model: DarknetModel, layout: list[tuple[ConvBlock, dict[str, np.ndarray]]],
               calibration_rgb: np.ndarray) -> None:
    """One forward pass over the calibration images with each convolution's hook: fills in the measured values."""
    handles = [block.conv.register_forward_hook(_normalise_batch(params) if block.batch_normalize
                                                else _unit_logits(params)) for block, params in layout]
    try:
        with torch.inference_mode():
            images = torch.from_numpy(np.ascontiguousarray(calibration_rgb)).permute(0, 3, 1, 2).float() / 255.0
            model(images)
    finally:
        for handle in handles:
            handle.remove()


def synthetic_darknet_arrays(model: DarknetModel, calibration_rgb: np.ndarray, seed: int = 0,
                             objectness_bias: float = -4.0) -> list[np.ndarray]:
    """Arrays in .weights order (per convolution: bias, [scale, mean, variance,] kernel) for ``model``'s cfg.

    ``calibration_rgb``: an (N, H, W, 3) uint8 batch at a size the cfg accepts. ``model`` is left with these
    weights loaded. Batch-norm scales are small next to the biases, as in trained networks: a random network with
    unit-gain layers is chaotic (rounding differences grow layer after layer), which would hide real differences
    behind noise. The heads' kernels are scaled to unit-variance logits; ``objectness_bias`` keeps the untrained
    heads from reporting an object in every cell.
    """
    rng = np.random.default_rng(seed)
    layout = [(block, _random_params(model, block, rng, objectness_bias)) for block in model.conv_blocks()]
    _calibrate(model, layout, calibration_rgb)
    arrays = []
    for block, params in layout:
        if block.batch_normalize:
            layer = [params['bias'], params['scale'], params['mean'], params['var'], params['kernel']]
        else:
            layer = [params['bias'], params['kernel'].astype(np.float32)]
        block.load_darknet(np.concatenate([a.ravel() for a in layer]))
        arrays += layer
    return arrays


def _head_of(model: DarknetModel, block: ConvBlock) -> YoloHead | None:
    """The yolo head fed directly by ``block``, if any."""
    blocks = dict(model.modules_by_layer.items())
    for index in model.heads:
        if blocks.get(str(index - 1)) is block:
            return model.head(index)
    return None


def write_synthetic_weights(model: DarknetModel, path: str | Path, calibration_rgb: np.ndarray, seed: int = 0,
                            header: WeightsHeader = WeightsHeader()) -> int:
    """Write synthetic weights for ``model``'s cfg as a Darknet .weights file; returns the file size."""
    return write_weights(path, synthetic_darknet_arrays(model, calibration_rgb, seed), header)
