"""Joining depth and detections of one camera frame, and reading each detection's distance; no ROS imports.

Both inputs come from the same camera frame and carry its header stamp, so they are joined by the exact stamp
(integer nanoseconds) in a bounded cache. Only header stamps are used, never the clock, so bag playback with
``use_sim_time`` behaves like a live camera, and a bag that loops (stamps jump back) resets the cache instead of
stalling it.
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jdd_ros.box_depth import STATISTICS, boxes_depth, valid_depth
from jdd_ros.camera import CameraIntrinsics, scale_coordinate
from jdd_ros.detection import Detection

DEPTH, DETECTIONS = 'depth', 'detections'


@dataclass
class JoinCounters:
    """What the join did so far (logged by the node): every message not joined is counted in one of these."""

    matched: int = 0
    evicted: dict[str, int] = field(default_factory=lambda: {DEPTH: 0, DETECTIONS: 0})
    duplicates: int = 0
    out_of_order: int = 0
    resets: int = 0

    def summary(self) -> str:
        return (f'{self.matched} pairs joined; unmatched and evicted: {self.evicted[DEPTH]} depth, '
                f'{self.evicted[DETECTIONS]} detections; {self.duplicates} duplicate stamps; '
                f'{self.out_of_order} out of order; {self.resets} time jumps (cache reset)')


class StampJoiner:
    """Pairs a depth item and a detections item with the same stamp; memory bounded by ``cache_size`` per side.

    ``add`` returns ``(depth_item, detections_item)`` once both halves of a stamp are in, else None. Unmatched
    items are evicted (and counted) when the cache is full or when a newer stamp has been joined: each topic arrives
    in order, so an older unmatched half can no longer find its partner.

    A stamp further back than the span of the recent stamps, or one its side already sent, is a time jump (a looping
    bag, a restarted source), counted once in ``counters.resets``. The two sides do not jump together: with
    ``ros2 bag play --loop`` one side may already send the new loop while the other still sends the last frames of
    the old one. So the side that jumps first keeps its unmatched old halves apart, where the other side's late
    halves still find them, until that side jumps too (its own old halves are then unmatched for good) or joins a
    frame of the new loop.
    """

    def __init__(self, cache_size: int = 30):
        if cache_size < 1:
            raise ValueError(f'cache_size must be >= 1, got {cache_size}')
        self.cache_size = cache_size
        self.counters = JoinCounters()
        self._pending: dict[str, OrderedDict[int, Any]] = {DEPTH: OrderedDict(), DETECTIONS: OrderedDict()}
        self._last: dict[str, int | None] = {DEPTH: None, DETECTIONS: None}
        self._seen: dict[str, deque[int]] = {DEPTH: deque(maxlen=cache_size), DETECTIONS: deque(maxlen=cache_size)}
        self._recent: deque[int] = deque(maxlen=cache_size)
        self._old_loop: OrderedDict[int, Any] = OrderedDict()  # unmatched halves the leading side sent before its jump
        self._lagging: str | None = None  # the side that has not jumped back yet after the other one did

    def pending(self, side: str) -> int:
        return len(self._pending[side])

    @property
    def span_ns(self) -> int:
        """Time covered by the most recent stamps: how far back a stamp may still be out of order."""
        return max(self._recent) - min(self._recent) if self._recent else 0

    def add(self, side: str, stamp_ns: int, item: Any) -> tuple[Any, Any] | None:
        """Add one half (``side`` is DEPTH or DETECTIONS); returns the (depth, detections) pair it completes, or None.

        A time jump shows as ``counters.resets`` growing; a repeated stamp already joined is ignored.
        """
        other = DETECTIONS if side == DEPTH else DEPTH
        stamp_ns = int(stamp_ns)
        previous = self._last[side]
        if previous is not None and stamp_ns < previous:
            if side == self._lagging or previous - stamp_ns > self.span_ns or stamp_ns in self._seen[side]:
                self._jump(side)
            else:
                self.counters.out_of_order += 1
        elif stamp_ns == previous:
            self.counters.duplicates += 1
            if stamp_ns not in self._pending[side]:
                return None  # joined already (or evicted): a stamp is never joined twice
        last = self._last[side]
        self._last[side] = stamp_ns if last is None else max(last, stamp_ns)
        self._seen[side].append(stamp_ns)
        old_loop = side == self._lagging
        if not old_loop:  # the span is that of the newest loop only
            self._recent.append(stamp_ns)
        partner = self._old_loop.pop(stamp_ns, None) if old_loop else None
        if partner is None:
            old_loop = False
            partner = self._pending[other].pop(stamp_ns, None)
        if partner is None:
            pending = self._pending[side]
            pending[stamp_ns] = item
            while len(pending) > self.cache_size:
                pending.popitem(last=False)
                self.counters.evicted[side] += 1
            return None
        self.counters.matched += 1
        # Older halves cannot be completed any more: their streams moved past them.
        if old_loop:  # a late frame of the old loop: the leading side's new loop is not older
            self._evict(other, self._old_loop, stamp_ns)
            self._evict(side, self._pending[side], stamp_ns)
        else:
            self._end_old_loop()  # both sides are in the same loop now
            for s in (DEPTH, DETECTIONS):
                self._evict(s, self._pending[s], stamp_ns)
        return (item, partner) if side == DEPTH else (partner, item)

    def _jump(self, side: str) -> None:
        """``side``'s stamps went back: it leads into a new loop, or follows the other side into it."""
        other = DETECTIONS if side == DEPTH else DEPTH
        if side == self._lagging:
            self._evict(side, self._pending[side])  # halves of the old loop whose partner never came
            self._end_old_loop()
        else:
            self.counters.resets += 1
            self._evict(side, self._old_loop)  # an older loop's halves, when this side jumps twice in a row
            self._old_loop = self._pending[side]
            self._pending[side] = OrderedDict()
            self._evict(other, self._pending[other])  # this side will never send those stamps again
            self._lagging = other
            self._recent.clear()
        self._last[side] = None
        self._seen[side].clear()

    def _end_old_loop(self) -> None:
        """Both sides have left the old loop: the leading side's halves kept from it can no longer be completed."""
        if self._lagging is not None:
            self._evict(DETECTIONS if self._lagging == DEPTH else DEPTH, self._old_loop)
            self._lagging = None

    def _evict(self, side: str, halves: OrderedDict[int, Any], before_ns: int | None = None) -> None:
        """Drop ``side``'s unmatched halves older than ``before_ns`` (all without it), counting them."""
        old = list(halves) if before_ns is None else [t for t in halves if t < before_ns]
        for t in old:
            del halves[t]
        self.counters.evicted[side] += len(old)


@dataclass(frozen=True)
class FusionSettings:
    """The fusion node's dynamic parameters (see jdd_ros.params.FUSION_NODE for their meaning)."""

    max_depth: float = 0.0
    min_depth: float = 0.0
    depth_statistic: str = 'median'
    depth_percentile: float = 20.0
    box_fraction: float = 0.5
    min_valid_fraction: float = 0.1

    def __post_init__(self) -> None:
        if self.depth_statistic not in STATISTICS:
            raise ValueError(f"unknown depth_statistic '{self.depth_statistic}' (one of: {', '.join(STATISTICS)})")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> FusionSettings:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in params.items() if k in names})

    @property
    def limited(self) -> bool:
        """Whether a distance limit is set: then a detection whose depth cannot be measured is dropped."""
        return self.max_depth > 0 or self.min_depth > 0


@dataclass
class FusionResult:
    """Detections with their depth filled in, split by what happened to them."""

    kept: list[Detection]
    dropped_far: list[Detection] = field(default_factory=list)
    dropped_near: list[Detection] = field(default_factory=list)
    dropped_unmeasured: list[Detection] = field(default_factory=list)

    def dropped_with_reasons(self) -> list[tuple[Detection, str]]:
        """(detection, why it was dropped), for the overlay."""
        return ([(d, 'beyond max_depth') for d in self.dropped_far] + [(d, 'nearer than min_depth') for d in
                self.dropped_near] + [(d, 'no depth') for d in self.dropped_unmeasured])


class SizeMismatchError(ValueError):
    """Detections and depth image whose pixel grids cannot be related: the pair is refused."""


def _boxes_in_depth_pixels(detections: Sequence[Detection], depth_size: tuple[int, int],
                           image_size: tuple[int, int] | None) -> np.ndarray:
    boxes = np.array([d.xyxy() for d in detections], dtype=np.float64).reshape(-1, 4)
    dw, dh = depth_size
    if image_size is None:
        finite = boxes[np.isfinite(boxes).all(axis=1)]
        # Half a pixel beyond the last pixel centre is still in the image; allow one pixel more for rounding.
        if finite.size and (finite[:, [0, 2]].max() > dw + 1 or finite[:, [1, 3]].max() > dh + 1):
            raise SizeMismatchError(
                f'detections reach x={finite[:, [0, 2]].max():.0f}, y={finite[:, [1, 3]].max():.0f} beyond the '
                f'{dw}x{dh} depth image, and the size of the detections\' image is unknown (connect camera_info or '
                'image so that boxes can be scaled): pair refused')
        return boxes
    iw, ih = image_size
    if iw <= 0 or ih <= 0:
        raise SizeMismatchError(f'the detections\' image size {iw}x{ih} is not usable: pair refused')
    if (iw, ih) == (dw, dh):
        return boxes
    scaled = boxes.copy()
    scaled[:, [0, 2]] = scale_coordinate(boxes[:, [0, 2]], dw / iw)
    scaled[:, [1, 3]] = scale_coordinate(boxes[:, [1, 3]], dh / ih)
    return scaled


def fuse(detections: Sequence[Detection], depth_m: np.ndarray, settings: FusionSettings,
         intrinsics: CameraIntrinsics | None = None, image_size: tuple[int, int] | None = None) -> FusionResult:
    """Read each detection's depth in ``depth_m`` (metres, HxW) and apply the distance limits.

    ``image_size`` (width, height) is the size of the image the boxes are in; when it differs from the depth image the
    boxes are scaled to it. When it is None, the intrinsics' size is used, and without either the boxes are taken to
    be in depth pixels (SizeMismatchError when a box lies beyond the depth image). ``intrinsics`` (of the camera,
    any resolution) add the back-projected position of each measured box centre. The input detections are not
    modified.
    """
    depth = valid_depth(depth_m)
    dh, dw = depth.shape
    if image_size is None and intrinsics is not None:
        image_size = (intrinsics.width, intrinsics.height)
    boxes = _boxes_in_depth_pixels(detections, (dw, dh), image_size)
    readings = boxes_depth(depth, boxes, settings.depth_statistic, settings.depth_percentile,
                           settings.box_fraction, cleaned=True)
    camera = None
    if intrinsics is not None:
        camera = intrinsics.scaled_to(*image_size) if image_size is not None else intrinsics
    result = FusionResult(kept=[])
    for det, reading in zip(detections, readings):
        measured = reading.n_valid > 0 and reading.valid_fraction >= settings.min_valid_fraction \
            and math.isfinite(reading.depth)
        depth_value = reading.depth if measured else math.nan
        position = None
        if measured and camera is not None:
            u, v = det.center
            position = camera.back_project(u, v, depth_value)
        fused = dataclasses.replace(det, depth=depth_value, depth_variance=reading.variance,
                                    depth_valid_fraction=reading.valid_fraction, position=position)
        if not measured:
            (result.dropped_unmeasured if settings.limited else result.kept).append(fused)
        elif settings.max_depth > 0 and depth_value > settings.max_depth:
            result.dropped_far.append(fused)
        elif depth_value < settings.min_depth:
            result.dropped_near.append(fused)
        else:
            result.kept.append(fused)
    return result


@dataclass
class FusionCounters:
    """Totals over the node's life, logged periodically and at shutdown."""

    pairs: int = 0
    refused_pairs: int = 0
    bad_messages: int = 0
    kept: int = 0
    dropped_far: int = 0
    dropped_near: int = 0
    dropped_unmeasured: int = 0

    def add(self, result: FusionResult) -> None:
        self.pairs += 1
        self.kept += len(result.kept)
        self.dropped_far += len(result.dropped_far)
        self.dropped_near += len(result.dropped_near)
        self.dropped_unmeasured += len(result.dropped_unmeasured)

    def summary(self) -> str:
        return (f'{self.pairs} pairs fused, {self.refused_pairs} refused, {self.bad_messages} bad messages; '
                f'detections kept {self.kept}, dropped: {self.dropped_far} beyond max_depth, {self.dropped_near} '
                f'nearer than min_depth, {self.dropped_unmeasured} without measurable depth')

