"""The Ultralytics family in the detector registry: ``weights`` is the path of the ONNX export, ``names`` an optional
names file (default: the export's metadata names), ``input_size`` 0 the export's own size; ``cfg`` must be empty and
``model`` (a known Darknet model name) is ignored."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from jdd_ros.detect.base import Detector
from jdd_ros.detect.ultralytics.detector import FAMILY, UltralyticsDetector, check_backend

if TYPE_CHECKING:  # the registry imports this module when the family is built
    from jdd_ros.detect.registry import DetectorParams

_NOT_ONNX = {
    '.pt': 'a PyTorch checkpoint: export it to ONNX first (yolo export model=FILE.pt format=onnx, or YOLOv5: python '
           'export.py --weights FILE.pt --include onnx) and give the .onnx file',
    '.pth': 'a PyTorch checkpoint: export it to ONNX first and give the .onnx file',
    '.weights': "Darknet weights: use family 'darknet' with cfg, weights and names",
}


def check(params: DetectorParams) -> str | None:
    if params.cfg:
        return (f"detector family '{FAMILY}' takes no cfg (a Darknet file; given: {params.cfg}): give the ONNX "
                "export as weights, or use family 'darknet'")
    if not params.weights:
        return (f"detector family '{FAMILY}' needs weights: the path of the model's ONNX export "
                "(model names only the known Darknet models and is ignored by this family)")
    suffix = Path(params.weights).suffix.lower()
    if suffix in _NOT_ONNX:
        return f"detector family '{FAMILY}': weights {params.weights} is {_NOT_ONNX[suffix]}"
    return check_backend(params.backend)


def build(params: DetectorParams, model_dir: str | None = None) -> Detector:
    """``model_dir`` (the Darknet model cache) plays no part: the export is a file the user gives."""
    return UltralyticsDetector(params.weights, params.names or None, device=params.device, backend=params.backend,
                               input_size=params.input_size or None, sha256=params.weights_sha256 or None,
                               threads=params.threads, precision=params.precision)
