"""Typed snapshots of each node's parameters, generated from ``jdd_ros.params`` by
tools/gen_param_types.py (test/test_params_schema.py keeps it current): do not edit by hand.

A snapshot holds values already validated by the schema; a node replaces its snapshot as a whole when
``ros2 param set`` succeeds, so a frame is always processed with one consistent set of values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class FusionNodeParams:
    """fusion_node's parameters (jdd_ros.params.SCHEMA['fusion_node'])."""

    depth_source: str = 'model'
    ground_classes: tuple[str, ...] = (
        'person', 'bicycle', 'car', 'motorbike', 'motorcycle', 'bus', 'truck', 'fire hydrant', 'stop sign',
        'parking meter', 'bench', 'cat', 'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe',
        'suitcase', 'chair', 'sofa', 'couch', 'bed', 'diningtable', 'dining table', 'toilet', 'refrigerator',
    )
    max_depth: float = 0.0
    min_depth: float = 0.0
    keep_unmeasured: bool = False
    min_ttc: float = 2.0
    ttc_image_objects: int = 3
    depth_statistic: str = 'median'
    depth_percentile: float = 20.0
    box_fraction: float = 0.5
    min_valid_fraction: float = 0.1
    depth_registered: bool = False
    filter_mode: str = 'detect_then_filter'
    cache_size: int = 30
    camera_height: float = 0.0
    camera_pitch: float = 0.0
    camera_roll: float = 0.0
    camera_height_std: float = 0.02
    camera_angle_std: float = 1.0
    reliability: str = 'auto'
    autostart: bool = True


@dataclass(frozen=True)
class DetectorNodeParams:
    """detector_node's parameters (jdd_ros.params.SCHEMA['detector_node'])."""

    family: str = 'darknet'
    model: str = 'yolov4-tiny'
    cfg: str = ''
    weights: str = ''
    names: str = ''
    weights_sha256: str = ''
    device: str = 'cpu'
    backend: str = 'auto'
    precision: str = 'auto'
    input_size: int = 0
    threads: int = 0
    confidence_threshold: float = 0.25
    nms_threshold: float = 0.45
    classes: tuple[str, ...] = ()
    publish_debug_image: bool = False
    filter_mode: str = 'detect_then_filter'
    max_depth: float = 0.0
    reliability: str = 'auto'
    autostart: bool = True


@dataclass(frozen=True)
class DepthNodeParams:
    """depth_node's parameters (jdd_ros.params.SCHEMA['depth_node'])."""

    checkpoint: str = ''
    onnx_model: str = ''
    model_sha256: str = ''
    device: str = 'cpu'
    backend: str = 'auto'
    precision: str = 'auto'
    input_height: int = 0
    input_width: int = 0
    threads: int = 0
    max_depth: float = 0.0
    publish_colored: bool = False
    camera_height: float = 0.0
    camera_pitch: float = 0.0
    camera_roll: float = 0.0
    camera_height_std: float = 0.02
    camera_angle_std: float = 1.0
    reliability: str = 'auto'
    autostart: bool = True


NodeName = Literal['fusion_node', 'detector_node', 'depth_node']
NodeParams = FusionNodeParams | DetectorNodeParams | DepthNodeParams

SNAPSHOT_TYPES: dict[NodeName, type[NodeParams]] = {
    'fusion_node': FusionNodeParams,
    'detector_node': DetectorNodeParams,
    'depth_node': DepthNodeParams,
}
