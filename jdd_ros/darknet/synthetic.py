"""Random Darknet weights with realistic statistics, for checking a whole architecture whose trained weights are not
at hand (the official yolov4.weights cannot be downloaded on every machine).

Plain random numbers through 110 convolutions either vanish or explode, which would make a comparison meaningless.
Here each batch-normalised convolution gets random He-initialised kernels and batch-norm statistics measured on a
calibration image — what a trained network's running mean/variance are — so every layer's output stays near unit
scale, like a real model's.
"""

from __future__ import annotations

import numpy as np
import torch

from .model import BN_EPS, ConvBlock, DarknetModel
from .weights import WeightsHeader, write_weights


def synthetic_darknet_arrays(model: DarknetModel, calibration_rgb: np.ndarray, seed: int = 0,
                             objectness_bias: float = -4.0) -> list[np.ndarray]:
    """Arrays in .weights order (per convolution: bias, [scale, mean, variance,] kernel) for ``model``'s cfg.

    ``calibration_rgb``: an (N, H, W, 3) uint8 batch at a size the cfg accepts. ``model`` is left with these
    weights loaded. ``objectness_bias`` keeps the untrained heads from reporting an object in every cell.
    """
    rng = np.random.default_rng(seed)
    layout: list[tuple[ConvBlock, dict[str, np.ndarray]]] = []
    handles = []

    def calibrate(block: ConvBlock, params: dict[str, np.ndarray]):
        def hook(_module, _inputs, output):
            mean = output.mean(dim=(0, 2, 3))
            # A floor keeps channels that were nearly constant on the calibration image from being amplified
            # without bound on another image.
            var = output.var(dim=(0, 2, 3), unbiased=False)
            var = var + 0.1 * var.mean()
            params['mean'], params['var'] = mean.numpy(), var.numpy()
            shape = (1, -1, 1, 1)
            scale, beta = torch.from_numpy(params['scale']), torch.from_numpy(params['bias'])
            return (output - mean.view(shape)) / torch.sqrt(var.view(shape) + BN_EPS) * scale.view(shape) \
                + beta.view(shape)
        return hook

    for block in model.conv_blocks():
        conv = block.conv
        fan_in = conv.weight[0].numel()
        filters = conv.out_channels
        params: dict[str, np.ndarray] = {}
        if block.batch_normalize:
            params['kernel'] = rng.normal(0, np.sqrt(2 / fan_in), conv.weight.shape).astype(np.float32)
            params['bias'] = rng.normal(0, 0.2, filters).astype(np.float32)
            params['scale'] = rng.uniform(0.5, 1.5, filters).astype(np.float32)
            handles.append(conv.register_forward_hook(calibrate(block, params)))
        else:
            params['kernel'] = rng.normal(0, 1 / np.sqrt(fan_in), conv.weight.shape).astype(np.float32)
            bias = rng.normal(0, 0.2, filters).astype(np.float32)
            head = _head_of(model, block)
            if head is not None:
                bias[4::head.classes + 5] += objectness_bias
            params['bias'] = bias
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(params['kernel']))
            conv.bias.copy_(torch.zeros(filters) if block.batch_normalize else torch.from_numpy(params['bias']))
        layout.append((block, params))
    try:
        with torch.inference_mode():
            images = torch.from_numpy(np.ascontiguousarray(calibration_rgb)).permute(0, 3, 1, 2).float() / 255.0
            model(images)
    finally:
        for handle in handles:
            handle.remove()
    arrays = []
    for block, params in layout:
        if block.batch_normalize:
            arrays += [params['bias'], params['scale'], params['mean'], params['var'], params['kernel']]
        else:
            arrays += [params['bias'], params['kernel']]
        block.load_darknet(np.concatenate([a.ravel() for a in arrays[-(5 if block.batch_normalize else 2):]]))
    return arrays


def _head_of(model: DarknetModel, block: ConvBlock):
    """The yolo head fed directly by ``block``, if any."""
    blocks = dict(model.modules_by_layer.items())
    for index in model.heads:
        previous = blocks.get(str(index - 1))
        if previous is block:
            return blocks[str(index)]
    return None


def write_synthetic_weights(model: DarknetModel, path, calibration_rgb: np.ndarray, seed: int = 0,
                            header: WeightsHeader = WeightsHeader()) -> int:
    """Write synthetic weights for ``model``'s cfg as a Darknet .weights file; returns the file size."""
    return write_weights(path, synthetic_darknet_arrays(model, calibration_rgb, seed), header)
