"""Detector speed: this package's backends (PyTorch, ONNX Runtime, OpenVINO fp32, bf16 and int8) against OpenCV DNN,
same image, same machine, interleaved in one run.

Models: the real COCO yolov4-tiny at 416, and the full yolov4.cfg at 416 and 608 with synthetic weights written in
Darknet format (the official yolov4.weights cannot be downloaded here; speed does not depend on the values).
Before timing, each backend's detections must match OpenCV's (same classes, IoU >= 0.98, scores within 0.01; bf16:
issue #11's IoU >= 0.9, scores within 0.03 — for the synthetic yolov4 weights, whose many near-equal scores bf16 may
reorder, a bf16 mismatch is reported in the table instead of stopping the run).
Every backend is timed end to end on the original 640x480 frame: resize + network + threshold/NMS + boxes in image
pixels (OpenCV: blobFromImage + forward + NMSBoxes per class), as `jdd-ros detect` runs it per image; the row 'auto'
is the detector `jdd-ros detect` builds by default (build_detector). Prints a Markdown table.

On a CPU with AMX-INT8 the script then runs yolov4-tiny once more with oneDNN capped at AVX512_CORE_VNNI
(``--onednn-isa``): OpenVINO then runs the kernels of a CPU with VNNI but no AMX (checked: no AMX kernel in the
compiled int8 model), the CPUs where int8 is the alternative to fp32.

Usage: .venv/bin/python benchmarks/bench_detector.py [--threads N] [--models tiny416,yolov4-416,yolov4-608]
                                                     [--onednn-isa AVX512_CORE_VNNI]
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # as jdd_ros.detect.darknet sets it; must precede the torch import

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
import torch  # noqa: E402
from bench_data import YOLOV4_CFG, tum_desk_rgb, yolov4_tiny_files  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ITERATIONS = {'tiny416': 30, 'yolov4-416': 6, 'yolov4-608': 4}
# (backend, precision); 'auto' is what `jdd-ros detect` and the nodes run by default on this machine.
BACKENDS = (('torch', 'fp32'), ('onnxruntime', 'fp32'), ('openvino', 'fp32'), ('auto', 'auto'))
# yolov4-tiny only, on CPUs with VNNI / AMX-INT8: int8 is measured against the parity bound (IoU >= 0.9, scores
# within 0.05), and a miss is counted in the table, not fatal ('auto' does not pick int8 where it misses).
INT8 = (('openvino', 'int8'),)
TOLERANCES = {'bf16': (0.9, 0.03), 'int8': (0.9, 0.05)}
# With oneDNN capped below AMX: what such a CPU's 'auto' would weigh (no native bf16 there).
CAPPED = (('onnxruntime', 'fp32'), ('openvino', 'fp32'))
VNNI_ISA = 'AVX512_CORE_VNNI'


def amx_kernels(detector) -> list[str]:
    """The AMX kernels OpenVINO compiled the detector's convolutions to (none once oneDNN is capped below AMX)."""
    ops = detector._run.compiled.get_runtime_model().get_ordered_ops()
    kinds = {str(op.get_rt_info()['primitiveType'].astype(str)) for op in ops}
    return sorted(k for k in kinds if 'amx' in k.lower())


def detectors(files: tuple, size: int, tiny: bool, isa: str) -> dict:
    """This package's detectors to time, by label; with ``isa`` (oneDNN capped) the ones such a CPU would weigh."""
    from jdd_ros.detect.darknet.detector import YoloDetector
    from jdd_ros.inference.openvino import cpu_supports_int8

    out = {}
    for backend, precision in (CAPPED if isa else BACKENDS) + (INT8 if tiny and cpu_supports_int8() else ()):
        start = time.perf_counter()
        detector = YoloDetector(*files, backend=backend, precision=precision, input_size=size)
        if isa and detector.backend == 'openvino' and (amx := amx_kernels(detector)):
            raise SystemExit(f'ONEDNN_MAX_CPU_ISA={isa} did not take: AMX kernels {amx}')
        label = f'jdd_ros {"auto = " if backend == "auto" else ""}{detector.backend} {detector.precision}'
        out[label] = detector
        print(f'{label} ready in {time.perf_counter() - start:.1f} s', file=sys.stderr)
    return out


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
    from jdd_ros.detect.darknet.network import build_model
    from jdd_ros.detect.darknet.random_weights import synthetic_darknet_arrays
    from jdd_ros.detect.darknet.weights import write_weights

    cfg = YOLOV4_CFG
    weights = workdir / 'yolov4-synthetic.weights'
    calibration = np.stack([cv2.resize(im, (256, 256)) for im in (skimage.data.chelsea(), skimage.data.astronaut())])
    write_weights(weights, synthetic_darknet_arrays(build_model(cfg), calibration, seed=7))
    return cfg, weights, [f'class{i}' for i in range(80)]


def print_results(rows: list[tuple], args: argparse.Namespace, shape: tuple, load_before: tuple) -> None:
    """The Markdown table and, for yolov4-tiny, each backend's time against OpenCV DNN's."""
    from jdd_ros.inference.backends import resolve_backend
    from jdd_ros.inference.openvino import openvino_version

    auto = resolve_backend('auto', 'cpu')
    auto_here = f'auto here: {auto} ({auto.reason})'
    capped = ''
    if args.onednn_isa:
        capped = (f"oneDNN capped at {args.onednn_isa} (OpenVINO runs the kernels of a CPU with VNNI but no AMX; "
                  'OpenCV DNN and ONNX Runtime do not use oneDNN), ')
        auto_here = ('auto on a CPU with VNNI but no native bf16: onnxruntime fp32, or openvino int8 for a model '
                     'that keeps its detections in int8')
    print(f'\nDetector speed, {capped}{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, '
          f'{args.threads} threads; torch {torch.__version__}, OpenCV {cv2.__version__}, openvino '
          f'{openvino_version()}; {auto_here}; image {shape[1]}x{shape[0]}; '
          f'load average before/after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f}\n')
    print('| model | input | backend | ms per frame (median) | best | detections (as OpenCV\'s, within the '
          "backend's tolerances) |")
    print('|---|---|---|---|---|---|')
    for name, size, label, median, best, count in rows:
        model = 'yolov4-tiny (COCO)' if name == 'tiny416' else 'yolov4 (synthetic weights)'
        fastest = min(r[3] for r in rows if r[0] == name)
        mark = '**' if median == fastest else ''
        print(f'| {model} | {size} | {label} | {mark}{median:.1f}{mark} | {best:.1f} | {count} |')
    tiny = {label: median for name, _, label, median, _, _ in rows if name == 'tiny416'}
    if 'OpenCV DNN 4.x' in tiny:
        opencv_ms = tiny.pop('OpenCV DNN 4.x')
        ratios = ', '.join(f'{label.removeprefix("jdd_ros ")} {ms:.1f} ms = {ms / opencv_ms:.2f}x'
                           for label, ms in tiny.items())
        print(f'\nyolov4-tiny 416, `jdd-ros detect` per image against OpenCV DNN\'s {opencv_ms:.1f} ms: {ratios} '
              '(issue 22 target: <= 0.4x with int8 where it keeps the detections).')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--threads', type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument('--models', default='tiny416,yolov4-416,yolov4-608')
    parser.add_argument('--onednn-isa', default='', help="cap OpenVINO's oneDNN kernels (ONEDNN_MAX_CPU_ISA), e.g. "
                        f'{VNNI_ISA}: the kernels of a CPU with VNNI but no AMX')
    args = parser.parse_args()
    user_env = dict(os.environ)  # for the capped run below, before this run points XDG_CACHE_HOME at a scratch cache
    if args.onednn_isa:  # read by oneDNN when OpenVINO first loads, below
        os.environ['ONEDNN_MAX_CPU_ISA'] = args.onednn_isa

    from jdd_ros.detect.darknet.opencv_reference import OpenCVDarknet, compare_detections
    from jdd_ros.inference.openvino import cpu_int8_isa

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    image = tum_desk_rgb()
    tiny = yolov4_tiny_files()  # before XDG_CACHE_HOME moves below: the model store follows it
    load_before = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix='jdd_bench_detector_'))
    os.environ.setdefault('XDG_CACHE_HOME', str(workdir / 'cache'))  # ONNX exports go to a scratch cache
    wanted = args.models.split(',')
    rows = []
    yolov4_files = None
    for name in wanted:
        if name == 'tiny416':
            files, size, conf = (tiny['cfg'], tiny['weights'], tiny['names']), 416, 0.25
        else:
            yolov4_files = yolov4_files or synthetic_yolov4(workdir)
            files, size, conf = yolov4_files, int(name.split('-')[1]), 0.3
        opencv = OpenCVDarknet(files[0], files[1], (size, size))
        backends = {'OpenCV DNN 4.x': None, **detectors(files, size, tiny=name == 'tiny416', isa=args.onednn_isa)}
        class_names = next(d for d in backends.values() if d is not None).class_names
        reference = opencv.detect(image, class_names, conf)
        runs, counts = {}, {}
        for label, detector in backends.items():
            if detector is None:
                runs[label] = functools.partial(opencv.detect, image, class_names, conf)
                counts[label] = str(len(reference))
                continue
            found = detector.detect(image, conf)
            bf16, int8 = detector.precision == 'bf16', detector.precision == 'int8'
            problems = compare_detections(found, reference, *TOLERANCES.get(detector.precision, (0.98, 0.01)))
            counts[label] = str(len(found))
            if problems and (int8 or (bf16 and name != 'tiny416')):
                counts[label] += f' ({len(problems)} differences beyond the {detector.precision} tolerances)'
            elif problems:
                print(f'{name} {label}: detections differ from OpenCV DNN: {problems}', file=sys.stderr)
                return 1
            runs[label] = functools.partial(detector.detect, image, conf)
        for label, (median, best) in timed(runs, ITERATIONS[name]).items():
            rows.append((name, size, label, median, best, counts[label]))
            print(f'{name} {label}: {median:.1f} ms', file=sys.stderr)

    print_results(rows, args, image.shape, load_before)
    if not args.onednn_isa and 'tiny416' in wanted and cpu_int8_isa() == 'AMX-INT8':
        sys.stdout.flush()
        return subprocess.run([sys.executable, __file__, '--models', 'tiny416', '--threads', str(args.threads),
                               '--onednn-isa', VNNI_ISA], env=user_env).returncode
    return 0


if __name__ == '__main__':
    sys.exit(main())
