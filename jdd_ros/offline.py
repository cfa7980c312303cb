"""``jdd-ros fuse`` and ``jdd-ros process``: the nodes' pipeline on files, without ROS.

The same cores as the nodes — YoloDetector, DepthEstimator, masking (filter_mode mask_then_detect), fusion.fuse,
drawing — and the same parameter schema for validation, so a value refused by ``ros2 param set`` is refused here
with the same reason. Depth comes from a depth image (an RGB-D sensor's PNG, or the depth topic of a bag) or from a
depth model.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jdd_ros.camera import CameraIntrinsics
from jdd_ros.detection import Detection, write_json
from jdd_ros.frames import RGBDFrame, read_depth_png, read_rgb
from jdd_ros.fusion import FusionResult, FusionSettings, fuse
from jdd_ros.params import FILTER_MODES, validate_values

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')
VIDEO_SUFFIXES = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v')
CSV_FIELDS = ('frame', 'stamp_ns', 'source', 'class_name', 'score', 'x1', 'y1', 'x2', 'y2', 'depth_m', 'depth_std_m',
              'depth_valid_fraction', 'x_m', 'y_m', 'z_m', 'kept', 'dropped_reason')


class UsageError(ValueError):
    """A command-line value the user must fix; printed without a traceback."""


# ---------------------------------------------------------------------------------------------------- the pipeline

@dataclass
class FrameOutput:
    image: np.ndarray  # what the detector saw (masked in mask_then_detect)
    depth_m: np.ndarray
    result: FusionResult
    timings_ms: dict[str, float] = field(default_factory=dict)


class Pipeline:
    """Detector + depth + fusion with one set of validated parameters."""

    def __init__(self, detector: Any, depth_model: Any, fusion: dict[str, Any], detection: dict[str, Any]):
        self.detector, self.depth_model = detector, depth_model
        self.filter_mode = fusion.get('filter_mode', 'detect_then_filter')
        self.settings = FusionSettings.from_params(fusion)
        self.detection = detection

    def run(self, rgb: np.ndarray, depth_m: np.ndarray | None = None, intrinsics: CameraIntrinsics | None = None,
            detections: list[Detection] | None = None) -> FrameOutput:
        timings = {}
        t = time.perf_counter()
        if depth_m is None:
            if self.depth_model is None:
                raise UsageError('no depth for this frame: give a depth image or a depth model '
                                 '(--depth-checkpoint / --depth-onnx)')
            depth_m = self.depth_model.predict(rgb)
            timings['depth'] = 1000 * (time.perf_counter() - t)
        image = rgb
        if self.filter_mode == 'mask_then_detect' and self.settings.max_depth > 0:
            from jdd_ros.masking import mask_beyond

            t = time.perf_counter()
            image = mask_beyond(rgb, depth_m, self.settings.max_depth).image
            timings['mask'] = 1000 * (time.perf_counter() - t)
        if detections is None:
            if self.detector is None:
                raise UsageError('no detector and no recorded detections')
            t = time.perf_counter()
            detections = self.detector.detect(image, conf_threshold=self.detection['confidence_threshold'],
                                              nms_threshold=self.detection['nms_threshold'],
                                              classes=set(self.detection['classes']) or None)
            timings['detect'] = 1000 * (time.perf_counter() - t)
        t = time.perf_counter()
        result = fuse(detections, depth_m, self.settings, intrinsics, (rgb.shape[1], rgb.shape[0]))
        timings['fuse'] = 1000 * (time.perf_counter() - t)
        return FrameOutput(image, depth_m, result, timings)


def add_model_arguments(parser: argparse.ArgumentParser, depth_image: bool) -> None:
    det = parser.add_argument_group('detector (a known model, or your own Darknet files)')
    det.add_argument('--model', default='yolov4-tiny', help="known model name (default yolov4-tiny; provide it "
                     "with 'jdd-ros fetch-models NAME')")
    det.add_argument('--model-dir', help='model cache directory (default: as jdd-ros fetch-models)')
    det.add_argument('--cfg', default='', help='Darknet .cfg of your own model (with --weights and --names)')
    det.add_argument('--weights', default='', help='Darknet .weights matching --cfg')
    det.add_argument('--names', default='', help='class names file matching --cfg')
    det.add_argument('--weights-sha256', default='', help='refuse --weights unless it has this sha256')
    det.add_argument('--conf', type=float, default=0.25, help='minimum detection score (default 0.25)')
    det.add_argument('--nms', type=float, default=0.45, help='NMS IoU threshold (default 0.45)')
    det.add_argument('--classes', default='', help='class names to keep, comma separated (default: all)')
    det.add_argument('--input-size', type=int, default=0, help='detector input size, multiple of 32 (0: the cfg)')
    det.add_argument('--backend', default='auto',
                     help="'auto' (default: onnxruntime on CPU, torch on CUDA), 'torch' or 'onnxruntime' (detector and "
                     'depth model)')
    det.add_argument('--device', default='cpu', help="'cpu', 'cuda' or 'cuda:N'")
    dep = parser.add_argument_group('depth (a depth image from an RGB-D sensor, or a depth model)')
    if depth_image:
        dep.add_argument('--depth-image', help='registered depth image (16-bit PNG), value x --depth-scale = metres')
    else:
        dep.add_argument('--depth-dir', help='folder input: depth PNGs with the same file names as the images')
    dep.add_argument('--depth-scale', type=float, default=0.001,
                     help='metres per depth-image unit (default 0.001: millimetres; TUM files: 0.0002)')
    dep.add_argument('--depth-checkpoint', help='jdd_ros depth checkpoint (.pt)')
    dep.add_argument('--depth-onnx', help='ONNX depth model (sidecar YAML next to it)')
    dep.add_argument('--depth-sidecar', help='sidecar YAML of --depth-onnx (default: <model>.yaml)')
    dep.add_argument('--depth-sha256', default='', help='expected sha256 of the depth model file')
    fus = parser.add_argument_group('fusion (the fusion node parameters)')
    fus.add_argument('--max-depth', type=float, default=0.0, help='drop detections farther than this (m; 0: none)')
    fus.add_argument('--min-depth', type=float, default=0.0, help='drop detections nearer than this (m)')
    fus.add_argument('--statistic', default='median', help="box depth statistic: center, median or percentile")
    fus.add_argument('--percentile', type=float, default=20.0, help="percentile for --statistic percentile")
    fus.add_argument('--box-fraction', type=float, default=0.5, help='central part of the box that is read')
    fus.add_argument('--min-valid-fraction', type=float, default=0.1, help='fewer valid pixels: no depth')
    fus.add_argument('--filter-mode', default='detect_then_filter',
                     help=f"{' or '.join(FILTER_MODES)} (mask_then_detect: the detector sees the image blanked "
                          'beyond --max-depth)')


def validated(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(fusion, detector, depth) parameters checked by the nodes' schema; UsageError listing what is wrong."""
    classes = [c.strip() for c in args.classes.split(',') if c.strip()]
    try:
        fusion = validate_values('fusion_node', {
            'max_depth': args.max_depth, 'min_depth': args.min_depth, 'depth_statistic': args.statistic,
            'depth_percentile': args.percentile, 'box_fraction': args.box_fraction,
            'min_valid_fraction': args.min_valid_fraction, 'filter_mode': args.filter_mode})
        detector = validate_values('detector_node', {
            'model': args.model, 'cfg': args.cfg, 'weights': args.weights, 'names': args.names,
            'weights_sha256': args.weights_sha256, 'device': args.device, 'backend': args.backend,
            'input_size': args.input_size, 'confidence_threshold': args.conf, 'nms_threshold': args.nms,
            'classes': classes})
        depth = validate_values('depth_node', {'device': args.device, 'backend': args.backend})
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not args.depth_scale > 0:
        raise UsageError(f'--depth-scale must be > 0, got {args.depth_scale}')
    return fusion, detector, depth


def build_pipeline(args: argparse.Namespace, need_detector: bool = True, need_depth_model: bool = False) -> Pipeline:
    fusion, det, dep = validated(args)
    detector = None
    if need_detector:
        from jdd_ros.darknet.detector import YoloDetector
        from jdd_ros.model_store import resolve_detector_files

        kwargs = {'directory': args.model_dir} if args.model_dir else {}
        files = resolve_detector_files(det['model'], det['cfg'], det['weights'], det['names'], det['weights_sha256'],
                                       **kwargs)
        detector = YoloDetector(str(files.cfg), str(files.weights), str(files.names), device=det['device'],
                                backend=det['backend'], input_size=det['input_size'] or None)
    depth_model = None
    if args.depth_checkpoint and args.depth_onnx:
        raise UsageError('give --depth-checkpoint or --depth-onnx, not both')
    if args.depth_checkpoint or args.depth_onnx:
        from jdd_ros.depth.estimator import DepthEstimator

        sha = args.depth_sha256 or None
        if args.depth_checkpoint:
            depth_model = DepthEstimator.from_checkpoint(args.depth_checkpoint, dep['device'], dep['backend'],
                                                         sha256=sha)
        else:
            depth_model = DepthEstimator.from_onnx(args.depth_onnx, args.depth_sidecar, device=dep['device'],
                                                   sha256=sha)
    elif need_depth_model:
        raise UsageError('no depth: give a depth image from an RGB-D sensor, or a depth model '
                         '(--depth-checkpoint CKPT.pt or --depth-onnx MODEL.onnx)')
    return Pipeline(detector, depth_model, fusion, det)


def detection_record(det: Detection, reason: str = '') -> dict[str, Any]:
    """The JSON entry of one detection: Detection.to_json plus its depth, always present (null when unknown)."""
    out = det.to_json()
    out['depth_m'] = None if math.isnan(det.depth) else round(float(det.depth), 4)
    out['depth_valid_fraction'] = round(float(det.depth_valid_fraction), 4)
    out['depth_std_m'] = None if math.isnan(det.depth_variance) else round(math.sqrt(det.depth_variance), 4)
    if det.position is not None:
        out['position_m'] = [round(float(v), 4) for v in det.position]
    if reason:
        out['dropped_reason'] = reason
    return out


def describe(det: Detection, reason: str = '') -> str:
    depth = 'depth unknown' if math.isnan(det.depth) else f'{det.depth:.2f} m'
    box = ', '.join(f'{v:.0f}' for v in det.xyxy())
    return f"{det.class_name:>14s} {det.score:.2f} [{box}] {depth}" + (f'  dropped: {reason}' if reason else '')


def annotate(out: FrameOutput) -> np.ndarray:
    from jdd_ros.drawing import draw_detections

    return draw_detections(out.image, out.result.kept, out.result.dropped_with_reasons())[0]


def write_rgb(path: str | Path, rgb: np.ndarray) -> None:
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise UsageError(f'could not write {path} (unknown image format?)')


# ------------------------------------------------------------------------------------------------------------ fuse

def add_fuse_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('image', metavar='IMAGE', help='colour image (anything OpenCV reads)')
    add_model_arguments(parser, depth_image=True)
    parser.add_argument('-o', '--out', metavar='OUT.png', help='write the annotated image')
    parser.add_argument('--json', dest='json_out', metavar='OUT.json',
                        help="write the detections as JSON ('-': stdout)")


def run_fuse(args: argparse.Namespace) -> int:
    try:
        rgb = read_rgb(args.image)
        depth = None
        if args.depth_image:
            if args.depth_checkpoint or args.depth_onnx:
                raise UsageError('give a depth image or a depth model, not both')
            validated(args)
            depth = read_depth_png(args.depth_image, args.depth_scale)
            if depth.shape != rgb.shape[:2]:
                raise UsageError(f'{args.depth_image} is {depth.shape[1]}x{depth.shape[0]} but {args.image} is '
                                 f'{rgb.shape[1]}x{rgb.shape[0]}: the depth image must be registered to the image')
        pipeline = build_pipeline(args, need_depth_model=depth is None)
        out = pipeline.run(rgb, depth)
    except (UsageError, FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f'jdd-ros fuse: {exc}', file=sys.stderr)
        return 2
    result = out.result
    for det in result.kept:
        print(describe(det))
    for det, reason in result.dropped_with_reasons():
        print(describe(det, reason))
    print(f'{len(result.kept)} kept, {len(result.dropped_with_reasons())} dropped'
          + (f' (max_depth {pipeline.settings.max_depth} m)' if pipeline.settings.max_depth > 0 else '')
          + '; ' + ', '.join(f'{k} {v:.0f} ms' for k, v in out.timings_ms.items()), file=sys.stderr)
    if args.out:
        write_rgb(args.out, annotate(out))
    if args.json_out:
        doc = {'image': str(args.image), 'depth_source': args.depth_image or args.depth_checkpoint or args.depth_onnx,
               'filter_mode': pipeline.filter_mode, 'max_depth': pipeline.settings.max_depth,
               'depth_statistic': pipeline.settings.depth_statistic,
               'detections': [detection_record(d) for d in result.kept],
               'dropped': [detection_record(d, why) for d, why in result.dropped_with_reasons()]}
        write_json(doc, args.json_out)
    return 0


# --------------------------------------------------------------------------------------------------------- process

@dataclass
class InputFrame:
    index: int
    stamp_ns: int
    source: str
    frame: RGBDFrame


def input_kind(path: Path) -> str:
    if path.is_dir():
        return 'bag' if (path / 'metadata.yaml').is_file() else 'folder'
    if path.suffix.lower() in ('.mcap', '.db3'):
        return 'bag'
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return 'video'
    if path.is_file():
        raise UsageError(f'{path}: not a bag (.mcap/.db3 or a bag directory), a video ({", ".join(VIDEO_SUFFIXES)}) '
                         'or a folder of images')
    raise UsageError(f'{path} not found')


def _folder_frames(path: Path, depth_dir: str | None, scale: float) -> tuple[int, Iterator[InputFrame]]:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UsageError(f'{path}: no images ({", ".join(IMAGE_SUFFIXES)})')

    def gen() -> Iterator[InputFrame]:
        for i, f in enumerate(files):
            depth = None
            if depth_dir:
                candidates = [p for p in Path(depth_dir).glob(f'{f.stem}.*') if p.suffix.lower() in IMAGE_SUFFIXES]
                if not candidates:
                    raise UsageError(f'no depth image for {f.name} in {depth_dir} (same file name expected)')
                depth = read_depth_png(candidates[0], scale)
            yield InputFrame(i, i, f.name, RGBDFrame(read_rgb(f), depth, name=f.name))
    return len(files), gen()


def _video_frames(path: Path) -> tuple[int, float, Iterator[InputFrame]]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise UsageError(f'{path}: OpenCV cannot open this video')
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)

    def gen() -> Iterator[InputFrame]:
        i = 0
        try:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    return
                yield InputFrame(i, int(round(i * 1e9 / fps)), f'{path.name}#{i}',
                                 RGBDFrame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
                i += 1
        finally:
            cap.release()
    return total, fps, gen()


def _bag_frames(path: Path) -> tuple[int, float, Iterator[InputFrame], Any]:
    from jdd_ros import bags

    topics = bags.find_topics(path)
    if not topics.image:
        listed = ', '.join(f'{t} ({ty})' for t, ty in bags.bag_topics(path).items())
        raise UsageError(f'{path}: no colour image topic (topics: {listed})')
    with bags.open_bag(path) as reader:
        total = sum(c.msgcount for c in reader.connections if c.topic == topics.image)
        duration_s = reader.duration / 1e9
    fps = (total - 1) / duration_s if total > 1 and duration_s > 0 else 10.0

    def gen() -> Iterator[InputFrame]:
        for i, (ns, frame) in enumerate(bags.read_frames(path, topics)):
            yield InputFrame(i, ns, f'{topics.image}@{ns}', frame)
    return total, fps, gen(), topics


def add_process_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('input', metavar='INPUT', help='a bag (.mcap/.db3 or its directory), a video, or a folder '
                        'of images')
    parser.add_argument('--out', required=True, metavar='OUTPUT',
                        help='annotated output: a video (.mp4/.avi), a bag (.mcap/.db3), or a folder of PNGs')
    parser.add_argument('--csv', metavar='CSV', help='every detection with its distance (default: OUTPUT stem + .csv)')
    add_model_arguments(parser, depth_image=False)
    parser.add_argument('--use-bag-detections', action='store_true',
                        help="bag input: fuse the bag's recorded Detection2DArray instead of running the detector")
    parser.add_argument('--fps', type=float, default=0.0, help='output video rate (default: the input rate)')
    parser.add_argument('--limit', type=int, default=0, help='process at most this many frames')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')


class _Outputs:
    """Annotated frames to a video, a bag or a folder; created on the first frame (its size is needed)."""

    def __init__(self, path: Path, fps: float):
        self.path, self.fps = path, fps
        suffix = path.suffix.lower()
        self.kind = 'video' if suffix in VIDEO_SUFFIXES else 'bag' if suffix in ('.mcap', '.db3') else 'folder'
        self._video = None
        self._bag = None
        if self.kind == 'bag':
            from jdd_ros.bags import BagWriter

            self._bag = BagWriter(path).__enter__()
            self.path = self._bag.path  # out.mcap -> the bag directory out/ (out/out.mcap + metadata.yaml)
        elif self.kind == 'folder':
            path.mkdir(parents=True, exist_ok=True)

    def write(self, item: InputFrame, out: FrameOutput, annotated: np.ndarray) -> None:
        import cv2

        if self.kind == 'video':
            if self._video is None:
                fourcc = cv2.VideoWriter_fourcc(*('mp4v' if self.path.suffix.lower() != '.avi' else 'MJPG'))
                self.path.parent.mkdir(parents=True, exist_ok=True)
                h, w = annotated.shape[:2]
                self._video = cv2.VideoWriter(str(self.path), fourcc, self.fps, (w, h))
                if not self._video.isOpened():
                    raise UsageError(f'{self.path}: OpenCV cannot write this video format')
            self._video.write(cv2.cvtColor(annotated, cv2.COLOR_RGB2BGR))
        elif self.kind == 'bag':
            from jdd_ros import bags

            frame_id = 'camera'
            self._bag.put('/annotated', bags.IMAGE_TYPE, bags.image_message(annotated, 'rgb8', item.stamp_ns, frame_id),
                          item.stamp_ns)
            msg = bags.detections_message(out.result.kept, item.stamp_ns, frame_id)
            self._bag.put('/detections_with_depth', bags.DETECTIONS_TYPE, msg, item.stamp_ns)
        else:
            write_rgb(self.path / f'{item.index:06d}.png', annotated)

    def close(self) -> None:
        if self._video is not None:
            self._video.release()
        if self._bag is not None:
            self._bag.__exit__(None, None, None)


def run_process(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    try:
        src = Path(args.input)
        kind = input_kind(src)
        out_path = Path(args.out)
        if out_path.suffix.lower() in ('.mcap', '.db3') and out_path.with_suffix('').exists():
            raise UsageError(f'{out_path.with_suffix("")} exists already: not overwriting a bag')
        topics = None
        if kind == 'bag':
            total, fps, frames, topics = _bag_frames(src)
            sensor_depth = bool(topics.depth)
        elif kind == 'video':
            total, fps, frames = _video_frames(src)
            sensor_depth = False
        else:
            total, frames = _folder_frames(src, args.depth_dir, args.depth_scale)
            fps, sensor_depth = 10.0, bool(args.depth_dir)
        if args.use_bag_detections and not (topics and topics.detections):
            raise UsageError('--use-bag-detections needs a bag with a vision_msgs/Detection2DArray topic')
        if args.use_bag_detections and args.filter_mode == 'mask_then_detect':
            raise UsageError('--use-bag-detections cannot mask_then_detect: the recorded detections were made on '
                             'the whole image; drop one of the two')
        pipeline = build_pipeline(args, need_detector=not args.use_bag_detections,
                                  need_depth_model=not sensor_depth)
    except (UsageError, FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f'jdd-ros process: {exc}', file=sys.stderr)
        return 2
    if args.limit:
        total = min(total, args.limit) if total else args.limit
    csv_path = Path(args.csv) if args.csv else out_path.with_suffix('.csv') if out_path.suffix else \
        out_path.parent / f'{out_path.name}.csv'
    outputs = _Outputs(out_path, args.fps or fps)
    counts = {'frames': 0, 'kept': 0, 'dropped': 0, 'no_depth_frames': 0}
    times: dict[str, float] = {}
    classes: dict[str, int] = {}
    began = time.perf_counter()
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(csv_path, 'w', newline='') as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
            writer.writeheader()
            bar = tqdm(frames, total=total or None, unit='frame', disable=args.no_progress, desc=src.name)
            for item in bar:
                if args.limit and counts['frames'] >= args.limit:
                    break
                f = item.frame
                dets = f.detections if args.use_bag_detections else None
                if args.use_bag_detections and dets is None:
                    dets = []
                if f.depth_m is None and pipeline.depth_model is None:
                    counts['no_depth_frames'] += 1
                    continue
                out = pipeline.run(f.rgb, f.depth_m if pipeline.depth_model is None else None, f.intrinsics, dets)
                outputs.write(item, out, annotate(out))
                for det, reason in [(d, '') for d in out.result.kept] + out.result.dropped_with_reasons():
                    writer.writerow(_csv_row(item, det, reason))
                    if not reason:
                        classes[det.class_name] = classes.get(det.class_name, 0) + 1
                counts['frames'] += 1
                counts['kept'] += len(out.result.kept)
                counts['dropped'] += len(out.result.dropped_with_reasons())
                for k, v in out.timings_ms.items():
                    times[k] = times.get(k, 0.0) + v
                bar.set_postfix(kept=counts['kept'], dropped=counts['dropped'])
    except (UsageError, FileNotFoundError, ValueError) as exc:
        print(f'jdd-ros process: {exc}', file=sys.stderr)
        return 2
    finally:
        outputs.close()
    wall = time.perf_counter() - began
    n = max(counts['frames'], 1)
    print(f"{counts['frames']} frames in {wall:.1f} s ({counts['frames'] / wall if wall else 0:.1f} frames/s); "
          f"detections kept {counts['kept']}, dropped {counts['dropped']}"
          + (f" ({pipeline.filter_mode}, max_depth {pipeline.settings.max_depth} m)"
             if pipeline.settings.max_depth else ''))
    if classes:
        print('kept by class: ' + ', '.join(f'{k} {v}' for k, v in sorted(classes.items(), key=lambda kv: -kv[1])))
    if times:
        print('mean per frame: ' + ', '.join(f'{k} {v / n:.1f} ms' for k, v in times.items()))
    if counts['no_depth_frames']:
        print(f"{counts['no_depth_frames']} frames skipped: no depth message with their stamp")
    print(f'annotated {outputs.kind}: {outputs.path}\ndetections CSV: {csv_path}')
    return 0


def _csv_row(item: InputFrame, det: Detection, reason: str) -> dict[str, Any]:
    pos = det.position or (math.nan, math.nan, math.nan)

    def num(v: float, digits: int = 4) -> str:
        return '' if v is None or math.isnan(v) else f'{v:.{digits}f}'

    return {'frame': item.index, 'stamp_ns': item.stamp_ns, 'source': item.source, 'class_name': det.class_name,
            'score': num(det.score, 4), 'x1': num(det.x1, 1), 'y1': num(det.y1, 1), 'x2': num(det.x2, 1),
            'y2': num(det.y2, 1), 'depth_m': num(det.depth),
            'depth_std_m': num(math.sqrt(det.depth_variance) if det.depth_variance >= 0 else math.nan),
            'depth_valid_fraction': num(det.depth_valid_fraction, 3), 'x_m': num(pos[0]), 'y_m': num(pos[1]),
            'z_m': num(pos[2]), 'kept': int(not reason), 'dropped_reason': reason}


COMMANDS = {'fuse': (add_fuse_arguments, run_fuse), 'process': (add_process_arguments, run_process)}
