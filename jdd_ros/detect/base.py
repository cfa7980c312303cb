"""What every detector family provides: the ``Detector`` protocol and the helpers families share.

A family (Darknet YOLOv4, Ultralytics ONNX exports, ...) turns an RGB image into ``Detection`` records in that image's
own pixels. The nodes, the offline tools and the benchmarks use only this protocol, so a new family is one
subpackage of ``jdd_ros.detect`` plus one entry in ``jdd_ros.detect.registry``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from jdd_ros.core.detection import Detection


@runtime_checkable
class Detector(Protocol):
    class_names: list[str]
    input_size: tuple[int, int]  # network input (height, width)
    backend: str  # the backend that runs: 'torch', 'onnxruntime' or 'openvino'
    precision: str  # what it computes in: 'fp32', 'bf16' or 'fp16'
    backend_reason: str  # why this backend and precision (for the start-up log)
    device: str
    description: str  # one line for the start-up log: model, layout, input, backend
    sha256: str  # of the model file it was built from (shown in /diagnostics)

    def detect(self, image_rgb: np.ndarray, conf_threshold: float = 0.25, nms_threshold: float = 0.45,
               classes: Collection[str] | None = None) -> list[Detection]:
        """Detections in one HxWx3 uint8 RGB image, boxes in its pixels (clipped), by score descending."""
        ...

    def detect_batch(self, images: Sequence[np.ndarray], conf_threshold: float = 0.25, nms_threshold: float = 0.45,
                     classes: Collection[str] | None = None) -> list[list[Detection]]:
        ...


def read_names(names: str | Path | Sequence[str]) -> list[str]:
    """Class names from a names file (one per line) or a list."""
    if isinstance(names, (str, Path)):
        lines = Path(names).read_text(encoding='utf-8').splitlines()
        return [line.strip() for line in lines if line.strip()]
    return [str(n) for n in names]


def check_rgb_image(image: object) -> np.ndarray:
    """``image`` when it is an HxWx3 uint8 array with pixels; ValueError saying what it is instead."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 \
            or image.shape[0] == 0 or image.shape[1] == 0:
        got = getattr(image, 'shape', None), getattr(image, 'dtype', type(image).__name__)
        raise ValueError(f'expected an HxWx3 uint8 RGB image, got shape {got[0]} dtype {got[1]}')
    return image


def check_thresholds(conf_threshold: float, nms_threshold: float) -> None:
    for name, value in (('conf_threshold', conf_threshold), ('nms_threshold', nms_threshold)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f'{name} must be within [0, 1], got {value}')


def class_mask(class_names: Sequence[str], classes: Collection[str] | None) -> np.ndarray | None:
    """A boolean mask over ``class_names`` keeping ``classes`` (None or empty: all); ValueError for unknown names."""
    if classes is None or len(classes) == 0:
        return None
    unknown = sorted(set(classes) - set(class_names))
    if unknown:
        raise ValueError(f'unknown class name(s) {unknown}; the model knows {len(class_names)} classes')
    wanted = set(classes)
    return np.array([name in wanted for name in class_names])


def to_detections(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray,
                  class_names: Sequence[str]) -> list[Detection]:
    return [Detection(class_name=class_names[c], score=float(s), x1=float(b[0]), y1=float(b[1]), x2=float(b[2]),
                      y2=float(b[3]), class_id=int(c)) for b, s, c in zip(boxes, scores, class_ids)]
