"""depth_source:=ground over real DDS: ``jdd-ros launch`` with no depth at all (the pipeline process, detector and
fusion nodes) on the real TUM desk frame, with the camera's geometry fitted in this test from the sensor depth
(test/ground_reference.py; the depth image itself is never sent). The yellow chair must come out at the distance of
the floor under its box computed here, its label in RViz saying 'floor'; the red chair, cut by the image's bottom
edge, without a distance; and a camera_height set at run time through the fusion node's parameter service (what
``ros2 param set`` does) must scale the next frame's distance with it (z = height / descent of the ray)."""

import math
import re
import signal

import cv2
import numpy as np
import pytest
from ground_reference import FLOOR_REGIONS, reference_floor
from harness import NodeProcess, fixture, yolov4_tiny_files

pytestmark = pytest.mark.slow

NS = '/ground'
K = (525.0, 525.0, 319.5, 239.5)


def _chairs(msg):
    return sorted((d for d in msg.detections if d.results[0].hypothesis.class_id == 'chair'),
                  key=lambda d: d.bbox.center.position.x, reverse=True)  # the yellow chair (right) first


def _floor_under(detection, ref) -> float:
    c, h = detection.bbox.center.position, detection.bbox.size_y
    return ref.depth_at(c.x, c.y + h / 2, *K)


def test_launch_ground_publishes_floor_distances_and_camera_height_applies_at_run_time(domain_id, ros_peer):
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import CameraInfo, Image
    from vision_msgs.msg import Detection2DArray
    from visualization_msgs.msg import MarkerArray

    from jdd_ros.io.image_codec import fill_image

    rgb = cv2.cvtColor(cv2.imread(str(fixture('tum_desk_color.png'))), cv2.COLOR_BGR2RGB)
    mm = cv2.imread(str(fixture('tum_desk_depth_mm.png')), cv2.IMREAD_UNCHANGED)
    ref = reference_floor(np.where(mm > 0, mm * 0.001, np.nan), FLOOR_REGIONS['tum_desk'], *K)
    args = ['launch', 'depth_source:=ground', f'camera_height:={ref.height}', f'camera_pitch:={ref.pitch}',
            f'camera_roll:={ref.roll}', f'image:={NS}/color', f'camera_info:={NS}/camera_info',
            'reliability:=reliable'] + [f'{k}:={v}' for k, v in yolov4_tiny_files().items()]
    image_pub = ros_peer.publisher(Image, f'{NS}/color')
    info_pub = ros_peer.publisher(CameraInfo, f'{NS}/camera_info')
    inbox = ros_peer.subscribe(Detection2DArray, '/detections_with_depth')
    marker_inbox = ros_peer.subscribe(MarkerArray, '/detection_markers')
    image_msg = fill_image(Image(), rgb, 'rgb8')
    info = CameraInfo(width=640, height=480, k=[K[0], 0.0, K[2], 0.0, K[1], K[3], 0.0, 0.0, 1.0])

    def send(sec):
        for msg in (info, image_msg):
            msg.header.stamp, msg.header.frame_id = Time(sec=sec, nanosec=0), 'camera_color_optical_frame'
        info_pub.publish(info)
        image_pub.publish(image_msg)

    def output_for(box, sec):
        return box.wait_for(1, timeout=30, predicate=lambda m: m.header.stamp.sec == sec)[0]

    with NodeProcess('jdd-ros', domain_id, args=args) as launch:
        launch.wait_for_output(r'fusion_node ready', timeout=60)
        launch.wait_for_output(r'\[detector_node\]: .*waiting for images', timeout=90)
        assert 'depth_node' not in launch.output
        for pub in (image_pub, info_pub):  # image: the detector's (the fusion node's in process)
            ros_peer.wait_for_subscribers(pub)
        for node, pub in (('detector_node', image_pub), ('fusion_node', info_pub)):
            launch.wait_for_matched(pub.topic_name, node=node)
        ros_peer.wait_for_publishers('/detections_with_depth')

        send(1000)
        first = output_for(inbox, 1000)
        assert first.header.frame_id == 'camera_color_optical_frame'
        yellow, red = _chairs(first)
        z = yellow.results[0].pose.pose.position.z
        assert z == pytest.approx(_floor_under(yellow, ref), rel=1e-3)
        assert 2.0 < z < 2.5  # the yellow chair, 2.24 m from the sensor
        assert yellow.results[0].pose.covariance[14] > 0  # the variance from the geometry's uncertainty
        assert math.isnan(red.results[0].pose.pose.position.z)  # cut by the bottom edge: no distance, kept (no limit)

        result = ros_peer.set_parameters('/fusion_node', {'camera_height': 2 * ref.height})
        assert result[0].successful, result[0].reason
        send(1001)
        second = output_for(inbox, 1001)
        assert _chairs(second)[0].results[0].pose.pose.position.z == pytest.approx(2 * z, rel=1e-3)

        # Markers are built only while the node sees a subscriber: frames until it has seen ours.
        for sec in range(1002, 1030):
            send(sec)
            output_for(inbox, sec)
            if marker_inbox.messages:
                break
        arrays = marker_inbox.wait_for(1, timeout=5)
        for array in arrays:  # each frame's markers with its stamp: frame 1000 before the height was doubled
            expected = z if array.markers[0].header.stamp.sec == 1000 else 2 * z
            [text] = [m.text for m in array.markers if m.text]
            assert re.fullmatch(rf'#\d+ chair {expected:.2f} m floor', text), text  # track ID, distance, source

        launch.proc.send_signal(signal.SIGINT)
        assert launch.proc.wait(30) == 0, launch.output
    assert 'camera_height set to' in launch.output
    assert 'box cut by the image bottom edge' in launch.output  # the final counters, by cause

