"""``jdd-ros fuse`` and ``jdd-ros process``: the nodes' pipeline on files (``jdd_ros.apps.file_pipeline``), with the
nodes' parameter schema validating every value, so a value refused by ``ros2 param set`` is refused here with the
same reason."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jdd_ros.apps.file_pipeline import (
    AnnotatedOutput,
    FrameOutput,
    FrameSource,
    Pipeline,
    ProcessSummary,
    UsageError,
    annotate,
    build_pipeline,
    describe,
    detection_record,
    open_frames,
    process,
    write_rgb,
)
from jdd_ros.cli.param_flags import add_param_flags, param_flags, snapshot_from_args
from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.core.detection import write_json
from jdd_ros.depth.model import trust_warnings
from jdd_ros.io.camera_info import read_camera_info_file
from jdd_ros.io.frames import read_depth_png, read_rgb
from jdd_ros.param_types import DepthNodeParams, DetectorNodeParams, FusionNodeParams

# The nodes a file tool runs, and their parameters as flags (jdd_ros.cli.param_flags: generated from the schema).
FLAGS = param_flags(('fusion_node', 'detector_node', 'depth_node'))
# depth_source: 'sensor' with a depth image, 'model' with a depth model, unless given.
INFERRED = {'depth_source': 'sensor with a depth image, model with a depth model'}


def add_model_arguments(parser: argparse.ArgumentParser, depth_image: bool) -> None:
    """The nodes' parameters as flags, and the tool's own inputs (files, their scale, the model cache)."""
    add_param_flags(parser, FLAGS, inferred=INFERRED)
    inputs = parser.add_argument_group('inputs besides the nodes\' parameters')
    inputs.add_argument('--model-dir', help='model cache directory (default: as jdd-ros fetch-models)')
    if depth_image:
        inputs.add_argument('--depth-image', help='registered depth image (16-bit PNG), value x --depth-scale = metres')
    else:
        inputs.add_argument('--depth-dir', help='folder input: depth PNGs with the same file names as the images')
    inputs.add_argument('--depth-scale', type=float, default=0.001,
                        help='metres per depth-image unit (default 0.001: millimetres; TUM files: 0.0002)')
    inputs.add_argument('--depth-sidecar', help='sidecar YAML of --onnx-model (default: <model>.yaml)')
    inputs.add_argument('--camera-info', metavar='CAM.yaml', help='camera calibration YAML (camera_calibration_parsers '
                        'format: image_width, image_height, camera_matrix, distortion_coefficients); needed by '
                        '--depth-source ground and by depth models that need the camera')


def validated(args: argparse.Namespace) -> tuple[FusionNodeParams, DetectorNodeParams, DepthNodeParams]:
    """(fusion, detector, depth) parameters checked by the nodes' schema, as the nodes' typed snapshots; UsageError
    listing what is wrong."""
    try:
        fusion = snapshot_from_args(args, 'fusion_node', FLAGS)
        detector = snapshot_from_args(args, 'detector_node', FLAGS)
        depth = snapshot_from_args(args, 'depth_node', FLAGS)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not args.depth_scale > 0:
        raise UsageError(f'--depth-scale must be > 0, got {args.depth_scale}')
    return fusion, detector, depth


def _ground_camera(args: argparse.Namespace, fusion: FusionNodeParams, depth_inputs: bool,
                   camera_required: bool) -> CameraIntrinsics | None:
    """depth_source ground: the intrinsics of --camera-info, after refusing what ground cannot use or lacks."""
    if depth_inputs or args.checkpoint or args.onnx_model:
        raise UsageError('--depth-source ground uses no depth: drop the depth image or depth model arguments')
    if fusion.camera_height <= 0:
        raise UsageError("--depth-source ground needs --camera-height METRES (with --camera-pitch and --camera-roll "
                         "in degrees; 'jdd-ros calibrate-ground' measures them from one RGB-D frame)")
    if fusion.filter_mode == 'mask_then_detect':
        raise UsageError('--depth-source ground has no depth image to mask: use --filter-mode detect_then_filter')
    if not args.camera_info:
        if camera_required:
            raise UsageError('--depth-source ground needs --camera-info CAM.yaml (the camera calibration)')
        return None
    return read_camera_info_file(args.camera_info)


def _pipeline(args: argparse.Namespace, need_detector: bool, need_depth_model: bool,
              depth_inputs: bool = False, camera_required: bool = True) -> Pipeline:
    fusion, detector, depth = validated(args)
    if fusion.depth_source == 'ground':
        camera = _ground_camera(args, fusion, depth_inputs, camera_required)
        return build_pipeline(fusion, detector if need_detector else None, None, model_dir=args.model_dir,
                              camera=camera)
    if args.checkpoint and args.onnx_model:
        raise UsageError('give --checkpoint or --onnx-model, not both')
    if need_depth_model and not (args.checkpoint or args.onnx_model):
        raise UsageError('no depth: give a depth image from an RGB-D sensor, or a depth model '
                         '(--checkpoint CKPT.pt or --onnx-model MODEL.onnx)')
    camera = read_camera_info_file(args.camera_info) if args.camera_info else None
    pipeline = build_pipeline(fusion, detector if need_detector else None, depth, model_dir=args.model_dir,
                              depth_sidecar=args.depth_sidecar, camera=camera)
    model = pipeline.depth_model
    if model is not None and model.needs_camera and camera is None and camera_required:
        raise UsageError(f'{model.description} needs the camera to give metres: give --camera-info CAM.yaml (and, '
                         'for alignment ground, --camera-height, --camera-pitch, --camera-roll)')
    if model is not None:  # the same warnings depth_node logs for this model
        for warning in trust_warnings(model):
            print(f'warning: {warning}', file=sys.stderr)
    return pipeline


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
        if args.depth_source == 'sensor' and not args.depth_image:
            raise UsageError('--depth-source sensor needs --depth-image (the RGB-D camera\'s registered depth)')
        if args.depth_source == 'model' and args.depth_image:
            raise UsageError('--depth-source model takes a depth model, not --depth-image (that is --depth-source '
                             'sensor)')
        if args.depth_image and args.depth_source != 'ground':
            if args.checkpoint or args.onnx_model:
                raise UsageError('give a depth image or a depth model, not both')
            depth = read_depth_png(args.depth_image, args.depth_scale)
            if depth.shape != rgb.shape[:2]:
                raise UsageError(f'{args.depth_image} is {depth.shape[1]}x{depth.shape[0]} but {args.image} is '
                                 f'{rgb.shape[1]}x{rgb.shape[0]}: the depth image must be registered to the image')
        pipeline = _pipeline(args, need_detector=True, need_depth_model=depth is None,
                             depth_inputs=bool(args.depth_image))
        out = pipeline.run(rgb, depth)
    except (UsageError, FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f'jdd-ros fuse: {exc}', file=sys.stderr)
        return 2
    _report(args, pipeline, out)
    return 0


def _report(args: argparse.Namespace, pipeline: Pipeline, out: FrameOutput) -> None:
    """Print the detections of ``jdd-ros fuse``, write its annotated image and JSON document."""
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
        ground = pipeline.ground
        source = 'ground' if ground else args.depth_image or args.checkpoint or args.onnx_model
        doc = {'image': str(args.image), 'depth_source': source,
               'filter_mode': pipeline.filter_mode, 'max_depth': pipeline.settings.max_depth,
               'depth_statistic': pipeline.settings.depth_statistic,
               'detections': [detection_record(d) for d in result.kept],
               'dropped': [detection_record(d, why) for d, why in result.dropped_with_reasons()]}
        if ground:
            doc['camera_geometry'] = {'camera_height': ground.height, 'camera_pitch': ground.pitch,
                                      'camera_roll': ground.roll, 'camera_info': args.camera_info}
        write_json(doc, args.json_out)


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


def _csv_path(out_path: Path, csv: str | None) -> Path:
    if csv:
        return Path(csv)
    return out_path.with_suffix('.csv') if out_path.suffix else out_path.parent / f'{out_path.name}.csv'


def _print_summary(summary: ProcessSummary, wall: float, pipeline: Pipeline, outputs: AnnotatedOutput,
                   csv_path: Path) -> None:
    n = max(summary.frames, 1)
    print(f'{summary.frames} frames in {wall:.1f} s ({summary.frames / wall if wall else 0:.1f} frames/s); '
          f'detections kept {summary.kept}, dropped {summary.dropped}'
          + (f' ({pipeline.filter_mode}, max_depth {pipeline.settings.max_depth} m)'
             if pipeline.settings.max_depth else ''))
    if summary.kept_by_class:
        ranked = sorted(summary.kept_by_class.items(), key=lambda kv: -kv[1])
        print('kept by class: ' + ', '.join(f'{k} {v}' for k, v in ranked))
    if summary.times_ms:
        print('mean per frame: ' + ', '.join(f'{k} {v / n:.1f} ms' for k, v in summary.times_ms.items()))
    if summary.no_depth_frames:
        causes = ', '.join(f'{n} {cause}' for cause, n in summary.no_depth_causes.items())
        print(f'{summary.no_depth_frames} frames skipped: {causes}')
    print(f'annotated {outputs.kind}: {outputs.path}\ndetections CSV: {csv_path}')


def _open(args: argparse.Namespace) -> tuple[FrameSource, Pipeline]:
    out_path = Path(args.out)
    if out_path.suffix.lower() in ('.mcap', '.db3') and out_path.with_suffix('').exists():
        raise UsageError(f'{out_path.with_suffix("")} exists already: not overwriting a bag')
    source = open_frames(Path(args.input), args.depth_dir, args.depth_scale)
    if args.use_bag_detections and not source.recorded_detections:
        raise UsageError('--use-bag-detections needs a bag with a vision_msgs/Detection2DArray topic')
    if args.use_bag_detections and args.filter_mode == 'mask_then_detect':
        raise UsageError('--use-bag-detections cannot mask_then_detect: the recorded detections were made on '
                         'the whole image; drop one of the two')
    pipeline = _pipeline(args, need_detector=not args.use_bag_detections, need_depth_model=not source.sensor_depth,
                         depth_inputs=bool(args.depth_dir), camera_required=source.kind != 'bag')
    return source, pipeline


def run_process(args: argparse.Namespace) -> int:
    import time

    from tqdm import tqdm

    try:
        source, pipeline = _open(args)
    except (UsageError, FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f'jdd-ros process: {exc}', file=sys.stderr)
        return 2
    total = (min(source.total, args.limit) if source.total else args.limit) if args.limit else source.total
    out_path = Path(args.out)
    csv_path = _csv_path(out_path, args.csv)
    outputs = AnnotatedOutput(out_path, args.fps or source.fps)
    bar = tqdm(source.frames, total=total or None, unit='frame', disable=args.no_progress, desc=Path(args.input).name)
    began = time.perf_counter()
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(csv_path, 'w', newline='') as fh:
            summary = process(pipeline, bar, outputs, fh, limit=args.limit,
                              recorded_detections=args.use_bag_detections,
                              on_frame=lambda s: bar.set_postfix(kept=s.kept, dropped=s.dropped))
    except (UsageError, FileNotFoundError, ValueError) as exc:
        print(f'jdd-ros process: {exc}', file=sys.stderr)
        return 2
    finally:
        outputs.close()
    _print_summary(summary, time.perf_counter() - began, pipeline, outputs, csv_path)
    return 0


COMMANDS = {'fuse': (add_fuse_arguments, run_fuse), 'process': (add_process_arguments, run_process)}
