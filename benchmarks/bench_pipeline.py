"""The one-process pipeline (what `jdd-ros launch` and joint.launch.py start) against the serial reference, side by
side in one run: fused frames/s, latency from image publish to detections_with_depth, and the fraction of the frames
the slower network inferred that come out fused, at 15 and 30 Hz input; and backend auto alone at 60 Hz, above what
the two networks allow, for the pipeline's own ceiling against 1 / (t_detector + t_depth).

Models: the real COCO yolov4-tiny (416) and a ResNet-18 U-Net at 240x320 trained for one epoch on synthetic scenes
(`jdd-ros train-depth --synthetic`: its depth is meaningless, its speed is the real network's). Input: the TUM desk
frame, 640x480 rgb8, published reliable (as a bag player does) by this process at the given rate.

* pipeline, each configuration in a fresh `pipeline` process per cell (own ROS_DOMAIN_ID, LOCALHOST discovery, own
  log directory; the nodes configure their own DDS): backend auto (here: what `resolve_backend` says), precision fp32
  (ONNX Runtime fp32 for both networks: the pipeline's effect without bf16), and at the highest rate auto with one
  inference thread per network (the former split of the cores), to check that all cores per network is faster.
  A 3 s warm-up is published first and not counted; frames are told apart by their stamps.
* serial reference: OpenCV DNN (yolov4-tiny) then ONNX Runtime fp32 (the U-Net) then fuse(), back to back in this
  process on the same frame, fed by a simulated camera at the same rate (it takes the newest frame when free, as the
  nodes do); latency is from the frame's time to the end of fuse().

Cells run interleaved (the order rotates per rate), so a change in this shared machine's load hits all of them; the
CPU share others took during each cell (from /proc/stat, minus this process and the pipeline's) is printed with it.
Then, network-bound: backend auto and the serial reference at the top rate once more, with a ResNet-34 U-Net at
480x640 (`--depth-encoder resnet34 --depth-size 480,640`, in a child process), where the two networks allow fewer
frames/s than the input brings: there the target fused >= 0.9 x 1 / (t_detector + t_depth) is judged at 30 Hz itself.

Prints Markdown tables. Usage: .venv/bin/python benchmarks/bench_pipeline.py [--seconds 12] [--rates 15,30]
[--rounds 2] [--above-limit 60] [--configs auto,fp32,1thread,serial,boxcue,profile,inproc,profileinproc]
[--depth-encoder resnet18] [--depth-size 240,320] [--no-network-bound]
(--rounds N repeats every cell N times, interleaved, and sums them; inproc / profileinproc: fusion_node takes depth in
process, `pipeline --inprocess-depth`, off by default)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'test'))
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'  # harness sets it too; never discover beyond this host

from bench_data import tum_desk_rgb, yolov4_tiny_files  # noqa: E402
from harness import NodeProcess, RosPeer, new_domain_id  # noqa: E402

FILES = yolov4_tiny_files()

DEPTH_SIZE = (240, 320)
DEPTH_ENCODER = 'resnet18'
# The network-bound check: a depth network slow enough that 30 Hz input is above what the two networks allow, so the
# issue-22 target (fused >= 0.9 x 1 / (t_detector + t_depth) at 30 Hz) can be judged at 30 Hz itself.
NETWORK_BOUND = ('resnet34', (480, 640))
WARMUP_S, DRAIN_S = 3.0, 3.0
CONFIGS = {  # label -> pipeline parameters (None: the serial reference)
    'pipeline, backend auto': {},
    'pipeline, precision fp32': {'precision': 'fp32'},
    'pipeline, auto, 1 thread per network': {'threads': 1},
    'serial reference': None,
    # tracking's growth cue measured on box sizes only (no image work in fusion_node): the cost of the image cue
    'pipeline, auto, ttc_image_objects 0': {'ttc_image_objects': 0},
    # the per-stage profile (pipeline --profile-stages): stamps per frame in the nodes, at the highest rate only
    'pipeline, auto, stages profiled': {},
    # fusion_node takes depth in process (pipeline --inprocess-depth, off by default): its effect in the same run,
    # with and without the per-stage profile
    'pipeline, auto, in-process depth': {},
    'pipeline, auto, stages profiled, in-process depth': {},
}
AUTO = 'pipeline, backend auto'
SHORT = dict(zip(('auto', 'fp32', '1thread', 'serial', 'boxcue', 'profile', 'inproc', 'profileinproc'), CONFIGS))
TOP_RATE_ONLY = ('pipeline, auto, 1 thread per network', 'pipeline, auto, stages profiled',
                 'pipeline, auto, stages profiled, in-process depth')


@dataclass
class Cell:
    config: str
    rate: float
    seconds: float
    fused: int = 0
    inferred: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    others_cpu: float = 0.0  # share of the machine's CPU time others used during the cell
    cpu_ms: float = 0.0  # CPU time of the pipeline process (serial: of this one) during the measured seconds
    harness_ms: float = 0.0  # CPU time of this process (the simulated camera, the counting subscriptions) meanwhile
    infer_ms: dict[str, float] = field(default_factory=dict)
    backend: str = ''
    stages_ms: dict[str, list[float]] = field(default_factory=dict)  # the per-stage profile: stage -> per frame


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine."""
    values = [int(v) for v in Path('/proc/stat').read_text().split('\n', 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def process_jiffies(pid: int | str) -> int:
    try:
        fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])  # utime stime cutime cstime


class LoadMeter:
    """The share of the machine's CPU time that processes other than ``pids`` used between start and stop, and the
    CPU time ``pids`` used."""

    def __init__(self, *pids: int | str):
        self.busy0, self.total0 = cpu_jiffies()
        self._start = {str(p): process_jiffies(p) for p in pids}

    def others(self) -> float:
        busy, total = cpu_jiffies()
        own = sum(process_jiffies(p) - start for p, start in self._start.items())
        return max(0.0, (busy - self.busy0) - own) / max(1, total - self.total0)

    def own_ms(self, pid: int | str) -> float:
        """CPU ms of ``pid`` (one of ``pids``) since the start: with ``others`` it tells the pipeline's own work
        from the machine's load, and does not vary with the clock of the cores as a frame rate does."""
        return 1000 * (process_jiffies(pid) - self._start[str(pid)]) / os.sysconf('SC_CLK_TCK')


def depth_checkpoint(cache: Path, encoder: str = DEPTH_ENCODER, size: tuple[int, int] = DEPTH_SIZE) -> Path:
    """A U-Net (a ResNet-18 at 240x320 by default) trained one epoch on synthetic scenes (made once, then reused)."""
    path = cache / f'bench_depth_r{encoder.removeprefix("resnet")}_{size[0]}x{size[1]}_synthetic.pt'
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        print(f'training {path.name} (1 epoch on 32 synthetic scenes; speed only) ...', file=sys.stderr)
        subprocess.run([sys.executable, '-m', 'jdd_ros.cli', 'train-depth', '--synthetic', '32', '--epochs', '1',
                        '--encoder', encoder, '--input-size', *map(str, size), '--batch-size', '8', '--val-count',
                        '4', '--no-progress', '--out', str(path)], check=True, stdout=subprocess.DEVNULL)
    return path


def depth_model_name(encoder: str, size: tuple[int, int]) -> str:
    return f'ResNet-{encoder.removeprefix("resnet")} U-Net {size[0]}x{size[1]}'


def cdr_stamp_sec(raw: bytes) -> int:
    """header.stamp.sec of a serialised message that starts with a std_msgs/Header (CDR: a 4-byte encapsulation
    header, then the int32 seconds)."""
    if raw[:2] not in (b'\x00\x01', b'\x00\x00'):
        raise ValueError(f'not a plain CDR message: encapsulation {raw[:4].hex()}')
    return int.from_bytes(raw[4:8], 'little' if raw[1] == 1 else 'big', signed=True)


def image_msg(rgb: np.ndarray, sec: int):
    from sensor_msgs.msg import Image

    from jdd_ros.io.image_codec import fill_image

    msg = fill_image(Image(), rgb, 'rgb8')
    msg.header.stamp.sec = sec
    msg.header.frame_id = 'camera_optical'
    return msg


def run_pipeline(cell: Cell, params: dict, rgb: np.ndarray, checkpoint: Path) -> Cell:
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from jdd_ros.ros.qos import output_qos

    domain = new_domain_id()
    profile = Path(tempfile.mkdtemp(prefix='jdd_ros_bench_stages_')) / 'stages.json'
    args = (['--profile-stages', str(profile)] if 'profiled' in cell.config else []) + \
        (['--inprocess-depth'] if 'in-process depth' in cell.config else [])
    node = NodeProcess('pipeline', domain, params={**FILES, 'checkpoint': str(checkpoint), 'reliability': 'reliable',
                                                   **params}, args=args)
    peer = RosPeer(domain, 'bench_pipeline_camera')
    received: dict[str, dict[int, float]] = {'detections_with_depth': {}, 'detections': {}, 'depth': {}}
    try:
        node.start()
        for pattern in (r'\[detector_node\].*waiting for images', r'\[depth_node\].*waiting for images',
                        r'\[fusion_node\].*ready'):
            node.wait_for_output(pattern, timeout=180)
        for topic, kind in (('detections_with_depth', Detection2DArray), ('detections', Detection2DArray)):
            peer.node.create_subscription(kind, topic, lambda m, t=topic: received[t].setdefault(
                m.header.stamp.sec, time.perf_counter()), output_qos(100))
        # The depth images only counted: taken serialised, their stamp read from the CDR header, so that this
        # process's share of the two cores stays small (deserialising 1.2 MB per frame cost it ~1.5 ms).
        peer.node.create_subscription(Image, 'depth', lambda raw: received['depth'].setdefault(
            cdr_stamp_sec(raw), time.perf_counter()), output_qos(100), raw=True)
        pub = peer.node.create_publisher(Image, 'image', output_qos(5))
        peer.wait_for_subscribers(pub)  # the detector node's: the depth and fusion nodes get its frames in process
        for topic in received:
            peer.wait_for_publishers(topic)
        match = re.search(r'\((\w+ \w+) on cpu: ', node.output)
        cell.backend = match.group(1) if match else '?'
        sent = publish(pub, rgb, cell.rate, WARMUP_S, 1)  # warm-up, stamps 1..
        meter = LoadMeter('self', node.proc.pid)
        sent = publish(pub, rgb, cell.rate, cell.seconds, 10_000)
        cell.others_cpu, cell.cpu_ms = meter.others(), meter.own_ms(node.proc.pid)
        cell.harness_ms = meter.own_ms('self')
        time.sleep(DRAIN_S)
    finally:
        node.stop()
        peer.close()
    cell.fused = len([s for s in received['detections_with_depth'] if s in sent])
    cell.inferred = {t: len([s for s in received[t] if s in sent]) for t in ('detections', 'depth')}
    cell.latencies_ms = [1000 * (t - sent[s]) for s, t in received['detections_with_depth'].items() if s in sent]
    for name in ('detector_node', 'depth_node'):
        times = re.findall(rf'\[{name}\].*inference ([\d.]+) ms', node.output)
        if times:
            cell.infer_ms[name] = statistics.median(float(t) for t in times)
    if profile.is_file():
        cell.stages_ms = stage_durations(json.loads(profile.read_text()), sent, received['detections_with_depth'])
    return cell


STAGES = (  # (what, from stamp, to stamp); 'published' / 'fused': this process's publish and receive times
    ('DDS transport in: camera publish -> image callback (one subscription per camera)', 'published',
     'first received'),
    *(stage for n in ('detector_node', 'depth_node')
      for stage in ((f'{n}: hand-over wait (first callback -> worker starts: the networks finish the previous '
                     'frame)', 'first received', f'{n}: started'),
                    (f'{n}: decode message (rgb8 view)', f'{n}: started', f'{n}: decoded'))),
    ('depth_node: resize + normalise (preprocess)', 'depth_node: decoded', 'depth_node: preprocessed'),
    ('detector_node: detect() (resize + network + NMS)', 'detector_node: network free', 'detector_node: inferred'),
    ('depth_node: network', 'depth_node: network free', 'depth_node: inferred'),
    *((f'{n}: message + publish', f'{n}: inferred', f'{n}: published') for n in ('detector_node', 'depth_node')),
    ('the slower network published -> detections_with_depth received (DDS hops, join, fuse, tracks, publish)',
     'both published', 'fused'),
    ('total: camera publish -> detections_with_depth received', 'published', 'fused'),
)


def stage_durations(rows: list[dict], sent: dict[int, float], fused: dict[int, float]) -> dict[str, list[float]]:
    """Per fused frame, each stage's duration in ms, from the pipeline's stamps and this process's own (one clock:
    perf_counter is CLOCK_MONOTONIC in every process)."""
    out: dict[str, list[float]] = {name: [] for name, _, _ in STAGES}
    for row in rows:
        sec = row['frame'][1] // 1_000_000_000
        stamps = dict(row['stages'])
        if sec not in sent or sec not in fused:
            continue
        received = [v for k, v in stamps.items() if k.endswith(': received')]
        published = [stamps.get(f'{n}: published') for n in ('detector_node', 'depth_node')]
        if not received or None in published:
            continue
        stamps.update({'published': sent[sec], 'fused': fused[sec], 'first received': min(received),
                       'both published': max(published)})
        for name, start, end in STAGES:
            if start in stamps and end in stamps:
                out[name].append(1000 * (stamps[end] - stamps[start]))
    return out


def print_stages(cells: list[Cell]) -> None:
    """The per-stage profile tables, one per profiled configuration: p50 and p90 per stage over its fused frames."""
    for config in CONFIGS:
        print_config_stages([c for c in cells if c.config == config])


def print_config_stages(cells: list[Cell]) -> None:
    stages: dict[str, list[float]] = {}
    for c in cells:
        for name, values in c.stages_ms.items():
            stages.setdefault(name, []).extend(values)
    if not any(stages.values()):
        return
    c = next(c for c in cells if c.stages_ms)
    n = len(stages['total: camera publish -> detections_with_depth received'])
    print(f'\nPer-stage profile, {c.config}, at {c.rate:g} Hz (`pipeline --profile-stages`: stamps taken in the '
          f'nodes, {n} fused frames; the stages of the two networks overlap in time):\n')
    print('| stage | p50 ms | p90 ms |')
    print('|---|---:|---:|')
    for name, values in stages.items():
        if values:
            v = sorted(values)
            print(f'| {name} | {statistics.median(v):.2f} | {v[int(0.9 * (len(v) - 1))]:.2f} |')


def publish(pub, rgb: np.ndarray, rate: float, seconds: float, first_stamp: int) -> dict[int, float]:
    """Publish ``rgb`` at ``rate`` for ``seconds``; {stamp: publish time}."""
    sent, start = {}, time.perf_counter()
    msg = image_msg(rgb, first_stamp)  # one message, its stamp changed per frame: the camera's cost stays small
    for i in range(int(round(rate * seconds))):
        wait = start + i / rate - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        msg.header.stamp.sec = first_stamp + i
        sent[first_stamp + i] = time.perf_counter()
        pub.publish(msg)
    return sent


class SerialReference:
    """OpenCV DNN, then ONNX Runtime fp32, then fuse(), one frame after the other in this process."""

    def __init__(self, checkpoint: Path, threads: int):
        from jdd_ros.core.fusion import fuse
        from jdd_ros.depth.estimator import DepthEstimator
        from jdd_ros.detect.base import read_names
        from jdd_ros.detect.darknet.opencv_reference import OpenCVDarknet
        from jdd_ros.param_types import FusionNodeParams as FusionSettings  # the node's snapshot

        cv2.setNumThreads(threads)
        self.names = read_names(FILES['names'])
        self.opencv = OpenCVDarknet(FILES['cfg'], FILES['weights'], (416, 416))
        self.depth = DepthEstimator.from_checkpoint(checkpoint, backend='onnxruntime', precision='fp32',
                                                    threads=threads)
        self.settings, self._fuse = FusionSettings(), fuse

    def frame(self, rgb: np.ndarray) -> int:
        detections = self.opencv.detect(rgb, self.names)
        depth = self.depth.predict(rgb)
        return len(self._fuse(detections, depth, self.settings).kept)

    def run(self, cell: Cell, rgb: np.ndarray) -> Cell:
        """A simulated camera at ``cell.rate``: when free, take the newest frame (older ones are skipped)."""
        for _ in range(2):
            self.frame(rgb)
        meter = LoadMeter('self')
        start, last = time.perf_counter(), -1
        while True:
            now = time.perf_counter()
            if now - start >= cell.seconds:
                break
            newest = int((now - start) * cell.rate)
            if newest == last:
                time.sleep(max(0.0, start + (newest + 1) / cell.rate - now))
                continue
            self.frame(rgb)
            cell.latencies_ms.append(1000 * (time.perf_counter() - (start + newest / cell.rate)))
            last = newest
        cell.others_cpu, cell.cpu_ms = meter.others(), meter.own_ms('self')
        cell.fused = len(cell.latencies_ms)
        cell.inferred = {'detections': cell.fused, 'depth': cell.fused}
        cell.backend = 'OpenCV DNN + onnxruntime fp32'
        return cell


def networks_alone(checkpoint: Path) -> dict:
    """``measure_networks_alone`` in a fresh process: this one holds the serial reference's OpenCV and ONNX Runtime
    thread pools, which measurably slowed the networks after the cells (14 + 27 ms against 7 + 11 ms before)."""
    out = subprocess.run([sys.executable, __file__, '--networks-alone', str(checkpoint)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_networks_alone(checkpoint: Path, rgb: np.ndarray, repeats: int = 30) -> dict:
    """The package's own two networks, each alone with every core, on the pipeline's backend auto and default
    threads: median ms of ``Detector.detect`` and ``DepthModel.predict`` (the work each node does per frame). Their
    sum bounds the pipeline: it cannot fuse more than 1 / (t_detector + t_depth) frames/s on cores the two networks
    share. Also the CPU ms the two take per frame, back to back: the pipeline's CPU per fused frame beyond it is
    everything that is not inference."""
    from jdd_ros.depth.estimator import DepthEstimator
    from jdd_ros.detect.registry import build_detector
    from jdd_ros.params import snapshot

    detector = build_detector(snapshot('detector_node', dict(FILES)))
    depth = DepthEstimator.from_checkpoint(checkpoint, backend='auto', precision='auto')
    out = {}
    for name, run in (('detector', lambda: detector.detect(rgb)), ('depth', lambda: depth.predict(rgb))):
        for _ in range(3):
            run()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(1000 * (time.perf_counter() - start))
        out[name] = statistics.median(times)
    start = time.process_time()  # the CPU both take per frame, back to back (every thread of this process)
    for _ in range(repeats):
        detector.detect(rgb)
        depth.predict(rgb)
    out['cpu_both'] = 1000 * (time.process_time() - start) / repeats
    out['backend'] = f'{detector.backend} {detector.precision} / {depth.backend} {depth.precision}'
    return out


def merged(cells: list[Cell]) -> list[Cell]:
    """One cell per (configuration, rate): the rounds' frames and seconds summed, their CPU shares averaged."""
    out: dict[tuple[str, float], Cell] = {}
    for c in cells:
        m = out.setdefault((c.config, c.rate), Cell(c.config, c.rate, 0.0, inferred={'detections': 0, 'depth': 0},
                                                    backend=c.backend))
        n = m.seconds / c.seconds if c.seconds else 0
        m.others_cpu = (m.others_cpu * n + c.others_cpu) / (n + 1)
        m.seconds += c.seconds
        m.cpu_ms += c.cpu_ms
        m.harness_ms += c.harness_ms
        m.fused += c.fused
        m.latencies_ms += c.latencies_ms
        for k, v in c.inferred.items():
            m.inferred[k] += v
        for k, v in c.infer_ms.items():
            m.infer_ms[k] = (m.infer_ms.get(k, v) * n + v) / (n + 1)
    return list(out.values())


def print_tables(cells: list[Cell], load: tuple[float, float], rounds: int, alone: list[dict] | None = None,
                 top: float | None = None, depth_model: str = depth_model_name(DEPTH_ENCODER, DEPTH_SIZE)) -> None:
    """``top``: the highest of the regular rates (the targets' rate); a higher one is the above-limit cell."""
    from jdd_ros.inference.backends import resolve_backend

    choice = resolve_backend('auto', 'cpu')
    print(f'\nPipeline, {platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} usable cores; '
          f"backend auto here: {choice} ({choice.reason}); yolov4-tiny 416 + {depth_model} (synthetic "
          f'weights), 640x480 rgb8 input; {rounds} round(s) per cell, interleaved; load average before/after: '
          f'{load[0]:.2f} / {load[1]:.2f}\n')
    cells = merged(cells)
    print('| input | configuration | runs | fused frames/s | latency median ms | p90 ms | inferred (det / depth) | '
          'fused / inferred by the slower | inference ms (det / depth) | CPU ms per fused frame | '
          'others\' CPU share |')
    print('|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|')
    for rate in sorted({c.rate for c in cells}):
        for config in CONFIGS:
            row = [c for c in cells if c.rate == rate and c.config == config]
            if not row:
                continue
            c = row[0]
            slower = min(c.inferred.values()) or 1
            lat = sorted(c.latencies_ms) or [float('nan')]
            infer = ' / '.join(f"{c.infer_ms[n]:.0f}" for n in ('detector_node', 'depth_node') if n in c.infer_ms)
            print(f'| {rate:g} Hz | {config} | {c.backend} | **{c.fused / c.seconds:.2f}** | '
                  f'{statistics.median(lat):.0f} | {lat[int(0.9 * (len(lat) - 1))]:.0f} | '
                  f"{c.inferred['detections']} / {c.inferred['depth']} | {100 * c.fused / slower:.0f} % | "
                  f'{infer or "-"} | {c.cpu_ms / (c.fused or 1):.1f} | {100 * c.others_cpu:.0f} % |')
    top = top or max(c.rate for c in cells)
    ref = next((c for c in cells if c.rate == top and c.config == 'serial reference'), None)
    auto = next((c for c in cells if c.rate == top and c.config == AUTO), None)
    ceiling = next((c for c in cells if c.rate > top and c.config == AUTO), None)
    if ref and auto and ref.fused:
        fraction = auto.fused / (min(auto.inferred.values()) or 1)
        print(f'\nAt {top:g} Hz: the pipeline (auto) fuses {auto.fused / auto.seconds:.2f} frames/s, '
              f'{auto.fused / ref.fused * ref.seconds / auto.seconds:.2f}x the serial reference '
              f'({ref.fused / ref.seconds:.2f}/s, target >= 2.0x); {100 * fraction:.0f} % of the frames the slower '
              f'network inferred came out fused (target >= 95 %); latency p50 '
              f'{statistics.median(auto.latencies_ms or [float("nan")]):.0f} ms from the image\'s publication to '
              'detections_with_depth.')
    if alone and auto:
        det = statistics.mean(a['detector'] for a in alone)
        dep = statistics.mean(a['depth'] for a in alone)
        each = ', '.join(f"{a['detector']:.1f} + {a['depth']:.1f} ms" for a in alone)
        limit = 1000 / (det + dep)
        rate = auto.fused / auto.seconds
        print(f"\nThe networks alone in this run ({alone[0]['backend']}, every core each, in a fresh process; "
              f'before and after the cells: {each}): detector {det:.1f} ms + depth {dep:.1f} ms, so '
              '1 / (t_detector + t_depth) = '
              f'{limit:.2f} frames/s; the pipeline at {top:g} Hz fuses {rate:.2f}/s = {rate / limit:.2f}x that '
              f'(target >= 0.9x), {rate / min(limit, top):.2f}x the lower of that limit and the input rate.')
        print_cpu_budget(auto, alone, limit)
        if ceiling and ceiling.fused:
            rate = ceiling.fused / ceiling.seconds
            print(f'\nWith {ceiling.rate:g} Hz input (above what the networks allow; backend auto only), the pipeline '
                  f'fuses {rate:.2f}/s = {rate / limit:.2f}x 1 / (t_detector + t_depth), '
                  f'{100 * ceiling.fused / (min(ceiling.inferred.values()) or 1):.0f} % of the inferred frames; '
                  f'latency p50 {statistics.median(ceiling.latencies_ms):.0f} ms.')
    one = next((c for c in cells if c.rate == top and 'thread' in c.config), None)
    if auto and one and one.fused:
        print(f'\nAll the cores for each network (threads 0) against one thread each, at {top:g} Hz: '
              f'{auto.fused / auto.seconds:.2f} against {one.fused / one.seconds:.2f} fused frames/s '
              f'({auto.fused / auto.seconds / (one.fused / one.seconds):.2f}x).')


def print_cpu_budget(auto: Cell, alone: list[dict], limit: float) -> None:
    """Where the pipeline's CPU per fused frame goes beyond the two networks' own, and what 0.9x the limit leaves
    for it: on cores the networks fill, every ms of other work per frame is a frame rate the networks cannot have."""
    if not auto.fused or not all('cpu_both' in a for a in alone):
        return
    cores = len(os.sched_getaffinity(0))
    networks = statistics.mean(a['cpu_both'] for a in alone)
    per_frame = auto.cpu_ms / auto.fused
    budget = cores * 1000 / (0.9 * limit)
    print(f'\nCPU per fused frame (pipeline, auto, at the top rate): {per_frame:.1f} ms in the pipeline process '
          f'(its {auto.cpu_ms / 1000 / auto.seconds:.2f} cores over {auto.fused / auto.seconds:.2f} fused frames/s); '
          f'the two networks alone, back to back: {networks:.1f} ms; so {per_frame - networks:.1f} ms per frame is '
          f'everything else in the pipeline (transport, conversions, fusion, tracking, publishing, the networks '
          f'sharing the cores), and {auto.harness_ms / auto.fused:.1f} ms this benchmark\'s own (the simulated '
          f'camera and the subscriptions that count the outputs). At 0.9x the limit ({0.9 * limit:.2f}/s) the '
          f'{cores} cores give {budget:.1f} ms per frame: {budget - networks:.1f} ms for everything else, the camera '
          'included.')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=12.0, help='measured seconds per cell and round')
    parser.add_argument('--rates', default='15,30', help='input rates (Hz)')
    parser.add_argument('--rounds', type=int, default=2, help='repeat every cell, interleaved')
    parser.add_argument('--above-limit', type=float, default=60.0, metavar='HZ',
                        help='one more input rate, above what the networks allow, for backend auto only: the '
                             "pipeline's own ceiling against 1 / (t_detector + t_depth) (0: none)")
    parser.add_argument('--configs', default=','.join(SHORT), help=f"subset of {','.join(SHORT)}")
    parser.add_argument('--depth-encoder', default=DEPTH_ENCODER, choices=('resnet18', 'resnet34', 'resnet50'))
    parser.add_argument('--depth-size', default=f'{DEPTH_SIZE[0]},{DEPTH_SIZE[1]}', metavar='H,W',
                        help="the depth network's input")
    parser.add_argument('--network-bound', action=argparse.BooleanOptionalAction, default=True,
                        help=f'after a run with the default models, run auto and the serial reference at the top rate '
                             f'once more with a {depth_model_name(*NETWORK_BOUND)}, where that rate is above what the '
                             'networks allow')
    parser.add_argument('--networks-alone', metavar='CHECKPOINT', help=argparse.SUPPRESS)  # networks_alone's child
    args = parser.parse_args()
    from jdd_ros.ros.node_process import tune_malloc

    tune_malloc()  # as the pipeline does: the camera's 1 MB frames are not page-faulted in afresh each time
    depth_size = tuple(int(v) for v in args.depth_size.split(','))
    if args.networks_alone:
        print(json.dumps(measure_networks_alone(Path(args.networks_alone), tum_desk_rgb())))
        return 0
    wanted = [SHORT[c] for c in args.configs.split(',')]
    cache = Path(os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache') / 'jdd_ros' / 'bench'
    checkpoint = depth_checkpoint(cache, args.depth_encoder, depth_size)
    rgb = tum_desk_rgb()
    serial = SerialReference(checkpoint, len(os.sched_getaffinity(0)))
    alone = [networks_alone(checkpoint)]
    rates = [float(r) for r in args.rates.split(',')]
    above = [args.above_limit] if args.above_limit else []
    load_before = os.getloadavg()[0]
    cells, turn = [], 0
    for _, rate in ((r, rate) for r in range(args.rounds) for rate in rates + above):
        if rate in above and rate not in rates:  # the pipeline's own ceiling: backend auto only
            configs = [c for c in wanted if c == AUTO]
        else:
            configs = [c for c in wanted if c not in TOP_RATE_ONLY or rate == max(rates)]
        configs = configs[turn % len(configs):] + configs[:turn % len(configs)]  # rotate the order every time
        turn += 1
        for config in configs:
            cell = Cell(config, rate, args.seconds)
            if CONFIGS[config] is None:
                serial.run(cell, rgb)
            else:
                run_pipeline(cell, CONFIGS[config], rgb, checkpoint)
            print(f'{rate:g} Hz {config}: {cell.fused / cell.seconds:.2f} fused/s, inferred {cell.inferred}, '
                  f'others {100 * cell.others_cpu:.0f} %', file=sys.stderr)
            cells.append(cell)
    alone.append(networks_alone(checkpoint))
    print_tables(cells, (load_before, os.getloadavg()[0]), args.rounds, alone, max(rates),
                 depth_model_name(args.depth_encoder, depth_size))
    print_stages([c for c in cells if c.stages_ms])
    if args.network_bound and (args.depth_encoder, depth_size) == (DEPTH_ENCODER, DEPTH_SIZE):
        sys.stdout.flush()
        encoder, (height, width) = NETWORK_BOUND
        return subprocess.run([sys.executable, __file__, '--depth-encoder', encoder, '--depth-size',
                               f'{height},{width}', '--rates', f'{max(rates):g}', '--above-limit', '0', '--configs',
                               'auto,serial', '--rounds', str(args.rounds), '--seconds', str(args.seconds)]).returncode
    return 0


if __name__ == '__main__':
    sys.exit(main())
