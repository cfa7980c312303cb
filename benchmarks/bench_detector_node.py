"""detector_node overhead versus inference, on the real TUM desk frame with the real yolov4-tiny.

Part 1 (in process) times each step the node performs per frame with the node's own functions: message -> RGB
(rgb8 and bgr8), resize to the network input, the network, post-processing (threshold + NMS + boxes to pixels),
Detection2DArray building + publishing (serialisation to a real subscriber), and the optional debug image.
Part 2 (two processes) starts the real ``detector_node``, feeds it frames at a fixed rate over DDS and reports the
publish -> detections latency and the node's own per-frame statistics.

Goal: node overhead (everything but the network) < 10 % of inference. Prints Markdown tables.
Usage: .venv/bin/python benchmarks/bench_detector_node.py [--iterations 30] [--threads N] [--no-e2e]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'test'))
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'  # harness sets it too; never discover beyond this host

from bench_data import tum_desk_rgb, yolov4_tiny_files  # noqa: E402
from harness import NodeProcess, RosPeer, new_domain_id  # noqa: E402

FILES = yolov4_tiny_files()



def timed(fn, iterations: int) -> tuple[float, object]:
    """Median milliseconds of ``fn()`` over ``iterations`` runs (after one warm-up) and its last result."""
    out = fn()
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times), out


def in_process(iterations: int, threads: int) -> list[tuple[str, float]]:
    import rclpy
    import torch
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from jdd_ros.detect.darknet.detector import YoloDetector
    from jdd_ros.detect.postprocess import select_detections
    from jdd_ros.io.drawing import draw_detections
    from jdd_ros.io.image_codec import fill_image, image_to_numpy, to_rgb8
    from jdd_ros.ros.messages import detections_to_msg
    from jdd_ros.ros.node_process import tune_malloc
    from jdd_ros.ros.qos import output_qos

    tune_malloc()
    torch.set_num_threads(threads)
    det = YoloDetector(FILES['cfg'], FILES['weights'], FILES['names'], device='cpu')  # the node's default backend
    rgb = tum_desk_rgb()
    msgs = {enc: fill_image(Image(), arr, enc) for enc, arr in
            (('rgb8', rgb), ('bgr8', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)))}
    h, w = det.input_size
    rows = {}

    rows['decode rgb8 message'], _ = timed(lambda: to_rgb8(image_to_numpy(msgs['rgb8']), 'rgb8'), iterations)
    rows['decode bgr8 message (+ BGR->RGB)'], _ = timed(lambda: to_rgb8(image_to_numpy(msgs['bgr8']), 'bgr8'),
                                                       iterations)
    rows['resize to network input'], resized = timed(
        lambda: cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR), iterations)
    raw_ms, heads = timed(lambda: det.raw_outputs(resized), iterations)  # input already at size: network only
    rows_all = np.concatenate(heads, axis=0)
    rows['post-processing (threshold, NMS, boxes)'], _ = timed(
        lambda: select_detections(rows_all, rgb.shape[:2], 0.25, 0.45, None), iterations)
    full_ms, detections = timed(lambda: det.detect(rgb), iterations)

    rclpy.init(domain_id=new_domain_id())
    node = rclpy.create_node('bench_detector_overhead')
    sink = rclpy.create_node('bench_detector_sink')
    received = []
    sink.create_subscription(Detection2DArray, 'bench_detections', received.append, output_qos(100))
    pub = node.create_publisher(Detection2DArray, 'bench_detections', output_qos(5))
    deadline = time.monotonic() + 10
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    header = msgs['rgb8'].header
    rows['Detection2DArray build + publish'], _ = timed(lambda: pub.publish(detections_to_msg(detections, header)),
                                                        iterations)

    def debug_image():
        drawn, _ = draw_detections(rgb, detections)
        out = fill_image(Image(), drawn, 'rgb8')
        out.header = header
        return out
    rows['debug image (draw + fill, optional)'], _ = timed(debug_image, iterations)
    node.destroy_node()
    sink.destroy_node()
    rclpy.shutdown()

    network_ms = raw_ms
    overhead = (rows['decode rgb8 message'] + rows['resize to network input']
                + rows['post-processing (threshold, NMS, boxes)'] + rows['Detection2DArray build + publish'])
    table = [(name, ms) for name, ms in rows.items()]
    table.insert(3, ('**network (inference)**', network_ms))
    table += [('detect() total (resize + network + post-processing)', full_ms),
              ('**node overhead per frame** (rgb8 decode, resize, post-processing, message, publish)', overhead)]
    print(f'\n### detector_node per-frame costs (yolov4-tiny {w}x{h}, 640x480 TUM frame, {det.backend} {det.precision} '
          f'on CPU, {threads} thread(s), {len(detections)} detections, median of {iterations})\n')
    print('| step | ms | % of inference |')
    print('|---|---:|---:|')
    for name, ms in table:
        print(f'| {name} | {ms:.2f} | {100 * ms / network_ms:.1f} % |')
    return table


def end_to_end(frames: int, rate_hz: float) -> None:
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from jdd_ros.io.image_codec import fill_image

    rgb = tum_desk_rgb()
    domain = new_domain_id()
    peer = RosPeer(domain, 'bench_detector_peer')
    sent: dict[int, float] = {}
    latencies: list[float] = []

    class Recorder:
        def put(self, msg):
            t = time.perf_counter()
            if msg.header.stamp.sec in sent:
                latencies.append(1000 * (t - sent[msg.header.stamp.sec]))

    node = NodeProcess('detector_node', domain, params={**FILES, 'reliability': 'reliable'})
    try:
        node.start()
        node.wait_for_output('waiting for images', timeout=120)
        pub = peer.publisher(Image, 'image')
        peer.node.create_subscription(Detection2DArray, 'detections', Recorder().put, 10)
        peer.wait_for_subscribers(pub)
        peer.wait_for_publishers('detections')
        time.sleep(0.5)
        for i in range(frames):
            msg = fill_image(Image(), rgb, 'rgb8')
            msg.header.stamp.sec = 1000 + i
            sent[1000 + i] = time.perf_counter()
            pub.publish(msg)
            time.sleep(1.0 / rate_hz)
        time.sleep(1.0)
        node.stop()
        stats = re.findall(r'inference ([\d.]+) ms, node overhead ([\d.]+) ms', node.output)
        skipped = re.findall(r'(\d+) frames received, (\d+) inferred, (\d+) skipped', node.output)
    finally:
        node.stop()
        peer.close()
    print(f'\n### detector_node across processes ({frames} rgb8 640x480 frames at {rate_hz:g} Hz, reliable)\n')
    print('| measure | value |')
    print('|---|---:|')
    if latencies:
        print(f'| frames answered | {len(latencies)} of {frames} |')
        print(f'| publish -> detections latency, median | {statistics.median(latencies):.1f} ms |')
        print(f'| publish -> detections latency, max | {max(latencies):.1f} ms |')
    if stats:
        infer, overhead = (float(v) for v in stats[-1])
        print(f'| node: inference per frame (detect()) | {infer:.1f} ms |')
        print(f'| node: overhead per frame (decode, message, publish) | {overhead:.1f} ms '
              f'({100 * overhead / infer:.1f} %) |')
    if skipped:
        print(f'| node: received / inferred / skipped | {" / ".join(skipped[-1])} |')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--iterations', type=int, default=30)
    parser.add_argument('--threads', type=int, default=os.cpu_count() or 1, help='torch CPU threads')
    parser.add_argument('--frames', type=int, default=40, help='frames sent to the node process')
    parser.add_argument('--rate', type=float, default=5.0, help='frame rate (Hz) sent to the node process')
    parser.add_argument('--no-e2e', action='store_true', help='skip the two-process measurement')
    args = parser.parse_args()
    print(f'Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s), '
          f'Python {platform.python_version()}')
    in_process(args.iterations, args.threads)
    if not args.no_e2e:
        end_to_end(args.frames, args.rate)
    return 0


if __name__ == '__main__':
    sys.exit(main())
