"""Each detection's distance from a depth image of the same camera frame, and the distance filter; no ROS imports.

The depth and detections of one frame are paired first by ``jdd_ros.core.stamp_join``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jdd_ros.core.box_depth import STATISTICS, boxes_depth, valid_depth
from jdd_ros.core.camera import CameraIntrinsics, scale_coordinate
from jdd_ros.core.detection import Detection


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

