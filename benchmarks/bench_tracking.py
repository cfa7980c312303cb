"""Tracking's cost per frame at 30 objects: what fusion_node adds to every fused frame.

Prints a Markdown table. Parts, each per frame of a 10 Hz sequence of 30 moving objects (test/tracking_sequences.py,
1 px box noise, 1 % depth noise), measured over the frames after the first (every track exists):
- core: ``track_result`` (association, the filters, the estimates, the IDs written into the detections), without
  images (the growth cue from the box sizes);
- core with images: the same given each frame's grey image (``to_grey`` of a 640 x 480 RGB frame included), so
  that the growth cue is measured on the image inside every box (``core.image_scale``: features, Lucas-Kanade); the
  frames are rendered here, a textured patch per object drawn at its box over a textured background;
- messages: the ``tracks`` TrackedObjectArray, the ``detections_points`` PointCloud2 and the status line, as
  fusion_node builds them (rclpy messages, not published);
- the share of a frame period that this takes at 10 and 30 Hz: the effect on the pipeline rate (fusion_node runs
  it in its executor thread, beside the networks of the other nodes).

Usage: .venv/bin/python benchmarks/bench_tracking.py [--objects 30] [--seconds 20]
(--objects 10: the image cue's cost at 10 tracked objects)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'test'))


def scene(n: int, seconds: float, size_m: float = 0.3) -> list:
    from tracking_sequences import MovingObject, sequence

    rng = np.random.default_rng(3)
    objects = []
    for i in range(n):  # a grid of objects at 4-9 m, drifting, approaching or receding (all in view throughout)
        x, y, z = -2.5 + (i % 6) * 1.0, -1.0 + (i // 6) * 0.5, 6.0 + rng.random() * 3
        objects.append(MovingObject(f'o{i}', (x, y, z), (rng.normal(0, 0.02), 0.0, rng.uniform(-0.1, 0.1)),
                                    size=(size_m, size_m), class_name=['person', 'chair', 'bottle'][i % 3]))
    return sequence(objects, seconds)


def render(frames: list) -> list:
    """A 640 x 480 RGB image per frame: a blurred-noise texture per object, resized to its box (so it grows as the
    object approaches), over a background texture."""
    import cv2

    rng = np.random.default_rng(4)

    def texture(h: int, w: int) -> np.ndarray:
        noise = cv2.GaussianBlur(rng.uniform(0, 255, (h, w)).astype(np.float32), (0, 0), 2.0)
        return cv2.normalize(noise, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)

    background, patches, out = texture(480, 640), {}, []
    for f in frames:
        grey = background.copy()
        for det, name in zip(f.detections, f.truth):
            patch = patches.setdefault(name, texture(200, 200))
            x1, y1, x2, y2 = (int(round(v)) for v in det.xyxy())
            if x2 - x1 >= 2 and y2 - y1 >= 2 and x1 >= 0 and y1 >= 0 and x2 <= 640 and y2 <= 480:
                grey[y1:y2, x1:x2] = cv2.resize(patch, (x2 - x1, y2 - y1), interpolation=cv2.INTER_AREA)
        out.append(cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB))
    return out


def time_core(frames: list, images: list | None) -> tuple[list[float], float]:
    """Wall ms per frame after the first, and CPU ms in all, of ``track_result`` (with ``to_grey`` when images)."""
    from jdd_ros.core.fusion import FusionResult
    from jdd_ros.core.image_scale import to_grey
    from jdd_ros.core.tracking import Tracker, track_result

    tracker, wall, cpu, cues = Tracker(), [], 0.0, Counter()
    for k, f in enumerate(frames):
        result = FusionResult(kept=list(f.detections))
        t0, c0 = time.perf_counter(), time.process_time()
        update = track_result(tracker, result, f.stamp_ns, to_grey(images[k]) if images is not None else None)
        t1, c1 = time.perf_counter(), time.process_time()
        if k:
            wall.append(1000 * (t1 - t0))
            cpu += 1000 * (c1 - c0)
            cues.update(e.scale_cue for e in update.estimates if e is not None and e.hits > 1)
    if images is not None:
        print(f'with images: scale changes measured on the image {cues["image"]}, on the box {cues["box"]}\n')
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--objects', type=int, default=30)
    parser.add_argument('--seconds', type=float, default=20.0)
    parser.add_argument('--object-size', type=float, default=0.3,
                        help='side of each object in metres (0.3: boxes of 17-26 px, mostly too small for the image '
                        'cue; 0.6: 35-53 px)')
    args = parser.parse_args()
    from std_msgs.msg import Header

    from jdd_ros.core.camera import CameraIntrinsics
    from jdd_ros.core.fusion import FusionResult
    from jdd_ros.core.tracking import Tracker, objects_summary, track_of, track_result
    from jdd_ros.ros.tracking import points_cloud, tracked_object

    camera = CameraIntrinsics(525.0, 525.0, 319.5, 239.5, 640, 480)
    frames = scene(args.objects, args.seconds, args.object_size)
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
    image_ms, image_cpu = time_core(frames, render(frames))
    print('| part | wall mean ms/frame | wall p95 ms/frame | CPU ms/frame | CPU share of a 10 Hz / 30 Hz frame |')
    print('|---|---:|---:|---:|---:|')
    parts = (('core: track_result', core_ms, cpu[0]), ('messages: tracks + points + status', msg_ms, cpu[1]),
             ('total', [a + b for a, b in zip(core_ms, msg_ms)], cpu[0] + cpu[1]),
             ('core with images: to_grey + track_result (growth on the image)', image_ms, image_cpu),
             ('total with images', [a + b for a, b in zip(image_ms, msg_ms)], image_cpu + cpu[1]))
    for name, values, cpu_total in parts:
        mean, p95, cpu_ms = statistics.mean(values), float(np.percentile(values, 95)), cpu_total / n
        print(f'| {name} | {mean:.3f} | {p95:.3f} | {cpu_ms:.3f} | {cpu_ms / 100:.1%} / {cpu_ms / 33.3:.1%} |')
    print('\nWall times include waiting for a CPU on a loaded machine; CPU time is what tracking itself costs.')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
