"""Tiny, deterministic ONNX models with the real output layouts of Ultralytics / YOLOv5 exports, built with
onnx.helper (milliseconds, no torch), whose detections depend on the image.

Each "anchor" is a square window of the network input: AveragePool with kernel k, stride s and padding (k - s) / 2
gives the mean colour of exactly that window, so the anchor's box (centre of its cell, side k) is where the colour
was measured. Class scores come from the colour: for classes 0-2 a 1x1 convolution scores how red, green, blue the
window is; further classes get fixed pseudo-random colour weights. The v5 objectness is how saturated the colour
is. A per-anchor tie-break (linear in the centre, irrational ratio) and a per-size bias make scores distinct, so a
uniformly coloured square yields one best box: the window that matches it.

Levels: v8 one window per cell at strides 8/16/32 (sides 16/32/64), like a real anchor-free head's row count; v5
three windows per cell (3 anchors) at strides 8/16/32, so its row count is a real YOLOv5 head's. Box centres come
from CumSum over the pooled grid, so the same graph runs at any input size that is a multiple of 32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
V8_LEVELS = ((8, (16,)), (16, (32,)), (32, (64,)))
V5_LEVELS = ((8, (8, 16, 24)), (16, (16, 32, 48)), (32, (32, 64, 96)))
COLOUR_NAMES = ('red', 'green', 'blue')
TIE_X, TIE_Y = 1e-3, 1e-3 * 2 ** 0.5

# The scene these models were made for: a red and a green square on grey, 640x480. Into a 320x320 input: ratio 0.5,
# 40 px grey above and below. The stride-32, side-64 window at cell (5, 5) covers input pixels 144..208 on both axes,
# i.e. x 288..416, y 208..336 of the image; cell (3, 8): x 480..608, y 80..208.
BACKGROUND = (60, 60, 60)
RED, GREEN = (255, 0, 0), (0, 255, 0)
RED_BOX = (288.0, 208.0, 416.0, 336.0)
GREEN_BOX = (480.0, 80.0, 608.0, 208.0)


def square_image(squares=((RED, RED_BOX), (GREEN, GREEN_BOX)), hw=(480, 640)) -> np.ndarray:
    """An RGB image with each (colour, box) square drawn on the grey background."""
    image = np.full((*hw, 3), BACKGROUND, dtype=np.uint8)
    for colour, (x1, y1, x2, y2) in squares:
        image[int(y1):int(y2), int(x1):int(x2)] = colour
    return image


def class_names(num_classes: int) -> list[str]:
    return list(COLOUR_NAMES[:num_classes]) + [f'thing{i}' for i in range(3, num_classes)]


def class_weights(num_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(nc, 3) weights and (nc,) biases on the mean RGB (0-1): colour detectors first, then random classes."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(0.0, 3.0, (num_classes, 3))  # pure red/green/blue still wins over these
    biases = rng.normal(-4.0, 1.0, num_classes)
    for c in range(min(3, num_classes)):
        weights[c] = 8.0 * (2.0 * np.eye(3)[c] - 1.0)  # 8 (2 m_c - (m_r + m_g + m_b))
        biases[c] = -2.0
    return weights.astype(np.float32), biases.astype(np.float32)


def size_bias(k: int) -> float:
    return 0.1 * k / 8


def ultralytics_metadata(num_classes: int, imgsz: tuple[int, int], *, end2end: bool = False, nms: bool = False,
                         dynamic: bool = False, batch: int = 1, task: str = 'detect') -> dict:
    """Metadata as ultralytics/engine/exporter.py writes it (values become str(v))."""
    return {
        'description': 'Ultralytics YOLO11n model trained on colours.yaml', 'author': 'Ultralytics',
        'date': '2025-06-01T12:00:00.000000', 'version': '8.3.150',
        'license': 'AGPL-3.0 License (https://ultralytics.com/license)', 'docs': 'https://docs.ultralytics.com',
        'stride': 32, 'task': task, 'batch': batch, 'imgsz': list(imgsz),
        'names': dict(enumerate(class_names(num_classes))),
        'args': {'batch': batch, 'half': False, 'dynamic': dynamic, 'simplify': True, 'opset': None, 'nms': nms},
        'channels': 3, 'end2end': end2end,
    }


def yolov5_metadata(num_classes: int) -> dict:
    """Metadata as yolov5/export.py writes it: stride and names only."""
    return {'stride': 32, 'names': dict(enumerate(class_names(num_classes)))}


class _Graph:
    def __init__(self):
        self.nodes: list = []
        self.initializers: list = []
        self.count = 0

    def name(self, base: str) -> str:
        self.count += 1
        return f'{base}_{self.count}'

    def const(self, value, dtype=np.float32) -> str:
        name = self.name('c')
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attrs) -> str | list[str]:
        names = [self.name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, **attrs))
        return names[0] if outputs == 1 else names


def _level(g: _Graph, x: str, stride: int, k: int, w: str, b: str, v5: bool) -> tuple[str, str, str | None]:
    """(boxes (N,4,cells), class scores (N,nc,cells), objectness (N,1,cells) or None) of one window size."""
    pad = (k - stride) // 2
    pooled = g.op('AveragePool', x, kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4,
                  count_include_pad=0)
    first = g.op('Slice', pooled, g.const([0], np.int64), g.const([1], np.int64), g.const([1], np.int64))
    ones = g.op('Add', g.op('Mul', first, g.const(0.0)), g.const(1.0))
    cx = g.op('Sub', g.op('Mul', g.op('CumSum', ones, g.const(3, np.int64)), g.const(float(stride))),
              g.const(stride / 2))
    cy = g.op('Sub', g.op('Mul', g.op('CumSum', ones, g.const(2, np.int64)), g.const(float(stride))),
              g.const(stride / 2))
    side = g.op('Mul', ones, g.const(float(k)))
    tie = g.op('Add', g.op('Add', g.op('Mul', cx, g.const(TIE_X)), g.op('Mul', cy, g.const(TIE_Y))),
               g.const(size_bias(k)))
    logits = g.op('Add', g.op('Conv', pooled, w, b), tie)

    def flat(t: str) -> str:  # (N, C, gh, gw) -> (N, C, gh * gw), cells row-major as a real head orders them
        return g.op('Reshape', t, g.const([0, 0, -1], np.int64))

    boxes = flat(g.op('Concat', cx, cy, side, side, axis=1))
    scores = flat(g.op('Sigmoid', logits))
    obj = None
    if v5:
        spread = g.op('Sub', g.op('ReduceMax', pooled, axes=[1]), g.op('ReduceMin', pooled, axes=[1]))
        obj = flat(g.op('Sigmoid', g.op('Add', g.op('Add', g.op('Mul', spread, g.const(8.0)), g.const(-3.0)),
                                        tie)))
    return boxes, scores, obj


def build_model(path: str | Path, layout: str, num_classes: int, *, input_hw: tuple[int, int] = (320, 320),
                batch: int | None = 1, dynamic_hw: bool = False, metadata: dict | None = None, seed: int = 0,
                max_det: int = 30, nms_pad_conf: float | None = None, fp16: bool = False) -> Path:
    """An ONNX detection model of ``layout`` ('v5', 'v8', 'end2end') written to ``path``.

    ``batch`` None and ``dynamic_hw`` make those input dimensions symbolic (as export dynamic=True does);
    ``metadata`` goes to metadata_props (str of each value). end2end: the ``max_det`` best anchors (TopK, best
    first); ``nms_pad_conf`` zeroes rows at or under that score, as an nms=True export pads its output.
    """
    g = _Graph()
    weights, biases = class_weights(num_classes, seed)
    w = g.const(weights.reshape(num_classes, 3, 1, 1))
    b = g.const(biases)
    x = g.op('Cast', 'images', to=TensorProto.FLOAT) if fp16 else 'images'
    levels = V5_LEVELS if layout == 'v5' else V8_LEVELS
    parts = [_level(g, x, stride, k, w, b, layout == 'v5') for stride, sides in levels for k in sides]
    boxes = g.op('Concat', *[p[0] for p in parts], axis=2)
    scores = g.op('Concat', *[p[1] for p in parts], axis=2)
    if layout == 'v8':
        out = g.op('Concat', boxes, scores, axis=1)
    elif layout == 'v5':
        obj = g.op('Concat', *[p[2] for p in parts], axis=2)
        out = g.op('Transpose', g.op('Concat', boxes, obj, scores, axis=1), perm=[0, 2, 1])
    elif layout == 'end2end':
        one, two, four = (g.const([v], np.int64) for v in (1, 2, 4))
        centre = g.op('Slice', boxes, g.const([0], np.int64), two, one)
        half = g.op('Mul', g.op('Slice', boxes, two, four, one), g.const(0.5))
        xyxy = g.op('Concat', g.op('Sub', centre, half), g.op('Add', centre, half), axis=1)
        best = g.op('ReduceMax', scores, axes=[1], keepdims=1)
        cls = g.op('Cast', g.op('ArgMax', scores, axis=1, keepdims=1), to=TensorProto.FLOAT)
        rows = g.op('Transpose', g.op('Concat', xyxy, best, cls, axis=1), perm=[0, 2, 1])  # (N, anchors, 6)
        _, index = g.op('TopK', g.op('Squeeze', best, one), g.const([max_det], np.int64), axis=-1, outputs=2)
        index = g.op('Unsqueeze', index, two)
        index = g.op('Expand', index, g.op('Mul', g.op('Shape', index), g.const([1, 1, 6], np.int64)))
        out = g.op('GatherElements', rows, index, axis=1)
        if nms_pad_conf is not None:
            score = g.op('Slice', out, four, g.const([5], np.int64), two)
            out = g.op('Mul', out, g.op('Cast', g.op('Greater', score, g.const(nms_pad_conf)),
                                        to=TensorProto.FLOAT))
    else:
        raise ValueError(layout)
    g.nodes.append(helper.make_node('Cast', [out], ['output0'], to=TensorProto.FLOAT16 if fp16 else
                                    TensorProto.FLOAT))
    elem = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    dims = ['batch' if batch is None else batch, 3,
            *(['height', 'width'] if dynamic_hw else list(input_hw))]
    n = dims[0]
    out_dims = {'v8': [n, 4 + num_classes, 'anchors'], 'v5': [n, 'anchors', 5 + num_classes],
                'end2end': [n, max_det, 6]}[layout]
    graph = helper.make_graph(g.nodes, 'tiny_yolo', [helper.make_tensor_value_info('images', elem, dims)],
                              [helper.make_tensor_value_info('output0', elem, out_dims)], g.initializers)
    return save(graph, path, metadata)


def save(graph: onnx.GraphProto, path: str | Path, metadata: dict | None) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', OPSET)], producer_name='pytorch')
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, str(value)
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, path)
    return path


def build_shaped(path: str | Path, output_shapes: list[tuple[int, ...]], *, metadata: dict | None = None,
                 input_dims: list | None = None, input_type: int = TensorProto.FLOAT) -> Path:
    """A model whose outputs have the given fixed shapes (filled with the image mean): for refusals."""
    g = _Graph()
    x = 'images' if input_type == TensorProto.FLOAT else g.op('Cast', 'images', to=TensorProto.FLOAT)
    mean = g.op('ReduceMean', x, keepdims=0)
    outputs = []
    for i, shape in enumerate(output_shapes):
        g.nodes.append(helper.make_node('Expand', [mean, g.const(list(shape), np.int64)], [f'output{i}']))
        outputs.append(helper.make_tensor_value_info(f'output{i}', TensorProto.FLOAT, list(shape)))
    dims = input_dims or [1, 3, 64, 64]
    graph = helper.make_graph(g.nodes, 'shaped', [helper.make_tensor_value_info('images', input_type, dims)],
                              outputs, g.initializers)
    return save(graph, path, metadata)
