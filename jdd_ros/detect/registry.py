"""The detector families and the one function that builds a detector from parameters.

Every place that needs a detector (detector_node, ``jdd-ros detect``, ``jdd-ros fuse`` / ``process``, the
benchmarks) calls ``build_detector`` with the detector node's parameters, so a family added here works in all of them.
A family's module is imported only when it is used: choosing a family never imports another family's runtime.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from jdd_ros.detect.base import Detector


class DetectorParams(Protocol):
    """What a family reads to build a detector: the detector node's parameters (``DetectorNodeParams`` has them all;
    the detect layer may not import it)."""

    @property
    def family(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def cfg(self) -> str: ...
    @property
    def weights(self) -> str: ...
    @property
    def names(self) -> str: ...
    @property
    def weights_sha256(self) -> str: ...
    @property
    def device(self) -> str: ...
    @property
    def backend(self) -> str: ...
    @property
    def precision(self) -> str: ...
    @property
    def input_size(self) -> int: ...
    @property
    def threads(self) -> int: ...


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
    DetectorFamily('yolox', "YOLOX exported to ONNX by its tools/export_onnx.py (raw head, or decoded with "
                   '--decode_in_inference); weights is the .onnx file', 'jdd_ros.detect.yolox.family'),
)}


def family(name: str) -> DetectorFamily:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown detector family '{name}' (families: {', '.join(FAMILIES)})") from None


def check_detector_params(params: DetectorParams) -> str | None:
    """Why ``params`` (a DetectorNodeParams or anything with its attributes) cannot build a detector, or None."""
    return importlib.import_module(family(params.family).module).check(params)


def build_detector(params: DetectorParams, model_dir: str | None = None) -> Detector:
    """The detector ``params`` describe; ValueError / FileNotFoundError / RuntimeError saying what to fix."""
    reason = check_detector_params(params)
    if reason:
        raise ValueError(reason)
    return importlib.import_module(family(params.family).module).build(params, model_dir)


def unknown_classes(classes: Iterable[str], known: Sequence[str]) -> str | None:
    """Why ``classes`` (the names to keep) cannot filter a model that knows ``known``, or None: the one wording of
    this refusal for detector_node's ``classes`` and ``jdd-ros detect --classes``."""
    unknown = [c for c in dict.fromkeys(classes) if c not in known]
    if unknown:
        return f"classes: unknown class name(s) {', '.join(unknown)}; this model's classes are: {', '.join(known)}"
    return None
