"""The Ultralytics family in the detector registry: ``weights`` is the path of the ONNX export, ``names`` an optional
names file (default: the export's metadata names), ``input_size`` 0 the export's own size; ``cfg`` must be empty and
``model`` (a known Darknet model name) is ignored."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jdd_ros.detect.base import Detector
from jdd_ros.detect.ultralytics.detector import FAMILY, UltralyticsDetector
from jdd_ros.detect.user_export import check_export_params

if TYPE_CHECKING:  # the registry imports this module when the family is built
    from jdd_ros.detect.registry import DetectorParams

_NOT_ONNX = {
    '.pt': 'a PyTorch checkpoint: export it to ONNX first (yolo export model=FILE.pt format=onnx, or YOLOv5: python '
           'export.py --weights FILE.pt --include onnx) and give the .onnx file',
    '.pth': 'a PyTorch checkpoint: export it to ONNX first and give the .onnx file',
    '.weights': "Darknet weights: use family 'darknet' with cfg, weights and names",
}


def check(params: DetectorParams) -> str | None:
    return check_export_params(params, FAMILY, _NOT_ONNX)


def build(params: DetectorParams, model_dir: str | None = None) -> Detector:
    """``model_dir`` (the Darknet model cache) plays no part: the export is a file the user gives."""
    return UltralyticsDetector(params.weights, params.names or None, device=params.device, backend=params.backend,
                               input_size=params.input_size or None, sha256=params.weights_sha256 or None,
                               threads=params.threads, precision=params.precision)
