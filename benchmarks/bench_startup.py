"""Start-up and memory of the one-process pipeline (what `jdd-ros launch` starts): the time from starting the
`pipeline` executable to its first `detections_with_depth`, with a cold cache (the ONNX exports and compiled models
made at start-up) and with warm caches, and the process's resident memory (VmRSS, and its peak VmHWM) once it runs,
with whether torch was loaded (libtorch mapped into the process).

Models: the real COCO yolov4-tiny (416) and a ResNet-18 U-Net at 240x320 (the checkpoint bench_pipeline.py trains
once: speed and memory are the real network's). Backend auto (what `resolve_backend` picks here). Input: the TUM
desk frame, 640x480 rgb8, published reliable at 30 Hz from the moment the process starts; the resident memory is
read after 3 s of frames at 30 Hz following the first fused output. Each run: a fresh process, its own
ROS_DOMAIN_ID, LOCALHOST discovery and log directory; the cold run gets an empty cache directory
(XDG_CACHE_HOME), which the warm runs then reuse.
Prints a Markdown table. Usage: .venv/bin/python benchmarks/bench_startup.py [--warm-runs 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'test'))
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'  # harness sets it too; never discover beyond this host

from bench_data import tum_desk_rgb, yolov4_tiny_files  # noqa: E402
from bench_pipeline import depth_checkpoint, image_msg  # noqa: E402
from harness import NodeProcess, RosPeer, new_domain_id  # noqa: E402

FILES = yolov4_tiny_files()
RATE_HZ = 30.0
STEADY_S = 3.0


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in MB."""
    out = {}
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith(('VmRSS:', 'VmHWM:')):
            out[line.split(':')[0]] = int(line.split()[1]) // 1024
    return out


def loaded_torch(pid: int) -> bool:
    return 'libtorch' in Path(f'/proc/{pid}/maps').read_text()


def run_once(cache_dir: Path, checkpoint: Path, rgb) -> dict[str, object]:
    """Start the pipeline, publish frames until its first fused output; the timings and its memory."""
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from jdd_ros.ros.qos import output_qos

    domain = new_domain_id()
    peer = RosPeer(domain, 'bench_startup_camera')
    first: list[float] = []
    peer.node.create_subscription(Detection2DArray, 'detections_with_depth',
                                  lambda m: first or first.append(time.perf_counter()), output_qos(10))
    pub = peer.node.create_publisher(Image, 'image', output_qos(5))
    node = NodeProcess('pipeline', domain, params={**FILES, 'checkpoint': str(checkpoint), 'reliability': 'reliable'},
                       XDG_CACHE_HOME=str(cache_dir))
    stop = threading.Event()

    def camera() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            pub.publish(image_msg(rgb, i))
            stop.wait(1.0 / RATE_HZ)
    try:
        start = time.perf_counter()
        node.start()
        feeder = threading.Thread(target=camera, daemon=True)
        feeder.start()
        while not first and node.proc.poll() is None and time.perf_counter() - start < 600:
            time.sleep(0.01)
        if not first:
            raise SystemExit(f'no fused output; pipeline output:\n{node.output}')
        time.sleep(STEADY_S)
        memory = proc_status(node.proc.pid)
        torch = loaded_torch(node.proc.pid)
        stop.set()
        feeder.join()
    finally:
        stop.set()
        node.stop()
        peer.close()
    return {'first_s': first[0] - start, **memory, 'torch': torch}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--warm-runs', type=int, default=2)
    args = parser.parse_args()
    cache = Path(os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache') / 'jdd_ros' / 'bench'
    checkpoint = depth_checkpoint(cache)
    rgb = tum_desk_rgb()
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix='jdd_ros_bench_startup_') as tmp:
        rows.append(('cold cache', run_once(Path(tmp), checkpoint, rgb)))
        for i in range(args.warm_runs):
            rows.append((f'warm caches, run {i + 1}', run_once(Path(tmp), checkpoint, rgb)))
    print(f'pipeline (yolov4-tiny 416 + ResNet-18 U-Net 240x320, backend auto), 640x480 frames at {RATE_HZ:g} Hz; '
          f'load average before: {load_before:.2f}\n')
    print('| start | to first fused output | resident memory (VmRSS) | peak (VmHWM) | torch loaded |')
    print('|---|---|---|---|---|')
    for label, r in rows:
        print(f"| {label} | {r['first_s']:.1f} s | {r['VmRSS']} MB | {r['VmHWM']} MB | "
              f"{'yes' if r['torch'] else 'no'} |")
    return 0


if __name__ == '__main__':
    sys.exit(main())
