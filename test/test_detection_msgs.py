"""jdd_ros.io.detection_msgs: the one Detection <-> vision_msgs conversion, for rclpy and rosbags messages alike."""

import math

import numpy as np
import pytest

from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.core.detection import Detection
from jdd_ros.io import bags, detection_msgs
from jdd_ros.io.detection_msgs import NEGATIVE_SIZE, NO_RESULTS, read_detection_array
from jdd_ros.ros import messages

K = CameraIntrinsics(525.0, 525.0, 319.5, 239.5, 640, 480)
STAMP_NS = 1_700_000_000_033_000_000


def detections():
    fused = Detection('chair', 0.91, 5.0, 255.0, 240.0, 475.0, id='a', depth=1.75, depth_variance=0.01,
                      position=(-0.66, 0.42, 1.75))
    depth_only = Detection('bottle', 0.55, 285.0, 22.0, 312.0, 105.0, depth=2.5, depth_variance=0.02)
    plain = Detection('cup', 0.3, 10.5, 20.25, 30.0, 40.0)  # not fused: no depth, no id (its index is its id)
    return [fused, depth_only, plain]


def rclpy_header():
    from std_msgs.msg import Header

    h = Header(frame_id='camera_color_optical_frame')
    h.stamp.sec, h.stamp.nanosec = divmod(STAMP_NS, 1_000_000_000)
    return h


def test_rclpy_and_rosbags_messages_serialize_to_the_same_bytes():
    """The nodes' messages and the bags' are built by the same code: the same CDR (padding bytes aside, which Fast
    CDR leaves unset: the rclpy bytes are read back and written again by rosbags)."""
    from rclpy.serialization import serialize_message

    ros = messages.detections_to_msg(detections(), rclpy_header())
    bag = bags.detections_message(detections(), STAMP_NS, 'camera_color_optical_frame')
    store, name = bags.typestore(), bags.DETECTIONS_TYPE
    from_rclpy = store.serialize_cdr(store.deserialize_cdr(bytes(serialize_message(ros)), name), name)
    assert bytes(from_rclpy) == bytes(store.serialize_cdr(bag, name))


@pytest.mark.parametrize('make', [messages.make, bags.make_message], ids=['rclpy', 'rosbags'])
def test_written_layout_and_read_back(make):
    h = rclpy_header() if make is messages.make else bags.typestore().types['std_msgs/msg/Header'](
        stamp=bags.typestore().types['builtin_interfaces/msg/Time'](sec=1, nanosec=2), frame_id='f')
    msg = detection_msgs.detection_array(make, detections(), h)
    fused, depth_only, plain = msg.detections
    assert fused.id == 'a' and plain.id == '2' and all(d.header is h for d in msg.detections)
    assert (fused.bbox.center.position.x, fused.bbox.size_y) == (122.5, 220.0)
    pose = fused.results[0].pose
    assert (pose.pose.position.x, pose.pose.position.y, pose.pose.position.z) == (-0.66, 0.42, 1.75)
    assert pose.covariance[14] == 0.01 and pose.pose.orientation.w == 1.0
    assert depth_only.results[0].pose.pose.position.z == 2.5 and depth_only.results[0].pose.pose.position.x == 0.0
    assert plain.results[0].pose.pose.position.z == 0.0 and not any(plain.results[0].pose.covariance)
    read = read_detection_array(msg)
    assert read.skipped == []
    assert [d.xyxy() for d in read.detections] == [d.xyxy() for d in detections()]
    assert [(d.class_name, d.score, d.id) for d in read.detections] == [('chair', 0.91, 'a'), ('bottle', 0.55, '1'),
                                                                         ('cup', 0.3, '2')]


def test_reading_skips_what_cannot_carry_or_get_a_distance():
    from vision_msgs.msg import Detection2DArray, ObjectHypothesisWithPose

    msg = messages.detections_to_msg([Detection('a', 0.9, 10, 10, 20, 20)] * 5, rclpy_header())
    msg.detections[1].results = []  # nowhere to write its distance
    msg.detections[2].bbox.size_x = -10.0  # a malformed box: not read as its absolute size
    msg.detections[3].bbox.size_y = -1e-3
    msg.detections[4].bbox.size_x = math.nan  # a NaN box is read: fusion publishes it as not measurable
    other = ObjectHypothesisWithPose()
    other.hypothesis.class_id, other.hypothesis.score = 'b', 0.95
    msg.detections[0].results.append(other)  # the best hypothesis names the detection
    read = messages.read_detections(msg)
    assert read.skipped == [(1, NO_RESULTS), (2, NEGATIVE_SIZE), (3, NEGATIVE_SIZE)]
    assert read.skipped_by_cause() == {NO_RESULTS: 1, NEGATIVE_SIZE: 2}
    assert [d.id for d in read.detections] == ['0', '4']
    assert read.detections[0].class_name == 'b' and read.detections[0].extra['msg'] is msg.detections[0]
    assert math.isnan(read.detections[1].x1)
    assert messages.msg_to_detections(Detection2DArray()) == []


def test_fused_array_republishes_the_input_detection_with_only_its_pose_changed():
    src = messages.detections_to_msg(detections()[2:], rclpy_header())
    src.detections[0].results[0].pose.pose.orientation.z = 1.0  # any other field comes back unchanged
    [det] = messages.read_detections(src).detections
    det.depth, det.depth_variance, det.position = 3.0, 0.04, (0.1, 0.2, 3.0)
    out = messages.fused_detections_to_msg([det], src.header)
    assert out.detections[0] is src.detections[0]
    pose = out.detections[0].results[0].pose
    assert (pose.pose.position.z, pose.covariance[14], pose.pose.orientation.z) == (3.0, 0.04, 1.0)


@pytest.mark.parametrize('make', [messages.make, bags.make_message], ids=['rclpy', 'rosbags'])
def test_3d_array_keeps_only_positioned_detections(make):
    h = rclpy_header() if make is messages.make else bags._header(STAMP_NS, 'f')
    msg = detection_msgs.detection_3d_array(make, detections(), h, K)
    [d] = msg.detections
    assert (d.bbox.center.position.x, d.bbox.center.position.z) == (-0.66, 1.75)
    assert d.bbox.size.x == pytest.approx(235 * 1.75 / 525) and d.bbox.size.z == pytest.approx(220 * 1.75 / 525)
    assert d.results[0].pose.pose.position.z == 1.75 and d.results[0].hypothesis.class_id == 'chair'
    assert np.asarray(d.results[0].pose.covariance)[14] == 0.01
