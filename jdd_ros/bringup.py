"""What ``joint.launch.py`` and ``jdd-ros launch`` start: launch arguments, nodes, parameters and remappings.

One description, no ROS import, so the launch file (on a ROS installation) and the launcher (without one) cannot
drift apart: both turn the user's ``NAME:=VALUE`` arguments into the same list of :class:`NodeLaunch` with
:func:`plan`. Every node also reads the parameter file (``config/params.yaml``); launch arguments left empty keep the
file's value, so the file stays the one place where defaults live.

Topics (relative names, so a namespace moves them all): every node subscribes ``image``; the depth node publishes
``depth`` (and subscribes ``camera_info`` for a model that needs the camera), the detector node ``detections``; the
fusion node subscribes ``depth``, ``detections``, ``camera_info`` and publishes ``detections_with_depth``,
``detections_3d`` and ``annotated``. With ``depth_source:=sensor`` no depth node is started and ``depth`` is
remapped to the camera's depth topic; with ``depth_source:=ground`` no depth node is started either and the fusion
node takes each detection's distance from the floor under it (it needs ``camera_height`` and ``camera_info``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from jdd_ros.core.cameras import camera_namespaces
from jdd_ros.detect.registry import check_detector_params
from jdd_ros.params import SCHEMA, Spec, defaults, snapshot, spec

PACKAGE = 'jdd_ros'
NODE_NAMES = ('depth_node', 'detector_node', 'fusion_node')
LOG_LEVELS = ('debug', 'info', 'warn', 'error', 'fatal')


@dataclass(frozen=True)
class LaunchArgument:
    """A ``NAME:=VALUE`` argument. ``targets`` are the ``(node, parameter)`` pairs its value sets when non-empty."""

    name: str
    default: str
    description: str
    choices: tuple[str, ...] | None = None
    targets: tuple[tuple[str, str], ...] = ()


# Parameters whose launch argument needs a value of its own (it decides which nodes start): the schema's default.
NODE_CHOOSING = ('depth_source',)
# What a parameter's launch argument does besides setting the parameter.
LAUNCH_NOTES = {
    'depth_source': "With 'sensor' or 'ground' no depth node is started ('sensor' remaps depth to the depth "
                    "argument's topic: 32FC1 metres or 16UC1 millimetres, registered to the image).",
}


def parameter_arguments() -> tuple[LaunchArgument, ...]:
    """One launch argument per ``ParamSpec.launch_name``, setting that parameter on every node whose spec names it,
    with the parameter's description, allowed values and default (``jdd_ros.params`` is the one source)."""
    targets: dict[str, list[tuple[str, str]]] = {}
    specs: dict[str, Spec] = {}
    for node, node_specs in SCHEMA.items():  # the fusion node first: its meaning of a shared name is described
        for s in node_specs:
            if s.launch_name:
                targets.setdefault(s.launch_name, []).append((node, s.name))
                specs.setdefault(s.launch_name, s)
    return tuple(_parameter_argument(name, specs[name], tuple(targets[name])) for name in specs)


def _parameter_argument(name: str, s: Spec, targets: tuple[tuple[str, str], ...]) -> LaunchArgument:
    facts = [s.allowed(), f"sets {' and '.join(node for node, _ in targets)}"]
    if s.dynamic:
        facts.append(f"changeable later with 'ros2 param set /{targets[0][0]} {s.name} VALUE'")
    text = '; '.join(f for f in facts if f)
    note = f" {LAUNCH_NOTES[name]}" if name in LAUNCH_NOTES else ''
    if name in NODE_CHOOSING:
        return LaunchArgument(name, str(s.default), f'{s.description} {text[0].upper()}{text[1:]}.{note}', s.choices,
                              targets)
    return LaunchArgument(name, '', f"{s.description} {text[0].upper()}{text[1:]}. Empty: the parameter file's value "
                          f"({_text(s.default)} in the package's file).{note}", None, targets)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f"'{value}'" if isinstance(value, str) else str(value)


ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument('image', '/camera/image_raw', 'Camera image topic (sensor_msgs/Image) fed to every node.'),
    LaunchArgument('camera_info', '/camera/camera_info',
                   'CameraInfo topic of the image; with it the fusion node publishes 3D positions.'),
    *parameter_arguments(),
    LaunchArgument('depth', '/camera/depth/image_raw',
                   "Sensor depth topic used when depth_source:=sensor (ignored with depth_source:=model)."),
    LaunchArgument('use_sim_time', 'false', "Use /clock (e.g. 'ros2 bag play --clock') instead of the wall clock.",
                   choices=('true', 'false')),
    LaunchArgument('params_file', '', 'ROS 2 parameter file; empty: the package config/params.yaml.'),
    LaunchArgument('log_level', 'info', 'Log level of the nodes.', choices=LOG_LEVELS),
    LaunchArgument('namespace', '', "Namespace of the nodes and their relative topics (e.g. 'robot1'); empty: none."),
    LaunchArgument('composition', 'true',
                   "'true': the nodes run in one process (the pipeline executable): depth and detector infer the same "
                   "frames in parallel and depth images never cross a transport; 'false': one process per node.",
                   choices=('true', 'false')),
    LaunchArgument('cameras', '', "Several cameras in one pipeline process with one loaded model per network: "
                   "'front,left' runs the nodes once per camera, each under its namespace (/front/image -> "
                   '/front/detections_with_depth); image, camera_info and depth, when given, are then relative to '
                   "it. Empty: one camera. Needs composition:=true (docs/cameras.md)."),
)
ARGUMENTS_BY_NAME = {a.name: a for a in ARGUMENTS}


@dataclass
class NodeLaunch:
    """One process to start: the parameter file, then ``parameters`` over it, then the topic remappings.

    A composed process (the pipeline executable) runs several nodes: ``node_parameters`` holds each node's
    parameters (written as a parameter file with one section per node) and ``name`` names the process only.
    """

    executable: str
    name: str
    parameters: dict[str, object] = field(default_factory=dict)
    remappings: list[tuple[str, str]] = field(default_factory=list)
    namespace: str = ''
    arguments: list[str] = field(default_factory=list)  # the executable's own arguments, before --ros-args
    node_parameters: dict[str, dict[str, object]] = field(default_factory=dict)

    @property
    def composed(self) -> bool:
        return bool(self.node_parameters)


def compose(nodes: list[NodeLaunch]) -> NodeLaunch:
    """The nodes of ``plan`` as one pipeline process (their remappings agree: every topic means the same for each)."""
    names = [n.name for n in nodes]
    remappings = list(dict.fromkeys(r for n in nodes for r in n.remappings))
    return NodeLaunch(executable='pipeline', name='pipeline', remappings=remappings, namespace=nodes[0].namespace,
                      arguments=[] if 'depth_node' in names else ['--without-depth'],
                      node_parameters={n.name: dict(n.parameters) for n in nodes})


def parameters_yaml(node_parameters: Mapping[str, Mapping[str, object]]) -> str:
    """A ROS 2 parameter file with one section per node, valid in any namespace."""
    import yaml

    return yaml.safe_dump({f'/**/{node}': {'ros__parameters': dict(values)}
                           for node, values in node_parameters.items()}, sort_keys=False)


def package_file(*parts: str) -> Path:
    """A file the package installs under share/jdd_ros (``config/params.yaml``): from the ament index (a ROS
    installation), the venv's share/ (make setup), or the checkout; FileNotFoundError naming where it looked."""
    candidates = []
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            candidates.append(Path(get_package_share_directory(PACKAGE), *parts))
        except (PackageNotFoundError, KeyError, ValueError, OSError):  # OSError: AMENT_PREFIX_PATH unset
            pass
    except ImportError:
        pass
    candidates.append(Path(sys.prefix, 'share', PACKAGE, *parts))
    candidates.append(Path(__file__).resolve().parents[1].joinpath(*parts))
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"{'/'.join(parts)} of jdd_ros not found (looked in: "
                            + ', '.join(str(p) for p in candidates) + ')')


def default_params_file() -> Path:
    """The package's config/params.yaml."""
    try:
        return package_file('config', 'params.yaml')
    except FileNotFoundError as exc:
        raise FileNotFoundError(f'{exc}; pass params_file:=PATH') from None


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """``['image:=/cam', ...]`` as a dict; ValueError naming a malformed item or an unknown argument."""
    out: dict[str, str] = {}
    for item in items:
        if ':=' not in item:
            raise ValueError(f"'{item}' is not a launch argument: write NAME:=VALUE (arguments: {_names()})")
        name, value = item.split(':=', 1)
        if name not in ARGUMENTS_BY_NAME:
            raise ValueError(f"unknown launch argument '{name}' (arguments: {_names()})")
        out[name] = value
    return out


def _names() -> str:
    return ', '.join(a.name for a in ARGUMENTS)


def with_defaults(values: Mapping[str, str]) -> dict[str, str]:
    """All arguments, the given ones over the defaults; ValueError for an unknown name or a value not in choices."""
    for name in values:
        if name not in ARGUMENTS_BY_NAME:
            raise ValueError(f"unknown launch argument '{name}' (arguments: {_names()})")
    out = {a.name: str(values.get(a.name, a.default)) for a in ARGUMENTS}
    for a in ARGUMENTS:
        if a.choices and out[a.name] not in a.choices:
            raise ValueError(f"launch argument {a.name} must be one of {', '.join(a.choices)}; got '{out[a.name]}'")
    return out


def parameter_value(node: str, name: str, text: str) -> object:
    """A launch-argument string as the schema's typed value (like ``-p name:=value``), or ValueError with why."""
    return spec(node, name).parse(text)


def _remap_camera_topics(args: Mapping[str, str], nodes: Mapping[str, NodeLaunch]) -> None:
    """The camera's depth (depth_source:=sensor) and camera_info topics for the nodes that read them."""
    if args['depth_source'] == 'sensor':
        for name in ('detector_node', 'fusion_node'):  # the detector reads depth in filter_mode mask_then_detect
            nodes[name].remappings.append(('depth', args['depth']))
    for name in ('fusion_node', 'depth_node'):  # the depth node reads it for models that need the camera
        if name in nodes:
            nodes[name].remappings.append(('camera_info', args['camera_info']))


def _check_depth_source(source: str, file_params: Mapping[str, Mapping[str, object]],
                        nodes: Mapping[str, NodeLaunch]) -> None:
    """Refuse (ValueError) a source that lacks what it needs (its launch argument sets the fusion node's)."""
    if source == 'ground':
        _check_ground(file_params, nodes)
    if 'depth_node' in nodes:
        merged = {**file_params.get('depth_node', {}), **nodes['depth_node'].parameters}
        if not merged.get('checkpoint') and not merged.get('onnx_model'):
            raise ValueError('depth_source:=model needs a depth model: give depth_checkpoint:=CKPT.pt or '
                             'depth_onnx:=MODEL.onnx (or set checkpoint/onnx_model in the parameter file), '
                             'or use depth_source:=sensor with an RGB-D camera, or depth_source:=ground with the '
                             "camera's camera_height")


def _check_ground(file_params: Mapping[str, Mapping[str, object]], nodes: Mapping[str, NodeLaunch]) -> None:
    """ValueError unless depth_source:=ground has what it needs: the camera's height, and no depth for the detector."""
    fusion = {**file_params.get('fusion_node', {}), **nodes['fusion_node'].parameters}
    if not fusion.get('camera_height'):
        raise ValueError("depth_source:=ground needs the camera's height above the floor: give camera_height:=METRES "
                         "with camera_pitch:=DEGREES and camera_roll:=DEGREES ('jdd-ros calibrate-ground' measures "
                         'them from one RGB-D frame), or set camera_height in the parameter file')
    detector = {**file_params.get('detector_node', {}), **nodes['detector_node'].parameters}
    if detector.get('filter_mode') == 'mask_then_detect':
        raise ValueError('depth_source:=ground has no depth image to mask: use filter_mode:=detect_then_filter')


def plan(values: Mapping[str, str], file_params: Mapping[str, Mapping[str, object]] | None = None) -> list[NodeLaunch]:
    """The nodes to start for these launch-argument values (missing ones take their defaults).

    ``file_params`` is the parameter file as read by ``jdd_ros.params.load_params_file``; it is used to check that
    the nodes will have what they need (a depth model for ``depth_source:=model``) before anything starts.
    Raises ValueError with the argument and the reason for any invalid value.
    """
    args = with_defaults(values)
    file_params = file_params or {}
    names = [n for n in NODE_NAMES if not (args['depth_source'] != 'model' and n == 'depth_node')]
    nodes = {n: NodeLaunch(executable=n, name=n) for n in names}
    errors = []
    for a in ARGUMENTS:
        if not a.targets or args[a.name] == '':
            continue
        for node, param in a.targets:
            if node not in nodes:
                continue
            try:
                nodes[node].parameters[param] = parameter_value(node, param, args[a.name])
            except ValueError as exc:
                errors.append(f'{a.name}:={args[a.name]}: {exc}')
    if errors:
        raise ValueError('; '.join(dict.fromkeys(errors)))
    sim_time = args['use_sim_time'] == 'true'
    for n in nodes.values():
        n.parameters['use_sim_time'] = sim_time
        n.namespace = args['namespace']
        n.remappings.append(('image', args['image']))
    _remap_camera_topics(args, nodes)
    _check_depth_source(args['depth_source'], file_params, nodes)
    ours = {**file_params.get('detector_node', {}), **nodes['detector_node'].parameters}
    detector = snapshot('detector_node', {k: v for k, v in ours.items() if k in defaults('detector_node')})
    reason = check_detector_params(detector)
    if reason:
        raise ValueError(reason)
    planned = [nodes[n] for n in names]
    if args['cameras']:
        return [_per_camera(compose(planned), args)]
    return [compose(planned)] if args['composition'] == 'true' else planned


def _per_camera(pipeline: NodeLaunch, args: Mapping[str, str]) -> NodeLaunch:
    """The pipeline process serving every camera of ``cameras:=`` (each in its namespace; a topic argument left at
    its default is the camera's own topic); ValueError saying why not."""
    if args['composition'] != 'true':
        raise ValueError('cameras:= serves every camera from one pipeline process (one model per network): it needs '
                         'composition:=true')
    given = {n: args[n] for n in ('image', 'camera_info', 'depth') if args[n] != ARGUMENTS_BY_NAME[n].default}
    absolute = [f'{n}:={v}' for n, v in given.items() if v.startswith('/')]
    if absolute:
        raise ValueError(f"with cameras:=, topics are relative to each camera's namespace: {', '.join(absolute)} is "
                         'absolute (image:=color/image_raw reads /front/color/image_raw)')
    pipeline.remappings = [r for r in pipeline.remappings if r[0] not in ('image', 'camera_info', 'depth')
                           or r[0] in given]
    pipeline.arguments += ['--cameras', ','.join(camera_namespaces(args['cameras'], args['namespace']))]
    pipeline.namespace = ''  # in each camera's namespace instead (a process namespace would override them)
    return pipeline

