"""Tracking on a sequence made from the real TUM desk frame and its sensor depth, detected by the real yolov4-tiny.

The camera is simulated moving toward the scene at a known speed: frame k (10 Hz, t_k = k / 10) is the frame zoomed
about the principal point by s_k = Z0 / (Z0 - v t_k), with the depth divided by s_k (every scene point's distance
scaled by 1 / s_k). Then every object's time to contact is Z0 / v - t_k and an object at distance d at t = 0 closes
at v * d / Z0 m/s, whatever the detector and the fusion make of it.
"""

from __future__ import annotations

from collections import defaultdict

import cv2
import numpy as np
import pytest
from harness import reference_median, tum_desk_frame, yolov4_tiny_files

from jdd_ros.core.fusion import FusionSettings, fuse
from jdd_ros.core.tracking import Tracker

Z0, SPEED, RATE_HZ, SECONDS = 3.0, 0.5, 10.0, 2.5


def zoom(image: np.ndarray, s: float, cx: float, cy: float, interpolation: int) -> np.ndarray:
    m = np.array([[s, 0.0, (1 - s) * cx], [0.0, s, (1 - s) * cy]])
    return cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), flags=interpolation, borderValue=0)


def zoom_box(box: list[float], s: float, cx: float, cy: float) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.array([cx + s * (x1 - cx), cy + s * (y1 - cy), cx + s * (x2 - cx), cy + s * (y2 - cy)])


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boxes, written out here as the test's own reference."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


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
    tracker, rows = Tracker(), []
    for k in range(int(SECONDS * RATE_HZ) + 1):
        t = k / RATE_HZ
        s = Z0 / (Z0 - SPEED * t)
        rgb = zoom(frame.rgb, s, cam.cx, cam.cy, cv2.INTER_LINEAR)
        depth = zoom(depth_mm, s, cam.cx, cam.cy, cv2.INTER_NEAREST) / 1000.0 / s
        depth[depth <= 0] = np.nan
        fused = fuse(detector.detect(rgb), depth, FusionSettings(), cam).kept
        update = tracker.update(fused, int(1e12) + int(round(t * 1e9)))
        for det, est in zip(fused, update.estimates):
            truth = _truth_object(det, objects, s, cam)
            rows.append((t, s, truth, det, est))
    return objects, rows


def _truth_object(det, objects, s, cam) -> int | None:
    """The index of the frame-0 object whose zoomed box this detection is (same class, IoU >= 0.5), if one."""
    best, best_iou = None, 0.5
    for i, (name, box, _) in enumerate(objects):
        truth = zoom_box(box, s, cam.cx, cam.cy)
        if name != det.class_name or truth[0] < 0 or truth[1] < 0 or truth[2] > cam.width or truth[3] > cam.height:
            continue
        iou = overlap(np.array(det.xyxy()), truth)
        if iou >= best_iou:
            best, best_iou = i, iou
    return best


def test_real_frame_approach_ids_are_stable(tracked):
    objects, rows = tracked
    ids = defaultdict(lambda: defaultdict(set))  # object -> frame time -> track IDs (a duplicate box: several)
    for t, _, truth, _, est in rows:
        if truth is not None:
            ids[truth][t].add(est.track_id)
    switches = 0
    for frames in ids.values():
        seq = [frames[t] for t in sorted(frames)]
        switches += sum(not (a & b) for a, b in zip(seq, seq[1:]))  # no ID carried over from the previous frame
    long_lived = [i for i, frames in ids.items() if len(frames) >= 15]
    print(f'real approach: {len(objects)} objects at t=0, {len(long_lived)} seen >= 15 frames, {switches} ID switches')
    assert len(long_lived) >= 4
    assert switches == 0


def test_real_frame_approach_range_rate_and_ttc_within_10_percent(tracked):
    objects, rows = tracked
    errors = defaultdict(list)
    for t, _, truth, _det, est in rows:
        if truth is None or est.age_s < 1.0:
            continue
        ttc = Z0 / SPEED - t
        rate = -SPEED * objects[truth][2] / Z0
        errors['range_rate'].append(abs(est.range_rate_mps / rate - 1))
        for name in ('ttc_s', 'ttc_depth_s', 'ttc_box_s'):
            errors[name].append(abs(getattr(est, name) / ttc - 1))
    summary = {k: [round(float(f(v)), 3) for f in (np.mean, np.median, lambda x: np.percentile(x, 95))] + [len(v)]
               for k, v in errors.items()}
    print('real approach relative errors (mean, median, p95, n):', summary)
    assert len(errors['ttc_s']) >= 40
    assert np.mean(errors['range_rate']) <= 0.10
    assert np.mean(errors['ttc_s']) <= 0.10 and np.mean(errors['ttc_depth_s']) <= 0.10
    # The box-growth cue alone on real detector boxes is far less accurate (box sizes err slowly by up to 15 %,
    # docs/tracking.md); here it must at least say that every object is closing, about when.
    assert all(np.isfinite(errors['ttc_box_s'])) and np.median(errors['ttc_box_s']) <= 0.5
