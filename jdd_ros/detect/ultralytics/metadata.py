"""What an exported model says about itself: the ONNX ``metadata_props`` written by the Ultralytics and YOLOv5
exporters.

Every value is a string there: Ultralytics writes ``str(v)`` of a Python value (``names`` is ``str`` of a dict
``{0: 'person', ...}``, ``imgsz`` ``'[640, 640]'``, ``end2end`` ``'True'``, ``args`` ``str`` of a dict), YOLOv5
writes only ``stride`` and ``names``. Literals are read with :func:`ast.literal_eval`, never ``eval``: a model file
is data and must not be able to run code.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field

from jdd_ros.detect.user_export import names_from_mapping

# A literal longer than this is not metadata a real exporter writes (COCO names are ~1.4 kB); refusing it keeps
# literal_eval's parser from chewing on an arbitrarily large string.
MAX_LITERAL_CHARS = 1_000_000


@dataclass(frozen=True)
class ModelMetadata:
    """The metadata fields that decide how a model is run and decoded; ``None`` where the file does not say."""

    producer: str  # 'ultralytics' (the ultralytics package), 'yolov5' (stride + names only) or 'unknown'
    task: str | None = None
    head: str | None = None  # the head's class name, written by recent exporters ('Detect', 'v10Detect', ...)
    names: list[str] | None = None
    imgsz: tuple[int, int] | None = None
    stride: int | None = None
    batch: int | None = None
    channels: int | None = None
    end2end: bool | None = None  # True: NMS-free head (YOLOv10/YOLO26) or NMS baked in (export nms=True)
    description: str = ''
    version: str = ''
    raw: dict[str, str] = field(default_factory=dict)


def _literal(source: str, key: str, value: str) -> object:
    if len(value) > MAX_LITERAL_CHARS:
        raise ValueError(f'{source}: metadata {key!r} is {len(value)} characters long; not model metadata')
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError(f'{source}: metadata {key!r} is not a Python literal: {value[:80]!r}') from None


def _int(source: str, key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f'{source}: metadata {key!r} is not an integer: {value[:80]!r}') from None


def _imgsz(source: str, value: object) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, (list, tuple)) and len(value) in (1, 2) \
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        return (value[0], value[-1])
    raise ValueError(f'{source}: metadata imgsz must be an int or [height, width], got {value!r}')


def parse_metadata(props: Mapping[str, str], source: str) -> ModelMetadata:
    """Parse an ONNX model's ``metadata_props``; ``source`` (the file) names the model in error messages."""
    props = {str(k): str(v) for k, v in props.items()}
    names = imgsz = stride = batch = channels = end2end = None
    if 'names' in props:
        names = names_from_mapping(_literal(source, 'names', props['names']), f'{source}: metadata names')
    if 'imgsz' in props:
        imgsz = _imgsz(source, _literal(source, 'imgsz', props['imgsz']))
    if 'stride' in props:
        stride = _int(source, 'stride', props['stride'])
    if 'batch' in props:
        batch = _int(source, 'batch', props['batch'])
    if 'channels' in props:
        channels = _int(source, 'channels', props['channels'])
    args = _literal(source, 'args', props['args']) if 'args' in props else {}
    if not isinstance(args, dict):
        raise ValueError(f'{source}: metadata args must be a dict, got {props["args"][:80]!r}')
    if 'end2end' in props:
        end2end = _literal(source, 'end2end', props['end2end'])
        if not isinstance(end2end, bool):
            raise ValueError(f'{source}: metadata end2end must be True or False, got {props["end2end"]!r}')
    # An nms=True export puts NMS in the graph: its output is the end-to-end (N, max_det, 6) layout even when the
    # head itself is not end-to-end (autobackend reads it the same way).
    if args.get('nms') is True:
        end2end = True
    ultralytics = props.get('author', '').lower() == 'ultralytics' or 'task' in props
    producer = 'ultralytics' if ultralytics else 'yolov5' if {'stride', 'names'} <= props.keys() else 'unknown'
    return ModelMetadata(producer=producer, task=props.get('task'), head=props.get('head'), names=names,
                         imgsz=imgsz, stride=stride, batch=batch, channels=channels, end2end=end2end,
                         description=props.get('description', ''), version=props.get('version', ''), raw=props)

