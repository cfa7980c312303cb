"""Start jdd_ros's depth, detector and fusion nodes on one camera.

    ros2 launch jdd_ros joint.launch.py image:=/camera/color/image_raw camera_info:=/camera/color/camera_info \
        depth_checkpoint:=/path/depth.pt max_depth:=4.0
    ros2 launch jdd_ros joint.launch.py depth_source:=sensor image:=/camera/color/image_raw \
        depth:=/camera/aligned_depth_to_color/image_raw
    ros2 param set /fusion_node max_depth 2.5

The arguments, the nodes and their remappings come from ``jdd_ros.bringup`` (shared with ``jdd-ros launch``, which
starts the same nodes without a ROS installation); every node reads ``config/params.yaml`` (or ``params_file:=``)
and non-empty arguments override single parameters. ``ros2 launch jdd_ros joint.launch.py --show-args`` lists them.
"""

import atexit
import os
import tempfile

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from jdd_ros import bringup
from jdd_ros.params import load_params_file
from launch import LaunchDescription


def _launch_nodes(context, *args, **kwargs):
    """Resolve the arguments (now that their values are known) into the nodes of ``bringup.plan``."""
    values = {a.name: LaunchConfiguration(a.name).perform(context) for a in bringup.ARGUMENTS}
    params_file = values['params_file'] or (get_package_share_directory('jdd_ros') + '/config/params.yaml')
    return [_node(n, params_file, values['log_level']) for n in bringup.plan(values, load_params_file(params_file))]


def _node(node: bringup.NodeLaunch, params_file: str, log_level: str) -> Node:
    """A launch_ros Node; the composed pipeline gets its nodes' parameters as a file with one section per node."""
    parameters = [params_file, node.parameters]
    if node.composed:
        with tempfile.NamedTemporaryFile('w', prefix='jdd_ros_pipeline_', suffix='.yaml', delete=False) as f:
            f.write(bringup.parameters_yaml(node.node_parameters))
        atexit.register(_remove, f.name)  # read by the pipeline at start-up; gone when the launch ends
        parameters = [params_file, f.name]
    return Node(
        package=bringup.PACKAGE,
        executable=node.executable,
        name=None if node.composed else node.name,  # a name would rename every node of the pipeline
        namespace=node.namespace or None,
        parameters=parameters,
        remappings=node.remappings,
        arguments=node.arguments + ['--ros-args', '--log-level', log_level],
        output='screen',
        emulate_tty=True,
    )


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def generate_launch_description():
    arguments = [
        DeclareLaunchArgument(a.name, default_value=a.default, description=a.description,
                              **({'choices': list(a.choices)} if a.choices else {}))
        for a in bringup.ARGUMENTS
    ]
    return LaunchDescription(arguments + [OpaqueFunction(function=_launch_nodes)])
