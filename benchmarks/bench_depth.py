"""Depth model speed: ms per frame of the ResNet-18/34 U-Nets at 240x320 and 480x640 with torch, ONNX Runtime and
OpenVINO (fp32, and bf16 where the CPU computes it natively: what backend 'auto' runs there), the backends taking turns
run by run, and depth_node's own overhead per frame (message decode, resize, normalise, resize back, encode,
publish) beside it.

Speed does not depend on the weights, so the models here have random weights (marked as such in their temporary
checkpoints); nothing from this script is ever published as depth. Prints Markdown tables.

    .venv/bin/python benchmarks/bench_depth.py [--repeats 10] [--threads 0] [--no-ros]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # as jdd_ros.depth sets it; must precede the torch import

SIZES = ((240, 320), (480, 640))
ENCODERS = ('resnet18', 'resnet34')
# label -> (backend, precision); OpenVINO bf16 is added where the CPU computes bf16 natively
BACKENDS = {'torch': ('torch', 'fp32'), 'onnxruntime': ('onnxruntime', 'fp32'), 'openvino fp32': ('openvino', 'fp32')}
CAMERA = (480, 640)  # the camera frame the node receives


def _timeit(fn, repeats: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000.0)
    return out


def _checkpoint(directory: Path, encoder: str, size: tuple[int, int]) -> Path:
    from jdd_ros.depth.checkpoint import DepthModelMeta, save_checkpoint
    from jdd_ros.depth.unet import DepthUNet

    path = directory / f'{encoder}_{size[0]}x{size[1]}.pt'
    if not path.exists():
        meta = DepthModelMeta(encoder=encoder, input_size=size, trained_on='benchmark-random-weights', epochs=1,
                              notes='random weights, for timing only')
        save_checkpoint(path, DepthUNet(encoder).eval(), meta)
    return path


def _camera_frame() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (*CAMERA, 3), dtype=np.uint8)


def bench_models(tmp: Path, repeats: int, threads: int) -> list[tuple]:
    """The backends take turns run by run, so a change in the machine's load hits all of them alike."""
    from jdd_ros.depth.estimator import DepthEstimator
    from jdd_ros.inference.openvino import cpu_supports_bf16

    backends = {**BACKENDS, **({'openvino bf16': ('openvino', 'bf16')} if cpu_supports_bf16() else {})}
    frame = _camera_frame()
    rows = []
    for encoder in ENCODERS:
        for size in SIZES:
            ckpt = _checkpoint(tmp, encoder, size)
            ests = {b: DepthEstimator.from_checkpoint(ckpt, backend=backend, precision=precision, threads=threads)
                    for b, (backend, precision) in backends.items()}
            batch = ests['torch'].preprocess(frame)[None]
            net: dict[str, list[float]] = {b: [] for b in backends}
            full: dict[str, list[float]] = {b: [] for b in backends}
            for _ in range(2):  # warm-up
                for est in ests.values():
                    est.predict(frame)
            for _ in range(repeats):
                for b, est in ests.items():
                    net[b] += _timeit(lambda est=est, batch=batch: est.run_network(batch), 1, warmup=0)
                    full[b] += _timeit(lambda est=est: est.predict(frame), 1, warmup=0)
            for b in backends:
                rows.append((encoder, f'{size[1]}x{size[0]}', b, statistics.median(net[b]), min(net[b]),
                             statistics.median(full[b])))
                print(f'  {encoder} {size[1]}x{size[0]} {b}: {statistics.median(net[b]):.1f} ms', file=sys.stderr)
    return rows


def bench_node_overhead(tmp: Path, repeats: int, threads: int, use_ros: bool) -> list[tuple]:
    """The per-frame work depth_node does besides the network, measured step by step on a 640x480 rgb8 frame."""
    from jdd_ros.depth.estimator import DepthEstimator
    from jdd_ros.io.image_codec import fill_image, image_to_numpy, to_rgb8

    publisher = node = context = None
    if use_ros:
        os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
        os.environ.setdefault('ROS_DOMAIN_ID', str(random.SystemRandom().randint(1, 232)))
        os.environ.setdefault('ROS_LOG_DIR', str(tmp / 'ros_log'))
        import rclpy
        from sensor_msgs.msg import Image

        from jdd_ros.ros.qos import output_qos

        context = rclpy.Context()
        rclpy.init(context=context)
        node = rclpy.create_node('bench_depth', context=context)
        publisher = node.create_publisher(Image, 'depth', output_qos())
        node.create_subscription(Image, 'depth', lambda m: None, output_qos())  # publish really serialises
    else:
        class Image:  # noqa: D401 - duck-typed stand-in with the fields the codec fills
            def __init__(self):
                self.header = None

    frame = _camera_frame()
    msg_in = fill_image(Image(), frame, 'rgb8')
    rows = []
    for size in SIZES:
        est = DepthEstimator.from_checkpoint(_checkpoint(tmp, 'resnet18', size), threads=threads)
        rgb = to_rgb8(image_to_numpy(msg_in), 'rgb8')
        batch = est.preprocess(rgb)[None]
        raw = est.run_network(batch)[0]
        depth = est.postprocess(raw, rgb.shape[:2])
        steps = {
            'decode message': lambda: to_rgb8(image_to_numpy(msg_in), msg_in.encoding),
            'resize + normalise in': lambda est=est, rgb=rgb: est.preprocess(rgb),
            'to metres + resize out': lambda est=est, raw=raw, rgb=rgb: est.postprocess(raw, rgb.shape[:2]),
            'max_depth mask': lambda depth=depth: np.where(depth > 3.0, np.float32(np.nan), depth),
            'encode 32FC1': lambda depth=depth: fill_image(Image(), depth, '32FC1'),
        }
        if publisher is not None:
            out = fill_image(Image(), depth, '32FC1')
            steps['publish'] = lambda out=out: publisher.publish(out)
        times = {name: statistics.median(_timeit(fn, repeats * 3)) for name, fn in steps.items()}
        inference = statistics.median(_timeit(lambda est=est, batch=batch: est.run_network(batch), repeats))
        overhead = sum(times.values())
        rows.append((f'{size[1]}x{size[0]}', times, overhead, inference, f'{est.backend} {est.precision}'))
    if node is not None:
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=10, help='timed runs per configuration (median reported)')
    parser.add_argument('--threads', type=int, default=0,
                        help='intra-op threads for torch, ONNX Runtime and OpenVINO; 0 = all cores')
    parser.add_argument('--no-ros', action='store_true', help='skip the publish step (no rclpy)')
    args = parser.parse_args()

    import onnxruntime
    import torch

    from jdd_ros.inference.openvino import openvino_version

    load_before = os.getloadavg()[0]
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix='bench_depth_') as d:
        tmp = Path(d)
        models = bench_models(tmp, args.repeats, args.threads)
        node_rows = bench_node_overhead(tmp, args.repeats, args.threads, not args.no_ros)

    print(f'\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, '
          f'torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime {onnxruntime.__version__}, '
          f'openvino {openvino_version()}; median of {args.repeats} runs, batch 1; load average before/after: '
          f'{load_before:.2f} / {os.getloadavg()[0]:.2f}.\n')
    print('| encoder | network input | backend | network ms (median) | network ms (best) | '
          'predict() on a 640x480 frame, ms |')
    print('|---|---|---|---|---|---|')
    for enc, size, backend, med, best, full in models:
        print(f'| {enc} | {size} | {backend} | {med:.1f} | {best:.1f} | {full:.1f} |')

    print(f"\ndepth_node overhead per 640x480 rgb8 frame (ResNet-18, the node's default backend on CPU: "
          f'{node_rows[0][4]}), besides the network:\n')
    names = list(node_rows[0][1])
    print('| network input | ' + ' | '.join(f'{n} ms' for n in names) + ' | overhead ms | network ms | overhead % |')
    print('|---|' + '---|' * (len(names) + 3))
    for size, times, overhead, inference, _ in node_rows:
        cells = ' | '.join(f'{times[n]:.2f}' for n in names)
        print(f'| {size} | {cells} | {overhead:.2f} | {inference:.1f} | {100 * overhead / inference:.1f} % |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
