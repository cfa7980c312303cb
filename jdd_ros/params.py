"""The one parameter schema of jdd_ros's nodes, without ROS imports.

The nodes declare their ROS parameters from it (with descriptors, ranges and validation), ``config/params.yaml``
holds its defaults in ROS's parameter-file format, and the launch file, ``jdd-ros launch`` and the offline tools read
and validate values through it, so a value refused by ``ros2 param set`` is refused everywhere with the same reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, cast, overload

from jdd_ros.detect.registry import FAMILIES
from jdd_ros.inference.backends import BACKENDS, PRECISIONS
from jdd_ros.inference.devices import DEVICES_HELP, parse_device
from jdd_ros.param_types import (
    SNAPSHOT_TYPES,
    DepthNodeParams,
    DetectorNodeParams,
    FusionNodeParams,
    NodeName,
    NodeParams,
)

DEPTH_STATISTICS = ('center', 'median', 'percentile')
DEPTH_SOURCES = ('model', 'sensor', 'ground')
# COCO classes that stand on the floor (depth_source 'ground'), in the spellings of Darknet's coco.names and of
# Ultralytics' exports. Left out on purpose: what usually stands on a table or a shelf (potted plant, tv, laptop,
# bottle, ...) or is carried (backpack, handbag, umbrella): the bottom of their box is not on the floor.
GROUND_CLASSES = (
    'person', 'bicycle', 'car', 'motorbike', 'motorcycle', 'bus', 'truck', 'fire hydrant', 'stop sign',
    'parking meter', 'bench', 'cat', 'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe',
    'suitcase', 'chair', 'sofa', 'couch', 'bed', 'diningtable', 'dining table', 'toilet', 'refrigerator',
)
FILTER_MODES = ('detect_then_filter', 'mask_then_detect')


Value = TypeVar('Value', bool, int, float, str, list[str])


@dataclass(frozen=True)
class ParamSpec(Generic[Value]):
    """One parameter: its default (which fixes its type), what it means, what values are allowed, and where it is
    offered besides the node: ``launch`` (a launch argument of the parameter's name, or of the name given: every
    node whose parameter of that name says so is set by it) and ``offline`` (the file tools honour it, so
    ``jdd-ros fuse`` / ``process`` / ``detect`` take it as ``--name-with-dashes``; False for what only a running
    node does: QoS, lifecycle, caches)."""

    name: str
    default: Value
    description: str
    dynamic: bool = False
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    check: Callable[[Value], str | None] | None = None  # extra rule; returns the reason a value is refused
    launch: bool | str = False
    offline: bool = True

    @property
    def kind(self) -> type:
        if isinstance(self.default, bool):
            return bool
        if isinstance(self.default, list):
            return list
        return type(self.default)

    @property
    def launch_name(self) -> str | None:
        """The launch argument that sets this parameter, or None."""
        if isinstance(self.launch, str):
            return self.launch
        return self.name if self.launch else None

    def allowed(self) -> str:
        """The values allowed, in words ('' when any value of the type is)."""
        parts = []
        if self.min is not None and self.max is not None:
            parts.append(f'range [{self.min}, {self.max}]')
        elif self.min is not None:
            parts.append(f'>= {self.min}')
        elif self.max is not None:
            parts.append(f'<= {self.max}')
        if self.choices:
            parts.append('one of: ' + ', '.join(self.choices))
        return '; '.join(parts)

    def constraints(self) -> str:
        """The allowed values and whether they change at run time (``ros2 param describe``)."""
        when = 'changeable at run time' if self.dynamic else 'read at start-up'
        return f'{self.allowed()}; {when}' if self.allowed() else when

    def coerce(self, value: object) -> Value:
        """The value converted to this parameter's type (int -> float allowed), or ValueError with the reason."""
        kind = self.kind
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return cast(Value, float(value))
        if kind is list:
            if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                return cast(Value, list(value))
            if isinstance(value, str):  # 'person,chair' from a command line
                return cast(Value, [v.strip() for v in value.split(',') if v.strip()])
            raise ValueError(f'{self.name} must be a list of strings, got {value!r}')
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f'{self.name} must be of type {kind.__name__}, got {type(value).__name__} {value!r}')
        return cast(Value, value)

    def parse(self, text: str) -> Value:
        """A command-line or launch-argument string as this parameter's value, read as ``-p name:=text`` reads it
        (YAML for numbers and booleans); ValueError with the reason the schema refuses it."""
        value: object = text
        if self.kind is not str and self.kind is not list:
            import yaml

            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError:
                value = text
        reason = self.validate(value)
        if reason:
            raise ValueError(reason)
        return self.coerce(value)

    def validate(self, value: object) -> str | None:
        """None when ``value`` is acceptable, else the reason it is refused (shown by ``ros2 param set``)."""
        try:
            typed = self.coerce(value)
        except ValueError as exc:
            return str(exc)
        if isinstance(typed, float) and not math.isfinite(typed):
            return f'{self.name} must be a finite number, got {typed}'
        if isinstance(typed, (int, float)) and not isinstance(typed, bool):
            if self.min is not None and typed < self.min:
                return f'{self.name} must be >= {self.min}, got {typed}'
            if self.max is not None and typed > self.max:
                return f'{self.name} must be <= {self.max}, got {typed}'
        if self.choices is not None and typed not in self.choices:
            return f"{self.name} must be one of {', '.join(self.choices)}; got '{typed}'"
        if self.check is not None:
            return self.check(typed)
        return None


# A parameter of any of the schema's types (a node's parameters are of several).
Spec = ParamSpec[bool] | ParamSpec[int] | ParamSpec[float] | ParamSpec[str] | ParamSpec[list[str]]


def _check_device(value: str) -> str | None:
    try:
        parse_device(value)
    except ValueError:
        return f"device must be {DEVICES_HELP}, got '{value}'"
    return None


def _check_input_size(value: int) -> str | None:
    if value != 0 and value % 32:
        return f'input sizes must be 0 (the model default) or a multiple of 32, got {value}'
    return None


def _check_depth_input_size(value: int) -> str | None:
    if 0 < value < 32:
        return f'depth input sizes must be 0 (the model default) or at least 32 pixels, got {value}'
    return None


RELIABILITY = ParamSpec(
    'reliability', 'auto',
    "QoS reliability of the input subscriptions: 'auto' follows the publishers found (reliable when all are reliable, "
    "as a bag player; best-effort as soon as one is best-effort, as a camera driver; re-decided when they come and "
    "go, and logged); 'reliable' or 'best_effort' fix it (a fixed one is reported when a publisher cannot match).",
    choices=('auto', 'reliable', 'best_effort'), launch=True, offline=False)

THREADS = ParamSpec(
    'threads', 0,
    'Inference threads of the network (onnxruntime, openvino); 0: all the cores this process may use, also for each '
    'network when the depth and detector networks infer the same frame in parallel (the pipeline executable: measured '
    'as fast as or faster than splitting the cores between them; 1 may suit a machine busy with other work).',
    min=0, max=256)

PRECISION = ParamSpec(
    'precision', 'auto',
    "What the network computes in on CPU: 'auto' is bf16 where the CPU computes bf16 natively (AVX512_BF16 or AMX; "
    "backend openvino, ~2x fp32), else fp32; 'fp32' for results closest to the reference implementations; 'int8' "
    "(OpenVINO + NNCF on CPUs with VNNI or AMX-INT8, quantised once and cached; check your model's results: "
    "yolov4-tiny scores move by up to 0.09) and 'bf16' are refused on a CPU without native support. On CUDA 'auto' "
    "keeps the model's default (fp16 for Darknet).",
    choices=PRECISIONS)

_AUTO_BACKEND = ("'auto' is openvino bf16 on CPUs with native bf16 (AVX512_BF16/AMX; int8 where precision says so), "
                 'onnxruntime fp32 on other CPUs and torch on CUDA (see precision); the start-up log says which runs '
                 'and why')

AUTOSTART = ParamSpec(
    'autostart', True,
    'Configure and activate the node at start-up (ros2 run, jdd-ros launch); false leaves it unconfigured for a '
    'lifecycle manager (ros2 lifecycle set NODE configure, then activate).', offline=False)

# Where the camera is mounted (jdd_ros.core.ground; docs/depth-model.md): the floor under each box gives a distance
# with no depth network (fusion_node depth_source 'ground') and metric scale to a relative depth model (depth_node).
CAMERA_GEOMETRY = (
    ParamSpec('camera_height', 0.0, 'Height of the camera above a flat floor (metres); 0: unknown (the floor is not '
              "used). Measure it, or get it from one RGB-D frame with 'jdd-ros calibrate-ground'.",
              dynamic=True, min=0.0, max=100.0, launch=True),
    ParamSpec('camera_pitch', 0.0, 'Angle of the optical axis below the horizon (degrees; negative: above it).',
              dynamic=True, min=-89.0, max=89.0, launch=True),
    ParamSpec('camera_roll', 0.0, 'Rotation of the camera about its optical axis (degrees, anticlockwise as seen from '
              'behind the camera).', dynamic=True, min=-89.0, max=89.0, launch=True),
    ParamSpec('camera_height_std', 0.02, 'Uncertainty (standard deviation, metres) of camera_height, propagated to '
              'the variance of floor distances.', dynamic=True, min=0.0, max=10.0),
    ParamSpec('camera_angle_std', 1.0, 'Uncertainty (standard deviation, degrees) of camera_pitch and of camera_roll '
              '(e.g. the robot pitching while it drives), propagated to the variance of floor distances.',
              dynamic=True, min=0.0, max=45.0),
)

FUSION_NODE = (
    ParamSpec('depth_source', 'model',
              "Where distances come from: 'model' and 'sensor' read the depth topic (a depth model's output or an "
              "RGB-D camera's registered depth); 'ground' uses no depth image at all: each detections message is fused "
              'on arrival with the floor under each box (camera_height, camera_pitch, camera_roll and camera_info; '
              'docs/ground.md).', choices=DEPTH_SOURCES, launch=True),
    ParamSpec('ground_classes', list(GROUND_CLASSES),
              "depth_source 'ground': classes that stand on the floor and get the distance of the floor point under "
              'the bottom-centre of their box; others get none (default: COCO person, chair, car, bicycle, dog, ... '
              'but nothing that usually stands on a table).', dynamic=True),
    ParamSpec('max_depth', 0.0, 'Detections farther than this (metres) are dropped; 0 means no limit.',
              dynamic=True, min=0.0, max=1000.0, launch=True),
    ParamSpec('min_depth', 0.0, 'Detections nearer than this (metres) are dropped.', dynamic=True, min=0.0, max=1000.0),
    ParamSpec('keep_unmeasured', False,
              'true: a detection whose distance cannot be measured (too few valid depth pixels, no floor under it) is '
              'kept, with depth NaN, even when max_depth or min_depth is set: an obstacle of unknown distance may be '
              "near (for a safety stop); false: it is dropped as 'no depth' while a limit is set.", dynamic=True),
    ParamSpec('min_ttc', 2.0,
              'Tracked objects whose time to contact (seconds, at their current closing speed) is below this are '
              'published on ttc_alerts, for a safety monitor; 0 alerts on nothing.', dynamic=True, min=0.0, max=3600.0,
              launch=True, offline=False),
    ParamSpec('ttc_image_objects', 3,
              "Tracked objects whose growth (the time-to-contact cue that needs no depth) is measured on the image in "
              'one frame: features inside the box, about 1 ms of CPU each; the others take their box size that frame '
              'and their turn in a later one (longest unmeasured first). 0: box sizes only.',
              dynamic=True, min=0, max=1000, offline=False),
    ParamSpec('depth_statistic', 'median',
              "How a box's depth is read: 'center' (the box-centre pixel), 'median' or 'percentile' of the valid "
              'pixels in the central part of the box.', dynamic=True, choices=DEPTH_STATISTICS, launch=True),
    ParamSpec('depth_percentile', 20.0,
              "Percentile (0-100) used by depth_statistic 'percentile': low values pick the nearest surface, for "
              'objects seen through gaps.', dynamic=True, min=0.0, max=100.0),
    ParamSpec('box_fraction', 0.5, 'Width and height of the central box region that is read, as a fraction of the box.',
              dynamic=True, min=0.01, max=1.0),
    ParamSpec('min_valid_fraction', 0.1,
              'A box whose read region has a smaller fraction of valid depth pixels has no measurable depth.',
              dynamic=True, min=0.0, max=1.0),
    ParamSpec('depth_registered', False,
              "true: the depth image is registered to the detections' image even though its header frame_id differs "
              "(e.g. a driver's aligned depth that keeps the depth sensor's frame_id); false: a pair whose frame_ids "
              'differ is refused.', dynamic=True, offline=False),
    ParamSpec('filter_mode', 'detect_then_filter',
              "'detect_then_filter' drops far detections; 'mask_then_detect' (the original project's mode) blanks the "
              'image beyond max_depth before the detector sees it. Set it on the detector node too.',
              dynamic=True, choices=FILTER_MODES, launch=True),
    ParamSpec('cache_size', 30, 'Frames kept while waiting for the matching depth or detections message.',
              min=1, max=1000, offline=False),
    *CAMERA_GEOMETRY,
    RELIABILITY,
    AUTOSTART,
)

DETECTOR_NODE = (
    ParamSpec('family', 'darknet', 'Detector family: ' + '; '.join(f"'{f.name}': {f.summary}" for f in
              FAMILIES.values()) + '.', choices=tuple(FAMILIES), launch=True),
    ParamSpec('model', 'yolov4-tiny',
              "A known Darknet model name (see 'jdd-ros fetch-models --list'); ignored when cfg is set and by family "
              "'ultralytics' and 'yolox'.", launch=True),
    ParamSpec('cfg', '', 'Path of a Darknet .cfg (a custom model); needs weights and names too. Must be empty for '
              "family 'ultralytics' and 'yolox'.", launch=True),
    ParamSpec('weights', '', "Family 'darknet': path of the Darknet .weights matching cfg. Family 'ultralytics' "
              '(required): path of the .onnx export (yolo export format=onnx, or YOLOv5 export.py --include onnx). '
              "Family 'yolox' (required): path of the .onnx export (YOLOX tools/export_onnx.py).", launch=True),
    ParamSpec('names', '', "Path of the class-names file (one name per line): matching cfg for family 'darknet'; "
              "optional for family 'ultralytics' (default: the names in the export's metadata) and 'yolox' (default: "
              'the COCO names for 80 classes).', launch=True),
    ParamSpec('weights_sha256', '', 'Expected sha256 of weights (custom Darknet weights or the ONNX export); the node '
              'refuses a file that differs. Empty skips the check for own files (a warning is logged).', launch=True),
    ParamSpec('device', 'cpu', f'Inference device: {DEVICES_HELP}.', check=_check_device, launch=True),
    ParamSpec('backend', 'auto', f"Inference backend; {_AUTO_BACKEND}. Families 'ultralytics' and 'yolox' run "
              "onnxruntime or openvino ('auto' is onnxruntime on CUDA; 'torch' is refused).", choices=BACKENDS),
    PRECISION,
    ParamSpec('input_size', 0, "Network input size in pixels (multiple of 32); 0 uses the model's own: the cfg value "
              "(darknet), the export's input or metadata imgsz (ultralytics, yolox; a fixed-size export takes only its "
              'size).',
              min=0, max=4096, check=_check_input_size),
    THREADS,
    ParamSpec('confidence_threshold', 0.25, 'Minimum score of a detection: objectness x class probability (Darknet, '
              'YOLOv5 and YOLOX exports), the class score (Ultralytics exports).', dynamic=True, min=0.0, max=1.0),
    ParamSpec('nms_threshold', 0.45, 'IoU above which the lower-scored of two same-class boxes is suppressed. 0.45 is '
              "Darknet's and YOLOv5's default; Ultralytics' own predict uses 0.7. Not used by end-to-end exports "
              '(NMS-free heads, nms=True).', dynamic=True, min=0.0, max=1.0),
    ParamSpec('classes', [], 'Class names to keep (COCO names such as person, chair); empty keeps all. Families '
              "'ultralytics' and 'yolox': a box whose best class is not listed is dropped, as upstream.", dynamic=True),
    ParamSpec('publish_debug_image', False, 'Also publish debug_image with the boxes drawn.', dynamic=True,
              offline=False),
    ParamSpec('filter_mode', 'detect_then_filter',
              "'mask_then_detect' blanks pixels beyond max_depth (from the depth topic) before detecting.",
              dynamic=True, choices=FILTER_MODES, launch=True, offline=False),
    ParamSpec('max_depth', 0.0, "Threshold (metres) used by filter_mode 'mask_then_detect'; 0 means no mask.",
              dynamic=True, min=0.0, max=1000.0, launch=True, offline=False),
    RELIABILITY,
    AUTOSTART,
)

DEPTH_NODE = (
    # The launch spans three nodes: the depth model's files are named after the node there ('model' is the detector's).
    ParamSpec('checkpoint', '', 'Path of a jdd_ros depth checkpoint (.pt, written by jdd-ros train-depth).',
              launch='depth_checkpoint'),
    ParamSpec('onnx_model', '', 'Path of an ONNX depth model with its sidecar YAML (<model>.yaml) next to it.',
              launch='depth_onnx'),
    ParamSpec('model_sha256', '',
              'Expected sha256 of the checkpoint or ONNX file; empty uses <checkpoint>.sha256 or the sidecar sha256.',
              launch='depth_sha256'),
    ParamSpec('device', 'cpu', f'Inference device: {DEVICES_HELP}.', check=_check_device, launch=True),
    ParamSpec('backend', 'auto', f"Inference backend; {_AUTO_BACKEND}. onnxruntime and openvino run a checkpoint's "
              "ONNX export (made once, then cached); 'torch' runs checkpoints only.", choices=BACKENDS),
    PRECISION,
    ParamSpec('input_height', 0, 'Network input height in pixels (0 or >= 32; multiples of 32 are fastest, others '
              'are padded); 0 uses the model default.', min=0, max=4096, check=_check_depth_input_size),
    ParamSpec('input_width', 0, 'Network input width in pixels (0 or >= 32; multiples of 32 are fastest, others '
              'are padded); 0 uses the model default.', min=0, max=4096, check=_check_depth_input_size),
    THREADS,
    ParamSpec('max_depth', 0.0, 'Depths beyond this (metres) are published as NaN (invalid); 0 keeps all.',
              dynamic=True, min=0.0, max=1000.0, offline=False),
    ParamSpec('publish_colored', False, 'Also publish depth_colored, a colour-mapped view for people.', dynamic=True,
              offline=False),
    *CAMERA_GEOMETRY,
    RELIABILITY,
    AUTOSTART,
)

SCHEMA: dict[NodeName, tuple[Spec, ...]] = {
    'fusion_node': FUSION_NODE,
    'detector_node': DETECTOR_NODE,
    'depth_node': DEPTH_NODE,
}


def node_name(node: str) -> NodeName:
    """``node`` as one of the schema's node names; KeyError naming the nodes for any other."""
    for name in SCHEMA:
        if name == node:
            return name
    raise KeyError(f"no node '{node}' in the schema (nodes: {', '.join(SCHEMA)})")


def spec(node: str, name: str) -> Spec:
    specs = SCHEMA[node_name(node)]
    for s in specs:
        if s.name == name:
            return s
    raise KeyError(f"{node} has no parameter '{name}' (parameters: {', '.join(s.name for s in specs)})")


def defaults(node: str) -> dict[str, object]:
    return {s.name: s.default for s in SCHEMA[node_name(node)]}


@overload
def snapshot(node: Literal['fusion_node'], values: Mapping[str, object] | None = None) -> FusionNodeParams: ...
@overload
def snapshot(node: Literal['detector_node'], values: Mapping[str, object] | None = None) -> DetectorNodeParams: ...
@overload
def snapshot(node: Literal['depth_node'], values: Mapping[str, object] | None = None) -> DepthNodeParams: ...
@overload
def snapshot(node: str, values: Mapping[str, object] | None = None) -> NodeParams: ...


def snapshot(node: str, values: Mapping[str, object] | None = None) -> NodeParams:
    """The node's typed parameters (a ``jdd_ros.param_types`` dataclass): the defaults, then ``values`` validated by
    the schema (ValueError listing every refused one). Lists become tuples: a snapshot never changes."""
    merged = {**defaults(node), **validate_values(node, values or {})}
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in merged.items()}  # all checked
    return SNAPSHOT_TYPES[node_name(node)](**fields)


def validate_values(node: str, values: Mapping[str, object]) -> dict[str, object]:
    """Coerced values for ``node``; ValueError listing every unknown or refused one."""
    errors: list[str] = []
    out: dict[str, object] = {}
    for name, value in values.items():
        try:
            s = spec(node, name)
        except KeyError as exc:
            errors.append(str(exc.args[0]))
            continue
        reason = s.validate(value)
        if reason:
            errors.append(reason)
        else:
            out[name] = s.coerce(value)
    if errors:
        raise ValueError(f'{node}: ' + '; '.join(errors))
    return out


def load_params_file(path: str | Path) -> dict[str, dict[str, object]]:
    """Read a ROS 2 parameter file (``node: {ros__parameters: {...}}``) and validate it against the schema.

    Returns ``{node_name: {param: value}}``; keys ``/**`` and fully qualified names (``/ns/fusion_node``) are
    matched by their last component.
    """
    import yaml

    text = Path(path).read_text()
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a mapping of node names to ros__parameters')
    out: dict[str, dict[str, object]] = {}
    shared: dict[str, object] = {}
    for key, body in data.items():
        params = (body or {}).get('ros__parameters', {}) if isinstance(body, dict) else None
        if params is None:
            raise ValueError(f'{path}: {key} has no ros__parameters mapping')
        node = str(key).rstrip('/').split('/')[-1]
        if node in ('**', '*'):
            shared.update(params)
            continue
        if node not in SCHEMA:
            raise ValueError(f"{path}: unknown node '{key}' (nodes: {', '.join(SCHEMA)})")
        out[node] = validate_values(node, params)
    for node in SCHEMA:
        for name, value in shared.items():
            if any(s.name == name for s in SCHEMA[node]):
                out.setdefault(node, {}).setdefault(name, spec(node, name).coerce(value))
    return out
