"""Object detection with the YOLO models users already have: ONNX exports by Ultralytics (YOLOv8, YOLO11, YOLOv10,
YOLO26, YOLOv5u ...) and by YOLOv5's export.py, with the same interface as the Darknet family's YoloDetector.

Running the model is the inference layer's job (``inference.model_loading.open_model``: ONNX Runtime or OpenVINO,
graph inputs/outputs, metadata, a call from a batch to the outputs); this module only checks what the export is, and
feeds the numpy stages (:mod:`.preprocess`, :mod:`.layout`, :mod:`.decode`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jdd_ros.core.detection import Detection
from jdd_ros.detect import user_export
from jdd_ros.detect.letterbox import Letterbox
from jdd_ros.detect.ultralytics.decode import decode, postprocess
from jdd_ros.detect.ultralytics.layout import LAYOUT_SHAPES, LAYOUTS, layout_classes, resolve_layout
from jdd_ros.detect.ultralytics.metadata import ModelMetadata, parse_metadata
from jdd_ros.detect.ultralytics.preprocess import preprocess
from jdd_ros.detect.user_export import ExportDetector, Names, given_names, resolve_input_size, size_pair

FAMILY = 'ultralytics'
_OTHER_TASKS = ('segment', 'pose', 'obb', 'classify')


def check_backend(backend: str) -> str | None:
    """Why this family cannot run on ``backend``, or None."""
    return user_export.check_backend(FAMILY, backend)


def _check_metadata(meta: ModelMetadata, path: Path) -> None:
    """Refuse exports of another task or another architecture, named by their metadata."""
    if meta.task is not None and meta.task != 'detect':
        kind = 'a' if meta.task in _OTHER_TASKS else 'an unknown'
        raise ValueError(f"{path}: {kind} {meta.task!r} model (metadata task); only 'detect' models are "
                         'supported, the outputs of segment/pose/obb/classify models are laid out differently')
    if meta.head == 'RTDETRDecoder' or 'RT-DETR' in meta.description:
        raise ValueError(f'{path}: an RT-DETR model; its output (N, queries, 4 + classes, boxes as fractions '
                         'of the input) is not a YOLO layout and is not supported')
    if meta.channels not in (None, 3):
        raise ValueError(f'{path}: a {meta.channels}-channel model (metadata channels); expected RGB (3)')


class UltralyticsDetector(ExportDetector):
    """A YOLO model exported to ONNX by Ultralytics or YOLOv5, ready to detect objects in RGB images.

    ``names``: a names file (one per line), a list or a dict {index: name}; by default the model's own metadata
    names, else 'class0'...
    ``input_size`` (n or (h, w)): the network input for a dynamic-shaped model (default: its metadata imgsz); a
    fixed-shaped model must be given its own size or none. ``layout``: 'auto' (from metadata and output shape),
    'v5', 'v8' or 'end2end' (see :mod:`.layout`). ``sha256``: refuse the file unless its digest is this one.
    ``backend``: 'auto', 'onnxruntime' or 'openvino' ('torch' is refused), ``precision`` 'auto', 'bf16' or 'fp32'
    (``jdd_ros.inference.backends.resolve_backend``). ``max_det``: detections kept per image at most (upstream's
    default).

    Models whose outputs fit no known detection layout, whose class names disagree with the output, that were
    exported for another task (segment, pose, obb, classify) or whose input is not an image are refused with a
    ValueError naming the file and the problem.
    """

    family = FAMILY

    def __init__(self, model_path: str | Path, names: Names | None = None, *,
                 device: str = 'cpu', backend: str = 'auto', input_size: int | Sequence[int] | None = None,
                 layout: str = 'auto', sha256: str | None = None, max_det: int = 300, threads: int = 0,
                 precision: str = 'auto'):
        if layout != 'auto' and layout not in LAYOUTS:
            raise ValueError(f"layout {layout!r}: expected 'auto' or one of {', '.join(LAYOUTS)}")
        if isinstance(max_det, bool) or not isinstance(max_det, int) or max_det < 1:
            raise ValueError(f'max_det must be a positive int, got {max_det!r}')
        requested_size = size_pair(input_size)
        self.max_det = max_det
        path = self._open(model_path, device=device, backend=backend, precision=precision, sha256=sha256,
                          threads=threads)
        self.metadata: ModelMetadata = parse_metadata(self._run.metadata, str(path))
        _check_metadata(self.metadata, path)
        self._check_io('RGB 0-1, as Ultralytics and YOLOv5 export',
                       'a segmentation export has two, raw un-decoded heads one per level')
        self.input_size = resolve_input_size(path, self._run.inputs[0].shape[2:], requested_size,
                                             self.metadata.imgsz, self.metadata.stride or 32,
                                             ' and there is no metadata imgsz')
        class_names, names_origin = self._given_names(names)

        # One run at the chosen size: real output dimensions (symbolic in the graph for dynamic exports), and a
        # model that cannot run at this size fails here, at start-up, rather than on the first image.
        probe = self._infer(np.zeros((self._fixed_batch or 1, 3, *self.input_size), dtype=self._input_dtype))
        self._output_shape = probe.shape[1:]
        layout_origin = self._resolve_layout(path, probe, layout, class_names, names_origin)
        height, width = self.input_size
        self.precision = self._precision()
        about = f' - {self.metadata.description.strip()}' if self.metadata.description.strip() else ''
        self.description = (
            f'{path.name}: {self.layout} layout (from {layout_origin}), {self.num_classes} classes ({names_origin}), '
            f'input {height}x{width}{self.precision_text}, batch {self._fixed_batch or "dynamic"}, {self.backend} '
            f'{self.precision} on {self.device}{about}')

    def _resolve_layout(self, path: Path, probe: np.ndarray, layout: str, class_names: list[str] | None,
                        names_origin: str) -> str:
        """Set ``layout``, ``num_classes`` and ``class_names`` from the start-up run's output; returns what decided
        the layout."""
        if probe.ndim != 3:
            raise ValueError(f'{path}: output shape {probe.shape} fits no known YOLO detection layout (expected '
                             + '; '.join(f'{k} {v}' for k, v in LAYOUT_SHAPES.items()) + ')')
        self.layout, layout_origin = resolve_layout(
            probe.shape, layout, self.metadata, num_names=None if class_names is None else len(class_names),
            input_hw=self.input_size, source=str(path))
        num_classes = layout_classes(self.layout, probe.shape)
        if num_classes is None:  # end2end: the class count is not in the shape
            if class_names is None:
                raise ValueError(f'{path}: an end-to-end output {probe.shape} does not tell the class count and '
                                 'the model has no metadata names: pass names')
            num_classes = len(class_names)
            seen = probe[..., 5][probe[..., 4] > 0]  # the start-up run's classes: a partial check of the names
            if seen.size and seen.max() >= num_classes:
                raise ValueError(f'{path}: {num_classes} class names ({names_origin}) but the end-to-end output '
                                 f'has class {int(seen.max())}')
        if num_classes < 1:
            raise ValueError(f'{path}: output shape {probe.shape} read as {self.layout} leaves no class scores')
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f'{path}: {len(class_names)} class names ({names_origin}) but the {self.layout} '
                             f'output {tuple(probe.shape)} has {num_classes} classes')
        self.class_names: list[str] = class_names or [f'class{i}' for i in range(num_classes)]
        self.num_classes = num_classes
        return layout_origin

    def _given_names(self, names: Names | None) -> tuple[list[str] | None, str]:
        """The class names the user or the model gives, if any, and where they come from (for messages)."""
        given = given_names(names)
        if given[0] is not None:
            return given
        if self.metadata.names is not None:
            return self.metadata.names, 'metadata names'
        return None, 'generated names'

    def _preprocess(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, list[Letterbox]]:
        return preprocess(images, self.input_size, self._input_dtype)

    def _detections(self, output: np.ndarray, letterboxes: list[Letterbox], conf_threshold: float,
                    nms_threshold: float, mask: np.ndarray | None) -> list[list[Detection]]:
        """``nms_threshold`` does not apply to the end2end layout, whose NMS, if any, ran in the graph."""
        candidates = decode(output, self.layout, conf_threshold, self.num_classes, mask)
        return postprocess(candidates, self.layout, letterboxes, nms_threshold, self.max_det, self.class_names)
