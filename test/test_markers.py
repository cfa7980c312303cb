"""RViz markers of the 3D detections (jdd_ros.ros.markers), built without DDS: one box and one label per object at
its detections_3d position, DELETEALL first (no stale markers, no blinking), nothing built while no one watches."""

from __future__ import annotations

import math

import numpy as np
import pytest
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.core.detection import Detection
from jdd_ros.core.fusion import fuse
from jdd_ros.param_types import FusionNodeParams as Settings
from jdd_ros.ros import markers
from jdd_ros.ros.messages import detections_to_3d_msg

CAMERA = CameraIntrinsics(fx=525.0, fy=525.0, cx=319.5, cy=239.5, width=640, height=480)


def fused(name, box, depth):
    d = Detection(class_name=name, score=0.9, x1=box[0], y1=box[1], x2=box[2], y2=box[3], depth=depth)
    if math.isfinite(depth):
        u, v = d.center
        d.position = CAMERA.back_project(u, v, depth)
    return d


def header():
    h = Header(frame_id='camera_color_optical_frame')
    h.stamp.sec, h.stamp.nanosec = 1_700_000_000, 33_000_000
    return h


DETECTIONS = [fused('chair', (5, 255, 240, 475), 1.75), fused('bottle', (285, 22, 312, 105), 2.29),
              fused('hole', (445, 325, 458, 340), math.nan)]


def test_one_box_and_one_label_per_3d_detection_after_deleteall():
    h = header()
    msg_3d = detections_to_3d_msg(DETECTIONS, h, CAMERA)
    assert len(msg_3d.detections) == 2  # the unmeasured one has no 3D position
    out = markers.detection_markers(msg_3d, h).markers
    assert [(m.action, m.ns) for m in out[:2]] == [(Marker.DELETEALL, markers.BOXES_NS),
                                                    (Marker.DELETEALL, markers.LABELS_NS)]
    assert all(m.header == h for m in out)  # the camera's frame and the input stamp
    assert len({(m.ns, m.id) for m in out}) == len(out), 'RViz flags a repeated (ns, id) in one array'
    boxes = [m for m in out[2:] if m.ns == markers.BOXES_NS]
    labels = [m for m in out[2:] if m.ns == markers.LABELS_NS]
    assert all(m.type == Marker.CUBE and m.action == Marker.ADD for m in boxes)
    assert all(m.type == Marker.TEXT_VIEW_FACING and m.action == Marker.ADD for m in labels)
    assert [m.text for m in labels] == ['chair 1.75 m', 'bottle 2.29 m']
    for d, box, label in zip(msg_3d.detections, boxes, labels):
        c = d.bbox.center.position
        assert (box.pose.position.x, box.pose.position.y, box.pose.position.z) == (c.x, c.y, c.z)
        assert (box.scale.x, box.scale.y, box.scale.z) == (d.bbox.size.x, d.bbox.size.y, d.bbox.size.z)
        assert box.pose.orientation.w == 1.0 and 0 < box.color.a < 1
        assert (label.pose.position.x, label.pose.position.z) == (c.x, c.z)
        assert label.pose.position.y < c.y - d.bbox.size.y / 2  # above the box (optical frame: y down)
        assert label.color.a == 1.0 and label.scale.z == markers.LABEL_HEIGHT_M
    chair = boxes[0].pose.position
    assert chair.z == pytest.approx(1.75) and chair.x == pytest.approx((122.5 - 319.5) * 1.75 / 525)


def test_same_class_same_colour_and_no_invalid_floats():
    h = header()
    two_chairs = [fused('chair', (5, 255, 240, 475), 1.75), fused('chair', (372, 230, 530, 435), 2.2),
                  fused('flat', (10, 10, 10, 40), 3.0)]  # zero width: drawn MIN_SIZE_M thin, not refused
    out = markers.detection_markers(detections_to_3d_msg(two_chairs, h, CAMERA), h).markers
    boxes = [m for m in out if m.ns == markers.BOXES_NS and m.action == Marker.ADD]
    assert boxes[0].color == boxes[1].color != boxes[2].color
    assert min(boxes[2].scale.x, boxes[2].scale.y, boxes[2].scale.z) == markers.MIN_SIZE_M
    for m in out:
        numbers = [m.pose.position.x, m.pose.position.y, m.pose.position.z, m.scale.x, m.scale.y, m.scale.z]
        assert all(math.isfinite(v) for v in numbers)


def test_without_3d_detections_the_previous_markers_are_deleted():
    out = markers.detection_markers(None, header()).markers
    assert [m.action for m in out] == [Marker.DELETEALL, Marker.DELETEALL]
    empty = detections_to_3d_msg([], header(), CAMERA)
    assert [m.action for m in markers.detection_markers(empty, header()).markers] == [Marker.DELETEALL] * 2


class FakePublisher:
    def __init__(self):
        self.subscribers, self.sent = 0, []

    def get_subscription_count(self):
        return self.subscribers

    def publish(self, msg):
        self.sent.append(msg)


def test_nothing_is_built_or_sent_while_no_one_subscribes(monkeypatch):
    pub = FakePublisher()
    monkeypatch.setattr(markers, 'advertise', lambda node, msg_type, topic, **_: pub)
    built = []
    real = markers.detection_markers
    monkeypatch.setattr(markers, 'detection_markers', lambda *a: built.append(a) or real(*a))
    helper = markers.DetectionMarkers(node=None)
    h = header()
    msg_3d = detections_to_3d_msg(DETECTIONS, h, CAMERA)
    helper.publish(msg_3d, h)
    assert (built, pub.sent) == ([], [])
    pub.subscribers = 1
    helper.publish(msg_3d, h)
    assert len(built) == 1 and len(pub.sent) == 1 and len(pub.sent[0].markers) == 2 + 2 * 2


def test_labels_say_what_gave_each_distance():
    from jdd_ros.core.ground_distance import GroundSettings, fuse_ground

    h = header()
    floor = fuse_ground([Detection('chair', 0.8, 391, 217, 527, 426), Detection('bottle', 0.9, 285, 22, 312, 105)],
                        Settings(), GroundSettings(('chair',), 1.78, 29.0, 0.7), CAMERA).kept
    depth = fuse(DETECTIONS[1:2], np.full((480, 640), 2.29, dtype=np.float32), Settings(), CAMERA).kept
    kept = floor + depth  # the bottle from the floor has no distance: not in detections_3d
    msg_3d = detections_to_3d_msg(kept, h, CAMERA)
    labels = [m.text for m in markers.detection_markers(msg_3d, h, markers.distance_sources(kept)).markers
              if m.ns == markers.LABELS_NS and m.action == Marker.ADD]
    assert labels == [f'chair {floor[0].depth:.2f} m floor', 'bottle 2.29 m depth']


def test_tracked_objects_labels_show_id_distance_and_time_to_contact():
    h = header()
    tracked = [fused('chair', (5, 255, 240, 475), 1.75), fused('bottle', (285, 22, 312, 105), 2.29)]
    tracked[0].id, tracked[1].id = '3', '8'
    msg_3d = detections_to_3d_msg(tracked, h, CAMERA)
    out = markers.detection_markers(msg_3d, h, ttc_by_id={'3': 4.06, '8': math.inf}).markers
    assert [m.text for m in out if m.ns == markers.LABELS_NS and m.action == Marker.ADD] == [
        '#3 chair 1.75 m TTC 4.1 s', '#8 bottle 2.29 m']  # the bottle is not closing: no TTC
