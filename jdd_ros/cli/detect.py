"""``jdd-ros detect``: a detector (YOLOv4 from Darknet files by default, any family of the registry: e.g.
``--family ultralytics --weights yolov8n.onnx``) on image files, without ROS.

Prints one line per detection and optionally writes the JSON record (one entry per image, boxes in the original
image's pixels) and an image with the boxes drawn, so a model can be checked on photos before it goes on a robot.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

from jdd_ros.core.detection import write_json
from jdd_ros.detect.base import Detector
from jdd_ros.detect.darknet.model_store import KNOWN_MODELS, ModelError
from jdd_ros.detect.registry import FAMILIES, build_detector
from jdd_ros.inference.backends import BACKENDS, PRECISIONS, resolve_backend
from jdd_ros.io.drawing import draw_detections
from jdd_ros.io.frames import read_rgb
from jdd_ros.params import snapshot


def _classes(text: str) -> set[str]:
    return {c.strip() for c in text.split(',') if c.strip()}


def _input_size(text: str) -> int:
    value = int(text)
    if value <= 0 or value % 32:
        raise argparse.ArgumentTypeError(f'the input size must be a positive multiple of 32, got {value}')
    return value


def _threshold(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f'thresholds lie in [0, 1], got {value}')
    return value


def auto_here(device: str = 'cpu') -> str:
    """What backend 'auto' and precision 'auto' run on this machine, and why (for --help)."""
    try:
        choice = resolve_backend('auto', device, 'auto')
    except ValueError as exc:
        return f'cannot run here: {exc}'
    return f'{choice} ({choice.reason})'.replace('%', '%%')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('images', nargs='+', metavar='IMAGE', help='image files (anything OpenCV reads)')
    model = parser.add_argument_group('model (a known model from the cache, or your own model files)')
    model.add_argument('--family', choices=tuple(FAMILIES), default='darknet',
                       help='; '.join(f'{f.name}: {f.summary}' for f in FAMILIES.values()))
    model.add_argument('--model', default=None,
                       help=f"known model name ({', '.join(KNOWN_MODELS)}; default yolov4-tiny; "
                            "provide it first with 'jdd-ros fetch-models NAME')")
    model.add_argument('--model-dir', help='model cache directory (default: as jdd-ros fetch-models)')
    model.add_argument('--cfg', help='Darknet .cfg of your own model')
    model.add_argument('--weights', help='Darknet .weights matching --cfg; with --family ultralytics: the .onnx export')
    model.add_argument('--names', help='class names file (one per line) matching --cfg; optional with --family '
                       "ultralytics (default: the export's metadata names)")
    model.add_argument('--weights-sha256', default='', help='refuse --weights unless it has this sha256')
    parser.add_argument('--conf', type=_threshold, default=0.25,
                        help='minimum score, objectness x class probability (Ultralytics exports: the class score; '
                             'default 0.25)')
    parser.add_argument('--nms', type=_threshold, default=0.45,
                        help="per-class NMS IoU threshold (default 0.45; Ultralytics' own predict uses 0.7)")
    parser.add_argument('--classes', type=_classes, default=None, help='class names to keep, comma separated')
    parser.add_argument('--input-size', type=_input_size, default=None,
                        help="network input size (multiple of 32; default: the cfg value, or the export's own)")
    parser.add_argument('--backend', choices=BACKENDS, default='auto',
                        help="'auto' (default): openvino bf16 on CPUs with native bf16 (AVX512_BF16/AMX), onnxruntime "
                             'fp32 on other CPUs, torch on CUDA (--family ultralytics: onnxruntime or openvino). '
                             f'On this machine\'s CPU: {auto_here()}')
    parser.add_argument('--precision', choices=PRECISIONS, default='auto',
                        help="'auto' (default): bf16 where the CPU computes it natively, else fp32; 'fp32': closest "
                             "to the reference implementations; 'bf16' is refused without native bf16; 'int8' "
                             '(OpenVINO + NNCF, Darknet models; quantised once, then cached) is refused without VNNI '
                             'or AMX-INT8')
    parser.add_argument('--device', default='cpu', help="'cpu', 'cuda' or 'cuda:N'")
    parser.add_argument('--json', dest='json_out', metavar='OUT', help="write the detections as JSON ('-': stdout)")
    parser.add_argument('--out-image', metavar='OUT.png',
                        help='write the image with the boxes drawn (with several images: a directory, one PNG each)')


def _out_image_paths(images: list[str], out: str) -> list[Path]:
    if len(images) == 1:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        return [Path(out)]
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths, used = [], set()
    for i, image in enumerate(images):
        name = f'{Path(image).stem}.png'
        if name in used:
            name = f'{Path(image).stem}_{i}.png'
        used.add(name)
        paths.append(folder / name)
    return paths


def _detector(args: argparse.Namespace) -> Detector:
    """The detector of these options, built like detector_node builds it; ValueError etc. saying what to fix."""
    if args.cfg and args.model:
        raise ValueError('give either --model or --cfg/--weights/--names, not both')
    params = snapshot('detector_node', {
        'family': args.family, 'model': args.model or 'yolov4-tiny', 'cfg': args.cfg or '',
        'weights': args.weights or '', 'names': args.names or '', 'weights_sha256': args.weights_sha256,
        'device': args.device, 'backend': args.backend, 'precision': args.precision,
        'input_size': args.input_size or 0})
    return build_detector(params, args.model_dir)


def run(args: argparse.Namespace) -> int:
    try:
        detector = _detector(args)
    except (ModelError, ValueError, FileNotFoundError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(f'detector: {detector.description} ({detector.backend} {detector.precision}: {detector.backend_reason})',
          file=sys.stderr)
    if args.classes:
        unknown = sorted(args.classes - set(detector.class_names))
        if unknown:
            print(f"error: --classes: unknown class name(s) {', '.join(unknown)} (this model's classes: "
                  f"{', '.join(detector.class_names)})", file=sys.stderr)
            return 2
    out_images = _out_image_paths(args.images, args.out_image) if args.out_image else [None] * len(args.images)
    lines_to = sys.stderr if args.json_out == '-' else sys.stdout
    records, status = [], 0
    for image_path, out_image in zip(args.images, out_images):
        try:
            rgb = read_rgb(image_path)
        except (FileNotFoundError, ValueError) as exc:
            print(f'error: {image_path}: cannot read the image ({exc})', file=sys.stderr)
            status = 1
            continue
        detections = detector.detect(rgb, conf_threshold=args.conf, nms_threshold=args.nms, classes=args.classes)
        records.append({'image': image_path, 'detections': [d.to_json() for d in detections]})
        if not detections:
            print(f'{image_path}: no detections', file=lines_to)
        for d in detections:
            x1, y1, x2, y2 = d.xyxy()
            print(f'{image_path}: {d.class_name} {d.score:.3f} [{x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f}]',
                  file=lines_to)
        if out_image is not None:
            drawn, _ = draw_detections(rgb, detections, show_distance=False)
            if not cv2.imwrite(str(out_image), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR)):
                print(f'error: cannot write {out_image}', file=sys.stderr)
                status = 1
    if args.json_out:
        write_json(records, args.json_out)
    return status


COMMANDS = {'detect': (add_arguments, run)}
