"""fusion_node alone with depth_source ground, over real DDS: no depth subscription, each detections message fused on
arrival; without camera_info or camera_height every detection is published without a distance and the node says
what is missing (once); once both are there, the yellow chair of the TUM desk frame gets the floor distance computed
here by an independent ray/floor intersection (test_ground), and geometry set at run time applies to the next
message."""

import math
import time

import pytest
from harness import NodeProcess
from sensor_msgs.msg import CameraInfo
from test_fusion_node import detections_msg, header, stamp_of
from test_ground import reference_floor_depth
from vision_msgs.msg import Detection2DArray

NS = '/ground_node'
YELLOW = ('chair', 0.81, (391.4, 217.25, 527.61, 426.15))  # yolov4-tiny's box of the yellow chair
RED = ('chair', 0.94, (5.75, 271.17, 242.71, 480.0))  # the red chair, cut by the image's bottom edge
BOTTLE = ('bottle', 0.9, (174.5, 29.7, 206.5, 104.8))  # on the partition: not a ground class
GEOMETRY = {'camera_height': 1.763, 'camera_pitch': 28.34, 'camera_roll': -0.1}


@pytest.fixture(scope='module')
def node(ros_peer, domain_id):
    with NodeProcess('fusion_node', domain_id, params={'depth_source': 'ground', 'reliability': 'reliable'},
                     remap={'__ns': NS}) as proc:
        proc.wait_for_output('fusion_node ready')
        yield proc
        assert proc.proc.poll() is None, f'fusion_node died:\n{proc.output}'


def _z(detection) -> float:
    return detection.results[0].pose.pose.position.z


def test_ground_mode_fuses_detections_alone_and_says_what_is_missing(node, ros_peer):
    dets = ros_peer.publisher(Detection2DArray, f'{NS}/detections')
    info = ros_peer.publisher(CameraInfo, f'{NS}/camera_info')
    out = ros_peer.subscribe(Detection2DArray, f'{NS}/detections_with_depth')
    ros_peer.wait_for_subscribers(dets)
    ros_peer.wait_for_subscribers(info)
    assert ros_peer.node.count_subscribers(f'{NS}/depth') == 0  # no depth image at all
    ros_peer.wait_for_publishers(f'{NS}/detections_with_depth')

    def send(sec, objects=(YELLOW, RED, BOTTLE), timeout=10.0):
        h = header(sec)
        dets.publish(detections_msg(h, list(objects)))
        return out.wait_for(1, timeout, lambda m: stamp_of(m) == (sec, 0))[0]

    first = None
    for sec in range(100, 140):  # until the output has matched this peer
        try:
            first = send(sec, timeout=0.5)
            break
        except AssertionError:
            continue
    assert first is not None, node.output
    assert len(first.detections) == 3 and all(math.isnan(_z(d)) for d in first.detections)
    node.wait_for_output(r'no floor distances: no camera_info: connect camera_info')

    msg = CameraInfo(width=640, height=480, k=[525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0])
    msg.header = header(200)
    deadline = time.monotonic() + 10
    while 'camera_info: CameraIntrinsics' not in node.output:  # volatile: sent until the node has it
        assert time.monotonic() < deadline, node.output
        info.publish(msg)
        time.sleep(0.2)
    second = send(201)
    assert all(math.isnan(_z(d)) for d in second.detections)
    node.wait_for_output(r'no floor distances: camera_height unknown \(0\): set camera_height')

    result = ros_peer.set_parameters(f'{NS}/fusion_node', GEOMETRY)
    assert all(r.successful for r in result), [r.reason for r in result]
    third = send(202)
    yellow, red, bottle = third.detections
    (x1, _, x2, y2) = YELLOW[2]
    expected = reference_floor_depth((x1 + x2) / 2, y2, *GEOMETRY.values())
    assert _z(yellow) == pytest.approx(expected, rel=1e-6) and 2.0 < expected < 2.5
    assert math.isnan(_z(red)) and math.isnan(_z(bottle))
    assert third.header.frame_id == header(202).frame_id

    refused = ros_peer.set_parameters(f'{NS}/fusion_node', {'camera_pitch': 95.0})
    assert not refused[0].successful and 'camera_pitch out of range' in refused[0].reason
    ros_peer.set_parameters(f'{NS}/fusion_node', {'camera_pitch': GEOMETRY['camera_pitch'] + 1.0})
    fourth = send(203)
    steeper = reference_floor_depth((x1 + x2) / 2, y2, GEOMETRY['camera_height'], GEOMETRY['camera_pitch'] + 1.0,
                                    GEOMETRY['camera_roll'])
    assert _z(fourth.detections[0]) == pytest.approx(steeper, rel=1e-6) and steeper < expected

    accepted = ros_peer.set_parameters(f'{NS}/fusion_node', {'camera_height': 2})  # an integer for a double
    assert accepted[0].successful, accepted[0].reason
    fifth = send(204)
    assert _z(fifth.detections[0]) == pytest.approx(steeper * 2 / GEOMETRY['camera_height'], rel=1e-6)
