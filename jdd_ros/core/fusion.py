"""Each detection's distance from a depth image of the same camera frame, and the distance filter; no ROS imports.

The depth and detections of one frame are paired first by ``jdd_ros.core.stamp_join``.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from jdd_ros.core.box_depth import boxes_depth, valid_depth
from jdd_ros.core.camera import CameraIntrinsics, scale_coordinate
from jdd_ros.core.detection import Detection

# With the detections' image size unknown, boxes are taken to be in depth pixels: a box may still overshoot the
# image's right or bottom edge by this fraction of its width or height (at least one pixel) and is then clipped, as
# real detectors' boxes do (OpenCV DNN's yolov4-tiny puts a chair at y2 = 484.9 in a 640x480 frame). Beyond it the
# boxes cannot be in depth pixels and the pair is refused.
BORDER_TOLERANCE = 0.05

# Detection.extra['depth_source'] of a measured detection: what gave its distance (the overlay and RViz say it);
# an unmeasured one has extra['no_depth_reason'] instead when the cause is more than "no valid depth in the box".
DEPTH, FLOOR = 'depth', 'floor'


class FusionSettings(Protocol):
    """What the fusion reads of the fusion node's parameters: any object with these attributes, such as the node's
    snapshot (``jdd_ros.param_types.FusionNodeParams``, which gives their defaults; ``jdd_ros.params`` their meaning
    and checks), so the core never copies them."""

    @property
    def max_depth(self) -> float: ...
    @property
    def min_depth(self) -> float: ...
    @property
    def depth_statistic(self) -> str: ...
    @property
    def depth_percentile(self) -> float: ...
    @property
    def box_fraction(self) -> float: ...
    @property
    def min_valid_fraction(self) -> float: ...
    @property
    def depth_registered(self) -> bool: ...
    @property
    def keep_unmeasured(self) -> bool: ...


def limited(settings: FusionSettings) -> bool:
    """Whether a distance limit is set: then a detection whose depth cannot be measured is dropped."""
    return settings.max_depth > 0 or settings.min_depth > 0


@dataclass
class FusionResult:
    """Detections with their depth filled in, split by what happened to them."""

    kept: list[Detection]
    dropped_far: list[Detection] = field(default_factory=list)
    dropped_near: list[Detection] = field(default_factory=list)
    dropped_unmeasured: list[Detection] = field(default_factory=list)
    clipped: int = 0  # boxes that reached beyond the detections' image and were clipped to it
    assumed_depth_pixels: bool = False  # the detections' image size was unknown: boxes taken to be in depth pixels
    no_distance: Counter[str] = field(default_factory=Counter)  # detections without a distance (kept or not), by cause

    def place(self, fused: Detection, settings: FusionSettings) -> None:
        """File a fused detection by the distance limits: one without a distance (NaN depth) is dropped as
        unmeasured when a limit is set and kept otherwise, never filtered as if it had a distance; but one known to be
        no farther than ``extra['depth_at_most']`` (a floor-standing object cut by the image's bottom edge) is kept
        while that bound is within max_depth and no min_depth is set."""
        depth = fused.depth
        if math.isnan(depth):
            self.no_distance[fused.extra.get('no_depth_reason', NO_VALID_DEPTH)] += 1
            within = settings.max_depth > 0 and settings.min_depth == 0 and \
                fused.extra.get('depth_at_most', math.inf) <= settings.max_depth
            dropped = limited(settings) and not within and not settings.keep_unmeasured
            (self.dropped_unmeasured if dropped else self.kept).append(fused)
        elif settings.max_depth > 0 and depth > settings.max_depth:
            self.dropped_far.append(fused)
        elif depth < settings.min_depth:
            self.dropped_near.append(fused)
        else:
            self.kept.append(fused)

    def dropped_with_reasons(self) -> list[tuple[Detection, str]]:
        """(detection, why it was dropped), for the overlay."""
        return ([(d, 'beyond max_depth') for d in self.dropped_far] + [(d, 'nearer than min_depth') for d in
                self.dropped_near] + [(d, _no_depth_text(d)) for d in self.dropped_unmeasured])


NO_VALID_DEPTH = 'too few valid depth pixels in the box'


def _no_depth_text(det: Detection) -> str:
    reason = det.extra.get('no_depth_reason')
    return f'no depth: {reason}' if reason else 'no depth'


class PairRefused(ValueError):
    """A depth image and detections that cannot be related: the pair is refused. ``cause`` names why (a counter key)."""

    cause = 'refused'


class SizeMismatchError(PairRefused):
    """Detections and depth image whose pixel grids cannot be related."""

    cause = 'boxes beyond the depth image'


class FrameMismatchError(PairRefused):
    """Depth and detections from different camera frames (header frame_id), not declared registered."""

    cause = 'frame_id mismatch'


def _frame(frame_id: str) -> str:
    return frame_id[1:] if frame_id.startswith('/') else frame_id  # '/camera' and 'camera' are one frame (tf2)


def check_frames(depth_frame: str, detections_frame: str, registered: bool) -> None:
    """FrameMismatchError when depth and detections name different frames and ``registered`` does not say that the
    depth image is registered to the detections' image anyway."""
    if registered or _frame(depth_frame) == _frame(detections_frame):
        return
    raise FrameMismatchError(
        f"depth frame_id '{depth_frame}' is not the detections' '{detections_frame}': the depth image may not be "
        "registered to the detections' image (set depth_registered:=true if it is, e.g. a driver's aligned depth that "
        'keeps the depth sensor\'s frame_id): pair refused')


def _clip_boxes(boxes: np.ndarray, width: int, height: int, tolerance: tuple[float, float] | None) -> int:
    """Clip finite boxes (x1, y1, x2, y2, in place) to the image [0, width] x [0, height], as the detector clips its
    own; a box wholly outside becomes NaN (not measurable). With ``tolerance`` (x, y pixels), SizeMismatchError when a
    box reaches further right or down than that beyond the image. Returns how many boxes were clipped."""
    finite = np.isfinite(boxes).all(axis=1)
    lo = np.minimum(boxes[:, :2], boxes[:, 2:])
    hi = np.maximum(boxes[:, :2], boxes[:, 2:])
    size = np.array([width, height], dtype=np.float64)
    if tolerance is not None and finite.any():
        reach = hi[finite].max(axis=0)
        if (reach > size + np.asarray(tolerance)).any():
            raise SizeMismatchError(
                f'detections reach x={reach[0]:.0f}, y={reach[1]:.0f} beyond the {width}x{height} depth image, and '
                "the size of the detections' image is unknown (connect camera_info or image so that boxes can be "
                'scaled): pair refused')
    outside = finite & ((hi < 0) | (lo > size)).any(axis=1)
    clipped_lo, clipped_hi = np.clip(lo, 0, size), np.clip(hi, 0, size)
    changed = finite & ~outside & ((clipped_lo != lo) | (clipped_hi != hi)).any(axis=1)
    boxes[finite] = np.hstack([clipped_lo, clipped_hi])[finite]
    boxes[outside] = np.nan
    return int(changed.sum())


def _boxes_in_depth_pixels(detections: Sequence[Detection], depth_size: tuple[int, int],
                           image_size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray, int]:
    """(boxes clipped to the detections' image, the same in depth pixels, number clipped)."""
    boxes = np.array([d.xyxy() for d in detections], dtype=np.float64).reshape(-1, 4)
    dw, dh = depth_size
    if image_size is None:
        tolerance = (max(1.0, BORDER_TOLERANCE * dw), max(1.0, BORDER_TOLERANCE * dh))
        clipped = _clip_boxes(boxes, dw, dh, tolerance)
        return boxes, boxes, clipped
    iw, ih = image_size
    if iw <= 0 or ih <= 0:
        raise SizeMismatchError(f'the detections\' image size {iw}x{ih} is not usable: pair refused')
    clipped = _clip_boxes(boxes, iw, ih, None)
    if (iw, ih) == (dw, dh):
        return boxes, boxes, clipped
    scaled = boxes.copy()
    scaled[:, [0, 2]] = scale_coordinate(boxes[:, [0, 2]], dw / iw)
    scaled[:, [1, 3]] = scale_coordinate(boxes[:, [1, 3]], dh / ih)
    return boxes, scaled, clipped


def fuse(detections: Sequence[Detection], depth_m: np.ndarray, settings: FusionSettings,
         intrinsics: CameraIntrinsics | None = None, image_size: tuple[int, int] | None = None) -> FusionResult:
    """Read each detection's depth in ``depth_m`` (metres, HxW) and apply the distance limits.

    ``image_size`` (width, height) is the size of the image the boxes are in; when it differs from the depth image the
    boxes are scaled to it. When it is None, the intrinsics' size is used, and without either the boxes are taken to
    be in depth pixels (``result.assumed_depth_pixels``; SizeMismatchError when a box reaches beyond the depth image by
    more than BORDER_TOLERANCE). Boxes are read clipped to the detections' image (``result.clipped`` counts those that
    reached beyond it); a box wholly outside it is not measurable. ``intrinsics`` (of the camera, any resolution) add
    the back-projected position of each measured (clipped) box centre. The input detections are not modified.
    """
    depth = valid_depth(depth_m)
    dh, dw = depth.shape
    if image_size is None and intrinsics is not None:
        image_size = (intrinsics.width, intrinsics.height)
    clipped_boxes, boxes, clipped = _boxes_in_depth_pixels(detections, (dw, dh), image_size)
    readings = boxes_depth(depth, boxes, settings.depth_statistic, settings.depth_percentile,
                           settings.box_fraction, cleaned=True)
    camera = None
    if intrinsics is not None:
        camera = intrinsics.scaled_to(*image_size) if image_size is not None else intrinsics
    result = FusionResult(kept=[], clipped=clipped, assumed_depth_pixels=image_size is None)
    for det, box, reading in zip(detections, clipped_boxes, readings):
        measured = reading.n_valid > 0 and reading.valid_fraction >= settings.min_valid_fraction \
            and math.isfinite(reading.depth)
        depth_value = reading.depth if measured else math.nan
        position = None
        if measured and camera is not None:
            u, v = 0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3])
            position = camera.back_project(u, v, depth_value)
        extra = {**det.extra, 'depth_source': DEPTH} if measured else det.extra
        result.place(dataclasses.replace(det, depth=depth_value, depth_variance=reading.variance,
                                         depth_valid_fraction=reading.valid_fraction, position=position,
                                         extra=extra), settings)
    return result


def _by_cause(counts: Counter[str]) -> str:
    return ' (' + ', '.join(f'{n} {cause}' for cause, n in sorted(counts.items())) + ')' if counts else ''


@dataclass
class FusionCounters:
    """Totals over the node's life, logged periodically and at shutdown; what was not used is counted by cause."""

    pairs: int = 0
    assumed_depth_pixels: int = 0  # pairs fused with the boxes taken to be in depth pixels (image size unknown)
    refused: Counter[str] = field(default_factory=Counter)  # pairs refused, by cause
    bad_messages: Counter[str] = field(default_factory=Counter)  # input messages not usable, by 'topic: cause'
    kept: int = 0
    dropped_far: int = 0
    dropped_near: int = 0
    dropped_unmeasured: int = 0
    dropped_unreadable: Counter[str] = field(default_factory=Counter)  # detections that cannot carry a distance
    no_distance: Counter[str] = field(default_factory=Counter)  # detections without a distance (kept or not), by cause
    clipped: int = 0

    @property
    def refused_pairs(self) -> int:
        return sum(self.refused.values())

    def add(self, result: FusionResult, unreadable: Mapping[str, int] | None = None) -> None:
        """Count a fused pair: its result, and the detections of its message that could not be read, by cause."""
        self.pairs += 1
        self.assumed_depth_pixels += result.assumed_depth_pixels
        self.kept += len(result.kept)
        self.dropped_far += len(result.dropped_far)
        self.dropped_near += len(result.dropped_near)
        self.dropped_unmeasured += len(result.dropped_unmeasured)
        self.dropped_unreadable.update(unreadable or {})
        self.no_distance.update(result.no_distance)
        self.clipped += result.clipped

    def summary(self) -> str:
        return (f'{self.pairs} pairs fused ({self.assumed_depth_pixels} with boxes taken to be in depth pixels), '
                f'{self.refused_pairs} refused{_by_cause(self.refused)}, {sum(self.bad_messages.values())} bad '
                f'messages{_by_cause(self.bad_messages)}; detections kept {self.kept}, dropped: {self.dropped_far} '
                f'beyond max_depth, {self.dropped_near} nearer than min_depth, {self.dropped_unmeasured} without '
                f'measurable depth, {sum(self.dropped_unreadable.values())} unreadable'
                f'{_by_cause(self.dropped_unreadable)}; without a distance {sum(self.no_distance.values())}'
                f'{_by_cause(self.no_distance)}; {self.clipped} boxes clipped to the image')
