"""Tracking on a sequence made from the real TUM desk frame and its sensor depth, detected by the real yolov4-tiny.

The camera is simulated moving toward the scene at a known speed: frame k (10 Hz, t_k = k / 10) is the frame zoomed
about the principal point by s_k = Z0 / (Z0 - v t_k), with the depth divided by s_k (every scene point's distance
scaled by 1 / s_k). Then every object's time to contact is Z0 / v - t_k and an object at distance d at t = 0 closes
at v * d / Z0 m/s, whatever the detector and the fusion make of it.

The same detections are tracked twice: with each frame's grey image (the scale change measured on the image inside
the boxes, as fusion_node and ``jdd-ros process`` do) and without (the box sizes only, a caller without images).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from harness import reference_median, tum_desk_frame, yolov4_tiny_files
from tracking_sequences import SPEED, Z0, approach_frames, id_switches, truth_object

from jdd_ros.core.fusion import fuse
from jdd_ros.core.image_scale import to_grey
from jdd_ros.core.tracking import BOX_CUE, IMAGE_CUE, Tracker
from jdd_ros.param_types import FusionNodeParams as Settings
from jdd_ros.params import defaults

SECONDS = 2.5

BUDGET = defaults('fusion_node')['ttc_image_objects']  # image measurements per frame, as fusion_node's default


@pytest.fixture(scope='module')
def tracked():
    from jdd_ros.detect.registry import build_detector
    from jdd_ros.params import snapshot

    detector = build_detector(snapshot('detector_node', yolov4_tiny_files()))
    frame = tum_desk_frame()
    cam = frame.intrinsics
    depth_mm = np.where(np.isfinite(frame.depth_m), frame.depth_m * 1000.0, 0.0).astype(np.float32)
    first = detector.detect(frame.rgb)
    objects = [(d.class_name, d.xyxy(), reference_median(depth_mm, tuple(d.xyxy())) / 1000.0) for d in first]
    with_image, boxes_only, rows, rows_boxes = Tracker(), Tracker(), [], []
    for t, s, rgb, depth in approach_frames(frame.rgb, frame.depth_m, cam.cx, cam.cy, SECONDS):
        fused = fuse(detector.detect(rgb), depth, Settings(), cam).kept
        stamp = int(1e12) + int(round(t * 1e9))
        update = with_image.update(fused, stamp, to_grey(rgb), BUDGET)  # as fusion_node does by default
        update_boxes = boxes_only.update(fused, stamp)
        for det, est, est_boxes in zip(fused, update.estimates, update_boxes.estimates):
            truth = truth_object(det, objects, s, cam)
            rows.append((t, s, truth, det, est))
            rows_boxes.append((t, s, truth, det, est_boxes))
    return objects, rows, rows_boxes


def relative_errors(objects: list, rows: list) -> dict[str, list[float]]:
    """Per estimate after the first second of its track: |estimate / truth - 1| of the range rate and the TTCs."""
    errors = defaultdict(list)
    for t, _, truth, _det, est in rows:
        if truth is None or est.age_s < 1.0:
            continue
        ttc = Z0 / SPEED - t
        rate = -SPEED * objects[truth][2] / Z0
        errors['range_rate'].append(abs(est.range_rate_mps / rate - 1))
        for name in ('ttc_s', 'ttc_depth_s', 'ttc_box_s'):
            errors[name].append(abs(getattr(est, name) / ttc - 1))
    return errors


def summary(errors: dict[str, list[float]]) -> dict[str, list[float]]:
    return {k: [round(float(f(v)), 3) for f in (np.mean, np.median, lambda x: np.percentile(x, 95))] + [len(v)]
            for k, v in errors.items()}


def test_real_frame_approach_ids_are_stable(tracked):
    objects, rows, _ = tracked
    ids = defaultdict(lambda: defaultdict(set))  # object -> frame time -> track IDs (a duplicate box: several)
    for t, _, truth, _, est in rows:
        if truth is not None:
            ids[truth][t].add(est.track_id)
    switches = id_switches(ids)
    long_lived = [i for i, frames in ids.items() if len(frames) >= 15]
    print(f'real approach: {len(objects)} objects at t=0, {len(long_lived)} seen >= 15 frames, {switches} ID switches')
    assert len(long_lived) >= 4
    assert switches == 0


def test_real_frame_approach_range_rate_and_ttc_within_10_percent(tracked):
    objects, rows, _ = tracked
    errors = relative_errors(objects, rows)
    cues = defaultdict(int)
    for *_, est in rows:
        if est.age_s >= 1.0:
            cues[est.scale_cue] += 1
    print('real approach relative errors, with images (mean, median, p95, n):', summary(errors), dict(cues))
    assert len(errors['ttc_s']) >= 40
    # Measured with fusion_node's default of 3 image measurements a frame: range rate mean 1.5 %, combined TTC 1.7 %,
    # distance alone 1.9 %, growth alone 1.8 % (p95 2.6 %); with every box measured each frame: 2.3, 2.2, 1.9, 2.5 %.
    # The issue asks 10 % and, for the growth alone, 15 %: these bounds are about twice what was measured.
    assert np.mean(errors['range_rate']) <= 0.05 and np.mean(errors['ttc_s']) <= 0.05
    assert np.mean(errors['ttc_depth_s']) <= 0.10
    assert all(np.isfinite(errors['ttc_box_s'])) and np.mean(errors['ttc_box_s']) <= 0.05
    assert np.percentile(errors['ttc_box_s'], 95) <= 0.12
    # The budget is used: measured 44 of 112 scale steps on the image (3 a frame among 5-11 tracked objects); the
    # steps between are box sizes at their slow error's weight, and each image measurement spans them.
    assert cues[IMAGE_CUE] >= 0.3 * sum(cues.values())


def test_real_frame_approach_box_sizes_alone(tracked):
    """Without images the growth cue falls back to yolov4-tiny's box sizes, which err slowly by up to 15 %
    (docs/tracking.md): it must still say that every object is closing, about when."""
    objects, _, rows = tracked
    errors = relative_errors(objects, rows)
    print('real approach relative errors, boxes only (mean, median, p95, n):', summary(errors))
    assert {est.scale_cue for *_, est in rows} == {BOX_CUE}
    assert np.mean(errors['range_rate']) <= 0.10 and np.mean(errors['ttc_s']) <= 0.10
    assert all(np.isfinite(errors['ttc_box_s'])) and np.median(errors['ttc_box_s']) <= 0.5
