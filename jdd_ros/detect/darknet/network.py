"""A PyTorch network built from a parsed Darknet cfg.

The forward pass returns, per ``[yolo]`` layer, the decoded head in the row layout OpenCV DNN's region layer
uses: one row per (cell y, cell x, anchor), columns ``cx, cy, w, h`` (fractions of the network input),
``objectness`` and ``objectness x class probability`` per class (not thresholded). Decoding lives in the graph so an
ONNX export carries it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from jdd_ros.detect.darknet.cfg import DarknetConfig, Section, parse_cfg
from jdd_ros.detect.darknet.weights import WeightsHeader, read_weights
from jdd_ros.inference.runner import TensorInfo

INPUT_NAME = 'images'  # the network's input in an ONNX export and on backend torch


class Mish(nn.Module):
    """mish(x) = x * tanh(softplus(x)), Darknet's activation in yolov4.

    In an ONNX export it is written as x * n / (n + 2) with n = e^x (e^x + 2) (the same function): ONNX Runtime's
    Softplus/Tanh (and its Mish, a function of those) were ~6x slower on CPU, and mish runs on yolov4's largest
    tensors. e^x is clamped at x = 20, where the factor is 1 to float precision.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():
            e = torch.exp(torch.clamp(x, max=20.0))
            n = e * (e + 2.0)
            return x * (n / (n + 2.0))
        return F.mish(x)


_ACTIVATIONS = {
    'linear': nn.Identity,
    'leaky': lambda: nn.LeakyReLU(0.1),
    'mish': Mish,
    'logistic': nn.Sigmoid,
    'relu': nn.ReLU,
    'swish': nn.SiLU,
}
# Batch-norm epsilon added to the variance (OpenCV DNN's Darknet importer uses this value).
BN_EPS = 1e-6


def _activation(section: Section) -> nn.Module:
    name = section.options.get('activation', 'linear')
    if name not in _ACTIVATIONS:
        raise section.error(f'unsupported activation {name!r}; supported: {", ".join(sorted(_ACTIVATIONS))}')
    return _ACTIVATIONS[name]()


class ConvBlock(nn.Module):
    """Convolution (+ batch norm, folded into the convolution at load time) + activation."""

    def __init__(self, section: Section, in_channels: int):
        super().__init__()
        filters = section.get_int('filters')
        size = section.get_int('size', 1)
        stride = section.get_int('stride', 1)
        groups = section.get_int('groups', 1)
        if section.get_int('dilation', 1) != 1:
            raise section.error('dilation other than 1 is not supported')
        if filters <= 0 or size <= 0 or stride <= 0 or groups <= 0:
            raise section.error('filters, size, stride and groups must be positive')
        if in_channels % groups or filters % groups:
            raise section.error(f'groups={groups} does not divide {in_channels} input / {filters} output channels')
        padding = size // 2 if section.get_int('pad', 0) else section.get_int('padding', 0)
        self.batch_normalize = bool(section.get_int('batch_normalize', 0))
        self.conv = nn.Conv2d(in_channels, filters, size, stride, padding, groups=groups, bias=True)
        self.act = _activation(section)

    def darknet_value_count(self) -> int:
        """float32 values this layer reads from a .weights file."""
        filters = self.conv.out_channels
        return filters * (4 if self.batch_normalize else 1) + self.conv.weight.numel()

    def load_darknet(self, values: np.ndarray) -> None:
        """Set the weights from this layer's slice of a .weights file (Darknet order), folding batch norm."""
        filters = self.conv.out_channels
        bias = values[:filters]
        offset = filters
        weight = values[-self.conv.weight.numel():].reshape(self.conv.weight.shape)
        if self.batch_normalize:
            scale, mean, var = (values[offset + i * filters: offset + (i + 1) * filters] for i in range(3))
            factor = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + BN_EPS)
            weight = weight * factor.reshape(-1, 1, 1, 1)
            bias = bias - mean * factor
        with torch.no_grad():
            self.conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float32)))
            self.conv.bias.copy_(torch.from_numpy(np.ascontiguousarray(bias, dtype=np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class MaxPool(nn.Module):
    """Darknet max pooling: ``padding`` (default size-1) split as padding//2 before, the rest after."""

    def __init__(self, section: Section):
        super().__init__()
        self.size = section.get_int('size', 1)
        self.stride = section.get_int('stride', 1)
        self.padding = section.get_int('padding', self.size - 1)
        if self.size <= 0 or self.stride <= 0 or self.padding < 0:
            raise section.error('size and stride must be positive, padding not negative')

    def output_size(self, n: int) -> int:
        return (n + self.padding - self.size) // self.stride + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        before = self.padding // 2
        after_h = (self.output_size(h) - 1) * self.stride + self.size - h - before
        after_w = (self.output_size(w) - 1) * self.stride + self.size - w - before
        if after_h == after_w == before and 2 * before <= self.size:
            # Symmetric (SPP's stride-1 pools, or none): the pooling's own padding, no padded copy.
            return F.max_pool2d(x, self.size, self.stride, padding=before)
        x = F.pad(x, (before, after_w, before, after_h), value=float('-inf'))
        return F.max_pool2d(x, self.size, self.stride)


class Upsample(nn.Module):
    def __init__(self, section: Section):
        super().__init__()
        self.stride = section.get_int('stride', 2)
        if self.stride <= 0:
            raise section.error('only positive (upsampling) strides are supported')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.stride, mode='nearest')


class YoloHead(nn.Module):
    """Decodes one ``[yolo]`` layer like Darknet/OpenCV (logistic xy with scale_x_y, exp wh x anchor)."""

    def __init__(self, section: Section, in_channels: int):
        super().__init__()
        self.classes = section.get_int('classes', 20)
        anchors = section.get_floats('anchors')
        num = section.get_int('num', len(anchors) // 2)
        if len(anchors) != 2 * num:
            raise section.error(f'num={num} but {len(anchors)} anchor values (need {2 * num})')
        mask = section.get_ints('mask', list(range(num)))
        if any(m < 0 or m >= num for m in mask):
            raise section.error(f'mask {mask} refers to anchors outside 0..{num - 1}')
        if section.get_int('new_coords', 0):
            raise section.error('new_coords=1 (scaled-YOLOv4 decoding) is not supported')
        self.scale_x_y = section.get_float('scale_x_y', 1.0)
        self.num_anchors = len(mask)
        if in_channels != self.num_anchors * (self.classes + 5):
            raise section.error(f'input has {in_channels} channels, but {len(mask)} anchors x ({self.classes} classes'
                                f' + 5) = {self.num_anchors * (self.classes + 5)} are needed')
        self.register_buffer('anchors', torch.tensor([anchors[2 * m: 2 * m + 2] for m in mask]), persistent=False)

    def forward(self, x: torch.Tensor, input_hw: tuple[int, int]) -> torch.Tensor:
        batch, _, rows, cols = x.shape
        # float32 decoding even for a half-precision body: exp() overflows fp16 early.
        p = x.float().reshape(batch, self.num_anchors, self.classes + 5, rows, cols).permute(0, 3, 4, 1, 2)
        ys = torch.arange(rows, device=x.device, dtype=torch.float32).view(1, rows, 1, 1)
        xs = torch.arange(cols, device=x.device, dtype=torch.float32).view(1, 1, cols, 1)
        s = self.scale_x_y
        cx = ((torch.sigmoid(p[..., 0]) - 0.5) * s + 0.5 + xs) / cols
        cy = ((torch.sigmoid(p[..., 1]) - 0.5) * s + 0.5 + ys) / rows
        anchors = self.anchors.float()  # the buffer follows the model's dtype (fp16 on CUDA)
        w = torch.exp(p[..., 2]) * (anchors[:, 0] / input_hw[1])
        h = torch.exp(p[..., 3]) * (anchors[:, 1] / input_hw[0])
        obj = torch.sigmoid(p[..., 4:5])
        cls = torch.sigmoid(p[..., 5:]) * obj
        out = torch.cat([torch.stack([cx, cy, w, h], dim=-1), obj, cls], dim=-1)
        return out.reshape(batch, rows * cols * self.num_anchors, self.classes + 5)


@dataclass
class _Step:
    kind: str  # 'module' (its layer's module), 'route', 'shortcut', 'yolo'
    inputs: tuple[int, ...] = ()
    groups: int = 1
    group_id: int = 0


def _absolute(section: Section, ref: int) -> int:
    """A route's or shortcut's layer reference (negative: relative) as a layer number; it must be an earlier one."""
    index = section.index + ref if ref < 0 else ref
    if not 0 <= index < section.index:
        raise section.error(f'refers to layer {ref}, which is not an earlier layer')
    return index


class _LayerBuilder:
    """One layer per cfg section, in order: ``build`` returns the section's module (None for a route or shortcut,
    which only join earlier outputs) and its forward step. It tracks every layer's output channels and downsampling
    factor relative to the input, so that routes and shortcuts are checked against what they join."""

    def __init__(self, channels: int):
        self.channels, self.stride = channels, 1.0  # of the latest layer's output
        self.out_channels: list[int] = []
        self.out_strides: list[float] = []
        self.heads: list[int] = []  # the [yolo] layers' numbers
        self._builders = {'convolutional': self._convolutional, 'maxpool': self._maxpool,
                          'upsample': self._upsample, 'route': self._route, 'shortcut': self._shortcut,
                          'yolo': self._yolo}

    def build(self, section: Section) -> tuple[nn.Module | None, _Step]:
        module, step = self._builders[section.type](section)  # parse_cfg refused any other type
        if step.kind == 'yolo':
            self.heads.append(section.index)
        self.out_channels.append(self.channels)
        self.out_strides.append(self.stride)
        return module, step

    def _convolutional(self, section: Section) -> tuple[nn.Module, _Step]:
        block = ConvBlock(section, self.channels)
        self.channels, self.stride = block.conv.out_channels, self.stride * block.conv.stride[0]
        return block, _Step('module')

    def _maxpool(self, section: Section) -> tuple[nn.Module, _Step]:
        pool = MaxPool(section)
        self.stride *= pool.stride
        return pool, _Step('module')

    def _upsample(self, section: Section) -> tuple[nn.Module, _Step]:
        upsample = Upsample(section)
        self.stride /= upsample.stride
        return upsample, _Step('module')

    def _route(self, section: Section) -> tuple[None, _Step]:
        refs = [_absolute(section, r) for r in section.get_ints('layers')]
        if any(r in self.heads for r in refs):
            raise section.error('routing the output of a [yolo] layer is not supported')
        groups, group_id = section.get_int('groups', 1), section.get_int('group_id', 0)
        if groups <= 0 or not 0 <= group_id < groups:
            raise section.error(f'group_id={group_id} must be in 0..groups-1 (groups={groups})')
        if any(self.out_channels[r] % groups for r in refs):
            raise section.error(f'groups={groups} does not divide the channels of layers {refs}')
        if len({self.out_strides[r] for r in refs}) != 1:
            raise section.error(f'layers {refs} have different spatial sizes')
        self.channels = sum(self.out_channels[r] // groups for r in refs)
        self.stride = self.out_strides[refs[0]]
        return None, _Step('route', tuple(refs), groups, group_id)

    def _shortcut(self, section: Section) -> tuple[None, _Step]:
        src = _absolute(section, section.get_int('from'))
        if src in self.heads:
            raise section.error('a shortcut from a [yolo] layer is not supported')
        if self.out_channels[src] != self.channels or self.out_strides[src] != self.stride:
            raise section.error(f'layer {src} output does not have the shape of the previous layer')
        if section.options.get('activation', 'linear') != 'linear':
            raise section.error('only activation=linear is supported for shortcut')
        return None, _Step('shortcut', (src,))

    def _yolo(self, section: Section) -> tuple[nn.Module, _Step]:
        return YoloHead(section, self.channels), _Step('yolo')


class DarknetModel(nn.Module):
    """The network of a cfg. ``forward(images)`` returns one decoded tensor per yolo layer (see module doc)."""

    def __init__(self, config: DarknetConfig):
        super().__init__()
        self.config = config
        self.modules_by_layer = nn.ModuleDict()  # by layer number (its name in ONNX node names: int8 calibration)
        self.steps: list[_Step] = []
        builder = _LayerBuilder(config.channels)
        for section in config.layers:
            module, step = builder.build(section)
            if module is not None:
                self.modules_by_layer[str(section.index)] = module
            self.steps.append(step)
        self.heads = builder.heads
        self.num_classes = self._class_count()
        # Outputs a later route/shortcut reads; the others are dropped as soon as the next layer ran.
        self._keep = frozenset(r for step in self.steps for r in step.inputs)

    def _class_count(self) -> int:
        """The class count every [yolo] layer agrees on."""
        if not self.heads:
            raise self.config.layers[-1].error('the cfg has no [yolo] layer')
        classes = {self.head(i).classes for i in self.heads}
        if len(classes) != 1:
            raise self.config.layers[self.heads[0]].error(f'yolo layers disagree on the class count: '
                                                          f'{sorted(classes)}')
        return classes.pop()

    def head(self, index: int) -> YoloHead:
        """The [yolo] layer number ``index``."""
        head = self.modules_by_layer[str(index)]
        assert isinstance(head, YoloHead), f'layer {index} is no [yolo] layer'
        return head

    def conv_blocks(self) -> list[ConvBlock]:
        return [m for m in self.modules_by_layer.values() if isinstance(m, ConvBlock)]

    def darknet_value_count(self) -> int:
        """Number of float32 values a .weights file for this cfg holds after its header."""
        return sum(block.darknet_value_count() for block in self.conv_blocks())

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        input_hw = (images.shape[-2], images.shape[-1])
        saved: dict[int, torch.Tensor] = {}
        outputs = []
        x = images
        for i, step in enumerate(self.steps):
            if step.kind == 'module':
                x = self.modules_by_layer[str(i)](x)
            elif step.kind == 'route':
                parts = [saved[r] for r in step.inputs]
                if step.groups > 1:
                    parts = [p.chunk(step.groups, dim=1)[step.group_id] for p in parts]
                x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
            elif step.kind == 'shortcut':
                x = x + saved[step.inputs[0]]
            else:  # yolo: passes its input on unchanged, like Darknet, and emits the decoded head
                outputs.append(self.modules_by_layer[str(i)](x, input_hw))
            if i in self._keep:
                saved[i] = x
        return tuple(outputs)


def load_darknet_weights(model: DarknetModel, path: str | Path) -> WeightsHeader:
    """Load a .weights file into ``model`` (sizes checked first: the file must hold exactly what the cfg needs)."""
    header, values = read_weights(path, model.darknet_value_count())
    offset = 0
    for block in model.conv_blocks():
        count = block.darknet_value_count()
        block.load_darknet(values[offset:offset + count])
        offset += count
    return header


def build_model(cfg: str | Path | DarknetConfig, weights: str | Path | None = None) -> DarknetModel:
    """Parse + build + (optionally) load: the network ready for inference (eval mode, no gradients)."""
    config = cfg if isinstance(cfg, DarknetConfig) else parse_cfg(cfg)
    model = DarknetModel(config)
    if weights is not None:
        load_darknet_weights(model, weights)
    model.eval().requires_grad_(False)
    return model


class ImageInputModel(nn.Module):
    """The Darknet network taking resized RGB uint8 images (N, H, W, 3): the /255 scaling and the NCHW view happen
    in the graph (on the GPU for CUDA, inside the ONNX model for ONNX Runtime), so only bytes are transferred."""

    def __init__(self, model: DarknetModel, dtype: torch.dtype = torch.float32,
                 memory_format: torch.memory_format = torch.contiguous_format):
        super().__init__()
        self.model = model
        self.dtype = dtype
        self.memory_format = memory_format

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = images.permute(0, 3, 1, 2).float() * (1.0 / 255.0)
        return self.model(x.to(self.dtype, memory_format=self.memory_format))


def head_names(model: DarknetModel) -> list[str]:
    """The outputs' names, one per [yolo] layer, in an ONNX export and on backend torch."""
    return [f'head{i}' for i in range(len(model.heads))]


def torch_interface(model: DarknetModel, input_hw: tuple[int, int]) -> tuple[list[TensorInfo], list[TensorInfo]]:
    """The inputs and outputs of ``ImageInputModel(model)`` as its ONNX export declares them (batch dynamic)."""
    inputs = [TensorInfo(INPUT_NAME, (None, *input_hw, 3), 'tensor(uint8)')]
    outputs = [TensorInfo(name, (None, None, model.num_classes + 5), 'tensor(float)') for name in head_names(model)]
    return inputs, outputs
