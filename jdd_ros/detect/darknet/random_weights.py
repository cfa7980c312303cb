"""Random Darknet weights with realistic statistics, for checking a whole architecture whose trained weights are not
at hand (the official yolov4.weights cannot be downloaded on every machine).

Plain random numbers through 110 convolutions either vanish or explode, which would make a comparison meaningless.
Here each batch-normalised convolution gets random He-initialised kernels and batch-norm statistics measured on a
calibration image — what a trained network's running mean/variance are — so every layer's output stays near unit
scale, like a real model's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from jdd_ros.detect.darknet.network import BN_EPS, ConvBlock, DarknetModel
from jdd_ros.detect.darknet.weights import WeightsHeader, write_weights


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
    layout: list[tuple[ConvBlock, dict[str, np.ndarray]]] = []
    handles = []
    shape = (1, -1, 1, 1)

    def normalise_batch(params: dict[str, np.ndarray]):
        def hook(_module, _inputs, output):
            mean = output.mean(dim=(0, 2, 3))
            # A floor keeps channels that were nearly constant on the calibration images from being amplified
            # without bound on another image.
            var = output.var(dim=(0, 2, 3), unbiased=False)
            var = var + 0.1 * var.mean()
            params['mean'], params['var'] = mean.numpy(), var.numpy()
            scale, beta = torch.from_numpy(params['scale']), torch.from_numpy(params['bias'])
            return (output - mean.view(shape)) / torch.sqrt(var.view(shape) + BN_EPS) * scale.view(shape) \
                + beta.view(shape)
        return hook

    def unit_logits(params: dict[str, np.ndarray]):
        def hook(_module, _inputs, output):
            bias = torch.from_numpy(params['bias']).view(shape)
            std = float((output - bias).std()) or 1.0
            params['kernel'] = params['kernel'] / std
            return (output - bias) / std + bias
        return hook

    for block in model.conv_blocks():
        conv = block.conv
        fan_in = conv.weight[0].numel()
        filters = conv.out_channels
        params: dict[str, np.ndarray] = {'kernel': rng.normal(0, np.sqrt(2 / fan_in), conv.weight.shape)
                                         .astype(np.float32)}
        if block.batch_normalize:
            params['bias'] = rng.normal(0, 0.5, filters).astype(np.float32)
            params['scale'] = rng.uniform(0.1, 0.4, filters).astype(np.float32)
            handles.append(conv.register_forward_hook(normalise_batch(params)))
        else:
            params['bias'] = rng.normal(0, 0.2, filters).astype(np.float32)
            head = _head_of(model, block)
            if head is not None:
                params['bias'][4::head.classes + 5] += objectness_bias
            handles.append(conv.register_forward_hook(unit_logits(params)))
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
            layer = [params['bias'], params['scale'], params['mean'], params['var'], params['kernel']]
        else:
            layer = [params['bias'], params['kernel'].astype(np.float32)]
        block.load_darknet(np.concatenate([a.ravel() for a in layer]))
        arrays += layer
    return arrays


def _head_of(model: DarknetModel, block: ConvBlock):
    """The yolo head fed directly by ``block``, if any."""
    blocks = dict(model.modules_by_layer.items())
    for index in model.heads:
        previous = blocks.get(str(index - 1))
        if previous is block:
            return blocks[str(index)]
    return None


def write_synthetic_weights(model: DarknetModel, path: str | Path, calibration_rgb: np.ndarray, seed: int = 0,
                            header: WeightsHeader = WeightsHeader()) -> int:
    """Write synthetic weights for ``model``'s cfg as a Darknet .weights file; returns the file size."""
    return write_weights(path, synthetic_darknet_arrays(model, calibration_rgb, seed), header)
