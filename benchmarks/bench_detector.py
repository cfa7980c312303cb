"""Detector speed: this package's PyTorch and ONNX Runtime backends against OpenCV DNN, same image, same machine.

Models: the real COCO yolov4-tiny at 416, and the full yolov4.cfg at 416 and 608 with synthetic weights written in
Darknet format (the official yolov4.weights cannot be downloaded here; speed does not depend on the values).
Before timing, each backend's detections must match OpenCV's (same classes, IoU >= 0.98, scores within 0.01).
Every backend is timed end to end on the original 640x480 frame: resize + network + threshold/NMS + boxes in image
pixels (OpenCV: blobFromImage + forward + NMSBoxes per class). Prints a Markdown table.

Usage: .venv/bin/python benchmarks/bench_detector.py [--threads N] [--models tiny416,yolov4-416,yolov4-608]
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # as jdd_ros.detect.darknet sets it; must precede the torch import

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get('JDD_ROS_SHARED', REPO.parent / 'shared'))
DARKNET = SHARED / 'models' / 'darknet'
IMAGE = SHARED / 'data' / 'rgbd' / 'tum_desk_color.png'
ITERATIONS = {'tiny416': 30, 'yolov4-416': 6, 'yolov4-608': 4}


def timed(runs: dict[str, object], iterations: int) -> dict[str, tuple[float, float]]:
    """(median, min) milliseconds per run after two warm-ups. The runs take turns, so a change in the load of
    this shared machine affects all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(iterations + 2):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            if i >= 2:
                times[name].append((time.perf_counter() - start) * 1000)
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


def synthetic_yolov4(workdir: Path) -> tuple[Path, Path, list[str]]:
    from jdd_ros.detect.darknet.model import build_model
    from jdd_ros.detect.darknet.synthetic import synthetic_darknet_arrays
    from jdd_ros.detect.darknet.weights import write_weights

    cfg = DARKNET / 'yolov4.cfg'
    weights = workdir / 'yolov4-synthetic.weights'
    calibration = np.stack([cv2.resize(im, (256, 256)) for im in (skimage.data.chelsea(), skimage.data.astronaut())])
    write_weights(weights, synthetic_darknet_arrays(build_model(cfg), calibration, seed=7))
    return cfg, weights, [f'class{i}' for i in range(80)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--threads', type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument('--models', default='tiny416,yolov4-416,yolov4-608')
    args = parser.parse_args()

    from jdd_ros.detect.darknet.detector import YoloDetector
    from jdd_ros.detect.darknet.opencv_reference import OpenCVDarknet, compare_detections

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    image = cv2.cvtColor(cv2.imread(str(IMAGE)), cv2.COLOR_BGR2RGB) if IMAGE.exists() else skimage.data.astronaut()
    load_before = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix='jdd_bench_detector_'))
    os.environ.setdefault('XDG_CACHE_HOME', str(workdir / 'cache'))  # ONNX exports go to a scratch cache
    wanted = args.models.split(',')
    rows = []
    yolov4_files = None
    for name in wanted:
        if name == 'tiny416':
            files, size, conf = (DARKNET / 'yolov4-tiny.cfg', DARKNET / 'yolov4-tiny.weights',
                                 DARKNET / 'coco.names'), 416, 0.25
        else:
            yolov4_files = yolov4_files or synthetic_yolov4(workdir)
            files, size, conf = yolov4_files, int(name.split('-')[1]), 0.3
        opencv = OpenCVDarknet(files[0], files[1], (size, size))
        backends = {'OpenCV DNN 4.x': None}
        for backend in ('torch', 'onnxruntime'):
            start = time.perf_counter()
            backends[f'jdd_ros {backend}'] = YoloDetector(*files, backend=backend, input_size=size)
            print(f'{name}: {backend} ready in {time.perf_counter() - start:.1f} s', file=sys.stderr)
        class_names = next(d for d in backends.values() if d is not None).class_names
        reference = opencv.detect(image, class_names, conf)
        runs, counts = {}, {}
        for label, detector in backends.items():
            if detector is None:
                runs[label] = functools.partial(opencv.detect, image, class_names, conf)
                counts[label] = len(reference)
                continue
            found = detector.detect(image, conf)
            problems = compare_detections(found, reference)
            if problems:
                print(f'{name} {label}: detections differ from OpenCV DNN: {problems}', file=sys.stderr)
                return 1
            runs[label] = functools.partial(detector.detect, image, conf)
            counts[label] = len(found)
        for label, (median, best) in timed(runs, ITERATIONS[name]).items():
            rows.append((name, size, label, median, best, counts[label]))
            print(f'{name} {label}: {median:.1f} ms', file=sys.stderr)

    print(f'\nDetector speed, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, '
          f'{args.threads} threads; torch {torch.__version__}, OpenCV {cv2.__version__}; image {image.shape[1]}x'
          f'{image.shape[0]}; load average before/after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f}\n')
    print('| model | input | backend | ms per frame (median) | best | detections (identical to OpenCV) |')
    print('|---|---|---|---|---|---|')
    for name, size, label, median, best, count in rows:
        model = 'yolov4-tiny (COCO)' if name == 'tiny416' else 'yolov4 (synthetic weights)'
        fastest = min(r[3] for r in rows if r[0] == name)
        mark = '**' if median == fastest else ''
        print(f'| {model} | {size} | {label} | {mark}{median:.1f}{mark} | {best:.1f} | {count} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
