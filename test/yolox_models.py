"""Tiny YOLOX-shaped models, written in torch and exported to ONNX the way YOLOX's ``tools/export_onnx.py`` exports
(the legacy TorchScript exporter, fixed input size, one input ``images``, one output ``output``): the head's output
has YOLOX's exact layout, ``(N, anchors, 5 + classes)`` with one anchor per cell at strides 8, 16, 32, rows
``cx, cy, w, h`` (raw cell offsets and log sizes, or decoded pixels with ``decode=True`` as
``--decode_in_inference`` does), then objectness and class scores through a sigmoid.

What they detect is known: each cell of each level looks at its mean colour (an average pool of the BGR 0-255 input
over the cell). Class scores for red, green and blue (the first three classes; further classes get fixed
pseudo-random colour weights) say how much of that colour the cell has; objectness says how saturated it is.
Box regressions depend on the blue content only, ``raw_xy = (0.5, 0.5) + (0.4, -0.3) b`` and
``raw_wh = (0.5, -0.4) b``: a cell of pure red or green yields exactly itself as box (centre of the cell, side its
stride), every other cell a box the decoding has to get right. A tie-break (linear in the cell's position, larger
for coarser levels) makes scores distinct, so a red square that is exactly one stride-32 cell of the input is found
as exactly that square.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

STRIDES = (8, 16, 32)
COLOUR_NAMES = ('red', 'green', 'blue')
BGR_INDEX = {'blue': 0, 'green': 1, 'red': 2}
BACKGROUND = (60, 60, 60)  # RGB
# The scene the planted boxes are checked on: 640x480 goes into a 320x320 input at ratio 0.5, top-left, so each
# square below is exactly one stride-32 cell of the input (red: column 5, row 3; green: column 7, row 1).
RED, GREEN = (255, 0, 0), (0, 255, 0)
RED_BOX = (320.0, 192.0, 384.0, 256.0)
GREEN_BOX = (448.0, 64.0, 512.0, 128.0)


def class_names(num_classes: int) -> list[str]:
    return list(COLOUR_NAMES[:num_classes]) + [f'thing{i}' for i in range(3, num_classes)]


def square_image(squares=((RED, RED_BOX), (GREEN, GREEN_BOX)), hw=(480, 640)) -> np.ndarray:
    """An RGB image with each (colour, box) square drawn on the grey background."""
    image = np.full((*hw, 3), BACKGROUND, dtype=np.uint8)
    for colour, (x1, y1, x2, y2) in squares:
        image[int(y1):int(y2), int(x1):int(x2)] = colour
    return image


def _class_weights(num_classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(nc, 3, 1, 1) weights on the mean BGR (0-255) and (nc,) biases: colour detectors first, then random classes."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(0.0, 3.0, (num_classes, 3))
    biases = rng.normal(-4.0, 1.0, num_classes)
    for name in COLOUR_NAMES[:num_classes]:
        c = COLOUR_NAMES.index(name)
        weights[c] = 8.0 * (2.0 * np.eye(3)[BGR_INDEX[name]] - 1.0)  # 8 (2 m_c - (m_b + m_g + m_r))
        biases[c] = -2.0
    return (torch.tensor(weights / 255.0, dtype=torch.float32).reshape(num_classes, 3, 1, 1),
            torch.tensor(biases, dtype=torch.float32))


def _conv(weight, bias) -> nn.Conv2d:
    weight = torch.as_tensor(weight, dtype=torch.float32)
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], 1)
    conv.weight.data[:] = weight.reshape(conv.weight.shape)
    conv.bias.data[:] = torch.as_tensor(bias, dtype=torch.float32)
    return conv


class TinyYolox(nn.Module):
    """The head of a YOLOX model on colour features: per level a pool, 1x1 convolutions for boxes, objectness and
    classes, and YOLOX's output assembly (and decoding, with ``decode``)."""

    def __init__(self, num_classes: int, input_hw: tuple[int, int], *, decode: bool = False,
                 strides: tuple[int, ...] = STRIDES, seed: int = 0):
        super().__init__()
        self.strides, self.decode = strides, decode
        self.pools = nn.ModuleList(nn.AvgPool2d(s, s) for s in strides)
        m = 1.0 / 255.0
        # raw_x = 0.5 + 0.4 b, raw_y = 0.5 - 0.3 b, raw_w = 0.5 b, raw_h = -0.4 b (b: mean blue, 0-1)
        self.reg = _conv([[0.4 * m, 0, 0], [-0.3 * m, 0, 0], [0.5 * m, 0, 0], [-0.4 * m, 0, 0]], [0.5, 0.5, 0, 0])
        # saturation: the positive parts of the six channel differences, summed
        pairs = [(i, j) for i in range(3) for j in range(3) if i != j]
        self.spread = _conv([[m * ((k == i) - (k == j)) for k in range(3)] for i, j in pairs], [0.0] * 6)
        self.obj = _conv([[4.0] * 6], [-3.0])
        self.cls = _conv(*_class_weights(num_classes, seed))
        for level, stride in enumerate(strides):  # the tie-break of each cell: 1e-3 x + 1.4e-3 y + 0.1 level
            rows, cols = np.mgrid[0:input_hw[0] // stride, 0:input_hw[1] // stride]
            tie = 1e-3 * cols + 1.4e-3 * rows + 0.1 * level
            self.register_buffer(f'tie{level}', torch.tensor(tie, dtype=torch.float32)[None, None])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        outputs = []
        for level, pool in enumerate(self.pools):
            colour = pool(images)
            tie = getattr(self, f'tie{level}')
            obj = self.obj(torch.relu(self.spread(colour))) + tie
            cls = self.cls(colour) + tie
            outputs.append(torch.cat([self.reg(colour), obj.sigmoid(), cls.sigmoid()], 1))
        hw = [o.shape[-2:] for o in outputs]
        rows = torch.cat([o.flatten(start_dim=2) for o in outputs], dim=2).permute(0, 2, 1)
        return self._decode(rows, hw) if self.decode else rows

    def _decode(self, rows: torch.Tensor, hw) -> torch.Tensor:
        """YOLOX's decoding in the graph (what --decode_in_inference exports)."""
        cells, scale = [], []
        for (h, w), stride in zip(hw, self.strides):
            yv, xv = torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij')
            cells.append(torch.stack((xv, yv), 2).reshape(1, -1, 2))
            scale.append(torch.full((1, cells[-1].shape[1], 1), stride))
        cells = torch.cat(cells, dim=1).to(rows.dtype)
        scale = torch.cat(scale, dim=1).to(rows.dtype)
        return torch.cat([(rows[..., 0:2] + cells) * scale, torch.exp(rows[..., 2:4]) * scale, rows[..., 4:]],
                         dim=-1)


class Clipped(nn.Module):
    """A YOLOX head followed by an operation no YOLOX export has (a Clip): the graph cannot say if it decodes."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.head(images), -1e4, 1e4)


class ChannelsFirst(nn.Module):
    """A YOLOX head's rows transposed to (N, 5 + classes, anchors): the layout of an Ultralytics v8 export."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(images).permute(0, 2, 1)


def export(module: nn.Module, path: str | Path, input_hw: tuple[int, int] = (320, 320), *,
           dynamic_batch: bool = False, opset: int = 11) -> Path:
    """``module`` exported as YOLOX's tools/export_onnx.py does (input 'images', output 'output', opset 11)."""
    path = Path(path)
    module.eval()
    with torch.no_grad():
        torch.onnx.export(module, (torch.zeros(1, 3, *input_hw),), str(path), dynamo=False, opset_version=opset,
                          input_names=['images'], output_names=['output'],
                          dynamic_axes={'images': {0: 'batch'}, 'output': {0: 'batch'}} if dynamic_batch else None)
    return path


def build(path: str | Path, num_classes: int, *, input_hw: tuple[int, int] = (320, 320), decode: bool = False,
          dynamic_batch: bool = False, strides: tuple[int, ...] = STRIDES) -> Path:
    return export(TinyYolox(num_classes, input_hw, decode=decode, strides=strides), path, input_hw,
                  dynamic_batch=dynamic_batch)
