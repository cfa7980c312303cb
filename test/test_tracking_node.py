"""fusion_node's tracks over real DDS, from a bag replayed with ``jdd-ros replay --loop``.

The bag: the real TUM desk frame seen by a camera approaching the scene at 0.5 m/s (``tracking_sequences``: zoom
about the principal point, depth divided by the zoom), 10 Hz, with its sensor depth, camera_info, the image and the
real yolov4-tiny's detections of each zoomed frame (computed here). fusion_node alone (the detector's output is in the
bag, so every frame is fused, whatever the load of the machine) with the bag's topics remapped onto its inputs.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import pytest
from harness import NodeProcess, tum_desk_frame, yolov4_tiny_files
from tracking_sequences import SPEED, Z0, approach_frames, id_switches, truth_object

from jdd_ros.io import bags
from jdd_ros.io.frames import RGBDFrame

SECONDS = 2.5
REMAP = {'image': '/camera/image_raw', 'depth': '/camera/depth/image_raw', 'camera_info': '/camera/camera_info',
         'detections': '/detections'}
MIN_TTC = 5.0  # set at run time, half-way through the second pass (the truth is 6 s - t: objects cross it)


@pytest.fixture(scope='module')
def approach_bag(tmp_path_factory):
    from jdd_ros.core.detection import Detection
    from jdd_ros.detect.registry import build_detector
    from jdd_ros.params import snapshot

    detector = build_detector(snapshot('detector_node', yolov4_tiny_files()))
    tum = tum_desk_frame()
    cam = tum.intrinsics
    frames, zooms = [], []
    for _, s, rgb, depth in approach_frames(tum.rgb, tum.depth_m, cam.cx, cam.cy, SECONDS):
        dets = [Detection(d.class_name, d.score, *d.xyxy()) for d in detector.detect(rgb)]
        frames.append(RGBDFrame(rgb, depth, cam, detections=dets))
        zooms.append(s)
    objects = [(d.class_name, d.xyxy(), None) for d in frames[0].detections]
    written = bags.write_bag(tmp_path_factory.mktemp('bag') / 'approach.mcap', frames, rate_hz=10)
    return written, zooms, objects, cam


def _stamp(msg) -> int:
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


def _passes(messages: list) -> list[list]:
    """The messages cut where the stamp jumps back (a new pass of the loop)."""
    out: list[list] = [[]]
    for m in messages:
        if out[-1] and _stamp(m) < _stamp(out[-1][-1]):
            out.append([])
        out[-1].append(m)
    return out


def _by_stamp(messages: list) -> list[tuple[int, int, object]]:
    """(pass, stamp, message) of each message: a key that is unique across the loop's passes."""
    return [(i, _stamp(m), m) for i, p in enumerate(_passes(messages)) for m in p]


def _pairs(a: list, b: list) -> list[tuple]:
    """The messages of two topics for the same frame (same pass and stamp)."""
    other = {(i, ns): m for i, ns, m in _by_stamp(b)}
    return [(m, other[(i, ns)]) for i, ns, m in _by_stamp(a) if (i, ns) in other]


def _wait(condition, timeout: float, what: str, node: NodeProcess, player: NodeProcess) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert player.proc.poll() is None, player.output
        assert time.monotonic() < deadline, f'{what} within {timeout}s\nfusion_node:\n{node.output}'
        time.sleep(0.05)


def _run(bag, ros_peer, domain_id) -> tuple[dict, int, int, str]:
    """Replay the bag in a loop into fusion_node; set min_ttc half-way through pass 2; stop after pass 3.
    Returns the messages by topic, the number of tracks messages received before the parameter call began and
    when it returned, and the node's output."""
    from diagnostic_msgs.msg import DiagnosticArray
    from jdd_ros_msgs.msg import TrackedObjectArray
    from sensor_msgs.msg import PointCloud2
    from vision_msgs.msg import Detection2DArray, Detection3DArray

    written = bag[0]
    n = len(written.stamps_ns)
    inboxes = {'tracks': ros_peer.subscribe(TrackedObjectArray, '/tracks'),
               'alerts': ros_peer.subscribe(TrackedObjectArray, '/ttc_alerts'),
               'points': ros_peer.subscribe(PointCloud2, '/detections_points'),
               '2d': ros_peer.subscribe(Detection2DArray, '/detections_with_depth'),
               '3d': ros_peer.subscribe(Detection3DArray, '/detections_3d'),
               'diagnostics': ros_peer.subscribe(DiagnosticArray, '/diagnostics')}
    tracks = inboxes['tracks']
    with NodeProcess('fusion_node', domain_id, params={'min_ttc': 0.0}, remap=REMAP) as node:
        node.wait_for_output('fusion_node ready', timeout=60)
        for topic in ('/tracks', '/ttc_alerts', '/detections_points', '/detections_with_depth', '/detections_3d'):
            ros_peer.wait_for_publishers(topic)
        time.sleep(1.0)  # our subscriptions match the node's publishers back
        player = NodeProcess('jdd-ros', domain_id, args=['replay', str(written.path), '--loop']).start()
        try:
            _wait(lambda: len(_passes(tracks.messages)) == 2 and len(_passes(tracks.messages)[-1]) >= n // 2,
                  60, 'half of the second pass', node, player)
            before = len(tracks.messages)
            [result] = ros_peer.set_parameters('/fusion_node', {'min_ttc': int(MIN_TTC)})  # an integer is accepted
            assert result.successful, result.reason
            after = len(tracks.messages)
            _wait(lambda: len(_passes(tracks.messages)) >= 4, 60, 'the fourth pass', node, player)
        finally:
            assert player.stop() == 0, player.output
        time.sleep(0.5)
        out = {k: list(v.messages) for k, v in inboxes.items()}
        assert node.proc.poll() is None, node.output
    return out, before, after, node.output


@pytest.fixture(scope='module')
def replayed(approach_bag, ros_peer, domain_id):
    return _run(approach_bag, ros_peer, domain_id)


def test_every_frame_is_tracked_and_ids_are_stable_within_a_pass_and_reset_on_loop(approach_bag, replayed):
    written, zooms, objects, cam = approach_bag
    messages, _, _, output = replayed
    passes = _passes(messages['tracks'])[:3]
    for p in passes:
        assert [_stamp(m) for m in p] == written.stamps_ns  # every frame, once, with its stamp
    switches, seen = 0, defaultdict(int)
    for p in passes:
        last_ids: dict[int, set] = {}
        for k, msg in enumerate(p):
            ids: dict[int, set] = defaultdict(set)
            for o in msg.objects:
                det = _box(o)
                truth = truth_object(det, objects, zooms[k], cam)
                if truth is not None:
                    ids[truth].add(o.id)
            for truth, got in ids.items():
                seen[truth] += 1
                switches += truth in last_ids and not (got & last_ids[truth])
            last_ids = ids
    assert switches == 0
    assert sum(n >= 3 * 15 for n in seen.values()) >= 4  # at least 4 objects followed for 15 frames a pass
    # Reset on loop: each pass gets the IDs of the first (they start again at 1), and the node says so.
    first = [[o.id for o in m.objects] for m in passes[0]]
    assert sorted(int(i) for i in first[0]) == list(range(1, len(first[0]) + 1))
    for p in passes[1:]:
        assert [[o.id for o in m.objects] for m in p] == first
    assert output.count('tracks reset') >= 3
    # Detection2D.id and Detection3D.id carry the track IDs.
    pairs_2d, pairs_3d = _pairs(messages['tracks'], messages['2d']), _pairs(messages['tracks'], messages['3d'])
    assert len(pairs_2d) >= 3 * len(written.stamps_ns) and len(pairs_3d) >= 3 * len(written.stamps_ns) - 3
    for t, d2 in pairs_2d:
        assert [d.id for d in d2.detections] == [o.id for o in t.objects]
    for t, d3 in pairs_3d:
        assert {d.id for d in d3.detections} <= {o.id for o in t.objects}


def _box(o):
    from jdd_ros.core.detection import Detection

    c = o.bbox.center.position
    return Detection(o.class_id, o.score, c.x - o.bbox.size_x / 2, c.y - o.bbox.size_y / 2,
                     c.x + o.bbox.size_x / 2, c.y + o.bbox.size_y / 2)


def test_time_to_contact_over_dds_is_within_10_percent(approach_bag, replayed):
    written, zooms, objects, cam = approach_bag
    messages = replayed[0]
    errors, growth = [], []
    for msg in _passes(messages['tracks'])[0]:
        t = (_stamp(msg) - written.stamps_ns[0]) / 1e9
        k = written.stamps_ns.index(_stamp(msg))  # the frame's own zoom: a busy detector skips frames
        for o in msg.objects:
            if o.age >= 1.0 and truth_object(_box(o), objects, zooms[k], cam) is not None:
                errors.append(abs(o.time_to_contact / (Z0 / SPEED - t) - 1))
                growth.append(abs(o.time_to_contact_box / (Z0 / SPEED - t) - 1))
                assert o.time_to_contact_variance > 0 and o.hits >= 1
    print(f'over DDS: TTC relative error mean {np.mean(errors):.3f}, p95 {np.percentile(errors, 95):.3f}, '
          f'n {len(errors)}; growth cue alone mean {np.mean(growth):.3f}, p95 {np.percentile(growth, 95):.3f}')
    assert len(errors) >= 40 and np.mean(errors) <= 0.10
    # The growth cue alone, on the image of the detections' stamp (measured: mean 2.5 %; the issue asks 15 %; an
    # image that arrives after its detections leaves that frame to the box, and the next image spans the gap). The
    # median: with both cores busy one estimate of one run was 15x off while the detector skipped frames (the
    # deterministic proof of the cue's accuracy is test_tracking_real.py).
    assert np.median(growth) <= 0.15


def test_min_ttc_set_at_run_time_changes_the_alerts_from_the_next_frame(replayed):
    messages, before, after, _ = replayed
    tracks, alerts = messages['tracks'], messages['alerts']
    n = min(len(tracks), len(alerts))
    assert n > after + 20
    alerted_after = 0
    for i, (t, a) in enumerate(zip(tracks[:n], alerts[:n])):
        assert _stamp(t) == _stamp(a) and a.header.frame_id == t.header.frame_id
        expected_new = [o.id for o in t.objects if o.time_to_contact < MIN_TTC]
        got = [o.id for o in a.objects]
        if i < before:
            assert got == [], i  # min_ttc 0: nothing alerts
        elif i > after:  # the frame in flight when the call returned may have either
            assert got == expected_new, i
            alerted_after += bool(got)
            assert all(o.time_to_contact < MIN_TTC for o in a.objects)
    assert alerted_after >= 10  # the threshold really selects objects ...
    assert any(o.time_to_contact >= MIN_TTC for t in tracks[after + 1:n] for o in t.objects)  # ... and not all


def test_the_point_cloud_holds_the_positions_of_detections_3d(approach_bag, replayed):
    messages = replayed[0]
    checked = 0
    for cloud, d3 in _pairs(messages['points'], messages['3d']):
        assert cloud.header == d3.header and cloud.header.frame_id == 'camera_color_optical_frame'
        assert [f.name for f in cloud.fields] == ['x', 'y', 'z'] and cloud.point_step == 12 and cloud.height == 1
        xyz = np.frombuffer(bytes(cloud.data), dtype='<f4').reshape(-1, 3)
        expected = np.array([[d.bbox.center.position.x, d.bbox.center.position.y, d.bbox.center.position.z]
                             for d in d3.detections]).reshape(-1, 3)
        np.testing.assert_allclose(xyz, expected, rtol=1e-6, atol=1e-6)
        assert cloud.width == len(d3.detections)
        checked += len(expected)
    assert checked > 100


def test_process_csv_has_track_id_range_rate_and_ttc(approach_bag, tmp_path, capsys):
    """``jdd-ros process`` on the same bag (its recorded detections): one track ID per object, closing range rates
    and the time to contact of the last frame within 10 % of the truth on average."""
    import csv

    from jdd_ros.cli import main

    written, zooms, objects, cam = approach_bag
    assert main(['process', str(written.path), '--out', str(tmp_path / 'a.mp4'), '--use-bag-detections',
                 '--no-progress']) == 0
    rows = list(csv.DictReader(open(tmp_path / 'a.csv')))
    assert {'track_id', 'range_rate_mps', 'ttc_s'} <= set(rows[0])
    ids = defaultdict(lambda: defaultdict(set))
    last_ttc = []
    for r in rows:
        k = written.stamps_ns.index(int(r['stamp_ns']))
        det = _row_box(r)
        truth = truth_object(det, objects, zooms[k], cam)
        if truth is None:
            continue
        ids[truth][k].add(r['track_id'])
        if k == len(zooms) - 1:
            assert float(r['range_rate_mps']) < 0
            last_ttc.append(abs(float(r['ttc_s']) / (Z0 / SPEED - k / 10) - 1))
    assert id_switches(ids) == 0 and sum(len(v) >= 15 for v in ids.values()) >= 4
    assert len(last_ttc) >= 4 and np.mean(last_ttc) <= 0.10


def _row_box(r):
    from jdd_ros.core.detection import Detection

    return Detection(r['class_name'], float(r['score']), *(float(r[k]) for k in ('x1', 'y1', 'x2', 'y2')))


def test_diagnostics_carry_the_tracked_objects_for_jdd_ros_status(replayed):
    """What ``jdd-ros status`` shows under its table: the latest frame's objects with ID, distance and TTC."""
    import re

    values = [kv.value for m in replayed[0]['diagnostics'] for s in m.status for kv in s.values
              if kv.key == 'tracked objects']
    assert any(re.match(r'#\d+ \S+ \d+\.\d\d m TTC \d+\.\d s', v) for v in values), values[-3:]
