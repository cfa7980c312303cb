"""What a robot sends that fusion_node cannot use (issue #9), over real DDS into a real fusion_node process.

Each test publishes malformed messages between good ones: a malformed message never changes what later good
messages produce, every input the node cannot use is logged (throttled) and counted under its cause, and nothing is
misread silently. Distances are checked against values computed here from the depth PNG with numpy. Each test runs
its own node, stops it and reads the counters it logs at shutdown.
"""

import math
import re
from contextlib import contextmanager

import cv2
import pytest
from harness import NodeProcess, fixture
from sensor_msgs.msg import CameraInfo, Image
from test_fusion_node import (
    FRAME,
    OBJECTS,
    RELIABLE,
    K,
    Rig,
    check_depths,
    depth_msg,
    detections_msg,
    header,
    reference,
)
from vision_msgs.msg import Detection2D

from jdd_ros import bringup

RED_CHAIR = OBJECTS[0][2]  # (5, 255, 240, 475) in 640x480 pixels
INSIDE_320x240 = [OBJECTS[2], OBJECTS[3]]  # the globe and the bottle: boxes that happen to lie inside 320x240


@pytest.fixture(scope='module')
def tum_mm():
    return cv2.imread(str(fixture('tum_desk_depth_mm.png')), cv2.IMREAD_UNCHANGED)


@pytest.fixture(scope='module')
def half_mm(tum_mm):
    return cv2.resize(tum_mm, (320, 240), interpolation=cv2.INTER_NEAREST)


@pytest.fixture(scope='module')
def tum_rgb():
    return cv2.cvtColor(cv2.imread(str(fixture('tum_desk_color.png'))), cv2.COLOR_BGR2RGB)


@contextmanager
def fusion_node(ros_peer, domain_id, ns, **params):
    """A fusion_node of its own (namespace ``ns``) with the test's publishers; yields the Rig, then stops the node
    and leaves its shutdown summary in ``rig.summary``."""
    with NodeProcess('fusion_node', domain_id, params={**RELIABLE, **params}, remap={'__ns': ns}) as node:
        node.wait_for_output('fusion_node ready')
        rig = Rig(ros_peer, node, ns)
        yield rig
        assert node.proc.poll() is None, f'fusion_node died:\n{node.output}'
        assert node.stop() == 0, node.output
        rig.summary = re.search(r'at shutdown: (.*)', node.output).group(1)


def image_msg(h, width, height, encoding='rgb8', step=None, data=b''):
    return Image(header=h, width=width, height=height, encoding=encoding, step=step if step is not None else width * 3,
                 data=data)


def z(out, i=0):
    return out.detections[i].results[0].pose.pose.position.z


def test_a_refused_image_never_changes_the_size_boxes_are_scaled_with(ros_peer, domain_id, tum_rgb, tum_mm):
    """Before: the size a refused image declared was used for the pairs that followed (after a 1280x960 image with 100
    bytes, boxes were scaled to half size: wrong distances; after a declared 20000x20000 every distance was NaN),
    and nothing was logged when the image had no pair."""
    with fusion_node(ros_peer, domain_id, '/img') as rig:
        node = rig.node
        rig.image.publish(image_msg(header(1), 640, 480, data=tum_rgb.tobytes()))
        node.wait_for_output(r"the detections' image size is now known from image: 640x480")
        good = rig.pair(header(1_700_000_000), tum_mm)
        check_depths(good, tum_mm)
        bad_images = [  # (message, the log line it must give before the next pair is sent)
            (image_msg(header(2), 1280, 960, data=bytes(100)),
             r'image refused: rgb8 image 1280x960: data has 100 bytes.*size stays 640x480 \(from image\)'),
            (image_msg(header(3), 20000, 20000, step=20000, data=bytes(100)),
             r'image refused: rgb8 image 20000x20000: step 20000 is smaller than a row'),
            (image_msg(header(4), 1280, 960, encoding='yuv422', step=2560, data=bytes(2560 * 960)),
             r"image refused: unsupported image encoding 'yuv422'"),
            (image_msg(header(5), 1280, 960, encoding='32FC1', step=5120, data=bytes(5120 * 960)),
             r"image refused: encoding '32FC1' is not a colour image"),
            (image_msg(header(6), 20000, 20000, step=60000, data=bytes(100)), None),  # same cause: not logged again
            # Another cause, logged: the node has taken the image before it too (one topic arrives in order), so the
            # counts read at shutdown are complete.
            (image_msg(header(7), 0, 0), r'image refused: empty rgb8 image: 0x0'),
        ]
        for i, (msg, line) in enumerate(bad_images):
            rig.image.publish(msg)
            if line:
                node.wait_for_output(line)
            out = rig.pair(header(1_700_000_001 + i), tum_mm)
            check_depths(out, tum_mm)
            assert [z(out, k) for k in range(len(OBJECTS))] == pytest.approx(
                [z(good, k) for k in range(len(OBJECTS))], nan_ok=True)
    assert ('6 bad messages (2 image: data shorter than step x height, 1 image: empty image, 1 image: not a colour '
            'encoding, 1 image: step smaller than a row, 1 image: unsupported encoding)') in rig.summary


def test_boxes_taken_to_be_in_depth_pixels_are_said_loudly_until_a_size_is_known(ros_peer, domain_id, tum_mm,
                                                                                 half_mm):
    """A 320x240 depth image, 640x480 boxes that happen to lie inside 320x240, nothing saying the detections' image
    size: the assumption is said once, loudly, with what to connect, and its end too. Before: no line at all."""
    with fusion_node(ros_peer, domain_id, '/assume') as rig:
        node = rig.node
        out = rig.pair(header(1_700_000_100), half_mm, objects=INSIDE_320x240)
        assert z(out) == pytest.approx(reference(half_mm, INSIDE_320x240[0][2])[0], abs=1e-5)  # read as depth pixels
        node.wait_for_output(r"WARN.*the detections' image size is unknown .*boxes are taken to be in the pixels of "
                             r'the 320x240 depth image.*connect image or camera_info')
        rig.pair(header(1_700_000_101), half_mm, objects=INSIDE_320x240)
        assert node.output.count('pixels of the 320x240 depth image') == 1  # once, not per pair
        rig.info.publish(CameraInfo(header=header(0), width=640, height=480, k=K))
        node.wait_for_output(r"the detections' image size is now known from camera_info: 640x480; boxes are no longer "
                             'taken to be in depth pixels')
        out = rig.pair(header(1_700_000_102), half_mm, objects=INSIDE_320x240)
        check_depths(out, half_mm, objects=INSIDE_320x240, scale=0.5)  # now scaled: the true distances
    pairs = re.match(r'(\d+) pairs fused \((\d+) with boxes taken to be in depth pixels\)', rig.summary)
    assert int(pairs.group(1)) - int(pairs.group(2)) == 1  # warm-up pairs and the first two were taken so


def test_the_launch_file_connects_what_gives_the_detections_image_size():
    """The process that runs the fusion node (alone, or in a pipeline of several nodes) has both topics remapped."""
    [fusion] = [n for n in bringup.plan({'depth_source': 'sensor'})
                if n.name == 'fusion_node' or 'fusion_node' in (getattr(n, 'node_parameters', None) or {})]
    assert ('image', '/camera/image_raw') in fusion.remappings
    assert ('camera_info', '/camera/camera_info') in fusion.remappings


def test_a_box_overshooting_the_border_is_clipped_and_the_pair_kept(ros_peer, domain_id, tum_mm):
    """OpenCV DNN's yolov4-tiny puts the red chair at y2 = 484.9 in this 640x480 frame. Before: the pair was refused
    when the detections' image size was unknown."""
    overshooting = [('chair', 0.91, RED_CHAIR[:3] + (484.9,))] + OBJECTS[1:]
    clipped = [('chair', 0.91, RED_CHAIR[:3] + (480,))] + OBJECTS[1:]
    with fusion_node(ros_peer, domain_id, '/border') as rig:
        out = rig.pair(header(1_700_000_200), tum_mm, objects=overshooting)
        assert z(out) == pytest.approx(reference(tum_mm, clipped[0][2])[0], abs=1e-5)
        assert out.detections[0].bbox.size_y == pytest.approx(484.9 - 255)  # republished as it came
        # Far beyond the image (more than 5 % of its height): the boxes cannot be in depth pixels.
        h = header(1_700_000_201)
        rig.depth.publish(depth_msg(h, tum_mm))
        rig.dets.publish(detections_msg(h, [('chair', 0.91, RED_CHAIR[:3] + (530,))]))
        rig.node.wait_for_output(r'pair refused: detections reach x=\d+, y=530 beyond the 640x480 depth image')
        again = rig.pair(header(1_700_000_202), tum_mm, objects=overshooting)
        assert [z(again, k) for k in range(len(OBJECTS))] == pytest.approx(
            [z(out, k) for k in range(len(OBJECTS))], nan_ok=True)
    assert '1 refused (1 boxes beyond the depth image)' in rig.summary
    assert re.search(r'; ([1-9]\d*) boxes clipped to the image', rig.summary)


def test_detections_that_cannot_carry_or_get_a_distance_are_dropped_and_counted(ros_peer, domain_id, tum_mm):
    """Before: a negative box size was read as its absolute value, and a detection without results was republished
    with its distance nowhere; neither was logged."""
    with fusion_node(ros_peer, domain_id, '/unreadable') as rig:
        good = rig.pair(header(1_700_000_300), tum_mm)
        for i in range(2):  # both frames at once: the second problem comes well within the log throttle's 5 s
            h = header(1_700_000_301 + i)
            msg = detections_msg(h)
            negative = Detection2D(header=h, id='negative', results=list(msg.detections[0].results))
            negative.bbox.center.position.x, negative.bbox.center.position.y = 122.5, 365.0
            negative.bbox.size_x, negative.bbox.size_y = -235.0, 220.0  # read as 235: the chair's distance
            no_results = Detection2D(header=h, id='no results')
            no_results.bbox.center.position.x, no_results.bbox.center.position.y = 451.0, 332.5
            no_results.bbox.size_x, no_results.bbox.size_y = 158.0, 205.0
            msg.detections = [negative] + list(msg.detections) + [no_results]
            rig.depth.publish(depth_msg(h, tum_mm))
            rig.dets.publish(msg)
        for sec in (1_700_000_301, 1_700_000_302):
            [out] = rig.out.wait_for(1, 10.0, lambda m, s=sec: m.header.stamp.sec == s)
            assert [d.id for d in out.detections] == [d.id for d in good.detections]  # only the readable ones
            check_depths(out, tum_mm)
        rig.node.wait_for_output(r'detections dropped: 1 with negative box size at 1700000301\.000000000')
        rig.node.wait_for_output(r'detections dropped: 1 with no results at 1700000301\.000000000')
        assert rig.node.output.count('detections dropped: 1 with negative box size') == 1  # throttled
    assert '4 unreadable (2 negative box size, 2 no results)' in rig.summary


def test_depth_and_detections_of_different_frames_are_refused_unless_declared_registered(ros_peer, domain_id, tum_mm):
    """Before: fused without a check, whatever their frame_id."""

    def send(sec):
        depth = depth_msg(header(sec), tum_mm)  # a header of its own: rclpy messages share the objects they are given
        depth.header.frame_id = 'camera_depth_optical_frame'
        rig.depth.publish(depth)
        rig.dets.publish(detections_msg(header(sec)))

    with fusion_node(ros_peer, domain_id, '/frames') as rig:
        node = rig.node
        send(1_700_000_400)
        node.wait_for_output(r"pair refused: depth frame_id 'camera_depth_optical_frame' is not the detections' "
                             f"'{FRAME}'.*depth_registered:=true")
        [result] = rig.peer.set_parameters(rig.name, {'depth_registered': True})
        assert result.successful, result.reason
        send(1_700_000_401)
        [out] = rig.out.wait_for(1, 10.0, lambda m: m.header.stamp.sec == 1_700_000_401)
        check_depths(out, tum_mm)
        assert out.header.frame_id == FRAME  # the detections' header, as always
        rig.peer.set_parameters(rig.name, {'depth_registered': False})
        send(1_700_000_402)
        check_depths(rig.pair(header(1_700_000_403), tum_mm), tum_mm)  # a later pair of one frame: fused
        assert not [m for m in rig.out.messages if m.header.stamp.sec in (1_700_000_400, 1_700_000_402)]
    assert '2 refused (2 frame_id mismatch)' in rig.summary


def test_a_malformed_camera_info_never_replaces_the_calibration_in_use(ros_peer, domain_id, tum_mm, half_mm):
    """Before: a CameraInfo with a NaN in K made the node forget the calibration (no positions, no image size)."""
    with fusion_node(ros_peer, domain_id, '/info') as rig:
        node = rig.node
        rig.info.publish(CameraInfo(header=header(0), width=640, height=480, k=K))
        node.wait_for_output(r'camera_info: CameraIntrinsics\(fx=525.0')
        good = rig.pair(header(1_700_000_500), half_mm)
        check_depths(good, half_mm, scale=0.5)
        malformed = [(CameraInfo(header=header(0), width=640, height=480, k=[math.nan] + K[1:]),
                      r'camera_info ignored: CameraInfo K unusable.*the previous one stays in use'),
                     (CameraInfo(header=header(0), k=K), r'camera_info ignored: CameraInfo has no image size')]
        for i, (msg, line) in enumerate(malformed):
            rig.info.publish(msg)
            node.wait_for_output(line)
            out = rig.pair(header(1_700_000_501 + i), half_mm)
            check_depths(out, half_mm, scale=0.5)
            position = out.detections[0].results[0].pose.pose.position
            assert (position.x, position.y) == pytest.approx(((122.5 - 319.5) * position.z / 525,
                                                              (365.0 - 239.5) * position.z / 525))
        # An uncalibrated camera (K all zeros) says so: no positions any more, but its image size still holds.
        rig.info.publish(CameraInfo(header=header(0), width=640, height=480))
        node.wait_for_output('camera_info without calibration: CameraInfo K is all zeros')
        out = rig.pair(header(1_700_000_600), half_mm)
        check_depths(out, half_mm, scale=0.5)
        assert out.detections[0].results[0].pose.pose.position.x == 0.0
    assert ('3 bad messages (1 camera_info: K unusable, 1 camera_info: no image size, 1 camera_info: uncalibrated '
            '(K all zeros))') in rig.summary


def test_every_refusal_leaves_the_node_fusing_good_pairs_identically(ros_peer, domain_id, tum_mm):
    """All the malformed inputs in a row, each followed by the same good frame: the same distances every time."""
    with fusion_node(ros_peer, domain_id, '/all') as rig:
        first = rig.pair(header(1_700_000_700), tum_mm)
        malformed = [
            lambda h: (depth_msg(h, tum_mm, 'rgb8'), detections_msg(h)),
            lambda h: (Image(header=h, encoding='16UC1', width=640, height=480, step=1280, data=bytes(10)),
                       detections_msg(h)),
            lambda h: (depth_msg(h, tum_mm[::2, ::2].copy()), detections_msg(h)),
            lambda h: (depth_msg(h, tum_mm), detections_msg(h, [('chair', 0.9, (5, 255, 240, 900))])),
        ]
        for i, make in enumerate(malformed):
            depth, dets = make(header(1_700_000_710 + 2 * i))
            rig.depth.publish(depth)
            rig.dets.publish(dets)
            out = rig.pair(header(1_700_000_711 + 2 * i), tum_mm)
            assert [z(out, k) for k in range(len(OBJECTS))] == pytest.approx(
                [z(first, k) for k in range(len(OBJECTS))], nan_ok=True)
    assert re.search(r'2 refused \(2 boxes beyond the depth image\), 2 bad messages \(1 depth image: data shorter '
                     r'than step x height, 1 depth image: not a depth encoding\)', rig.summary), rig.summary
