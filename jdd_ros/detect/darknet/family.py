"""The Darknet family in the detector registry: a known model by name, or your own cfg + weights + names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jdd_ros.detect.base import Detector
from jdd_ros.detect.darknet.model_store import resolve_detector_files

if TYPE_CHECKING:  # the registry imports this module when the family is built
    from jdd_ros.detect.registry import DetectorParams


def check(params: DetectorParams) -> str | None:
    if str(params.weights).lower().endswith('.onnx') and not params.cfg:
        return (f"weights {params.weights} is an ONNX file, not Darknet weights: for a YOLO exported to ONNX by "
                "Ultralytics or YOLOv5 set family to 'ultralytics', for one exported by YOLOX set family to 'yolox'")
    custom = [k for k in ('cfg', 'weights', 'names') if getattr(params, k)]
    if custom and len(custom) != 3:
        missing = sorted({'cfg', 'weights', 'names'} - set(custom))
        return f"a custom Darknet detector needs cfg, weights and names together; missing: {', '.join(missing)}"
    if not custom and not params.model:
        return 'no detector model: give a known model name (model) or cfg, weights and names'
    return None


def build(params: DetectorParams, model_dir: str | None = None) -> Detector:
    kwargs = {'directory': model_dir} if model_dir else {}
    files = resolve_detector_files(params.model, params.cfg, params.weights, params.names, params.weights_sha256,
                                   **kwargs)
    from jdd_ros.detect.darknet.detector import YoloDetector  # torch: imported once the model files are known good

    return YoloDetector(str(files.cfg), str(files.weights), str(files.names), device=params.device,
                        backend=params.backend, precision=params.precision, input_size=params.input_size or None,
                        threads=params.threads)
