"""The YOLOX family in the detector registry: ``weights`` is the path of the ONNX export, ``names`` an optional names
file (default: COCO's names for an 80-class output), ``input_size`` 0 the export's own size; ``cfg`` must be empty
and ``model`` (a known Darknet model name) is ignored."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jdd_ros.detect.base import Detector
from jdd_ros.detect.user_export import check_export_params
from jdd_ros.detect.yolox.detector import FAMILY, YoloxDetector

if TYPE_CHECKING:  # the registry imports this module when the family is built
    from jdd_ros.detect.registry import DetectorParams

_EXPORT = ('export it to ONNX first (YOLOX: python tools/export_onnx.py -n yolox-s -c yolox_s.pth --output-name '
           'yolox_s.onnx) and give the .onnx file')
_NOT_ONNX = {
    '.pth': f'a PyTorch checkpoint: {_EXPORT}',
    '.pt': f'a PyTorch checkpoint: {_EXPORT}',
    '.engine': 'a TensorRT engine: give the ONNX export it was built from',
    '.trt': 'a TensorRT engine: give the ONNX export it was built from',
    '.xml': 'an OpenVINO IR: give the ONNX export it was converted from (backend openvino compiles it itself)',
    '.weights': "Darknet weights: use family 'darknet' with cfg, weights and names",
}


def check(params: DetectorParams) -> str | None:
    return check_export_params(params, FAMILY, _NOT_ONNX)


def build(params: DetectorParams, model_dir: str | None = None) -> Detector:
    """``model_dir`` (the Darknet model cache) plays no part: the export is a file the user gives."""
    return YoloxDetector(params.weights, params.names or None, device=params.device, backend=params.backend,
                         input_size=params.input_size or None, sha256=params.weights_sha256 or None,
                         threads=params.threads, precision=params.precision)
