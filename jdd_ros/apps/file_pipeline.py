"""``jdd-ros fuse`` and ``jdd-ros process``: the nodes' pipeline on files, without ROS.

The same cores as the nodes — YoloDetector, DepthEstimator, masking (filter_mode mask_then_detect), fusion.fuse,
drawing — and the same parameter schema for validation, so a value refused by ``ros2 param set`` is refused here
with the same reason. Depth comes from a depth image (an RGB-D sensor's PNG, or the depth topic of a bag) or from a
depth model.
"""

from __future__ import annotations

import csv
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np

from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.core.detection import Detection
from jdd_ros.core.floor_scale import NoFloorError
from jdd_ros.core.fusion import FLOOR, NO_VALID_DEPTH, FusionResult, FusionSettings, fuse
from jdd_ros.core.ground_distance import GroundSettings, fuse_ground
from jdd_ros.core.image_scale import to_grey
from jdd_ros.core.masking import mask_beyond
from jdd_ros.core.tracking import Tracker, track_of, track_result
from jdd_ros.depth.estimator import CameraNeeded
from jdd_ros.depth.model import DepthModel, build_depth_model
from jdd_ros.detect.base import Detector
from jdd_ros.detect.registry import build_detector
from jdd_ros.io.drawing import draw_detections
from jdd_ros.io.frames import RGBDFrame, read_depth_png, read_rgb
from jdd_ros.param_types import DepthNodeParams, DetectorNodeParams, FusionNodeParams

if TYPE_CHECKING:
    from jdd_ros.io.bags import BagTopics

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')
VIDEO_SUFFIXES = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v')
CSV_FIELDS = ('frame', 'stamp_ns', 'source', 'class_name', 'score', 'x1', 'y1', 'x2', 'y2', 'depth_m', 'depth_std_m',
              'depth_valid_fraction', 'x_m', 'y_m', 'z_m', 'kept', 'dropped_reason', 'depth_source', 'no_depth_reason',
              'track_id', 'range_rate_mps', 'ttc_s')


class UsageError(ValueError):
    """A command-line value the user must fix; printed without a traceback."""


# ---------------------------------------------------------------------------------------------------- the pipeline

@dataclass
class FrameOutput:
    image: np.ndarray  # what the detector saw (masked in mask_then_detect)
    depth_m: np.ndarray | None  # None with depth_source ground
    result: FusionResult
    timings_ms: dict[str, float] = field(default_factory=dict)


class Pipeline:
    """Detector + depth + fusion with one set of validated parameters (the nodes' typed snapshots)."""

    def __init__(self, detector: Detector | None, depth_model: DepthModel | None, fusion: FusionNodeParams,
                 detection: DetectorNodeParams | None = None, camera: CameraIntrinsics | None = None):
        self.detector, self.depth_model = detector, depth_model
        self.tracker = Tracker()  # objects over the frames of one input (process)
        self.image_budget = fusion.ttc_image_objects
        self.filter_mode = fusion.filter_mode
        self.settings: FusionSettings = fusion
        self.detection = detection or DetectorNodeParams()
        # depth_source ground: the floor under each box, with these intrinsics (else each frame's own)
        self.ground = GroundSettings.from_params(fusion) if fusion.depth_source == 'ground' else None
        self.camera = camera
        # A depth model that needs the camera (metric_focal, alignment ground) gets these intrinsics (else each
        # frame's own), the mounting geometry of the parameters, and one floor alignment for the whole stream.
        self.geometry = GroundSettings.from_params(fusion).geometry
        self.aligner = depth_model.floor_aligner() if depth_model is not None else None

    def run(self, rgb: np.ndarray, depth_m: np.ndarray | None = None, intrinsics: CameraIntrinsics | None = None,
            detections: list[Detection] | None = None, stamp_s: float = 0.0) -> FrameOutput:
        """One frame; ``stamp_s`` (its time) paces the floor alignment's smoothing over a stream. A depth model
        whose frame gets no depth (no intrinsics, no floor in view) raises CameraNeeded / NoFloorError (ValueErrors
        with a ``cause``)."""
        timings = {}
        if self.ground is not None:
            return self._run_ground(rgb, intrinsics, detections, timings)
        t = time.perf_counter()
        if depth_m is None:
            if self.depth_model is None:
                raise UsageError('no depth for this frame: give a depth image or a depth model '
                                 '(--depth-checkpoint / --depth-onnx)')
            depth_m = self._predict_depth(rgb, intrinsics, stamp_s)
            timings['depth'] = 1000 * (time.perf_counter() - t)
        image = rgb
        if self.filter_mode == 'mask_then_detect' and self.settings.max_depth > 0:
            t = time.perf_counter()
            image = mask_beyond(rgb, depth_m, self.settings.max_depth).image
            timings['mask'] = 1000 * (time.perf_counter() - t)
        detections = self._detect(image, detections, timings)
        t = time.perf_counter()
        result = fuse(detections, depth_m, self.settings, intrinsics, (rgb.shape[1], rgb.shape[0]))
        timings['fuse'] = 1000 * (time.perf_counter() - t)
        return FrameOutput(image, depth_m, result, timings)

    def _predict_depth(self, rgb: np.ndarray, intrinsics: CameraIntrinsics | None, stamp_s: float) -> np.ndarray:
        model = self.depth_model
        if not model.needs_camera:
            return model.predict(rgb)
        raw = model.run_network(model.preprocess(rgb)[None])[0]
        depth, _ = model.postprocess_camera(raw, rgb.shape[:2], self.camera or intrinsics, self.geometry,
                                            self.aligner, stamp_s)
        return depth

    def _detect(self, image: np.ndarray, detections: list[Detection] | None,
                timings: dict[str, float]) -> list[Detection]:
        """The recorded ``detections``, or the detector's on ``image``."""
        if detections is not None:
            return detections
        if self.detector is None:
            raise UsageError('no detector and no recorded detections')
        t = time.perf_counter()
        p = self.detection
        detections = self.detector.detect(image, conf_threshold=p.confidence_threshold,
                                          nms_threshold=p.nms_threshold, classes=set(p.classes) or None)
        timings['detect'] = 1000 * (time.perf_counter() - t)
        return detections

    def _run_ground(self, rgb: np.ndarray, intrinsics: CameraIntrinsics | None, detections: list[Detection] | None,
                    timings: dict[str, float]) -> FrameOutput:
        """depth_source ground: detection, then the floor under each box; no depth image."""
        detections = self._detect(rgb, detections, timings)
        t = time.perf_counter()
        result = fuse_ground(detections, self.settings, self.ground, self.camera or intrinsics,
                             (rgb.shape[1], rgb.shape[0]))
        timings['fuse'] = 1000 * (time.perf_counter() - t)
        return FrameOutput(rgb, None, result, timings)


def build_pipeline(fusion: FusionNodeParams, detector: DetectorNodeParams | None, depth: DepthNodeParams | None, *,
                   model_dir: str | None = None, depth_sidecar: str | None = None,
                   camera: CameraIntrinsics | None = None) -> Pipeline:
    """The pipeline of these parameters: no detector when ``detector`` is None (recorded detections), no depth
    model when ``depth`` is None or names no model (depth images) or with depth_source ground (``camera``: the
    intrinsics the floor is seen with)."""
    detector_model = build_detector(detector, model_dir) if detector is not None else None
    depth_model = None
    if depth is not None and (depth.checkpoint or depth.onnx_model) and fusion.depth_source != 'ground':
        depth_model = build_depth_model(depth, depth_sidecar, camera=True)
    return Pipeline(detector_model, depth_model, fusion, detector, camera)


def detection_record(det: Detection, reason: str = '') -> dict[str, object]:
    """The JSON entry of one detection: Detection.to_json plus its depth, always present (null when unknown)."""
    out = det.to_json()
    out['depth_m'] = None if math.isnan(det.depth) else round(float(det.depth), 4)
    out['depth_valid_fraction'] = round(float(det.depth_valid_fraction), 4)
    out['depth_std_m'] = None if math.isnan(det.depth_variance) else round(math.sqrt(det.depth_variance), 4)
    if det.position is not None:
        out['position_m'] = [round(float(v), 4) for v in det.position]
    if det.extra.get('depth_source'):
        out['depth_source'] = det.extra['depth_source']  # what gave the distance: 'depth' (image) or 'floor'
    if math.isnan(det.depth):
        out['no_depth_reason'] = det.extra.get('no_depth_reason', NO_VALID_DEPTH)
        if 'depth_at_most' in det.extra:  # no distance, but no farther than this (core.ground_distance)
            out['depth_at_most_m'] = round(float(det.extra['depth_at_most']), 4)
    if reason:
        out['dropped_reason'] = reason
    return out


def describe(det: Detection, reason: str = '') -> str:
    depth = f'{det.depth:.2f} m' if not math.isnan(det.depth) else 'depth unknown' + (
        f" ({det.extra['no_depth_reason']})" if det.extra.get('no_depth_reason') and not reason else '')
    if det.extra.get('depth_source') == FLOOR:
        depth += ' (floor)'
    box = ', '.join(f'{v:.0f}' for v in det.xyxy())
    return f"{det.class_name:>14s} {det.score:.2f} [{box}] {depth}" + (f'  dropped: {reason}' if reason else '')


def annotate(out: FrameOutput) -> np.ndarray:
    return draw_detections(out.image, out.result.kept, out.result.dropped_with_reasons())[0]


def write_rgb(path: str | Path, rgb: np.ndarray) -> None:
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise UsageError(f'could not write {path} (unknown image format?)')


# --------------------------------------------------------------------------------------------------------- process

@dataclass
class InputFrame:
    index: int
    stamp_ns: int
    source: str
    frame: RGBDFrame
    timed: bool = True  # stamp_ns is the frame's time (video, bag); an image folder's frames only have an order


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
            yield InputFrame(i, i, f.name, RGBDFrame(read_rgb(f), depth, name=f.name), timed=False)
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


def _bag_frames(path: Path) -> tuple[int, float, Iterator[InputFrame], BagTopics]:
    from jdd_ros.io import bags

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


@dataclass
class FrameSource:
    """The frames of one input and what is known of them before reading."""

    kind: str  # 'bag', 'video' or 'folder'
    total: int  # frames announced (0: unknown)
    fps: float
    frames: Iterator[InputFrame]
    sensor_depth: bool  # frames carry a depth image
    recorded_detections: bool = False  # a bag with a Detection2DArray topic


def open_frames(src: Path, depth_dir: str | None = None, depth_scale: float = 0.001) -> FrameSource:
    """A bag, a video or a folder of images (with ``depth_dir``: depth PNGs of the same names) as frames."""
    kind = input_kind(src)
    if kind == 'bag':
        total, fps, frames, topics = _bag_frames(src)
        return FrameSource(kind, total, fps, frames, bool(topics.depth), bool(topics.detections))
    if kind == 'video':
        total, fps, frames = _video_frames(src)
        return FrameSource(kind, total, fps, frames, False)
    total, frames = _folder_frames(src, depth_dir, depth_scale)
    return FrameSource(kind, total, 10.0, frames, bool(depth_dir))


class AnnotatedOutput:
    """Annotated frames to a video, a bag or a folder; created on the first frame (its size is needed)."""

    def __init__(self, path: Path, fps: float):
        self.path, self.fps = path, fps
        suffix = path.suffix.lower()
        self.kind = 'video' if suffix in VIDEO_SUFFIXES else 'bag' if suffix in ('.mcap', '.db3') else 'folder'
        self._video = None
        self._bag = None
        if self.kind == 'bag':
            from jdd_ros.io.bags import BagWriter

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
            from jdd_ros.io import bags

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


def _csv_row(item: InputFrame, det: Detection, reason: str) -> dict[str, str | int]:
    pos = det.position or (math.nan, math.nan, math.nan)

    def num(v: float, digits: int = 4) -> str:
        return '' if v is None or math.isnan(v) else f'{v:.{digits}f}'

    return {'frame': item.index, 'stamp_ns': item.stamp_ns, 'source': item.source, 'class_name': det.class_name,
            'score': num(det.score, 4), 'x1': num(det.x1, 1), 'y1': num(det.y1, 1), 'x2': num(det.x2, 1),
            'y2': num(det.y2, 1), 'depth_m': num(det.depth),
            'depth_std_m': num(math.sqrt(det.depth_variance) if det.depth_variance >= 0 else math.nan),
            'depth_valid_fraction': num(det.depth_valid_fraction, 3), 'x_m': num(pos[0]), 'y_m': num(pos[1]),
            'z_m': num(pos[2]), 'kept': int(not reason), 'dropped_reason': reason,
            'depth_source': det.extra.get('depth_source', ''),  # what gave the distance: depth (image) or floor
            'no_depth_reason': det.extra.get('no_depth_reason', NO_VALID_DEPTH) if math.isnan(det.depth) else '',
            **_track_columns(det)}


def _track_columns(det: Detection) -> dict[str, str | int]:
    """track_id, range_rate_mps, ttc_s ('inf' when not closing; empty while unknown)."""
    track = track_of(det)
    if track is None:
        return {'track_id': '', 'range_rate_mps': '', 'ttc_s': ''}
    rate, ttc = track.range_rate_mps, track.ttc_s
    return {'track_id': track.track_id, 'range_rate_mps': '' if math.isnan(rate) else f'{rate:.4f}',
            'ttc_s': '' if math.isnan(ttc) else 'inf' if math.isinf(ttc) else f'{ttc:.3f}'}


@dataclass
class ProcessSummary:
    frames: int = 0
    kept: int = 0
    dropped: int = 0
    no_depth_frames: int = 0
    no_depth_causes: Counter[str] = field(default_factory=Counter)  # no_depth_frames by cause
    times_ms: dict[str, float] = field(default_factory=dict)  # summed over frames
    kept_by_class: dict[str, int] = field(default_factory=dict)

    def add(self, out: FrameOutput) -> None:
        self.frames += 1
        self.kept += len(out.result.kept)
        self.dropped += len(out.result.dropped_with_reasons())
        for k, v in out.timings_ms.items():
            self.times_ms[k] = self.times_ms.get(k, 0.0) + v
        for det in out.result.kept:
            self.kept_by_class[det.class_name] = self.kept_by_class.get(det.class_name, 0) + 1


def process(pipeline: Pipeline, frames: Iterable[InputFrame], outputs: AnnotatedOutput, csv_file: TextIO, *,
            limit: int = 0, recorded_detections: bool = False,
            on_frame: Callable[[ProcessSummary], None] | None = None) -> ProcessSummary:
    """Run the pipeline on every frame (at most ``limit``), write the annotated frames and one CSV row per detection.

    With ``recorded_detections`` the frames' own detections are fused instead of running the detector. A frame
    without depth when there is no depth model is counted in ``no_depth_frames`` and skipped.
    """
    summary = ProcessSummary()
    writer = csv.DictWriter(csv_file, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for item in frames:
        if limit and summary.frames >= limit:
            break
        frame = item.frame
        if frame.depth_m is None and pipeline.depth_model is None and pipeline.ground is None:
            summary.no_depth_frames += 1
            summary.no_depth_causes['no depth message with their stamp'] += 1
            continue
        detections = (frame.detections or []) if recorded_detections else None
        try:
            out = pipeline.run(frame.rgb, frame.depth_m if pipeline.depth_model is None else None, frame.intrinsics,
                               detections, item.stamp_ns * 1e-9)
        except (CameraNeeded, NoFloorError) as exc:  # a depth model that needs the camera: no depth for this frame
            summary.no_depth_frames += 1
            summary.no_depth_causes[exc.cause] += 1
            continue
        if item.timed:  # IDs, range rate, TTC over the frames' stamps; an image folder has no time: left empty
            budget = pipeline.image_budget  # growth measured on the image, for at most this many boxes a frame
            track_result(pipeline.tracker, out.result, item.stamp_ns, to_grey(frame.rgb) if budget else None, budget)
        outputs.write(item, out, annotate(out))
        for det, reason in [(d, '') for d in out.result.kept] + out.result.dropped_with_reasons():
            writer.writerow(_csv_row(item, det, reason))
        summary.add(out)
        if on_frame is not None:
            on_frame(summary)
    return summary
