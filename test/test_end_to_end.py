"""End to end: jdd-ros launch (RGB-D camera depth) runs the real detector and fusion nodes on the real TUM desk frame.

The test plays the camera: it publishes the colour frame, its registered sensor depth (16UC1) and camera_info. Both
chairs must come out with the distance computed here directly from the depth PNG, and a max_depth between them, set
at run time through the fusion node's parameter service (what ``ros2 param set`` does), must remove the far chair from
the next output.
"""

import signal

import cv2
import pytest
from harness import NodeProcess, fixture, reference_median, yolov4_tiny_files

pytestmark = pytest.mark.slow

NS = '/e2e'



def _box(d):
    c, w, h = d.bbox.center.position, d.bbox.size_x, d.bbox.size_y
    return (c.x - w / 2, c.y - h / 2, c.x + w / 2, c.y + h / 2)


def _chairs(msg):
    return sorted((d for d in msg.detections if d.results[0].hypothesis.class_id == 'chair'),
                  key=lambda d: d.results[0].pose.pose.position.z)


def test_launch_detects_both_chairs_at_sensor_distance_and_max_depth_applies_at_run_time(domain_id, ros_peer):
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import CameraInfo, Image
    from vision_msgs.msg import Detection2DArray

    from jdd_ros.io.image_codec import fill_image

    rgb = cv2.cvtColor(cv2.imread(str(fixture('tum_desk_color.png'))), cv2.COLOR_BGR2RGB)
    mm = cv2.imread(str(fixture('tum_desk_depth_mm.png')), cv2.IMREAD_UNCHANGED)
    args = ['launch', 'depth_source:=sensor', f'image:={NS}/color', f'depth:={NS}/depth',
            f'camera_info:={NS}/camera_info', 'depth_statistic:=median',
            # Full-size frames must all arrive: reliable inputs (best-effort 640x480 over default Fast DDS
            # transports loses fragments; docs/bringup.md).
            'reliability:=reliable'] + [f'{k}:={v}' for k, v in yolov4_tiny_files().items()]
    image_pub = ros_peer.publisher(Image, f'{NS}/color')
    depth_pub = ros_peer.publisher(Image, f'{NS}/depth')
    info_pub = ros_peer.publisher(CameraInfo, f'{NS}/camera_info')
    inbox = ros_peer.subscribe(Detection2DArray, '/detections_with_depth')
    image_msg, depth_msg = fill_image(Image(), rgb, 'rgb8'), fill_image(Image(), mm, '16UC1')
    info = CameraInfo(width=640, height=480, k=[525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0])

    def send(sec):
        for msg in (info, depth_msg, image_msg):
            msg.header.stamp, msg.header.frame_id = Time(sec=sec, nanosec=0), 'camera_color_optical_frame'
        info_pub.publish(info)
        depth_pub.publish(depth_msg)
        image_pub.publish(image_msg)

    def output_for(sec):
        return inbox.wait_for(1, timeout=30, predicate=lambda m: m.header.stamp.sec == sec)[0]

    with NodeProcess('jdd-ros', domain_id, args=args) as launch:
        launch.wait_for_output(r'fusion_node ready', timeout=60)
        launch.wait_for_output(r'\[detector_node\]: .*waiting for images', timeout=90)
        for pub in (image_pub, depth_pub, info_pub):  # image: the detector's (the fusion node's in process)
            ros_peer.wait_for_subscribers(pub)
        for node, pub in (('detector_node', image_pub), ('fusion_node', depth_pub), ('fusion_node', info_pub)):
            launch.wait_for_matched(pub.topic_name, node=node)  # the nodes' side of the discovery
        ros_peer.wait_for_publishers('/detections_with_depth')

        send(1000)
        first = output_for(1000)
        assert first.header.frame_id == 'camera_color_optical_frame'
        chairs = _chairs(first)
        assert len(chairs) == 2, [d.results[0].hypothesis.class_id for d in first.detections]
        depths = [c.results[0].pose.pose.position.z for c in chairs]
        for chair, z in zip(chairs, depths):
            assert z == pytest.approx(reference_median(mm, _box(chair), scale=0.001), abs=1e-3)
        near, far = depths
        assert far - near > 0.3  # two chairs at different distances: 1.75 m and 2.24 m in this frame

        threshold = (near + far) / 2
        result = ros_peer.set_parameters('/fusion_node', {'max_depth': threshold})
        assert result[0].successful, result[0].reason
        send(1001)
        second = output_for(1001)
        chairs = _chairs(second)
        assert len(chairs) == 1
        assert chairs[0].results[0].pose.pose.position.z == pytest.approx(near, abs=1e-3)
        assert all(d.results[0].pose.pose.position.z <= threshold for d in second.detections)
        assert len(second.detections) < len(first.detections)

        launch.proc.send_signal(signal.SIGINT)
        assert launch.proc.wait(30) == 0, launch.output
    assert 'max_depth set to' in launch.output
