"""fusion_node's /diagnostics and RViz markers over real DDS: its status with the keys, WARN when an input starves
(never before STARVED_AFTER_S) and OK when it returns, WARN for refused messages, ERROR while a QoS-incompatible
peer exists, latency from the input header stamp, and markers that match detections_3d."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
from diag_helpers import COMMON_KEYS, Statuses, describe, level, values
from harness import NodeProcess
from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2D, Detection2DArray, Detection3DArray, ObjectHypothesisWithPose
from visualization_msgs.msg import Marker, MarkerArray

from jdd_ros.core.health import ERROR, LAST_INPUT, LATENCY_P50, LATENCY_P95, OK, PUBLISH_PERIOD_S, STARVED_AFTER_S, WARN

pytestmark = pytest.mark.timeout(300)

NS = '/fd'
NAME = 'fd/fusion_node'
FRAME = 'cam_optical'
FEED_HZ = 5.0
STAMP_AGE_S = 2.0  # every frame is stamped this long before it is sent: the latency must include it
WIDTH, HEIGHT = 64, 48
K = [50.0, 0.0, 31.5, 0.0, 50.0, 23.5, 0.0, 0.0, 1.0]
DEPTH_MM = np.hstack([np.full((HEIGHT, WIDTH // 2), 1234, np.uint16), np.full((HEIGHT, WIDTH // 2), 2500, np.uint16)])
OBJECTS = [('chair', (0, 0, 32, 48)), ('bottle', (32, 0, 64, 48))]


def detections(h, objects):
    out = Detection2DArray(header=h)
    for i, (name, (x1, y1, x2, y2)) in enumerate(objects):
        d = Detection2D(header=h, id=f'obj{i}')
        d.bbox.center.position.x, d.bbox.center.position.y = (x1 + x2) / 2, (y1 + y2) / 2
        d.bbox.size_x, d.bbox.size_y = float(x2 - x1), float(y2 - y1)
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id, hyp.hypothesis.score = name, 0.9
        d.results = [hyp]
        out.detections.append(d)
    return out


def depth_image(h, mm=DEPTH_MM, encoding='16UC1'):
    return Image(header=h, height=mm.shape[0], width=mm.shape[1], encoding=encoding, step=mm.shape[1] * 2,
                 data=mm.tobytes())


class Feeder:
    """Publishes depth + detections pairs at FEED_HZ in a thread; either side can be switched off."""

    def __init__(self, peer):
        self.peer = peer
        self.depth = peer.publisher(Image, f'{NS}/depth')
        self.dets = peer.publisher(Detection2DArray, f'{NS}/detections')
        self.on = {'depth': True, 'detections': True}
        self.objects = OBJECTS
        self.last_sent: dict[str, float] = {}
        self.bad_depth = 0  # frames still to send with a depth image in a colour encoding (refused by the node)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        for pub in (self.depth, self.dets):
            self.peer.wait_for_subscribers(pub)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(1.0 / FEED_HZ):
            stamp = self.peer.node.get_clock().now() - Duration(seconds=STAMP_AGE_S)
            h = Header(frame_id=FRAME, stamp=stamp.to_msg())
            with self._lock:
                on, objects = dict(self.on), list(self.objects)
                bad, self.bad_depth = self.bad_depth > 0, max(self.bad_depth - 1, 0)
            # The times are taken before publishing: the node cannot have received a message earlier.
            if on['depth']:
                self.last_sent['depth'] = time.monotonic()
                self.depth.publish(depth_image(h, encoding='rgb8' if bad else '16UC1'))
            if on['detections']:
                self.last_sent['detections'] = time.monotonic()
                self.dets.publish(detections(h, objects))

    def set(self, **changes):
        with self._lock:
            for key, value in changes.items():
                if key in self.on:
                    self.on[key] = value
                else:
                    setattr(self, key, value)

    def stop(self):
        self._stop.set()
        self._thread.join(5)


@pytest.fixture(scope='module')
def node(domain_id):
    with NodeProcess('fusion_node', domain_id, params={'reliability': 'reliable'}, remap={'__ns': NS}) as proc:
        proc.wait_for_output('fusion_node ready')
        yield proc
        assert proc.proc.poll() is None, f'fusion_node died:\n{proc.output}'


@pytest.fixture(scope='module')
def statuses(ros_peer):
    return Statuses(ros_peer)


@pytest.fixture(scope='module')
def feeder(node, ros_peer):
    info = ros_peer.publisher(CameraInfo, f'{NS}/camera_info')
    ros_peer.wait_for_subscribers(info)
    info.publish(CameraInfo(header=Header(frame_id=FRAME), width=WIDTH, height=HEIGHT, k=K))
    node.wait_for_output('camera_info: CameraIntrinsics')
    feed = Feeder(ros_peer)
    feed.start()
    yield feed
    feed.stop()


def is_ok_and_fed(s):
    return level(s) == OK and values(s).get('pairs fused', '0') != '0' and 'input frames/s' in s.message


def test_status_has_the_keys_and_is_ok_while_fed(feeder, statuses, node):
    _, s = statuses.wait(NAME, is_ok_and_fed)
    v = values(s)
    assert set(COMMON_KEYS) <= set(v), describe(s)
    for key in ('depth received', 'detections received', 'pairs fused', 'pairs refused', 'bad messages',
                'max_depth', 'min_depth', 'depth_statistic', 'camera_info', 'input topics'):
        assert key in v, key
    assert s.hardware_id == f'{NS}/depth + {NS}/detections' and v['package'] == 'jdd_ros'
    assert float(v['input rate (Hz)']) > 0 and float(v['published rate (Hz)']) > 0
    assert v['max_depth'] == '0.0' and v['camera_info'].startswith('CameraIntrinsics(fx=50.0')
    # Latency is measured from the input header stamp: it includes the STAMP_AGE_S the frames were stamped early.
    p50, p95 = float(v[LATENCY_P50]), float(v[LATENCY_P95])
    assert 1000 * STAMP_AGE_S <= p50 <= p95, describe(s)
    # A parameter set at run time shows in the next statuses.
    assert statuses_after_set(feeder.peer, statuses, 'max_depth', 4.0)['max_depth'] == '4.0'
    statuses_after_set(feeder.peer, statuses, 'max_depth', 0.0)


def statuses_after_set(peer, statuses, name, value):
    mark = statuses.mark()
    [result] = peer.set_parameters(f'/{NAME}', {name: value})
    assert result.successful, result.reason
    return values(statuses.wait(NAME, lambda s: values(s)[name] == str(value), since=mark)[1])


def test_a_starved_input_warns_after_the_stated_time_and_recovers(feeder, statuses):
    statuses.wait(NAME, is_ok_and_fed)
    feeder.set(detections=False)
    try:
        time.sleep(0.5)  # the feeder thread has seen the switch
        last = feeder.last_sent['detections']
        mark = statuses.mark()
        arrived, warn = statuses.wait(NAME, lambda s: level(s) == WARN, since=mark)
        assert warn.message.startswith(f"no input on '{NS}/detections' for "), describe(warn)
        assert f"'{NS}/depth'" not in warn.message  # depth still flows
        # Never early: WARN only once the input has been silent STARVED_AFTER_S (same monotonic clock here and in
        # the node), and the node reports the silence it judged, sampled once per period.
        assert arrived - last >= STARVED_AFTER_S
        assert STARVED_AFTER_S <= float(values(warn)[LAST_INPUT]) < STARVED_AFTER_S + 3 * PUBLISH_PERIOD_S
        earlier = [s for t, s in statuses.log[mark:] if s.name == NAME and t < arrived]
        assert earlier and all(level(s) == OK for s in earlier), [describe(s) for s in earlier]
    finally:
        feeder.set(detections=True)
    mark = statuses.mark()
    _, back = statuses.wait(NAME, lambda s: level(s) == OK, since=mark)
    assert float(values(back)[LAST_INPUT]) < STARVED_AFTER_S


def test_refused_messages_warn_then_clear(feeder, statuses, node):
    statuses.wait(NAME, is_ok_and_fed)
    mark = statuses.mark()
    feeder.set(bad_depth=2)
    _, warn = statuses.wait(NAME, lambda s: level(s) == WARN, since=mark)
    assert 'refused message(s) in the last' in warn.message, describe(warn)
    assert int(values(warn)['bad messages']) >= 1 and int(values(warn)['refused messages']) >= 1
    node.wait_for_output('depth image refused: ')  # the log line stays
    mark = statuses.mark()
    statuses.wait(NAME, lambda s: level(s) == OK, since=mark)  # once the window has moved past them


def test_an_incompatible_peer_is_an_error_while_it_exists(feeder, statuses, ros_peer):
    """On an input (a best-effort publisher for the reliable subscription) and on an output (a transient-local
    subscriber of a volatile publisher); compatible peers (the test's own) never count."""
    peer = ros_peer.node
    cases = [
        (lambda: peer.create_publisher(Image, f'{NS}/depth', qos_profile_sensor_data), peer.destroy_publisher,
         f"incompatible QoS on '{NS}/depth' with publisher /test_peer: Best effort publisher and reliable "
         'subscription'),
        (lambda: peer.create_subscription(Detection2DArray, f'{NS}/detections_with_depth', lambda m: None,
                                          QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)),
         peer.destroy_subscription, f"incompatible QoS on '{NS}/detections_with_depth' with subscriber /test_peer"),
    ]
    for create, destroy, expected in cases:
        statuses.wait(NAME, is_ok_and_fed)
        mark = statuses.mark()
        endpoint = create()
        try:
            _, err = statuses.wait(NAME, lambda s: level(s) == ERROR, since=mark)
            assert err.message.startswith(expected), describe(err)
        finally:
            destroy(endpoint)
        mark = statuses.mark()
        statuses.wait(NAME, lambda s: level(s) == OK, since=mark)


def stamp_of(msg):
    return (msg.header.stamp.sec, msg.header.stamp.nanosec)


def test_markers_match_detections_3d_and_gone_objects_are_deleted(feeder, ros_peer):
    markers = ros_peer.subscribe(MarkerArray, f'{NS}/detection_markers')
    out3d = ros_peer.subscribe(Detection3DArray, f'{NS}/detections_3d')
    markers.wait_for(1, 30)  # the node publishes markers once it sees a subscriber
    out3d.wait_for(1, 30)
    for objects, labels in ((OBJECTS, ['chair 1.23 m depth', 'bottle 2.50 m depth']),
                            (OBJECTS[:1], ['chair 1.23 m depth'])):
        feeder.set(objects=objects)
        time.sleep(0.5)
        markers.clear()
        # A frame sent after the switch, that both topics carry.
        out3d.clear()
        array = markers.wait_for(1, 30, lambda m, n=len(objects): len(m.markers) == 2 + 2 * n)[0]
        [msg3d] = out3d.wait_for(1, 30, lambda m, key=stamp_of(array.markers[0]): stamp_of(m) == key)
        actions = [m.action for m in array.markers]
        assert actions[:2] == [Marker.DELETEALL] * 2 and set(actions[2:]) == {Marker.ADD}
        assert all(m.header == msg3d.header for m in array.markers)
        assert msg3d.header.frame_id == FRAME
        boxes = [m for m in array.markers[2:] if m.type == Marker.CUBE]
        texts = [m.text for m in array.markers[2:] if m.type == Marker.TEXT_VIEW_FACING]
        assert texts == [f'#{d.id} {label}' for d, label in zip(msg3d.detections, labels)]  # the track IDs
        assert all(d.id.isdigit() for d in msg3d.detections)  # static objects: no TTC in the label
        assert len(boxes) == len(msg3d.detections) == len(objects)
        for box, text, d in zip(boxes, texts, msg3d.detections):
            c = d.bbox.center.position
            assert (box.pose.position.x, box.pose.position.y, box.pose.position.z) == (c.x, c.y, c.z)
            assert (box.scale.x, box.scale.y, box.scale.z) == (d.bbox.size.x, d.bbox.size.y, d.bbox.size.z)
            assert text == f'#{d.id} {d.results[0].hypothesis.class_id} {c.z:.2f} m depth' and math.isfinite(c.x)
    feeder.set(objects=OBJECTS)
