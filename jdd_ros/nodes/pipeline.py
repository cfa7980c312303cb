"""pipeline: depth_node, detector_node and fusion_node in one process, as ``joint.launch.py`` starts them.

    ros2 run jdd_ros pipeline --ros-args -r image:=/camera/color/image_raw --params-file params.yaml
    ros2 run jdd_ros pipeline --without-depth --ros-args -r depth:=/camera/aligned_depth_to_color/image_raw
    ros2 run jdd_ros pipeline --cameras front,left --ros-args --params-file params.yaml

The three lifecycle nodes keep their names, topics and parameters (``ros2 param set /fusion_node max_depth 4.0``
works as with separate processes); per-node parameters go in the parameter file's node sections. In one process the
depth and detector networks infer the same frames (``LockstepFrames``), in parallel, each with all the cores (measured
faster than half each), so almost every inferred frame is fused. Each camera frame is delivered once: one node
subscribes to ``image`` (the detector node; ``ros2 topic info`` counts one subscriber per camera) and hands each frame
to the other network and to the fusion node in process. The fusion node subscribes ``depth`` over DDS like any
subscriber.
``--without-depth``: no depth network runs; an RGB-D camera's depth topic feeds the fusion node, or none at all with
the fusion node's ``depth_source: ground`` (distances from the floor under each box; docs/ground.md).
``--cameras front,left``: the three nodes once per camera, each camera's under its namespace (``/front/image`` ->
``/front/detections_with_depth``), with one loaded model per network shared by all cameras (docs/cameras.md).
``--profile-stages FILE``: stamp every frame's stages and write them to FILE at shutdown (benchmarks only).
``--inprocess-depth``: the fusion node takes the ``depth`` images in process (``jdd_ros.ros.local_topics``: no DDS
subscription, no deserialising), in the depth node's worker thread. Off by default: two quiet runs did not tell it
from the DDS subscription (the order of their fused rates reversed between runs; docs/speed.md).
"""

from __future__ import annotations

import sys

from rclpy._rclpy_pybind11 import RCLError
from rclpy.node import Node
from rclpy.utilities import remove_ros_args

from jdd_ros.core.cameras import camera_namespaces
from jdd_ros.ros.local_topics import LocalTopics
from jdd_ros.ros.lockstep_frames import LockstepFrames
from jdd_ros.ros.messages import stamp_ns
from jdd_ros.ros.node_process import run_nodes
from jdd_ros.ros.ros_args import init_error, ros_args_problem
from jdd_ros.ros.shared_models import SharedModels
from jdd_ros.ros.stage_clock import StageClock

USAGE = ('usage: pipeline [--without-depth] [--cameras NAME,...] [--profile-stages FILE] [--inprocess-depth] '
         '[--ros-args ...]')


def frame_key(msg: object) -> tuple[int, str]:
    """Two deliveries of one camera frame (one per node's subscription) share the header stamp and frame_id."""
    return stamp_ns(msg.header), msg.header.frame_id


def camera_nodes(namespace: str | None, with_depth: bool, models: SharedModels | None,
                 clock: StageClock | None, hand_over: bool = False) -> list[Node]:
    """One camera's fusion, detector and (``with_depth``) depth nodes, in ``namespace`` (None: the process's);
    ``hand_over``: the fusion node takes the others' outputs in process."""
    from jdd_ros.nodes.depth_node import DepthNode
    from jdd_ros.nodes.detector_node import DetectorNode
    from jdd_ros.nodes.fusion_node import FusionNode

    where = {} if namespace is None else {'namespace': namespace}
    shared = LockstepFrames(key=frame_key) if with_depth else None
    local = LocalTopics()  # the camera frames (and with ``hand_over`` depth) to the fusion node in process
    nodes: list[Node] = [FusionNode(local=local, **where),
                         DetectorNode(lockstep=shared, models=models, stage_clock=clock, local=local, **where)]
    if with_depth:
        nodes.append(DepthNode(lockstep=shared, models=models, stage_clock=clock, local=local,
                               hand_over_depth=hand_over, **where))
    return nodes


def make_nodes(with_depth: bool = True, cameras: list[str] | None = None,
               clock: StageClock | None = None, hand_over: bool = False) -> list[Node]:
    """The nodes of one camera (in the process's namespace), or of each of ``cameras`` (namespaces) with one model
    per network for all of them."""
    if not cameras:
        return camera_nodes(None, with_depth, None, clock, hand_over)
    models = SharedModels()
    return [n for camera in cameras for n in camera_nodes(camera, with_depth, models, clock, hand_over)]


def parse_own_args(own: list[str]) -> tuple[dict[str, object], str]:
    """The pipeline's own arguments as make_nodes keywords plus the profile file, or a ValueError saying what is
    wrong."""
    options: dict[str, object] = {'with_depth': True, 'cameras': None, 'hand_over': False}
    profile, rest = '', list(own)
    while rest:
        arg = rest.pop(0)
        if arg == '--without-depth':
            options['with_depth'] = False
        elif arg == '--inprocess-depth':
            options['hand_over'] = True
        elif arg in ('--cameras', '--profile-stages'):
            if not rest:
                raise ValueError(f'{arg} needs a value\n{USAGE}')
            value = rest.pop(0)
            if arg == '--cameras':
                options['cameras'] = camera_namespaces(value)
            else:
                profile = value
        else:
            raise ValueError(f'unknown argument(s) {arg}\n{USAGE}')
    return options, profile


def main(args: list[str] | None = None) -> int:
    argv = list(sys.argv if args is None else args)
    problem = ros_args_problem(argv)
    try:
        own = remove_ros_args(argv)[1:] if problem is None else []
    except RCLError as exc:  # what rcl refuses beyond the remappings ros_args_problem checks
        problem = init_error(exc)
    if problem:
        print(f'pipeline: {problem}', file=sys.stderr)
        return 2
    if '-h' in own or '--help' in own:
        print(f'{USAGE}\n\n{__doc__}')
        return 0
    try:
        options, profile = parse_own_args(own)
    except ValueError as exc:
        print(f'pipeline: {exc}', file=sys.stderr)
        return 2
    clock = StageClock(profile) if profile else None  # written by the nodes' final statistics, at shutdown
    return run_nodes(lambda: make_nodes(**options, clock=clock), argv)


if __name__ == '__main__':
    raise SystemExit(main())
