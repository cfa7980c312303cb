"""The detector families and the one function that builds a detector from parameters.

Every place that needs a detector (detector_node, ``jdd-ros detect``, ``jdd-ros fuse`` / ``process``, the
benchmarks) calls ``build_detector`` with the detector node's parameters, so a family added here works in all of them.
A family's module is imported only when it is used: choosing a family never imports another family's runtime.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from jdd_ros.detect.base import Detector


@dataclass(frozen=True)
class DetectorFamily:
    """``module`` provides ``build(params, model_dir) -> Detector`` and ``check(params) -> str | None`` (the reason
    the parameters cannot describe a model of this family, found before anything is loaded)."""

    name: str
    summary: str
    module: str


FAMILIES: dict[str, DetectorFamily] = {f.name: f for f in (
    DetectorFamily('darknet', 'YOLOv4 / YOLOv4-tiny from Darknet cfg, weights and names (a known model by default)',
                   'jdd_ros.detect.darknet.family'),
    DetectorFamily('ultralytics', 'YOLO exported to ONNX by Ultralytics (YOLOv8, YOLO11, YOLOv10, YOLO26, YOLOv5u; '
                   'end2end and nms=True exports too) or by YOLOv5 export.py; weights is the .onnx file',
                   'jdd_ros.detect.ultralytics.family'),
)}


def family(name: str) -> DetectorFamily:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown detector family '{name}' (families: {', '.join(FAMILIES)})") from None


def check_detector_params(params: Any) -> str | None:
    """Why ``params`` (a DetectorNodeParams or anything with its attributes) cannot build a detector, or None."""
    return importlib.import_module(family(params.family).module).check(params)


def build_detector(params: Any, model_dir: str | None = None) -> Detector:
    """The detector ``params`` describe; ValueError / FileNotFoundError / RuntimeError saying what to fix."""
    reason = check_detector_params(params)
    if reason:
        raise ValueError(reason)
    return importlib.import_module(family(params.family).module).build(params, model_dir)
