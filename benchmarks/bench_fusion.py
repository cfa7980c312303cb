"""Fusion latency per depth/detections pair (100 detections, 640x480) and image codec cost per image.

Prints a Markdown table. Parts:
- core: ``fuse()`` on the TUM depth frame (synthetic depth when ../shared is absent), per statistic, plus the decode
  of the depth message and the building of the output message, i.e. everything the node does per pair;
- node: the real fusion_node in its own process over DDS (localhost only), from publishing the second half of a pair
  to receiving detections_with_depth (``--no-node`` skips it);
- codec: decode (zero-copy view) and encode (one copy) of rgb8, 32FC1 and 16UC1 images, and 16UC1 -> metres.

Usage: .venv/bin/python benchmarks/bench_fusion.py [--repeat 200] [--no-node]
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'test'))  # the test harness starts and drives node processes safely
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'

N_DETECTIONS = 100
WIDTH, HEIGHT = 640, 480


def timed(fn, repeat: int) -> tuple[list[float], float]:
    """Wall-clock ms of each call, and the mean CPU ms of this process per call (less disturbed by other load)."""
    fn()  # warm-up
    out = []
    cpu0 = time.process_time()
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out, (time.process_time() - cpu0) * 1e3 / repeat


def row(name: str, timing: tuple[list[float], float | None]) -> str:
    ms, cpu = sorted(timing[0]), timing[1]
    p90 = ms[min(len(ms) - 1, int(0.9 * len(ms)))]
    cpu_text = '-' if cpu is None else f'{cpu:.3f}'
    return f'| {name} | {statistics.median(ms):.3f} | {p90:.3f} | {cpu_text} | {len(ms)} |'


def depth_mm() -> tuple[np.ndarray, str]:
    path = REPO.parent / 'shared' / 'data' / 'rgbd' / 'tum_desk_depth_mm.png'
    if path.exists():
        import cv2

        return cv2.imread(str(path), cv2.IMREAD_UNCHANGED), 'TUM desk depth'
    rng = np.random.default_rng(0)
    mm = rng.integers(500, 5000, size=(HEIGHT, WIDTH), dtype=np.uint16)
    mm[rng.random((HEIGHT, WIDTH)) < 0.2] = 0
    return mm, 'synthetic depth (../shared absent)'


def random_boxes(n: int, seed: int = 0) -> list[tuple[float, float, float, float]]:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, [WIDTH - 20, HEIGHT - 20], size=(n, 2))
    wh = rng.uniform(20, 200, size=(n, 2))
    return [(x, y, min(x + w, WIDTH - 1), min(y + h, HEIGHT - 1)) for (x, y), (w, h) in zip(xy, wh)]


def bench_core(repeat: int) -> list[str]:
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from jdd_ros.core.camera import CameraIntrinsics
    from jdd_ros.core.detection import Detection
    from jdd_ros.core.fusion import fuse
    from jdd_ros.io.drawing import draw_detections
    from jdd_ros.io.image_codec import depth_to_metres, fill_image, image_to_numpy
    from jdd_ros.param_types import FusionNodeParams as FusionSettings  # the node's snapshot
    from jdd_ros.ros.messages import detections_to_msg, fused_detections_to_msg, msg_to_detections

    mm, source = depth_mm()
    metres = depth_to_metres(mm, '16UC1')
    dets = [Detection('chair', 0.5, *b) for b in random_boxes(N_DETECTIONS)]
    k = CameraIntrinsics(525.0, 525.0, 319.5, 239.5, WIDTH, HEIGHT)
    rows = []
    for stat in ('median', 'percentile', 'center'):
        settings = FusionSettings(depth_statistic=stat, max_depth=3.0)
        rows.append(row(f'fuse(): {N_DETECTIONS} boxes, {stat}, {source}',
                        timed(lambda s=settings: fuse(dets, metres, s, k), repeat)))
    depth_msg = fill_image(Image(), mm, '16UC1')
    dets_msg = detections_to_msg(dets, Header())
    settings = FusionSettings(max_depth=3.0)

    def per_pair() -> None:
        depth = depth_to_metres(image_to_numpy(depth_msg), '16UC1')
        result = fuse(msg_to_detections(dets_msg), depth, settings, k)
        fused_detections_to_msg(result.kept, dets_msg.header)

    rows.append(row(f'per pair in the node: decode 16UC1 + fuse {N_DETECTIONS} + build message',
                    timed(per_pair, repeat)))
    rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    result = fuse(dets, metres, FusionSettings(), k)
    rows.append(row(f'overlay: draw {N_DETECTIONS} boxes + labels', timed(lambda: draw_detections(rgb, result.kept),
                                                                            max(10, repeat // 10))))
    return rows


def bench_codec(repeat: int) -> list[str]:
    from sensor_msgs.msg import Image

    from jdd_ros.io.image_codec import depth_to_metres, fill_image, image_to_numpy

    rng = np.random.default_rng(1)
    arrays = {
        'rgb8': rng.integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8),
        '32FC1': rng.uniform(0.5, 5.0, size=(HEIGHT, WIDTH)).astype(np.float32),
        '16UC1': rng.integers(0, 5000, size=(HEIGHT, WIDTH), dtype=np.uint16),
    }
    rows = []
    for encoding, array in arrays.items():
        msg = fill_image(Image(), array, encoding)
        rows.append(row(f'codec decode {encoding} {WIDTH}x{HEIGHT} (view)',
                        timed(lambda m=msg: image_to_numpy(m), repeat)))
        rows.append(row(f'codec encode {encoding} {WIDTH}x{HEIGHT} (one copy)',
                        timed(lambda a=array, e=encoding: fill_image(Image(), a, e), repeat)))
    msg = fill_image(Image(), arrays['16UC1'], '16UC1')
    rows.append(row('codec 16UC1 -> metres float32 (decode + convert)',
                    timed(lambda: depth_to_metres(image_to_numpy(msg), '16UC1'), repeat)))
    return rows


def bench_node(pairs: int) -> list[str]:
    from harness import NodeProcess, RosPeer, new_domain_id
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header
    from vision_msgs.msg import Detection2DArray

    from jdd_ros.core.detection import Detection
    from jdd_ros.io.image_codec import fill_image
    from jdd_ros.ros.messages import detections_to_msg

    domain = new_domain_id()
    mm, _ = depth_mm()
    dets = [Detection('chair', 0.5, *b) for b in random_boxes(N_DETECTIONS)]
    peer = RosPeer(domain, 'bench_fusion')
    rows = []
    try:
        with NodeProcess('fusion_node', domain, params={'reliability': 'reliable'}) as node:
            node.wait_for_output('fusion_node ready')
            depth_pub = peer.publisher(Image, 'depth')
            dets_pub = peer.publisher(Detection2DArray, 'detections')
            arrivals: dict[int, float] = {}
            peer.node.create_subscription(
                Detection2DArray, 'detections_with_depth',
                lambda m: arrivals.setdefault(m.header.stamp.sec, time.perf_counter()), 100)
            peer.wait_for_subscribers(depth_pub)
            peer.wait_for_subscribers(dets_pub)
            peer.wait_for_publishers('detections_with_depth')
            sent: dict[int, float] = {}
            for i in range(pairs + 3):
                h = Header(frame_id='camera')
                h.stamp.sec = 1000 + i
                depth_msg = fill_image(Image(), mm, '16UC1')
                depth_msg.header = h
                dets_msg = detections_to_msg(dets, h)
                depth_pub.publish(depth_msg)
                sent[h.stamp.sec] = time.perf_counter()
                dets_pub.publish(dets_msg)
                time.sleep(0.1)  # 10 Hz: latency, not throughput
            deadline = time.monotonic() + 10
            while len(arrivals) < len(sent) and time.monotonic() < deadline:
                time.sleep(0.05)
            latencies = [(arrivals[s] - sent[s]) * 1e3 for s in sorted(sent)[3:] if s in arrivals]
            lost = pairs - len(latencies)
            rows.append(row(f'node over DDS: detections published -> detections_with_depth received, '
                            f'{N_DETECTIONS} boxes, 16UC1 640x480 ({lost} lost)', (latencies, None)))
    finally:
        peer.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=200)
    parser.add_argument('--pairs', type=int, default=50, help='pairs sent through the node')
    parser.add_argument('--no-node', action='store_true', help='skip the cross-process measurement')
    args = parser.parse_args()
    rows = bench_core(args.repeat) + bench_codec(args.repeat)
    if not args.no_node:
        rows += bench_node(args.pairs)
    print(f'Fusion and codec timings ({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, '
          f'Python {platform.python_version()}, numpy {np.__version__})\n')
    print('| measurement | median ms | p90 ms | CPU ms (mean) | n |\n|---|---:|---:|---:|---:|')
    print('\n'.join(rows))


if __name__ == '__main__':
    main()
