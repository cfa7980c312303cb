"""filter_mode compared on the real RGB-D frames: detect_then_filter (default) vs mask_then_detect (original project).

For each frame (TUM desk, SUN corridor; registered sensor depth, so the distances are the sensor's) and each
threshold, both modes run the same yolov4-tiny (416, the default backend) and the same fusion (median over the central
half of the box). Reported: what each mode keeps (class and distance), what only one of them keeps (same class,
IoU >= 0.5 counts as the same object), and the cost per frame (detector, masking, fusion; median of the repeats).
Prints a Markdown table.

Usage: .venv/bin/python benchmarks/bench_filter_modes.py [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from bench_data import TUM_DESK_COLOR, TUM_DESK_DEPTH_MM, yolov4_tiny_files

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get('JDD_ROS_SHARED', REPO.parent / 'shared'))  # the SUN corridor frame, when present
THRESHOLDS = {'tum_desk': (1.5, 2.0, 2.5, 3.0), 'sun_corridor': (1.5, 3.0, 5.0)}


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def only_in(these, others) -> list:
    return [d for d in these if not any(o.class_name == d.class_name and iou(d.xyxy(), o.xyxy()) >= 0.5
                                        for o in others)]


def label(dets) -> str:
    if not dets:
        return '—'
    return ', '.join(f'{d.class_name} {d.depth:.2f}' for d in sorted(dets, key=lambda d: d.depth))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: default)')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from jdd_ros.apps.file_pipeline import Pipeline
    from jdd_ros.detect.darknet.detector import YoloDetector
    from jdd_ros.io.frames import KINECT_640x480, read_rgbd
    from jdd_ros.param_types import DetectorNodeParams, FusionNodeParams

    tiny = yolov4_tiny_files()
    detector = YoloDetector(tiny['cfg'], tiny['weights'], tiny['names'])
    detection = DetectorNodeParams(confidence_threshold=0.25, nms_threshold=0.45, classes=[])
    frames = [read_rgbd(TUM_DESK_COLOR, TUM_DESK_DEPTH_MM, 0.001, KINECT_640x480)]
    corridor = SHARED / 'data' / 'rgbd'
    if (corridor / 'sun_corridor_color.png').is_file():
        frames.append(read_rgbd(corridor / 'sun_corridor_color.png', corridor / 'sun_corridor_depth_mm.png', 0.001,
                                KINECT_640x480))
    for frame, name in zip(frames, THRESHOLDS):
        frame.name = name
    rows = []
    for frame in frames:
        for max_depth in THRESHOLDS[frame.name]:
            results, costs = {}, {}
            for mode in ('detect_then_filter', 'mask_then_detect'):
                pipeline = Pipeline(detector, None, FusionNodeParams(max_depth=max_depth, filter_mode=mode), detection)
                pipeline.run(frame.rgb, frame.depth_m, frame.intrinsics)  # warm-up
                runs = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    out = pipeline.run(frame.rgb, frame.depth_m, frame.intrinsics)
                    runs.append((1000 * (time.perf_counter() - t0), out.timings_ms))
                results[mode] = out.result
                costs[mode] = (statistics.median(r[0] for r in runs),
                               statistics.median(r[1].get('mask', 0.0) for r in runs))
            dtf, mtd = results['detect_then_filter'], results['mask_then_detect']
            valid = np.isfinite(frame.depth_m)
            with np.errstate(invalid='ignore'):
                visible = float((valid & (frame.depth_m <= max_depth)).mean())
            rows.append((frame.name, max_depth, f'{100 * visible:.0f} %', label(dtf.kept), len(dtf.dropped_far),
                         label(mtd.kept), label(only_in(dtf.kept, mtd.kept)), label(only_in(mtd.kept, dtf.kept)),
                         f"{costs['detect_then_filter'][0]:.0f}",
                         f"{costs['mask_then_detect'][0]:.0f} ({costs['mask_then_detect'][1]:.1f} mask)"))
    print(f'Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch '
          f'{torch.__version__} ({torch.get_num_threads()} threads); yolov4-tiny 416, {detector.backend} '
          f'{detector.precision}; {args.repeats} repeats, median.\n')
    print('| frame | max_depth (m) | image kept by the mask | detect_then_filter keeps (class m) | its drops beyond '
          'max_depth | mask_then_detect keeps | only detect_then_filter | only mask_then_detect | ms/frame '
          'detect_then_filter | ms/frame mask_then_detect |')
    print('|' + '---|' * 10)
    for row in rows:
        print('| ' + ' | '.join(str(v) for v in row) + ' |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
