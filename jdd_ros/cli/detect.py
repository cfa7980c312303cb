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

from jdd_ros.cli.param_flags import add_param_flags, param_flags, snapshot_from_args
from jdd_ros.core.detection import write_json
from jdd_ros.detect.base import Detector
from jdd_ros.detect.darknet.model_store import KNOWN_MODELS, ModelError
from jdd_ros.detect.registry import build_detector, unknown_classes
from jdd_ros.inference.backends import resolve_backend
from jdd_ros.io.drawing import draw_detections
from jdd_ros.io.frames import read_rgb

# The detector node's parameters as flags (jdd_ros.cli.param_flags: generated from the schema).
FLAGS = param_flags(('detector_node',))


def auto_here(device: str = 'cpu') -> str:
    """What backend 'auto' and precision 'auto' run on this machine, and why (for --help)."""
    try:
        choice = resolve_backend('auto', device, 'auto')
    except ValueError as exc:
        return f'cannot run here: {exc}'
    return f'{choice} ({choice.reason})'.replace('%', '%%')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('images', nargs='+', metavar='IMAGE', help='image files (anything OpenCV reads)')
    add_param_flags(parser, FLAGS, extra_help={'backend': f"On this machine's CPU: {auto_here()}.",
                                               'model': f"Known: {', '.join(KNOWN_MODELS)}."})
    parser.add_argument('--model-dir', help='model cache directory (default: as jdd-ros fetch-models)')
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
    return build_detector(snapshot_from_args(args, 'detector_node', FLAGS), args.model_dir)


def run(args: argparse.Namespace) -> int:
    try:
        detector = _detector(args)
    except (ModelError, ValueError, FileNotFoundError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(f'detector: {detector.description} ({detector.backend} {detector.precision}: {detector.backend_reason})',
          file=sys.stderr)
    reason = unknown_classes(args.classes, detector.class_names)
    if reason:
        print(f'error: {reason}', file=sys.stderr)
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
        detections = detector.detect(rgb, conf_threshold=args.confidence_threshold, nms_threshold=args.nms_threshold,
                                     classes=args.classes or None)
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
