"""joint.launch.py under real ``launch_testing`` (a ROS 2 installation with the package built by colcon).

launch, launch_ros and launch_testing cannot be installed in this project's venv (no ROS apt repository): there this
module is skipped with the reason, and test_launch_file.py checks the launch file without them.
"""

import os
import random
import tempfile
import time

import pytest

pytest.importorskip(
    'launch_testing', reason='launch_testing is not installed (it needs a ROS 2 installation: apt ros-<distro>-'
    'launch-testing-ros); test_launch_file.py checks joint.launch.py without it')

import unittest  # noqa: E402

import launch.actions  # noqa: E402
import launch.launch_description_sources  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import rclpy  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402

import launch  # noqa: E402

# The launched nodes inherit this environment: DDS stays on this machine, in a domain of this run's own unless the
# runner chose one, and logs go to a scratch directory.
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('ROS_DOMAIN_ID', str(random.SystemRandom().randint(1, 232)))
os.environ.setdefault('ROS_LOG_DIR', tempfile.mkdtemp(prefix='jdd_ros_launch_test_log_'))


@pytest.mark.launch_test
def generate_test_description():
    """The launch file with an RGB-D camera's depth, so no depth model is needed."""
    joint = launch.actions.IncludeLaunchDescription(
        launch.launch_description_sources.PythonLaunchDescriptionSource(
            os.path.join(get_package_share_directory('jdd_ros'), 'launch', 'joint.launch.py')),
        launch_arguments={'depth_source': 'sensor', 'image': '/camera/color/image_raw', 'max_depth': '4.0'}.items())
    return launch.LaunchDescription([joint, launch_testing.actions.ReadyToTest()])


class TestNodesComeUp(unittest.TestCase):
    def test_detector_and_fusion_nodes_are_running_with_the_launch_argument(self):
        rclpy.init()
        node = rclpy.create_node('joint_launch_probe')
        try:
            deadline = time.monotonic() + 60.0
            names = set()
            while time.monotonic() < deadline and not {'detector_node', 'fusion_node'} <= names:
                rclpy.spin_once(node, timeout_sec=0.5)
                names = set(node.get_node_names())
            self.assertTrue({'detector_node', 'fusion_node'} <= names, f'nodes seen: {sorted(names)}')
            self.assertNotIn('depth_node', names)
            from rcl_interfaces.srv import GetParameters

            client = node.create_client(GetParameters, '/fusion_node/get_parameters')
            self.assertTrue(client.wait_for_service(timeout_sec=20.0))
            future = client.call_async(GetParameters.Request(names=['max_depth']))
            rclpy.spin_until_future_complete(node, future, timeout_sec=10.0)
            self.assertAlmostEqual(future.result().values[0].double_value, 4.0)
        finally:
            node.destroy_node()
            rclpy.shutdown()


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_nodes_exit_cleanly(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0, -2, -15])
