"""Fraction of camera frames fused by the pipeline, from a reliable and from a best-effort 640x480 camera at 5 Hz.

The nodes as joint.launch.py starts them: ``jdd-ros launch depth_source:=sensor`` (the same description,
jdd_ros/bringup.py: one pipeline process with detector_node and fusion_node, default parameters, so inputs with
reliability 'auto') with the real yolov4-tiny. The camera is this process: an RGB-D camera driver that nobody
configured (Fast DDS defaults, nothing exported: harness.py removes FASTDDS_* from this environment, and neither side
gets a profile from outside; the pipeline applies its own, jdd_ros/ros/dds_config.py). It publishes the TUM desk
frame (rgb8), its depth (16UC1) and camera_info, each frame with a new stamp, at the given rate, with the QoS of a
driver: reliable keep-last 10 (ROS default) or best-effort keep-last 5 (sensor data). Counted: results on
detections_with_depth whose stamp is one of the frames sent, after the pipeline matched the camera (the nodes log
it). Also reported: the detector's and fusion node's own counts at shutdown (skipped, lost in transport).

Usage: .venv/bin/python benchmarks/bench_pipeline_qos.py [--frames 50] [--rate 5]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'test'))

from harness import NodeProcess, RosPeer, fixture, new_domain_id, yolov4_tiny_files  # noqa: E402  (LOCALHOST, no FASTDDS_*)

NS = '/bench_qos'


def _messages():
    import cv2
    from sensor_msgs.msg import CameraInfo, Image

    from jdd_ros.io.image_codec import fill_image

    rgb = cv2.cvtColor(cv2.imread(str(fixture('tum_desk_color.png'))), cv2.COLOR_BGR2RGB)
    mm = cv2.imread(str(fixture('tum_desk_depth_mm.png')), cv2.IMREAD_UNCHANGED)
    return {'camera_info': CameraInfo(width=640, height=480, k=[525.0, 0, 319.5, 0, 525.0, 239.5, 0, 0, 1.0]),
            'depth': fill_image(Image(), mm, '16UC1'), 'color': fill_image(Image(), rgb, 'rgb8')}


def run(reliability: str, frames: int, rate: float) -> dict:
    from builtin_interfaces.msg import Time
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from vision_msgs.msg import Detection2DArray

    domain = new_domain_id()
    qos = (QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
           if reliability == 'reliable' else
           QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.BEST_EFFORT))
    msgs = _messages()
    peer = RosPeer(domain, 'bench_camera')
    args = ['launch', 'depth_source:=sensor', f'image:={NS}/color', f'depth:={NS}/depth',
            f'camera_info:={NS}/camera_info'] + [f'{k}:={v}' for k, v in yolov4_tiny_files().items()]
    launch = NodeProcess('jdd-ros', domain, args=args)
    try:
        launch.start()
        launch.wait_for_output(r'\[detector_node\]: .*waiting for images', timeout=180)
        pubs = {k: peer.publisher(type(m), f'{NS}/{k}', qos) for k, m in msgs.items()}
        sent_at: dict[int, float] = {}
        received: dict[int, float] = {}
        peer.node.create_subscription(
            Detection2DArray, '/detections_with_depth',
            lambda m: received.setdefault(m.header.stamp.sec * 10**9 + m.header.stamp.nanosec, time.monotonic()),
            QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
        for node, key in (('detector_node', 'color'), ('fusion_node', 'color'), ('fusion_node', 'depth'),
                          ('fusion_node', 'camera_info')):
            launch.wait_for_matched(pubs[key].topic_name, node=node, timeout=60)
        peer.wait_for_publishers('/detections_with_depth')
        sub = next(s for s in peer.node.subscriptions if s.topic_name == '/detections_with_depth')
        deadline = time.monotonic() + 30
        while sub.get_publisher_count() == 0:
            if time.monotonic() > deadline:
                raise RuntimeError('detections_with_depth never matched')
            time.sleep(0.05)
        period = 1.0 / rate
        t0 = time.monotonic()
        for i in range(frames):
            time.sleep(max(0.0, t0 + i * period - time.monotonic()))
            stamp = Time(sec=2000 + i, nanosec=0)
            for key in ('camera_info', 'depth', 'color'):
                msgs[key].header.stamp, msgs[key].header.frame_id = stamp, 'camera_color_optical_frame'
                pubs[key].publish(msgs[key])
            sent_at[(2000 + i) * 10**9] = time.monotonic()
        deadline = time.monotonic() + 5.0
        while len(set(received) & set(sent_at)) < frames and time.monotonic() < deadline:
            time.sleep(0.1)
        switched = [ln for ln in launch.lines if 'switched from' in ln]
    finally:
        code = launch.stop(30)
        peer.close()
    fused = set(received) & set(sent_at)
    latencies = [1000 * (received[s] - sent_at[s]) for s in fused]
    stats = {name: (re.search(rf'\[{name}\]: at shutdown: (.*)', launch.output) or [None, ''])[1]
             for name in ('detector_node', 'fusion_node')}
    return {'reliability': reliability, 'sent': frames, 'fused': len(fused), 'exit': code,
            'latency_ms': statistics.median(latencies) if latencies else float('nan'),
            'switched': len(switched), 'stats': stats}


def _kernel() -> str:
    def read(path: str) -> str:
        try:
            return Path(path).read_text().strip()
        except OSError:
            return '?'

    st = os.statvfs('/dev/shm')
    return (f'net.core.rmem_max={read("/proc/sys/net/core/rmem_max")}, wmem_max={read("/proc/sys/net/core/wmem_max")}'
            f', /dev/shm {st.f_blocks * st.f_frsize / 2**20:.0f} MiB ({st.f_bavail * st.f_frsize / 2**20:.0f} free)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, default=50)
    parser.add_argument('--rate', type=float, default=5.0)
    args = parser.parse_args()
    exported = sorted(k for k in os.environ if k.startswith(('FASTDDS', 'FASTRTPS', 'RMW_FASTRTPS')))
    print(f'Pipeline (jdd-ros launch depth_source:=sensor, yolov4-tiny), camera in another process with Fast DDS '
          f'defaults, 640x480 rgb8 + 16UC1 + camera_info at {args.rate:g} Hz, {args.frames} frames; '
          f"DDS variables exported: {', '.join(exported) or 'none'}; {_kernel()}\n")
    print('| camera QoS | frames fused | fraction | median latency (publish -> detections_with_depth) |')
    print('|---|---:|---:|---:|')
    results = [run(r, args.frames, args.rate) for r in ('reliable', 'best_effort')]
    for r in results:
        print(f"| {r['reliability']} | {r['fused']} of {r['sent']} | {100 * r['fused'] / r['sent']:.0f} % "
              f"| {r['latency_ms']:.0f} ms |")
    print()
    for r in results:
        print(f"- {r['reliability']}: pipeline exit {r['exit']}, inputs switched reliability {r['switched']} time(s); "
              f"detector_node at shutdown: {r['stats']['detector_node']}; fusion_node: "
              f"{r['stats']['fusion_node'].split('; detections')[0]}")
    return 0 if results[0]['fused'] >= 0.9 * results[0]['sent'] else 1


if __name__ == '__main__':
    sys.exit(main())
