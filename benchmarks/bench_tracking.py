"""Tracking's cost per frame at 30 objects: what fusion_node adds to every fused frame.

Prints a Markdown table. Parts, each per frame of a 10 Hz sequence of 30 moving objects (test/tracking_sequences.py,
1 px box noise, 1 % depth noise), measured over the frames after the first (every track exists):
- core: ``track_result`` (association, the filters, the estimates, the IDs written into the detections);
- messages: the ``tracks`` TrackedObjectArray, the ``detections_points`` PointCloud2 and the status line, as
  fusion_node builds them (rclpy messages, not published);
- the share of a frame period that this takes at 10 and 30 Hz: the effect on the pipeline rate (fusion_node runs
  it in its executor thread, beside the networks of the other nodes).

Usage: .venv/bin/python benchmarks/bench_tracking.py [--objects 30] [--seconds 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'test'))


def scene(n: int, seconds: float) -> list:
    from tracking_sequences import MovingObject, sequence

    rng = np.random.default_rng(3)
    objects = []
    for i in range(n):  # a grid of objects at 4-9 m, drifting, approaching or receding (all in view throughout)
        x, y, z = -2.5 + (i % 6) * 1.0, -1.0 + (i // 6) * 0.5, 6.0 + rng.random() * 3
        objects.append(MovingObject(f'o{i}', (x, y, z), (rng.normal(0, 0.02), 0.0, rng.uniform(-0.1, 0.1)),
                                    size=(0.3, 0.3), class_name=['person', 'chair', 'bottle'][i % 3]))
    return sequence(objects, seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--objects', type=int, default=30)
    parser.add_argument('--seconds', type=float, default=20.0)
    args = parser.parse_args()
    from std_msgs.msg import Header

    from jdd_ros.core.camera import CameraIntrinsics
    from jdd_ros.core.fusion import FusionResult
    from jdd_ros.core.tracking import Tracker, objects_summary, track_of, track_result
    from jdd_ros.ros.tracking import points_cloud, tracked_object

    camera = CameraIntrinsics(525.0, 525.0, 319.5, 239.5, 640, 480)
    frames = scene(args.objects, args.seconds)
    for f in frames:
        for d in f.detections:
            u, v = d.center
            d.position = camera.back_project(u, v, d.depth)
    tracker, core_ms, msg_ms, counts, cpu = Tracker(), [], [], [], [0.0, 0.0]
    header = Header(frame_id='camera')
    for k, f in enumerate(frames):
        result = FusionResult(kept=list(f.detections))
        t0, c0 = time.perf_counter(), time.process_time()
        track_result(tracker, result, f.stamp_ns)
        t1, c1 = time.perf_counter(), time.process_time()
        objects = [tracked_object(d, track_of(d)) for d in result.kept]
        points_cloud([d.position for d in result.kept], header)
        objects_summary(result.kept)
        t2, c2 = time.perf_counter(), time.process_time()
        if k:
            core_ms.append(1000 * (t1 - t0))
            msg_ms.append(1000 * (t2 - t1))
            cpu[0] += 1000 * (c1 - c0)
            cpu[1] += 1000 * (c2 - c1)
            counts.append(len(objects))
    ids = {d.id for f in frames for d in f.detections}
    print(f'{len(frames) - 1} frames of {statistics.mean(counts):.0f} objects; {len(ids)} track IDs in all '
          f'({args.objects} objects: {len(ids) - args.objects} extra)\n')
    n = len(core_ms)
    print('| part | wall mean ms/frame | wall p95 ms/frame | CPU ms/frame | CPU share of a 10 Hz / 30 Hz frame |')
    print('|---|---:|---:|---:|---:|')
    parts = (('core: track_result', core_ms, cpu[0]), ('messages: tracks + points + status', msg_ms, cpu[1]),
             ('total', [a + b for a, b in zip(core_ms, msg_ms)], cpu[0] + cpu[1]))
    for name, values, cpu_total in parts:
        mean, p95, cpu_ms = statistics.mean(values), float(np.percentile(values, 95)), cpu_total / n
        print(f'| {name} | {mean:.3f} | {p95:.3f} | {cpu_ms:.3f} | {cpu_ms / 100:.1%} / {cpu_ms / 33.3:.1%} |')
    print('\nWall times include waiting for a CPU on a loaded machine; CPU time is what tracking itself costs.')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
