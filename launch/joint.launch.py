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
    nodes = bringup.plan(values, load_params_file(params_file))
    return [
        Node(
            package=bringup.PACKAGE,
            executable=node.executable,
            name=node.name,
            parameters=[params_file, node.parameters],
            remappings=node.remappings,
            arguments=['--ros-args', '--log-level', values['log_level']],
            output='screen',
            emulate_tty=True,
        )
        for node in nodes
    ]


def generate_launch_description():
    arguments = [
        DeclareLaunchArgument(a.name, default_value=a.default, description=a.description,
                              **({'choices': list(a.choices)} if a.choices else {}))
        for a in bringup.ARGUMENTS
    ]
    return LaunchDescription(arguments + [OpaqueFunction(function=_launch_nodes)])
