"""pipeline: depth_node, detector_node and fusion_node in one process, as ``joint.launch.py`` starts them.

    ros2 run jdd_ros pipeline --ros-args -r image:=/camera/color/image_raw --params-file params.yaml
    ros2 run jdd_ros pipeline --without-depth --ros-args -r depth:=/camera/aligned_depth_to_color/image_raw

The three lifecycle nodes keep their names, topics and parameters (``ros2 param set /fusion_node max_depth 4.0``
works as with separate processes); per-node parameters go in the parameter file's node sections. In one process the
depth and detector networks infer the same frames (``LockstepFrames``), in parallel, each with all the cores (measured
faster than half each), so almost every inferred frame is fused, and depth images never cross a transport.
``--without-depth``: no depth network runs; an RGB-D camera's depth topic feeds the fusion node, or none at all with
the fusion node's ``depth_source: ground`` (distances from the floor under each box; docs/ground.md).
"""

from __future__ import annotations

import sys

from rclpy._rclpy_pybind11 import RCLError
from rclpy.node import Node
from rclpy.utilities import remove_ros_args

from jdd_ros.ros.lockstep_frames import LockstepFrames
from jdd_ros.ros.messages import stamp_ns
from jdd_ros.ros.node_process import run_nodes
from jdd_ros.ros.ros_args import init_error, ros_args_problem

USAGE = 'usage: pipeline [--without-depth] [--ros-args ...]'


def frame_key(msg: object) -> tuple[int, str]:
    """Two deliveries of one camera frame (one per node's subscription) share the header stamp and frame_id."""
    return stamp_ns(msg.header), msg.header.frame_id


def make_nodes(with_depth: bool = True) -> list[Node]:
    from jdd_ros.nodes.depth_node import DepthNode
    from jdd_ros.nodes.detector_node import DetectorNode
    from jdd_ros.nodes.fusion_node import FusionNode

    shared = LockstepFrames(key=frame_key) if with_depth else None
    nodes: list[Node] = [FusionNode(), DetectorNode(lockstep=shared)]
    if with_depth:
        nodes.append(DepthNode(lockstep=shared))
    return nodes


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
    unknown = [a for a in own if a != '--without-depth']
    if unknown:
        print(f"pipeline: unknown argument(s) {' '.join(unknown)}\n{USAGE}", file=sys.stderr)
        return 2
    return run_nodes(lambda: make_nodes(with_depth='--without-depth' not in own), argv)


if __name__ == '__main__':
    raise SystemExit(main())
