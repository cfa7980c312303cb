"""Several cameras on one machine: one `pipeline` process serving 1, 2 and 4 camera namespaces (what
`jdd-ros launch cameras:=front,left` starts) with one loaded model per network, against the one-camera pipeline.

Per cell: a fresh pipeline process (own ROS_DOMAIN_ID, LOCALHOST discovery, own log directory), yolov4-tiny 416 +
ResNet-18 U-Net 240x320 (synthetic weights, as bench_pipeline.py), backend auto; this process publishes the TUM desk
frame (640x480 rgb8, reliable) to every camera's `image` at the given rate per camera, after a 3 s warm-up, and
counts each camera's `detections_with_depth` (frames told apart by their stamps). Resident memory of the pipeline
process (VmRSS) at the end of the measured period, and its peak (VmHWM). The one-camera reference is the pipeline
without `--cameras` (as `jdd-ros launch` starts it today). Cells are interleaved over the rounds.

Then, in this process, whether a shared model is faster fed two cameras' frames as one batch than one after the other
(`detect_batch` of two frames against two `detect` calls; the depth network on a batch of two against two batches of
one): the pipeline serialises the cameras' frames through each model (one inference at a time).

Usage: .venv/bin/python benchmarks/bench_cameras.py [--cameras 1,2,4] [--seconds 15] [--rate 30] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import tum_desk_rgb  # noqa: E402
from bench_pipeline import FILES, LoadMeter, depth_checkpoint  # noqa: E402
from bench_startup import proc_status  # noqa: E402
from harness import NodeProcess, RosPeer, new_domain_id  # noqa: E402

WARMUP_S, DRAIN_S = 3.0, 3.0


@dataclass
class Cell:
    cameras: int
    seconds: float
    fused: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    rss_mb: int = 0
    hwm_mb: int = 0
    others_cpu: float = 0.0
    models_loaded: tuple[int, int] = (0, 0)  # detector, depth: 'loaded' lines in the log

    @property
    def total(self) -> float:
        return sum(self.fused.values()) / self.seconds


def camera_names(n: int) -> list[str]:
    return ['front', 'left', 'right', 'rear', 'cam4', 'cam5', 'cam6', 'cam7'][:n]


def run_cell(cell: Cell, rgb: np.ndarray, checkpoint: Path, rate: float, reference: bool) -> Cell:
    """One pipeline process serving ``cell.cameras`` cameras (``reference``: one camera, no --cameras)."""
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from jdd_ros.io.image_codec import fill_image
    from jdd_ros.ros.qos import output_qos

    names = camera_names(cell.cameras)
    prefix = {n: ('' if reference else f'/{n}') for n in names}
    domain = new_domain_id()
    node = NodeProcess('pipeline', domain, params={**FILES, 'checkpoint': str(checkpoint), 'reliability': 'reliable'},
                       args=[] if reference else ['--cameras', ','.join(names)])
    peer = RosPeer(domain, 'bench_cameras_camera')
    received: dict[str, dict[int, float]] = {n: {} for n in names}
    try:
        node.start()
        for n in names:
            ns = f'{n}.' if prefix[n] else ''
            for who, pattern in (('fusion_node', 'ready'), ('detector_node', 'waiting for images'),
                                 ('depth_node', 'waiting for images')):
                node.wait_for_output(rf'\[{ns}{who}\].*{pattern}', timeout=240)
        pubs = {}
        for n in names:
            peer.node.create_subscription(Detection2DArray, f'{prefix[n]}/detections_with_depth',
                                          lambda m, n=n: received[n].setdefault(m.header.stamp.sec,
                                                                                time.perf_counter()),
                                          output_qos(100))
            pubs[n] = peer.node.create_publisher(Image, f'{prefix[n]}/image', output_qos(5))
        for n in names:
            peer.wait_for_subscribers(pubs[n])  # each camera's detector node (the others take its frames)
            peer.wait_for_publishers(f'{prefix[n]}/detections_with_depth')
        msgs = {n: fill_image(Image(), rgb, 'rgb8') for n in names}
        publish(pubs, msgs, rate, WARMUP_S, 1)
        meter = LoadMeter('self', node.proc.pid)
        sent = publish(pubs, msgs, rate, cell.seconds, 10_000)
        status = proc_status(node.proc.pid)
        cell.others_cpu = meter.others()
        time.sleep(DRAIN_S)
    finally:
        node.stop()
        peer.close()
    cell.rss_mb, cell.hwm_mb = status.get('VmRSS', 0), status.get('VmHWM', 0)
    for n in names:
        got = {s: t for s, t in received[n].items() if s in sent[n]}
        cell.fused[n] = len(got)
        cell.latencies_ms += [1000 * (t - sent[n][s]) for s, t in got.items()]
    log = node.output
    cell.models_loaded = (log.count('detector_node]: loaded in'), log.count('depth_node]: depth model:'))
    return cell


def publish(pubs: dict, msgs: dict, rate: float, seconds: float, first: int) -> dict[str, dict[int, float]]:
    """Every camera's frame at ``rate`` for ``seconds`` (the cameras' frames spread over each period);
    {camera: {stamp sec: publish time}}."""
    sent: dict[str, dict[int, float]] = {n: {} for n in pubs}
    start, step = time.perf_counter(), 1.0 / (rate * len(pubs))
    for i in range(int(round(rate * seconds))):
        for j, (n, pub) in enumerate(pubs.items()):
            wait = start + i / rate + j * step - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            msgs[n].header.stamp.sec = first + i
            sent[n][first + i] = time.perf_counter()
            pub.publish(msgs[n])
    return sent


def batch_speed(rgb: np.ndarray, checkpoint: Path, repeats: int = 15) -> list[tuple[str, float, float]]:
    """(network, ms for two frames one after the other, ms for the two as one batch), median over ``repeats``."""
    from jdd_ros.depth.model import build_depth_model
    from jdd_ros.detect.registry import build_detector
    from jdd_ros.params import snapshot

    threads = len(os.sched_getaffinity(0))
    detector = build_detector(snapshot('detector_node', {**FILES, 'threads': threads}))
    depth = build_depth_model(snapshot('depth_node', {'checkpoint': str(checkpoint), 'threads': threads}))
    other = np.ascontiguousarray(rgb[:, ::-1])
    one = depth.preprocess(rgb)[None]
    runs = {
        f'detector ({detector.backend} {detector.precision})':
            (lambda: (detector.detect(rgb), detector.detect(other)), lambda: detector.detect_batch([rgb, other])),
        f'depth network ({depth.backend} {depth.precision})':
            (lambda: (depth.run_network(one), depth.run_network(one)),
             lambda: depth.run_network(np.concatenate([one, one]))),
    }
    out = []
    for name, (serial, batched) in runs.items():
        times = {}
        for label, fn in (('serial', serial), ('batch', batched)):
            try:
                fn()
                samples = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    fn()
                    samples.append(1000 * (time.perf_counter() - t0))
                times[label] = statistics.median(samples)
            except Exception as exc:  # noqa: BLE001 - a model without a batch dimension: say so
                print(f'{name} {label}: {type(exc).__name__}: {exc}', file=sys.stderr)
                times[label] = float('nan')
        out.append((name, times['serial'], times['batch']))
    return out


def print_tables(cells: list[Cell], rate: float, load: tuple[float, float], batch: list) -> None:
    by_n: dict[int, list[Cell]] = {}
    for c in cells:
        by_n.setdefault(c.cameras, []).append(c)
    print(f'Cameras, {len(os.sched_getaffinity(0))} usable cores; one pipeline process, yolov4-tiny 416 + ResNet-18 '
          f'U-Net 240x320 (synthetic weights), backend auto, 640x480 rgb8 at {rate:g} Hz per camera; load average '
          f'before/after: {load[0]:.2f} / {load[1]:.2f}\n')
    print('| cameras | fused frames/s per camera | total fused frames/s | x one camera | latency median / p90 ms | '
          'VmRSS MB | x one camera | VmHWM MB | models loaded (det / depth) | others\' CPU share |')
    print('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|')
    base = by_n.get(1)
    base_total = statistics.mean(c.total for c in base) if base else float('nan')
    base_rss = statistics.mean(c.rss_mb for c in base) if base else float('nan')
    for n, group in sorted(by_n.items()):
        seconds = sum(c.seconds for c in group)
        per_cam = {cam: sum(c.fused.get(cam, 0) for c in group) / seconds for cam in camera_names(n)}
        total = sum(per_cam.values())
        lat = sorted(x for c in group for x in c.latencies_ms) or [float('nan')]
        rss = statistics.mean(c.rss_mb for c in group)
        loaded = group[-1].models_loaded
        print(f"| {n}{' (no --cameras)' if n == 1 else ''} | {', '.join(f'{v:.2f}' for v in per_cam.values())} | "
              f'**{total:.2f}** | {total / base_total:.2f}x | {statistics.median(lat):.0f} / '
              f'{lat[int(0.9 * (len(lat) - 1))]:.0f} | {rss:.0f} | {rss / base_rss:.2f}x | '
              f'{max(c.hwm_mb for c in group)} | {loaded[0]} / {loaded[1]} | '
              f'{100 * statistics.mean(c.others_cpu for c in group):.0f} % |')
    two = by_n.get(2)
    if base and two:
        total2 = sum(sum(c.fused.values()) for c in two) / sum(c.seconds for c in two)
        rss2 = statistics.mean(c.rss_mb for c in two)
        print(f'\nTwo cameras: {total2:.2f} fused frames/s in total = {total2 / base_total:.2f}x one camera\'s '
              f'{base_total:.2f} (target >= 0.9x); resident memory {rss2:.0f} MB = {rss2 / base_rss:.2f}x one '
              f"camera's {base_rss:.0f} MB (target < 1.6x).")
    if batch:
        print('\nOne model, two cameras\' frames (this process, median of 15): one after the other against one batch\n')
        print('| network | two frames one after the other, ms | one batch of two, ms | batch / serial |')
        print('|---|---:|---:|---:|')
        for name, serial, batched in batch:
            print(f'| {name} | {serial:.1f} | {batched:.1f} | {batched / serial:.2f} |')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cameras', default='1,2,4', help='camera counts')
    parser.add_argument('--seconds', type=float, default=15.0, help='measured seconds per cell and round')
    parser.add_argument('--rate', type=float, default=30.0, help='frames per second per camera')
    parser.add_argument('--rounds', type=int, default=2, help='repeat every cell, interleaved')
    parser.add_argument('--no-batch', action='store_true', help='skip the batch-against-serial measurement')
    args = parser.parse_args()
    cache = Path(os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache') / 'jdd_ros' / 'bench'
    checkpoint = depth_checkpoint(cache)
    rgb = tum_desk_rgb()
    counts = [int(n) for n in args.cameras.split(',')]
    load_before = os.getloadavg()[0]
    cells = []
    for r in range(args.rounds):
        for n in counts[r % len(counts):] + counts[:r % len(counts)]:
            cell = run_cell(Cell(n, args.seconds), rgb, checkpoint, args.rate, reference=n == 1)
            print(f'{n} camera(s): {cell.total:.2f} fused/s in total {cell.fused}, VmRSS {cell.rss_mb} MB, others '
                  f'{100 * cell.others_cpu:.0f} %', file=sys.stderr)
            cells.append(cell)
    batch = [] if args.no_batch else batch_speed(rgb, checkpoint)
    print_tables(cells, args.rate, (load_before, os.getloadavg()[0]), batch)
    return 0


if __name__ == '__main__':
    sys.exit(main())
