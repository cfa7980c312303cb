"""Which of the three output layouts an exported YOLO model has, from its output shape and metadata.

- ``v5``: YOLOv5/YOLOv7-style head, ``(N, anchors, 5 + classes)``: cx, cy, w, h (network-input pixels),
  objectness, class probabilities; a class's confidence is objectness x probability (yolov5 ``models/yolo.py``
  Detect, ``utils/general.py`` non_max_suppression).
- ``v8``: anchor-free head of YOLOv8/YOLO11/YOLOv5u..., ``(N, 4 + classes, anchors)``: cx, cy, w, h, class scores,
  no objectness (ultralytics ``utils/nms.py`` non_max_suppression).
- ``end2end``: NMS-free heads (YOLOv10, YOLO26) and ``nms=True`` exports, ``(N, max_det, 6)``: x1, y1, x2, y2,
  score, class, best first, zero rows as padding (ultralytics ``engine/exporter.py`` NMSModel, ``nn/modules/head.py``
  Detect.postprocess).

Shapes alone are ambiguous in two places: a 1-class v5 output and an end-to-end one are both ``(N, K, 6)``, and a
v5 and a v8 output with as many anchors as channels cannot be told apart. Metadata settles most real cases (the
Ultralytics exporter writes ``end2end``/``args``/``task`` and never a v5 head; YOLOv5's writes only ``stride`` and
``names``); the rest is decided by the anchor count a v5 head would have at this input size.
"""

from __future__ import annotations

from collections.abc import Sequence

from jdd_ros.detect.ultralytics.metadata import ModelMetadata

LAYOUTS = ('v5', 'v8', 'end2end')
LAYOUT_SHAPES = {
    'v5': '(N, anchors, 5 + classes): cx, cy, w, h, objectness, class scores',
    'v8': '(N, 4 + classes, anchors): cx, cy, w, h, class scores',
    'end2end': '(N, max_det, 6): x1, y1, x2, y2, score, class',
}


def layout_classes(layout: str, shape: Sequence[int]) -> int | None:
    """The class count an output of ``shape`` has when read as ``layout`` (None for end2end: not in the shape)."""
    if layout == 'v5':
        return shape[2] - 5
    if layout == 'v8':
        return shape[1] - 4
    return None


def fits(layout: str, shape: Sequence[int]) -> bool:
    if len(shape) != 3 or min(shape) < 1:
        return False
    if layout == 'v5':
        return shape[2] >= 6
    if layout == 'v8':
        return shape[1] >= 5
    return shape[2] == 6


def v5_anchor_count(input_hw: tuple[int, int], max_stride: int | None) -> int:
    """Rows of a YOLOv5 head at this input size: 3 anchors per cell of each level, strides 8 .. max_stride (32 for
    P5 models, 64 for P6)."""
    strides, s = [], 8
    while s <= (max_stride or 32):
        strides.append(s)
        s *= 2
    return 3 * sum((input_hw[0] // s) * (input_hw[1] // s) for s in strides)


def _no_layout(source: str, shape: Sequence[int], why: str = '') -> ValueError:
    known = '; '.join(f'{name} {text}' for name, text in LAYOUT_SHAPES.items())
    return ValueError(f'{source}: output shape {tuple(shape)} fits no known YOLO detection layout{why} '
                      f'(expected {known})')


def resolve_layout(shape: Sequence[int], requested: str, meta: ModelMetadata, *, num_names: int | None,
                   input_hw: tuple[int, int], source: str) -> tuple[str, str]:
    """The layout of an output of ``shape`` and what decided it ('argument', 'metadata', 'class names', 'shape').

    ``requested`` is 'auto' or a layout name; ``num_names`` the number of class names known so far, if any (it
    only breaks ties here: the detector checks it against the chosen layout afterwards). The steps: the layouts the
    shape fits, narrowed by the metadata, then by the class names, then by the anchor count.
    """
    shape = tuple(int(d) for d in shape)
    if requested != 'auto':
        return _requested_layout(shape, requested, source), 'argument'
    by_shape = [layout for layout in LAYOUTS if fits(layout, shape)]
    if not by_shape:
        raise _no_layout(source, shape)
    candidates = _by_metadata(by_shape, meta, shape, source)
    if len(candidates) == 1:
        return candidates[0], 'shape' if len(by_shape) == 1 else 'metadata'
    if num_names is not None:
        named = [c for c in candidates if c == 'end2end' or layout_classes(c, shape) == num_names]
        if len(named) == 1:
            return named[0], 'class names'
        candidates = named or candidates
    return _by_anchor_count(candidates, shape, input_hw, meta.stride), 'shape'


def _requested_layout(shape: tuple[int, ...], requested: str, source: str) -> str:
    if requested not in LAYOUTS:
        raise ValueError(f"layout {requested!r}: expected 'auto' or one of {', '.join(LAYOUTS)}")
    if not fits(requested, shape):
        raise ValueError(f'{source}: output shape {shape} does not fit layout {requested!r}, which is '
                         f'{LAYOUT_SHAPES[requested]}')
    return requested


def _by_metadata(by_shape: list[str], meta: ModelMetadata, shape: tuple[int, ...], source: str) -> list[str]:
    """The layouts the shape fits that the metadata allows (end2end flag, producer); ValueError when none is left."""
    candidates = list(by_shape)
    if meta.end2end is True:
        candidates = [c for c in candidates if c == 'end2end']
        if not candidates:
            raise _no_layout(source, shape, ': its metadata says end-to-end (NMS-free head or nms=True export) '
                                            'but the output is not (N, max_det, 6)')
    elif meta.end2end is False:
        candidates = [c for c in candidates if c != 'end2end']
    if meta.producer == 'ultralytics':  # the ultralytics package exports no objectness (v5) head
        candidates = [c for c in candidates if c != 'v5']
    elif meta.producer == 'yolov5':  # yolov5's export.py: the v5 head only, no NMS in the graph
        candidates = [c for c in candidates if c == 'v5']
    if not candidates:
        raise _no_layout(source, shape, f' that {meta.producer} exports have (by shape alone it could be '
                                        f"{' or '.join(by_shape)})")
    return candidates


def _by_anchor_count(candidates: list[str], shape: tuple[int, ...], input_hw: tuple[int, int],
                     max_stride: int | None) -> str:
    if 'end2end' in candidates:  # (N, K, 6): end-to-end, unless K is exactly a v5 head's row count
        if 'v5' in candidates and shape[1] == v5_anchor_count(input_hw, max_stride):
            return 'v5'
        return 'end2end'
    return 'v8' if shape[1] < shape[2] else 'v5'  # anchors outnumber channels
