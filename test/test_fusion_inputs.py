"""fusion_node's input handling (ros/fusion_inputs, ros/node_log) on real messages of the TUM desk frame, in this
process: joined by stamp, fused against an independent median, refused and bad input counted and logged once, the
overlay joined by stamp. The node process around it is tested in test_fusion_node*.py."""

import math

import numpy as np
import pytest
import test_fusion_node
from harness import reference_median
from rclpy.logging import get_logger
from sensor_msgs.msg import CameraInfo, Image
from test_fusion_node import OBJECTS, depth_msg, detections_msg, header

from jdd_ros.core.image_size import IMAGE
from jdd_ros.core.stamp_join import DEPTH, DETECTIONS
from jdd_ros.io.image_codec import fill_image
from jdd_ros.param_types import FusionNodeParams
from jdd_ros.ros.fusion_inputs import RESULT, FusionInputs
from jdd_ros.ros.node_log import NodeLog


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


tum_mm, tum_rgb = test_fusion_node.tum_mm, test_fusion_node.tum_rgb  # the module's fixtures: the TUM desk frame


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def inputs(clock):
    return FusionInputs(5, NodeLog(get_logger('test_fusion_inputs'), clock))


def fused_pair(inputs, h, mm, objects=OBJECTS, settings=FusionNodeParams()):
    assert inputs.pair(DETECTIONS, detections_msg(h, objects)) is None
    pair = inputs.pair(DEPTH, depth_msg(h, mm))
    assert pair is not None and pair[0].header == pair[1].header == h
    return inputs.fuse(*pair, settings)


def test_a_joined_pair_is_fused_with_the_median_of_its_boxes(inputs, tum_mm):
    fused = fused_pair(inputs, header(1_700_000_000), tum_mm)
    assert fused.header == header(1_700_000_000) and fused.image_size is None
    for det, (_, _, box) in zip(fused.result.kept, OBJECTS[:5]):
        assert det.depth == pytest.approx(reference_median(tum_mm, box, scale=0.001), abs=1e-6)
    inputs.count(fused)
    assert inputs.counters.pairs == 1 and inputs.join.counters.matched == 1
    assert '1 pairs fused' in inputs.summary() and '1 pairs joined' in inputs.summary()


def test_refused_and_bad_input_is_counted_by_cause_and_logged_once(inputs, tum_mm, clock, capfd):
    other_frame = header(1_700_000_001)
    other_frame.frame_id = 'camera_depth_optical_frame'
    inputs.pair(DETECTIONS, detections_msg(header(1_700_000_001)))
    assert inputs.fuse(*inputs.pair(DEPTH, depth_msg(other_frame, tum_mm)), FusionNodeParams()) is None
    for sec in (1_700_000_002, 1_700_000_003):  # the same problem twice within the period: one line
        inputs.pair(DETECTIONS, detections_msg(header(sec)))
        assert inputs.fuse(*inputs.pair(DEPTH, depth_msg(header(sec), tum_mm, 'rgb8')), FusionNodeParams()) is None
    assert inputs.counters.refused == {'frame_id mismatch': 1}
    assert inputs.counters.bad_messages == {'depth image: not a depth encoding': 2}
    err = capfd.readouterr().err
    assert err.count("pair refused: depth frame_id 'camera_depth_optical_frame'") == 1, err
    assert err.count("depth image refused: encoding 'rgb8' is not a depth image") == 1, err
    clock.now += 5.0  # the period has passed: the same problem is logged again
    inputs.pair(DETECTIONS, detections_msg(header(1_700_000_004)))
    inputs.fuse(*inputs.pair(DEPTH, depth_msg(header(1_700_000_004), tum_mm, 'rgb8')), FusionNodeParams())
    assert capfd.readouterr().err.count('depth image refused') == 1


def test_a_malformed_camera_info_keeps_the_previous_calibration(inputs, capfd):
    k = [525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0]
    inputs.camera_info(CameraInfo(header=header(0), width=640, height=480, k=k))
    good = inputs.intrinsics
    assert (good.fx, good.cx, good.width) == (525.0, 319.5, 640)
    inputs.camera_info(CameraInfo(header=header(0), width=640, height=480, k=[math.nan] + k[1:]))
    assert inputs.intrinsics == good and sum(inputs.counters.bad_messages.values()) == 1
    assert 'camera_info ignored' in capfd.readouterr().err
    assert inputs.camera((320, 240)).fx == pytest.approx(262.5)


def test_a_looping_bag_is_logged_and_fused_again(inputs, tum_mm, capfd):
    for _loop in range(2):
        for sec in (1_700_000_010, 1_700_000_011):
            assert fused_pair(inputs, header(sec), tum_mm) is not None
    assert inputs.join.counters.resets == 1
    assert 'stamp jumped back to 1700000010.000000000 (looping bag or restarted source): join cache reset' in \
        capfd.readouterr().err


def test_the_overlay_joins_image_and_result_by_stamp_in_either_order(inputs, tum_mm, tum_rgb):
    image = fill_image(Image(), tum_rgb, 'rgb8')
    results = {}
    for sec in (1_700_000_020, 1_700_000_021, 1_700_000_022):
        results[sec] = fused_pair(inputs, header(sec), tum_mm).result
    image.header = header(1_700_000_020)
    assert inputs.annotate(IMAGE, 1_700_000_020 * 10**9, image) is None  # its result comes later
    out = inputs.annotate(RESULT, 1_700_000_020 * 10**9, results[1_700_000_020])
    assert out.header == header(1_700_000_020) and (out.width, out.height, out.encoding) == (640, 480, 'rgb8')
    drawn = np.frombuffer(out.data, np.uint8).reshape(480, 640, 3)
    assert (drawn != tum_rgb).any() and (drawn == tum_rgb).mean() > 0.8  # boxes drawn on the frame
    assert inputs.annotate(RESULT, 1_700_000_021 * 10**9, results[1_700_000_021]) is None  # its image was lost
    assert inputs.annotate(RESULT, 1_700_000_022 * 10**9, results[1_700_000_022]) is None
    image.header = header(1_700_000_022)
    assert inputs.annotate(IMAGE, 1_700_000_022 * 10**9, image).header == header(1_700_000_022)
    assert inputs.overlay.counters.evicted == {IMAGE: 0, RESULT: 1}
