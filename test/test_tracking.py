"""jdd_ros.core.tracking on sequences with known motion: IDs, range rate and time to contact against the truth."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest
from tracking_sequences import Frame, MovingObject, sequence

from jdd_ros.core.tracking import Tracker, TrackerSettings, combine, ttc_from_rate


def run(frames: list[Frame], tracker: Tracker | None = None) -> tuple[dict, Tracker]:
    """Track the frames; per object name the list of (t, estimate)."""
    tracker = tracker or Tracker()
    per_object: dict[str, list] = defaultdict(list)
    for f in frames:
        update = tracker.update(f.detections, f.stamp_ns)
        for name, est in zip(f.truth, update.estimates):
            per_object[name].append((f.t, est))
    return per_object, tracker


def id_switches(per_object: dict) -> int:
    """Changes of the track ID of an object, plus IDs shared by two objects."""
    switches = sum(sum(a[1].track_id != b[1].track_id for a, b in zip(seq, seq[1:])) for seq in per_object.values())
    owners: dict[int, set] = defaultdict(set)
    for name, seq in per_object.items():
        for _, est in seq:
            owners[est.track_id].add(name)
    return switches + sum(len(names) - 1 for names in owners.values())


def after(seq: list, t0: float) -> list:
    return [est for t, est in seq if t >= t0]


def relative_errors(per_object: dict, objects: list[MovingObject]) -> dict[str, dict[str, list[float]]]:
    """Per object: |estimate / truth - 1| of range rate and of the three TTCs (closing objects), on every frame
    after the first second of its track."""
    out: dict[str, dict[str, list[float]]] = {}
    for obj in objects:
        errors: dict[str, list[float]] = defaultdict(list)
        for t, est in per_object[obj.name]:
            if est.age_s < 1.0:
                continue
            errors['range_rate'].append(abs(est.range_rate_mps / obj.range_rate() - 1))
            if obj.range_rate() < 0:
                for name in ('ttc_s', 'ttc_depth_s', 'ttc_box_s'):
                    errors[name].append(abs(getattr(est, name) / obj.ttc(t) - 1))
            else:
                assert est.ttc_s == math.inf and est.ttc_box_s == math.inf, (obj.name, t)
        out[obj.name] = errors
    return out


WALKING = [MovingObject('approaching', (0.0, 0.0, 6.0), (0.0, 0.0, -1.0)),
           MovingObject('receding', (-0.6, 0.2, 2.0), (0.0, 0.0, 0.8), size=(0.6, 0.6), class_name='chair'),
           MovingObject('slow', (1.2, 0.0, 5.0), (0.0, 0.0, -0.4))]


@pytest.mark.parametrize('seed', range(5))
def test_approaching_and_receding_objects_range_rate_and_ttc_within_10_percent(seed):
    """1 px box-edge noise, 1 % depth noise, 10 Hz: mean error after each track's first second <= 10 % (range rate,
    TTC), <= 15 % for the box-growth TTC alone; the smoothed distance within 3 % after 0.5 s (5 % before)."""
    per_object, _ = run(sequence(WALKING, 4.0, seed=seed))
    assert id_switches(per_object) == 0
    for obj in WALKING:
        for t, est in per_object[obj.name]:
            rel = 0.03 if est.age_s >= 0.5 else 0.05
            assert est.distance_m == pytest.approx(obj.position(t)[2], rel=rel), (obj.name, t)
    for name, errors in relative_errors(per_object, WALKING).items():
        assert len(errors['range_rate']) >= 20, name
        assert np.mean(errors['range_rate']) <= 0.10, name
        if errors.get('ttc_s'):
            assert np.mean(errors['ttc_s']) <= 0.10 and np.mean(errors['ttc_depth_s']) <= 0.10, name
            assert np.mean(errors['ttc_box_s']) <= 0.15, name


def test_box_growth_alone_gives_ttc_without_any_depth():
    obj = MovingObject('no depth', (0.3, 0.1, 5.0), (0.0, 0.0, -1.0))
    frames = sequence([obj], 3.0)
    for f in frames:
        for d in f.detections:
            d.depth = math.nan
    per_object, _ = run(frames)
    for _, est in per_object['no depth']:
        assert math.isnan(est.distance_m) and math.isnan(est.range_rate_mps)
        assert est.ttc_s == pytest.approx(est.ttc_box_s) or est.age_s < 0.2
    errors = relative_errors(per_object, [obj])['no depth']
    assert np.mean(errors['ttc_s']) <= 0.15 and max(errors['ttc_s']) <= 0.3


def test_crossing_objects_of_one_class_keep_their_ids():
    # Two people walking past each other in front of the camera, one nearer: their boxes overlap mid-way.
    objects = [MovingObject('left-to-right', (-1.5, 0.0, 4.0), (1.0, 0.0, 0.0)),
               MovingObject('right-to-left', (1.5, 0.0, 5.0), (-1.0, 0.0, 0.0))]
    frames = sequence(objects, 3.0)
    per_object, _ = run(frames)
    assert id_switches(per_object) == 0
    assert {len(seq) for seq in per_object.values()} == {31}


def test_an_object_occluded_for_a_few_frames_keeps_its_id():
    obj = MovingObject('occluded', (-1.0, 0.0, 5.0), (0.6, 0.0, -0.5), hidden={12, 13, 14, 15, 16})
    other = MovingObject('other', (1.0, 0.0, 3.0), (0.0, 0.0, 0.0), class_name='chair')
    per_object, tracker = run(sequence([obj, other], 3.0))
    assert id_switches(per_object) == 0
    assert len(per_object['occluded']) == 31 - 5
    last = per_object['occluded'][-1][1]
    assert last.range_rate_mps == pytest.approx(-0.5, rel=0.10)
    assert last.hits == 26 and last.age_s == pytest.approx(3.0)


def test_an_object_that_leaves_and_reenters_later_gets_a_new_id_and_a_quick_return_keeps_it():
    # Hidden 0.5 s (< max_age_s 1 s): same ID; hidden 1.5 s: forgotten, a new ID.
    short = MovingObject('short', (-1.0, 0.0, 4.0), (0.0, 0.0, 0.0), hidden=set(range(10, 15)))
    long = MovingObject('long', (1.0, 0.0, 4.0), (0.0, 0.0, 0.0), class_name='chair', hidden=set(range(10, 25)))
    per_object, _ = run(sequence([short, long], 4.0))
    assert len({est.track_id for _, est in per_object['short']}) == 1
    ids = [est.track_id for _, est in per_object['long']]
    assert ids[:10] == [ids[0]] * 10 and ids[10:] == [ids[10]] * len(ids[10:]) and ids[10] != ids[0]


def test_frames_at_irregular_stamps_follow_stamp_time_not_frame_count():
    obj = MovingObject('approaching', (0.0, 0.0, 6.0), (0.0, 0.0, -1.0))
    frames = sequence([obj], 4.0, rate_hz=30.0)
    rng = np.random.default_rng(1)
    kept = [f for f in frames if rng.random() < 0.4]  # 60 % of the frames dropped upstream, at random
    per_object, _ = run(kept)
    assert id_switches(per_object) == 0
    errors = relative_errors(per_object, [obj])['approaching']
    assert np.mean(errors['range_rate']) <= 0.10 and np.mean(errors['ttc_s']) <= 0.10


def test_a_stamp_going_back_resets_the_tracks_and_the_loop_gets_the_same_ids():
    objects = [MovingObject('a', (0.0, 0.0, 5.0), (0.0, 0.0, -0.5)),
               MovingObject('b', (1.0, 0.0, 4.0), (0.0, 0.0, 0.0), class_name='chair')]
    frames = sequence(objects, 2.0)
    tracker = Tracker()
    first = [tracker.update(f.detections, f.stamp_ns) for f in frames]
    second = [tracker.update(f.detections, f.stamp_ns) for f in frames]
    assert not any(u.reset for u in first[1:]) and second[0].reset and not any(u.reset for u in second[1:])
    assert second[0].previous_stamp_ns == frames[-1].stamp_ns and tracker.resets == 1
    ids = [[e.track_id for e in u.estimates] for u in first]
    assert ids == [[e.track_id for e in u.estimates] for u in second]
    assert second[0].estimates[0].age_s == 0.0 and second[0].estimates[0].hits == 1


def test_detections_without_a_finite_box_get_no_track():
    tracker = Tracker(TrackerSettings())
    frames = sequence([MovingObject('a', (0.0, 0.0, 5.0), (0.0, 0.0, 0.0))], 0.2)
    for f in frames:
        from jdd_ros.core.detection import Detection
        bad = Detection('person', 0.5, math.nan, 1.0, 2.0, 3.0)
        update = tracker.update([bad, *f.detections], f.stamp_ns)
        assert update.estimates[0] is None and update.estimates[1].track_id == 1


def test_thirty_objects_are_tracked_without_switches():
    rng = np.random.default_rng(3)
    objects = []
    for i in range(30):  # a 6 x 5 grid of objects at 4-9 m, drifting slowly, approaching or receding
        x, y, z = -2.5 + (i % 6) * 1.0, -1.0 + (i // 6) * 0.5, 4.0 + rng.random() * 5
        objects.append(MovingObject(f'o{i}', (x, y, z), (rng.normal(0, 0.05), 0.0, rng.uniform(-0.8, 0.8)),
                                    size=(0.3, 0.3), class_name=['person', 'chair', 'bottle'][i % 3]))
    per_object, _ = run(sequence(objects, 2.0))
    assert id_switches(per_object) == 0
    assert len(per_object) == 30


def test_combine_and_ttc_from_rate():
    assert combine((1.0, 1.0), (3.0, 1.0)) == (2.0, 0.5)
    assert combine((1.0, 1.0), (math.nan, math.nan)) == (1.0, 1.0)
    assert all(math.isnan(v) for v in combine((math.nan, 1.0), (1.0, math.nan)))
    assert ttc_from_rate(0.5, 0.01) == (2.0, 0.01 / 0.5 ** 4)
    assert ttc_from_rate(-0.1, 0.01)[0] == math.inf


def test_objects_summary_lists_the_soonest_contact_first():
    from jdd_ros.core.detection import Detection
    from jdd_ros.core.tracking import TRACK, TrackEstimate, objects_summary

    far = Detection('bottle', 0.5, 0, 0, 1, 1, depth=2.1, extra={TRACK: TrackEstimate(5, 1.0, 10, ttc_s=math.inf)})
    near = Detection('book', 0.5, 0, 0, 1, 1, depth=1.2, extra={TRACK: TrackEstimate(9, 1.0, 10, ttc_s=math.nan)})
    closing = Detection('chair', 0.9, 0, 0, 1, 1, depth=1.75, extra={TRACK: TrackEstimate(3, 1.0, 10, ttc_s=4.06)})
    untracked = Detection('cup', 0.9, 0, 0, 1, 1, depth=0.5)
    assert objects_summary([far, near, closing, untracked]) == \
        '#3 chair 1.75 m TTC 4.1 s; #9 book 1.20 m; #5 bottle 2.10 m'
    assert objects_summary([far, near, closing], limit=1) == '#3 chair 1.75 m TTC 4.1 s (+2 more)'
    assert objects_summary([untracked]) == 'none'


def test_one_frame_of_background_depth_does_not_disturb_the_range_rate_and_a_lasting_change_is_followed():
    obj = MovingObject('approaching', (0.0, 0.0, 6.0), (0.0, 0.0, -1.0))
    frames = sequence([obj], 4.0)
    frames[20].detections[0].depth *= 2.0  # the box's median read on the wall behind, once
    per_object, _ = run(frames)
    errors = relative_errors(per_object, [obj])['approaching']
    assert max(errors['range_rate']) <= 0.15 and max(errors['ttc_s']) <= 0.15
    # From frame 30 on the box's distance is 1 m more for good (another surface): followed within 3 frames.
    frames = sequence([obj], 4.0)
    for f in frames[30:]:
        f.detections[0].depth += 1.0
    per_object, _ = run(frames)
    estimates = [est for _, est in per_object['approaching']]
    assert estimates[33].distance_m == pytest.approx(obj.position(3.3)[2] + 1.0, rel=0.05)
