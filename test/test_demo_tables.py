"""What ``jdd-ros demo`` prints for a frame, with one fusion node's column or several side by side (plain unit tests
of jdd_ros.apps.demo; the demo itself over DDS is test_demo.py)."""

from __future__ import annotations

import math

import numpy as np

from jdd_ros.apps.demo import Column, FrameResult, frame_heading, gone_line, sample_frames, signature, table
from jdd_ros.core.detection import Detection

SENSOR = Column('sensor depth', '/fusion_node', '/detections_with_depth')
FLOOR = Column('floor geometry', '/ground_fusion_node', '/ground/detections_with_depth')


def det(ident: str, name: str, depth: float, score: float = 0.9, track: str = '') -> Detection:
    """A detection whose box follows from ``ident`` (the detector's object); ``track``: a fusion node's track ID."""
    k = 30.0 * int(ident)
    return Detection(name, score, 10.0 + k, 20.0, 110.5 + k, 220.25, id=track or ident, depth=depth)


def test_one_column_lists_each_object_nearest_first_with_its_box_and_distance():
    result = FrameResult(1, 'desk', 0.0, {SENSOR.label: [det('1', 'bottle', 2.29), det('0', 'chair', 1.75),
                                                         det('2', 'book', math.nan)]})
    lines = table(result, [SENSOR])
    assert lines[0].split()[:2] == ['object', 'score'] and lines[0].rstrip().endswith('sensor depth')
    assert [ln.split()[0] for ln in lines[1:]] == ['chair', 'bottle', 'book']
    assert lines[1].endswith('1.75 m') and '[10.0, 20.0, 110.5, 220.2]' in lines[1]
    assert '[40.0, 20.0, 140.5, 220.2]' in lines[2]
    assert lines[3].endswith('- m')  # not measurable
    assert frame_heading(result, 8) == 'frame 1 of 8 (desk), max_depth no limit:'


def test_two_columns_side_by_side_match_detections_by_box_and_show_what_one_dropped():
    # each fusion node numbers its own tracks: rows are matched by the detector's box, not by ID
    result = FrameResult(5, 'desk', 2.0, {SENSOR.label: [det('0', 'chair', 1.75, track='7')],
                                          FLOOR.label: [det('0', 'chair', 1.80, track='2'),
                                                        det('1', 'chair', 2.31, track='7')]})
    lines = table(result, [SENSOR, FLOOR])
    assert lines[0].split()[-4:] == ['sensor', 'depth', 'floor', 'geometry']
    assert lines[1].split()[-4:] == ['1.75', 'm', '1.80', 'm']
    assert lines[2].split()[-3:] == ['dropped', '2.31', 'm']
    assert frame_heading(result, 8) == 'frame 5 of 8 (desk), max_depth 2 m:'


def test_the_gone_line_names_what_a_column_no_longer_reports_and_signatures_compare_distances():
    before = FrameResult(1, 'desk', 0.0, {SENSOR.label: [det('0', 'chair', 1.75), det('1', 'chair', 2.24)]})
    after = FrameResult(5, 'desk', 2.0, {SENSOR.label: [det('0', 'chair', 1.75)]})
    assert gone_line(before, after, SENSOR) == '    gone (sensor depth), beyond max_depth 2 m: chair 2.24 m'
    unmeasured = FrameResult(1, 'desk', 0.0, {SENSOR.label: [det('0', 'chair', 1.75), det('1', 'chair', 2.24),
                                                             det('2', 'book', math.nan)]})
    assert gone_line(unmeasured, after, SENSOR) == ('    gone (sensor depth), beyond max_depth 2 m: chair 2.24 m; 1 '
                                                    'without a distance (dropped while max_depth is set)')
    assert gone_line(after, after, SENSOR) is None
    again = FrameResult(3, 'desk', 0.0, {SENSOR.label: [det('1', 'chair', 2.241), det('0', 'chair', 1.749)]})
    assert signature(before, [SENSOR]) == signature(again, [SENSOR]) != signature(after, [SENSOR])


def test_the_sample_is_the_desk_frame_and_its_mirror_image():
    desk, mirrored = sample_frames()
    assert desk.rgb.shape == (480, 640, 3) and desk.depth_m.shape == (480, 640)
    assert (mirrored.rgb == desk.rgb[:, ::-1]).all()
    assert np.array_equal(mirrored.depth_m, desk.depth_m[:, ::-1], equal_nan=True)
    assert np.isfinite(desk.depth_m).mean() > 0.5
    assert desk.intrinsics.fx == 525.0
