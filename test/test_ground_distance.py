"""depth_source ground in the core (jdd_ros.core.ground_distance): each detection's distance from the floor under its
box, against an independent ray/floor intersection (test_ground's world-frame construction), and every cause of no
distance counted and kept or dropped by the fusion's rule for "no depth"."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_ground import CAMERA, reference_floor_depth

from jdd_ros.apps.file_pipeline import detection_record
from jdd_ros.core.detection import Detection
from jdd_ros.core.fusion import FusionCounters
from jdd_ros.core.ground import floor_depth_variance
from jdd_ros.core.ground_distance import (
    ABOVE_HORIZON,
    CUT_BY_BOTTOM,
    HEIGHT_UNKNOWN,
    NO_CAMERA_INFO,
    NOT_GROUNDED,
    GroundSettings,
    fuse_ground,
)
from jdd_ros.param_types import FusionNodeParams as Settings

GROUND = GroundSettings.from_params(Settings(camera_height=1.78, camera_pitch=29, camera_roll=1.5))


def det(name: str, box: tuple[float, float, float, float], **kw) -> Detection:
    return Detection(name, 0.9, *box, **kw)


@pytest.mark.parametrize('box', [(391.4, 217.2, 527.6, 426.1), (10.0, 300.0, 120.0, 380.0), (300, 150, 340, 260)])
def test_distance_is_the_floor_under_the_bottom_centre(box):
    [out] = fuse_ground([det('chair', box)], Settings(), GROUND, CAMERA).kept
    u, v = (box[0] + box[2]) / 2, box[3]
    reference = reference_floor_depth(u, v, 1.78, 29.0, 1.5)
    assert out.depth == pytest.approx(reference, rel=1e-9)
    assert out.extra['depth_source'] == 'floor'
    assert out.depth_variance == pytest.approx(float(floor_depth_variance(u, v, CAMERA, GROUND.geometry, 0.02, 1.0)))
    assert out.depth_variance > 0
    cu, cv = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2  # the box centre, back-projected at that distance
    np.testing.assert_allclose(out.position, ((cu - 319.5) * reference / 525, (cv - 239.5) * reference / 525,
                                              reference))


def test_boxes_in_a_resized_image_get_the_same_distance():
    box = (391.4, 217.2, 527.6, 426.1)
    [full] = fuse_ground([det('person', box)], Settings(), GROUND, CAMERA).kept
    half = tuple((c + 0.5) / 2 - 0.5 for c in box)  # the same box in the 320x240 image (pixel-centre convention)
    [small] = fuse_ground([det('person', half)], Settings(), GROUND, CAMERA, image_size=(320, 240)).kept
    assert small.depth == pytest.approx(full.depth, rel=1e-9)


def test_every_cause_of_no_distance_is_recorded_and_counted():
    level = GroundSettings(GROUND.classes, 1.2, 5.0, 0.0)  # a camera looking almost level: the horizon is in view
    horizon_v = 239.5 - 525 * math.tan(math.radians(5.0))
    detections = [det('chair', (391, 217, 527, 426)), det('bottle', (300, 100, 320, 200)),
                  det('chair', (6, 271, 243, 484.9)), det('person', (300, 20, 340, horizon_v - 2)),
                  det('person', (509, 79, 640, 473))]  # 7 px short of the edge: within a detector's edge error
    result = fuse_ground(detections, Settings(), level, CAMERA)
    reasons = [d.extra.get('no_depth_reason') for d in result.kept]
    assert reasons == [None, NOT_GROUNDED, CUT_BY_BOTTOM, ABOVE_HORIZON, CUT_BY_BOTTOM]
    assert all(math.isnan(d.depth) and d.position is None for d in result.kept[1:])
    assert result.no_distance == {NOT_GROUNDED: 1, CUT_BY_BOTTOM: 2, ABOVE_HORIZON: 1}
    records = [detection_record(d) for d in result.kept]
    assert records[0]['depth_source'] == 'floor' and 'no_depth_reason' not in records[0]
    assert records[1]['depth_m'] is None and records[1]['no_depth_reason'] == NOT_GROUNDED
    counters = FusionCounters()
    counters.add(result)
    assert f'without a distance 4 (2 {CUT_BY_BOTTOM}, 1 {NOT_GROUNDED}, 1 {ABOVE_HORIZON})' in counters.summary()
    assert all('no_depth_reason' not in d.extra for d in detections)  # the input is not modified


def test_unknown_geometry_or_camera_gives_no_distance():
    box = det('chair', (391, 217, 527, 426))
    unknown = GroundSettings.from_params(Settings())  # camera_height 0: unknown
    [a] = fuse_ground([box], Settings(), unknown, CAMERA).kept
    [b] = fuse_ground([box], Settings(), GROUND, None).kept
    assert (a.extra['no_depth_reason'], b.extra['no_depth_reason']) == (HEIGHT_UNKNOWN, NO_CAMERA_INFO)
    assert math.isnan(a.depth) and math.isnan(b.depth)


def test_limits_drop_the_far_ones_and_the_unmeasured_ones_only_as_unmeasured():
    near, far = det('chair', (391, 217, 527, 426)), det('person', (300, 150, 340, 262))
    unmeasured = det('bottle', (300, 100, 320, 200))
    [near_depth, far_depth] = [d.depth for d in fuse_ground([near, far], Settings(), GROUND, CAMERA).kept]
    assert near_depth < 3.0 < far_depth
    result = fuse_ground([near, far, unmeasured], Settings(max_depth=3.0), GROUND, CAMERA)
    assert [d.class_name for d in result.kept] == ['chair']
    assert [d.class_name for d in result.dropped_far] == ['person']
    assert [(d.class_name, why) for d, why in result.dropped_with_reasons() if d.class_name == 'bottle'] == [
        ('bottle', f'no depth: {NOT_GROUNDED}')]
    unlimited = fuse_ground([near, far, unmeasured], Settings(), GROUND, CAMERA)
    assert [d.class_name for d in unlimited.kept] == ['chair', 'person', 'bottle']  # no limit: kept, distance unknown


def test_ground_classes_are_configurable():
    only_bottles = GroundSettings(('bottle',), 1.78, 29.0, 1.5)
    [chair, bottle] = fuse_ground([det('chair', (391, 217, 527, 426)), det('bottle', (300, 300, 320, 400))],
                                  Settings(), only_bottles, CAMERA).kept
    assert chair.extra['no_depth_reason'] == NOT_GROUNDED and bottle.extra['depth_source'] == 'floor'
    assert {'person', 'chair', 'car', 'bicycle', 'dog'} <= set(GROUND.classes)
    assert 'bottle' not in GROUND.classes and 'pottedplant' not in GROUND.classes


def test_a_person_cut_by_the_bottom_edge_is_kept_under_max_depth_when_surely_within_it():
    """A person right in front of the robot (box cut by the image's bottom edge) has no distance, but stands nearer
    than the floor seen at the bottom row: kept while that bound is within max_depth, never given a distance."""
    close = det('person', (250, 100, 390, 480))
    bound = reference_floor_depth(320.0, 479.5, 1.78, 29.0, 1.5)  # the floor at the bottom row under the box
    assert 1.0 < bound < 3.0
    [out] = fuse_ground([close], Settings(), GROUND, CAMERA).kept
    assert math.isnan(out.depth) and out.extra['depth_at_most'] == pytest.approx(bound, rel=1e-9)
    record = detection_record(out)
    assert record['depth_m'] is None and record['depth_at_most_m'] == pytest.approx(bound, abs=1e-4)
    assert [d.class_name for d in fuse_ground([close], Settings(max_depth=3.0), GROUND, CAMERA).kept] == [
        'person']
    beyond = fuse_ground([close], Settings(max_depth=bound - 0.1), GROUND, CAMERA)  # not surely within it
    assert beyond.kept == [] and [d.class_name for d in beyond.dropped_unmeasured] == ['person']
    with_min = fuse_ground([close], Settings(max_depth=3.0, min_depth=0.5), GROUND, CAMERA)
    assert with_min.kept == []  # min_depth cannot be checked without a distance
