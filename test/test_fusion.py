"""Fusion core: the stamp join (bounded, counted, loop-safe) and fuse() (limits, unmeasurable boxes, scaling)."""

import math

import cv2
import numpy as np
import pytest
from harness import fixture

from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.core.detection import Detection
from jdd_ros.core.fusion import SizeMismatchError, fuse
from jdd_ros.core.stamp_join import DEPTH, DETECTIONS, StampMatcher
from jdd_ros.param_types import FusionNodeParams as Settings

MS = 1_000_000
TUM_K = CameraIntrinsics(525.0, 525.0, 319.5, 239.5, 640, 480)


# ---------------------------------------------------------------- join


def test_join_in_either_order():
    j = StampMatcher((DEPTH, DETECTIONS), 5)
    assert j.add(DEPTH, 100 * MS, 'd100') is None
    assert j.add(DETECTIONS, 100 * MS, 'x100') == {DEPTH: 'd100', DETECTIONS: 'x100'}
    assert j.add(DETECTIONS, 133 * MS, 'x133') is None
    assert j.add(DEPTH, 133 * MS, 'd133') == {DEPTH: 'd133', DETECTIONS: 'x133'}
    assert j.counters.matched == 2 and j.pending(DEPTH) == j.pending(DETECTIONS) == 0


def test_unmatched_flood_is_bounded_and_counted():
    j = StampMatcher((DEPTH, DETECTIONS), 30)
    for i in range(10_000):
        j.add(DEPTH, i * MS, object())
    assert j.pending(DEPTH) == 30 and j.counters.evicted[DEPTH] == 10_000 - 30
    # The newest frames still join.
    assert j.add(DETECTIONS, 9_999 * MS, 'x') is not None
    assert j.pending(DEPTH) == 0 and j.counters.evicted[DEPTH] == 10_000 - 1


def test_older_halves_are_evicted_once_a_newer_stamp_joins():
    j = StampMatcher((DEPTH, DETECTIONS), 10)
    j.add(DEPTH, 1 * MS, 'd1')  # its detections were lost
    j.add(DETECTIONS, 2 * MS, 'x2')  # its depth was lost
    j.add(DEPTH, 3 * MS, 'd3')
    assert j.add(DETECTIONS, 3 * MS, 'x3') == {DEPTH: 'd3', DETECTIONS: 'x3'}
    assert j.pending(DEPTH) == j.pending(DETECTIONS) == 0
    assert j.counters.evicted == {DEPTH: 1, DETECTIONS: 1}


def test_duplicates_are_counted_and_not_joined_twice():
    j = StampMatcher((DEPTH, DETECTIONS), 10)
    j.add(DEPTH, 5 * MS, 'd')
    assert j.add(DETECTIONS, 5 * MS, 'x') is not None
    assert j.add(DETECTIONS, 5 * MS, 'x again') is None
    assert j.counters.duplicates == 1 and j.counters.matched == 1


def test_small_reordering_still_joins():
    j = StampMatcher((DEPTH, DETECTIONS), 10)
    for t in (10, 20, 30):
        j.add(DEPTH, t * MS, f'd{t}')
    j.add(DETECTIONS, 40 * MS, 'x40')
    assert j.add(DETECTIONS, 30 * MS, 'x30') == {DEPTH: 'd30', DETECTIONS: 'x30'}  # late, within the span
    assert j.counters.out_of_order == 1 and j.counters.resets == 0


@pytest.mark.parametrize('frames', [100, 3])  # a long bag, and a bag shorter than the cache span
def test_looping_bag_resets_instead_of_stalling(frames):
    j = StampMatcher((DEPTH, DETECTIONS), 30)
    base = 1_700_000_000 * 1_000_000_000
    joined = 0
    for _loop in range(3):
        for i in range(frames):
            t = base + i * 33 * MS
            j.add(DEPTH, t, 'd')
            joined += j.add(DETECTIONS, t, 'x') is not None
    assert joined == 3 * frames  # every frame of every loop is fused again
    assert j.counters.resets == 2


def test_loop_restart_keeps_the_last_frame_of_the_previous_loop():
    """ros2 bag play --loop restarts at once: depth may send the new loop's first frame before the detections of the
    old loop's last frame arrive; that last frame must still be fused, and so must the new loop's frames."""
    j = StampMatcher((DEPTH, DETECTIONS), 30)
    t = [1_700_000_000 * 1_000_000_000 + i * 33 * MS for i in range(100)]
    for s in t[:-1]:
        j.add(DEPTH, s, 'd')
        assert j.add(DETECTIONS, s, 'x') is not None
    assert j.add(DEPTH, t[-1], 'd_last') is None
    assert j.add(DEPTH, t[0], 'd_first') is None  # the new loop starts on the depth side
    assert j.add(DETECTIONS, t[-1], 'x_last') == {DEPTH: 'd_last', DETECTIONS: 'x_last'}
    assert j.add(DEPTH, t[1], 'd_second') is None
    assert j.add(DETECTIONS, t[0], 'x_first') == {DEPTH: 'd_first', DETECTIONS: 'x_first'}
    assert j.add(DETECTIONS, t[1], 'x_second') == {DEPTH: 'd_second', DETECTIONS: 'x_second'}
    assert j.counters.resets == 1 and j.counters.matched == 102
    assert j.counters.evicted == {DEPTH: 0, DETECTIONS: 0}


def test_loop_whose_first_frame_was_never_joined():
    """A bag shorter than the cache whose first frame the detector skipped: the next loop's first frame still joins."""
    j = StampMatcher((DEPTH, DETECTIONS), 30)
    t = [1_700_000_000 * 1_000_000_000 + i * 33 * MS for i in range(3)]
    j.add(DEPTH, t[0], 'd0')  # its detections never came
    for i in (1, 2):
        j.add(DEPTH, t[i], f'd{i}')
        assert j.add(DETECTIONS, t[i], f'x{i}') == {DEPTH: f'd{i}', DETECTIONS: f'x{i}'}
    assert j.add(DEPTH, t[0], 'd0b') is None  # second loop, depth two frames ahead
    assert j.add(DEPTH, t[1], 'd1b') is None
    assert j.add(DETECTIONS, t[0], 'x0b') == {DEPTH: 'd0b', DETECTIONS: 'x0b'}
    assert j.add(DETECTIONS, t[1], 'x1b') == {DEPTH: 'd1b', DETECTIONS: 'x1b'}
    assert j.counters.resets == 1 and j.counters.evicted == {DEPTH: 1, DETECTIONS: 0}


@pytest.mark.parametrize('first', [DEPTH, DETECTIONS])
def test_one_stray_stamp_back_does_not_stall_the_join(first):
    j = StampMatcher((DEPTH, DETECTIONS), 10)
    for i in range(1, 50):
        j.add(DEPTH, i * 33 * MS, 'd')
        j.add(DETECTIONS, i * 33 * MS, 'x')
    j.add(DETECTIONS, 1 * MS, 'stray')  # far back: taken for a time jump that the depth side never follows
    second = DETECTIONS if first == DEPTH else DEPTH
    joined = 0
    for i in range(50, 60):
        j.add(first, i * 33 * MS, first)
        joined += j.add(second, i * 33 * MS, second) is not None
    assert joined == 10 and j.counters.resets == 1
    assert j.pending(DEPTH) == j.pending(DETECTIONS) == 0


# ---------------------------------------------------------------- fuse


def det(name, box, score=0.9):
    return Detection(name, score, *box)


def test_limits_and_counts():
    depth = np.full((100, 100), np.nan, dtype=np.float32)
    depth[0:50, 0:50] = 1.0
    depth[0:50, 50:100] = 3.0
    depth[50:100, 0:50] = 0.2
    dets = [det('near', (0, 50, 50, 100)), det('mid', (0, 0, 50, 50)), det('far', (50, 0, 100, 50)),
            det('hole', (50, 50, 100, 100))]
    free = fuse(dets, depth, Settings())
    assert [d.class_name for d in free.kept] == ['near', 'mid', 'far', 'hole']
    assert [d.depth for d in free.kept[:3]] == pytest.approx([0.2, 1.0, 3.0])
    assert math.isnan(free.kept[3].depth)  # no limit set: published with NaN depth
    limited = fuse(dets, depth, Settings(max_depth=2.0, min_depth=0.5))
    assert [d.class_name for d in limited.kept] == ['mid']
    assert [d.class_name for d in limited.dropped_far] == ['far']
    assert [d.class_name for d in limited.dropped_near] == ['near']
    assert [d.class_name for d in limited.dropped_unmeasured] == ['hole']
    assert math.isnan(dets[0].depth)  # inputs untouched


def test_min_valid_fraction():
    depth = np.zeros((10, 10), dtype=np.float32)
    depth[0, 0] = 2.0  # 1 valid pixel of 100
    d = [det('sparse', (0, 0, 10, 10))]
    assert fuse(d, depth, Settings(box_fraction=1.0, min_valid_fraction=0.0)).kept[0].depth == 2.0
    r = fuse(d, depth, Settings(box_fraction=1.0, min_valid_fraction=0.05))
    assert math.isnan(r.kept[0].depth) and r.kept[0].depth_valid_fraction == pytest.approx(0.01)
    assert len(fuse(d, depth, Settings(box_fraction=1.0, min_valid_fraction=0.05, max_depth=5)
                    ).dropped_unmeasured) == 1


def test_nan_box_is_unmeasurable_not_an_error():
    depth = np.ones((10, 10), dtype=np.float32)
    r = fuse([det('bad', (math.nan, 0, 5, 5)), det('ok', (0, 0, 5, 5))], depth, Settings(max_depth=3))
    assert [d.class_name for d in r.kept] == ['ok'] and [d.class_name for d in r.dropped_unmeasured] == ['bad']


@pytest.fixture(scope='module')
def tum_depth_m():
    mm = cv2.imread(str(fixture('tum_desk_depth_mm.png')), cv2.IMREAD_UNCHANGED)
    m = mm.astype(np.float32) / 1000.0
    m[mm == 0] = np.nan
    return m


def test_back_projection_on_tum(tum_depth_m):
    box = (372, 230, 530, 435)  # the yellow chair
    r = fuse([det('chair', box)], tum_depth_m, Settings(), TUM_K)
    chair = r.kept[0]
    u, v = 451.0, 332.5
    assert chair.position == pytest.approx(((u - 319.5) * chair.depth / 525, (v - 239.5) * chair.depth / 525,
                                            chair.depth))


def test_boxes_are_scaled_to_a_smaller_depth_image(tum_depth_m):
    small = cv2.resize(tum_depth_m, (320, 240), interpolation=cv2.INTER_NEAREST)
    box = (5, 255, 240, 475)  # the red chair, in 640x480 pixels
    r = fuse([det('chair', box)], small, Settings(), image_size=(640, 480))
    # Independently: the same box in 320x240 pixels, (x + 0.5) / 2 - 0.5, read with numpy.
    x1, y1, x2, y2 = ((c + 0.5) / 2 - 0.5 for c in box)
    cx, cy, hw, hh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 4, (y2 - y1) / 4
    us, vs = np.arange(320), np.arange(240)
    region = small[np.ix_((vs >= cy - hh) & (vs <= cy + hh), (us >= cx - hw) & (us <= cx + hw))]
    assert r.kept[0].depth == pytest.approx(float(np.nanmedian(region)))
    assert r.kept[0].xyxy() == list(map(float, box))  # published in the detections' own pixels
    # The image size may come from the camera intrinsics instead.
    r2 = fuse([det('chair', box)], small, Settings(), intrinsics=TUM_K)
    assert r2.kept[0].depth == r.kept[0].depth
    assert r2.kept[0].position == pytest.approx(TUM_K.back_project(122.5, 365.0, r.kept[0].depth))


def test_unknown_sizes_that_do_not_fit_are_refused():
    depth = np.ones((240, 320), dtype=np.float32)
    with pytest.raises(SizeMismatchError, match=r'x=600.*320x240'):
        fuse([det('person', (500, 100, 600, 200))], depth, Settings())
    assert fuse([det('person', (10, 10, 300, 200))], depth, Settings()).kept[0].depth == 1.0


def test_the_node_snapshot_is_the_settings_and_an_unknown_statistic_is_refused():
    """fuse() reads the node's parameter snapshot itself (no copy of its fields); a statistic the schema would refuse
    is refused by fuse too, not read as another one."""
    depth = np.full((20, 20), 2.0, dtype=np.float32)
    assert fuse([det('a', (0, 0, 10, 10))], depth, Settings(max_depth=1.5, cache_size=3)).dropped_far
    with pytest.raises(ValueError, match="unknown depth statistic 'mean'"):
        fuse([det('a', (0, 0, 10, 10))], depth, Settings(depth_statistic='mean'))


# ---------------------------------------------------------------- border, frames, counters (issue #9)


def test_a_box_overshooting_the_border_a_little_is_clipped_not_refused():
    """Real detectors' boxes overshoot the frame (OpenCV DNN's yolov4-tiny: a chair at y2 = 484.9 in 640x480)."""
    depth = np.ones((480, 640), dtype=np.float32)
    depth[400:, :] = 2.0
    overshoot = fuse([det('chair', (5, 255, 240, 484.9))], depth, Settings())
    inside = fuse([det('chair', (5, 255, 240, 480))], depth, Settings())
    assert overshoot.kept[0].depth == inside.kept[0].depth and overshoot.clipped == 1 and inside.clipped == 0
    assert overshoot.assumed_depth_pixels and overshoot.kept[0].xyxy() == [5, 255, 240, 484.9]  # published as sent
    # Up to BORDER_TOLERANCE of the size beyond the edge (24 px of 480, 32 of 640), also left and up (any amount).
    assert fuse([det('a', (-40, -3, 671, 503))], depth, Settings()).clipped == 1
    with pytest.raises(SizeMismatchError, match=r'y=505 beyond the 640x480 depth image') as refused:
        fuse([det('a', (0, 0, 10, 10)), det('b', (5, 400, 240, 505))], depth, Settings())
    assert refused.value.cause == 'boxes beyond the depth image'
    # With the size known, boxes are in that image's pixels: any overshoot is clipped.
    known = fuse([det('chair', (5, 255, 240, 900))], depth, Settings(), image_size=(640, 480))
    assert known.kept[0].depth == inside.kept[0].depth and not known.assumed_depth_pixels


def test_clipped_boxes_are_read_and_back_projected_where_they_are_in_the_image():
    depth = np.full((48, 64), 3.0, dtype=np.float32)
    depth[:, :8] = 1.0  # the left edge: where the visible part of an object cut by the border is
    k = CameraIntrinsics(50.0, 50.0, 31.5, 23.5, 64, 48)
    r = fuse([det('cut', (-6, 10, 6, 20), 0.9), det('outside', (70, 10, 80, 20)), det('above', (5, -9, 9, -1))],
             depth, Settings(), k)
    cut, outside, above = r.kept
    assert cut.depth == 1.0 and cut.position == pytest.approx(k.back_project(3.0, 15.0, 1.0))
    assert math.isnan(outside.depth) and math.isnan(above.depth)  # wholly outside the image: not measurable
    assert r.clipped == 1


def test_frames_must_match_unless_declared_registered():
    from jdd_ros.core.fusion import FrameMismatchError, check_frames

    check_frames('camera_color_optical_frame', 'camera_color_optical_frame', False)
    check_frames('/camera_color_optical_frame', 'camera_color_optical_frame', False)  # tf2 drops a leading '/'
    check_frames('', '', False)
    with pytest.raises(FrameMismatchError, match="depth frame_id 'camera_depth_optical_frame' is not the detections' "
                                                 "'camera_color_optical_frame'.*depth_registered:=true") as exc:
        check_frames('camera_depth_optical_frame', 'camera_color_optical_frame', False)
    assert exc.value.cause == 'frame_id mismatch'
    with pytest.raises(FrameMismatchError):
        check_frames('', 'camera_color_optical_frame', False)  # an unnamed frame is not a known one
    check_frames('camera_depth_optical_frame', 'camera_color_optical_frame', True)


def test_counters_name_every_cause():
    from jdd_ros.core.fusion import FusionCounters

    c = FusionCounters()
    depth = np.ones((10, 10), dtype=np.float32)
    c.add(fuse([det('a', (0, 0, 5, 10.5))], depth, Settings()), {'no results': 2, 'negative box size': 1})
    c.add(fuse([det('a', (0, 0, 5, 5))], depth, Settings(), image_size=(20, 20)))
    c.refused['frame_id mismatch'] += 2
    c.bad_messages['image: data shorter than step x height'] += 1
    assert c.refused_pairs == 2
    assert c.summary() == (
        '2 pairs fused (1 with boxes taken to be in depth pixels), 2 refused (2 frame_id mismatch), 1 bad messages '
        '(1 image: data shorter than step x height); detections kept 2, dropped: 0 beyond max_depth, 0 nearer than '
        'min_depth, 0 without measurable depth, 3 unreadable (1 negative box size, 2 no results); without a '
        'distance 0; 1 boxes clipped to the image')
