"""Object detection with YOLOX ONNX exports (``tools/export_onnx.py`` of Megvii's YOLOX, as yolox_ros runs them),
with the same interface as the other families' detectors.

Running the model is the inference layer's job (``inference.model_loading.open_model`` through
``detect.user_export``); this module checks what the export is (its head's row count, whether it decodes in the
graph, its class names) and feeds the numpy stages (:mod:`.preprocess`, :mod:`.head`, ``detect.candidates``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jdd_ros.core.detection import Detection
from jdd_ros.detect.candidates import image_detections, nms_order, with_objectness
from jdd_ros.detect.coco import COCO_CLASSES
from jdd_ros.detect.letterbox import Letterbox
from jdd_ros.detect.user_export import ExportDetector, Names, given_names, resolve_input_size, size_pair
from jdd_ros.detect.yolox.graph import graph_decoding
from jdd_ros.detect.yolox.head import ROW, STRIDE_SETS, anchor_count, anchor_grid, decode_rows, strides_of
from jdd_ros.detect.yolox.preprocess import preprocess

FAMILY = 'yolox'


class YoloxDetector(ExportDetector):
    """A YOLOX model exported to ONNX, ready to detect objects in RGB images.

    ``names``: a names file (one per line), a list or a dict {index: name}; by default the COCO names when the
    output has 80 classes, else 'class0'... ``input_size`` (n or (h, w)): only for an export whose input size is
    dynamic (a fixed one takes its own size or none). ``decoded``: None (the graph says whether the export decodes
    its boxes, :mod:`.graph`), True (``--decode_in_inference``) or False (raw head). ``sha256``: refuse the file
    unless its digest is this one. ``backend``: 'auto', 'onnxruntime' or 'openvino' ('torch' is refused),
    ``precision`` 'auto', 'bf16' or 'fp32'. ``max_det``: detections kept per image at most (None: all that NMS keeps,
    as YOLOX).

    Exports whose output is not a YOLOX head at their input size, whose class names disagree with it, whose graph
    does not say whether it decodes, or whose input is not an image are refused with a ValueError naming the file
    and the problem.
    """

    family = FAMILY

    def __init__(self, model_path: str | Path, names: Names | None = None, *, device: str = 'cpu',
                 backend: str = 'auto', input_size: int | Sequence[int] | None = None, decoded: bool | None = None,
                 sha256: str | None = None, max_det: int | None = None, threads: int = 0, precision: str = 'auto'):
        if decoded not in (None, True, False):
            raise ValueError(f'decoded must be None (from the graph), True or False, got {decoded!r}')
        if max_det is not None and (isinstance(max_det, bool) or not isinstance(max_det, int) or max_det < 1):
            raise ValueError(f'max_det must be None or a positive int, got {max_det!r}')
        requested_size = size_pair(input_size)
        self.max_det = max_det
        path = self._open(model_path, device=device, backend=backend, precision=precision, sha256=sha256,
                          threads=threads)
        self._check_io('BGR 0-255, as YOLOX tools/export_onnx.py exports',
                       f"YOLOX's tools/export_onnx.py writes (N, anchors, 5 + classes): {ROW}")
        self.input_size = resolve_input_size(path, self._run.inputs[0].shape[2:], requested_size, None, 32)
        # One run at the chosen size: the real output dimensions, and an export that cannot run at this size fails
        # here, at start-up, rather than on the first image.
        probe = self._infer(np.zeros((self._fixed_batch or 1, 3, *self.input_size), dtype=self._input_dtype))
        self._output_shape = probe.shape[1:]
        self.strides, self.num_classes = self._check_output(path, probe.shape)
        self.decoded, decoded_origin = self._decoded(path, decoded)
        self._cells, self._cell_strides = anchor_grid(self.input_size, self.strides)
        class_names, names_origin = self._names(path, names)
        self.class_names: list[str] = class_names
        self.precision = self._precision()
        height, width = self.input_size
        self.description = (
            f"{path.name}: YOLOX {'decoded' if self.decoded else 'raw'} head (from {decoded_origin}), strides "
            f"{'/'.join(map(str, self.strides))}, {self.num_classes} classes ({names_origin}), input "
            f'{height}x{width}{self.precision_text}, batch {self._fixed_batch or "dynamic"}, {self.backend} '
            f'{self.precision} on {self.device}')

    def _check_output(self, path: Path, shape: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
        """The head's strides and class count of an output of ``shape``; ValueError when it is not a YOLOX head's
        at this input size."""
        strides = strides_of(shape[1], self.input_size) if len(shape) == 3 and shape[2] >= 6 else None
        if strides is None:
            height, width = self.input_size
            expected = ' or '.join(f"(N, {anchor_count(self.input_size, s)}, 5 + classes) for strides "
                                   f"{'/'.join(map(str, s))}" for s in STRIDE_SETS)
            raise ValueError(f'{path}: output shape {tuple(shape)} is not a YOLOX head at input {height}x{width}: '
                             f"expected {expected}, each row {ROW} (Ultralytics and YOLOv5 exports: family "
                             "'ultralytics')")
        return strides, shape[2] - 5

    def _decoded(self, path: Path, given: bool | None) -> tuple[bool, str]:
        """Whether the output is in input pixels already, and what said so."""
        if given is not None:
            return given, 'decoded argument'
        found = graph_decoding(path, self._run.outputs[0].name)
        if found.decoded is None:
            ops = ', '.join(found.unknown_ops) or 'nothing'
            raise ValueError(f"{path}: cannot tell whether the output is decoded: between the head and the output "
                             f"the graph computes {ops}, neither only the raw head's Conv/Sigmoid nor the Exp of "
                             "--decode_in_inference; export it with YOLOX's tools/export_onnx.py (with or without "
                             '--decode_in_inference)')
        return found.decoded, 'graph'

    def _names(self, path: Path, names: Names | None) -> tuple[list[str], str]:
        """The class names (given, COCO for 80 classes, or generated) and where they come from."""
        class_names, origin = given_names(names)
        if class_names is None:
            if self.num_classes == len(COCO_CLASSES):
                return list(COCO_CLASSES), 'COCO names'
            return [f'class{i}' for i in range(self.num_classes)], 'generated names'
        if len(class_names) != self.num_classes:
            raise ValueError(f'{path}: {len(class_names)} class names ({origin}) but the output '
                             f'{(-1, *self._output_shape)} has {self.num_classes} classes')
        return class_names, origin

    def _image_detections(self, pred: np.ndarray, letterbox: Letterbox, conf_threshold: float,
                          nms_threshold: float, mask: np.ndarray | None) -> list[Detection]:
        if not self.decoded:  # decode only the rows whose objectness can pass: a class score never exceeds it
            rows = np.nonzero(pred[:, 4] > conf_threshold)[0]
            pred = decode_rows(pred[rows], self._cells[rows], self._cell_strides[rows])
        candidates = with_objectness(pred, self.num_classes, conf_threshold, mask)
        keep = nms_order(candidates, nms_threshold, self.max_det or len(candidates.scores))
        return image_detections(candidates, keep, letterbox, self.class_names)

    def _preprocess(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, list[Letterbox]]:
        return preprocess(images, self.input_size, self._input_dtype)

    def _detections(self, output: np.ndarray, letterboxes: list[Letterbox], conf_threshold: float,
                    nms_threshold: float, mask: np.ndarray | None) -> list[list[Detection]]:
        return [self._image_detections(pred, box, conf_threshold, nms_threshold, mask)
                for pred, box in zip(output, letterboxes)]
