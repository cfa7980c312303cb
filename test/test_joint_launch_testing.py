"""joint.launch.py under real launch_testing, found the way ``ros2 launch jdd_ros joint.launch.py`` finds it.

Two launches (``launch_testing.parametrize``), each the default composition (one ``pipeline`` process):
  * ``depth_source:=sensor``: the test plays an RGB-D camera with the TUM desk frame (rgb8), its registered depth
    (16UC1) and camera_info; both chairs must come out on ``detections_with_depth`` with the median distance computed
    here from the depth PNG;
  * ``depth_source:=model``: the test plays a colour camera; a plumbing depth checkpoint (random weights marked
    trained: only the wiring is checked, not the distances) feeds ``depth`` (32FC1, 640x480, the frame's header) and
    the fusion node, whose output carries the frame's header and the detector's boxes;
  * ``depth_source:=ground``: the test plays a colour camera with camera_info only, the camera's geometry (fitted in
    the test from the frame's sensor depth, test/ground_reference.py) as launch arguments; the yellow chair must come
    out at the distance of the floor under its box, the red one (cut by the image's bottom edge) without a distance.
After the launch is shut down every process must have exited cleanly, with no traceback and no log line lost.

Runs under pytest (launch_testing's plugin; ``make test``) and alone::

    .venv/bin/launch_test test/test_joint_launch_testing.py

Skipped, with the reason, where launch_testing is not installed (``make setup`` without ../shared).
"""

import math
import os
import re
import sys
import tempfile
import unittest
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness, depth_helpers (launch_test has no conftest)

pytest.importorskip('launch_testing', reason='launch_testing is not installed: make setup installs it from '
                    '../shared/tools/ros2-overlay (absent here); test_launch_file.py checks joint.launch.py without it')

import launch_testing  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from harness import LOG_ROOT, RosPeer, fixture, new_domain_id, reference_median, yolov4_tiny_files  # noqa: E402
from launch.actions import IncludeLaunchDescription, SetEnvironmentVariable  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

from launch import LaunchDescription  # noqa: E402

DOMAIN_ID = new_domain_id()
NS = '/lt'
STAMP = (1234, 500)
# What must never appear in a node's output: a traceback, or a log line that could not reach /rosout because the
# context was already shut down.
BAD_OUTPUT = ('Traceback', 'Failed to publish log message to rosout')


@launch_testing.parametrize('depth_source', ['sensor', 'model', 'ground'])
@pytest.mark.launch_test
def generate_test_description(depth_source):
    arguments = {'image': f'{NS}/color', 'camera_info': f'{NS}/camera_info', 'depth_statistic': 'median',
                 'depth_source': depth_source, **yolov4_tiny_files()}
    if depth_source == 'sensor':
        arguments['depth'] = f'{NS}/depth'
    elif depth_source == 'ground':
        ref = _reference_floor()
        arguments.update(camera_height=str(ref.height), camera_pitch=str(ref.pitch), camera_roll=str(ref.roll))
    else:
        from depth_helpers import plumbing_checkpoint

        checkpoint_dir = Path(tempfile.mkdtemp(prefix='jdd_ros_launch_test_'))
        arguments['depth_checkpoint'] = str(plumbing_checkpoint(checkpoint_dir / 'plumbing.pt'))
    joint = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(get_package_share_directory('jdd_ros'), 'launch',
                                                   'joint.launch.py')),
        launch_arguments=arguments.items())
    return LaunchDescription([
        # The launched nodes' environment: DDS on this machine, this module's domain, a scratch log directory.
        SetEnvironmentVariable('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST'),
        SetEnvironmentVariable('ROS_DOMAIN_ID', str(DOMAIN_ID)),
        SetEnvironmentVariable('ROS_LOG_DIR', str(LOG_ROOT / f'launch_test_{depth_source}')),
        SetEnvironmentVariable('RCUTILS_COLORIZED_OUTPUT', '0'),
        joint,
        launch_testing.actions.ReadyToTest(),
    ]), {}


def _reference_floor():
    import numpy as np
    from ground_reference import FLOOR_REGIONS, reference_floor

    mm = _tum()[1]
    return reference_floor(np.where(mm > 0, mm * 0.001, np.nan), FLOOR_REGIONS['tum_desk'], 525.0, 525.0, 319.5, 239.5)


def _tum():
    import cv2

    rgb = cv2.cvtColor(cv2.imread(str(fixture('tum_desk_color.png'))), cv2.COLOR_BGR2RGB)
    mm = cv2.imread(str(fixture('tum_desk_depth_mm.png')), cv2.IMREAD_UNCHANGED)
    return rgb, mm



def _wait_matched(proc_output, node, topic, timeout=60):
    """Until ``node`` logs that its input ``topic`` matched a publisher: only then is a frame sent to it received."""
    proc_output.assertWaitFor(re.compile(rf".*\[{node}\]: input '{re.escape(topic)}': [1-9]\d* publisher\(s\) "
                                         'matched'), timeout=timeout, stream='stderr')


class TestTheLaunchedPipeline(unittest.TestCase):
    """While the launch runs: a real frame in, its detections with depth out."""

    @classmethod
    def setUpClass(cls):
        cls.peer = RosPeer(DOMAIN_ID, 'joint_launch_test')

    @classmethod
    def tearDownClass(cls):
        cls.peer.close()

    def test_the_frame_comes_out_with_its_header_and_depth(self, proc_output, depth_source):
        from builtin_interfaces.msg import Time
        from sensor_msgs.msg import CameraInfo, Image
        from vision_msgs.msg import Detection2DArray

        from jdd_ros.io.image_codec import fill_image

        peer = self.peer
        rgb, mm = _tum()
        header_frame = 'camera_color_optical_frame'
        image = fill_image(Image(), rgb, 'rgb8')
        depth = fill_image(Image(), mm, '16UC1')
        info = CameraInfo(width=640, height=480, k=[525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0])
        for msg in (image, depth, info):
            msg.header.stamp, msg.header.frame_id = Time(sec=STAMP[0], nanosec=STAMP[1]), header_frame
        image_pub = peer.publisher(Image, f'{NS}/color')
        info_pub = peer.publisher(CameraInfo, f'{NS}/camera_info')
        depth_pub = peer.publisher(Image, f'{NS}/depth') if depth_source == 'sensor' else None
        fused = peer.subscribe(Detection2DArray, '/detections_with_depth')
        depth_out = peer.subscribe(Image, '/depth') if depth_source == 'model' else None

        # The nodes come up (yolov4-tiny loads), then match the test's publishers. In the one process the launch
        # starts, the detector node alone subscribes to the camera: the other nodes get its frames in process.
        _wait_matched(proc_output, 'detector_node', f'{NS}/color', timeout=120)
        if depth_source == 'model':
            proc_output.assertWaitFor(re.compile(rf".*\[depth_node\]: infers the frames of '{NS}/color' that "
                                                 'detector_node receives'), timeout=120, stream='stderr')
        _wait_matched(proc_output, 'fusion_node', f'{NS}/camera_info')
        if depth_pub is not None:
            _wait_matched(proc_output, 'fusion_node', f'{NS}/depth')
        peer.wait_for_subscribers(image_pub, 1)
        peer.wait_for_publishers('/detections_with_depth')
        self.assertTrue(_publisher_matched(peer, '/detections_with_depth', 20.0),
                        'the test subscription did not match detections_with_depth')

        info_pub.publish(info)
        if depth_pub is not None:
            depth_pub.publish(depth)
        image_pub.publish(image)
        out = fused.wait_for(1, timeout=60)[0]

        self.assertEqual((out.header.stamp.sec, out.header.stamp.nanosec), STAMP)
        self.assertEqual(out.header.frame_id, header_frame)
        self.assertGreater(len(out.detections), 0)
        classes = [d.results[0].hypothesis.class_id for d in out.detections]
        self.assertEqual(classes.count('chair'), 2, classes)
        if depth_source == 'sensor':
            for d in out.detections:
                c, w, h = d.bbox.center.position, d.bbox.size_x, d.bbox.size_y
                box = (c.x - w / 2, c.y - h / 2, c.x + w / 2, c.y + h / 2)
                z = d.results[0].pose.pose.position.z
                if d.results[0].hypothesis.class_id == 'chair':
                    self.assertAlmostEqual(z, reference_median(mm, box, scale=0.001), delta=1e-3)
        elif depth_source == 'ground':
            ref = _reference_floor()
            chairs = sorted((d for d in out.detections if d.results[0].hypothesis.class_id == 'chair'),
                            key=lambda d: d.bbox.center.position.x, reverse=True)  # the yellow chair first
            c, h = chairs[0].bbox.center.position, chairs[0].bbox.size_y
            expected = ref.depth_at(c.x, c.y + h / 2, 525.0, 525.0, 319.5, 239.5)
            self.assertAlmostEqual(chairs[0].results[0].pose.pose.position.z, expected, delta=1e-3 * expected)
            self.assertTrue(math.isnan(chairs[1].results[0].pose.pose.position.z))
        else:
            estimated = depth_out.wait_for(1, timeout=30)[0]
            self.assertEqual((estimated.header.stamp.sec, estimated.header.stamp.nanosec), STAMP)
            self.assertEqual((estimated.encoding, estimated.width, estimated.height), ('32FC1', 640, 480))


def _publisher_matched(peer, topic, timeout):
    """The test's subscription on ``topic`` has matched its publisher (the subscription side of discovery)."""
    import time

    deadline = time.monotonic() + timeout
    subs = [s for s in peer.node.subscriptions if s.topic_name == topic]
    while time.monotonic() < deadline:
        if subs and all(s.get_publisher_count() > 0 for s in subs):
            return True
        time.sleep(0.05)
    return False


@launch_testing.post_shutdown_test()
class TestCleanShutdown(unittest.TestCase):
    """After the launch was shut down (SIGINT to the pipeline process, as Ctrl-C)."""

    def test_the_pipeline_exited_cleanly_and_said_so_in_full(self, proc_info, proc_output):
        launch_testing.asserts.assertExitCodes(proc_info)  # exit status 0
        text = ''.join(o.text.decode(errors='replace') for o in proc_output)
        for bad in BAD_OUTPUT:
            self.assertNotIn(bad, text)
        # The final statistics are logged while the context is still valid (issue #8 item 5).
        for node in ('detector_node', 'fusion_node'):
            self.assertRegex(text, rf'\[{node}\]: at shutdown: ')
