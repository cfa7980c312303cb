"""Each detection's distance from the floor under it (fusion ``depth_source: ground``): no depth image at all.

An object that stands on the floor touches it at the bottom of its box. With the camera's mounting geometry
(``jdd_ros.core.ground``) and its intrinsics, the floor point seen at the bottom-centre of the box has a known depth
(metres along the optical axis, like a depth image's), and that is the object's distance; its variance comes from
the stated uncertainty of the height and the angles. A detection gets no distance, with the cause recorded in
``extra['no_depth_reason']`` and counted, when the camera's intrinsics or height are unknown, its class does not
stand on the floor (``ground_classes``), its box is cut by the image's bottom edge (the foot point is not seen), or
its foot point is at or above the horizon. Such a detection is kept or dropped by the rule of ``core.fusion`` for
"no depth": kept while no distance limit is set, dropped (as unmeasured, never as "beyond max_depth") when one is.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.core.detection import Detection
from jdd_ros.core.fusion import FLOOR, FusionResult, FusionSettings
from jdd_ros.core.ground import GroundGeometry, floor_depth, floor_depth_variance

# A box whose bottom edge is this close to the image's bottom is taken to be cut by it (the object goes on below
# the image and its foot point is not seen): 1 % of the image height, or a detector's error on a box edge, a few %
# of the box height, when larger (the SUN corridor frame: a partition cut by the image edge, detected with its box
# 7 pixels short of it, would get the floor 2.2 m away for 1.2 m).
BOTTOM_MARGIN = 0.01
BOX_EDGE_ERROR = 0.03

NO_CAMERA_INFO = 'no camera_info'
HEIGHT_UNKNOWN = 'camera_height unknown (0)'
NOT_GROUNDED = 'class not in ground_classes'
CUT_BY_BOTTOM = 'box cut by the image bottom edge'
ABOVE_HORIZON = 'foot point at or above the horizon'
NOT_FINITE = 'box not finite'
# Causes that concern every detection until the user acts, with what to do (the node logs them).
SETUP_HINTS = {NO_CAMERA_INFO: 'connect camera_info (the floor needs the intrinsics)',
               HEIGHT_UNKNOWN: "set camera_height (e.g. 'ros2 param set /fusion_node camera_height 0.5'; "
                               "'jdd-ros calibrate-ground' measures it)"}


class GroundParams(Protocol):
    """What the floor reads of the fusion node's parameters (the node's snapshot has them; jdd_ros.params says what
    they mean)."""

    @property
    def ground_classes(self) -> Sequence[str]: ...
    @property
    def camera_height(self) -> float: ...
    @property
    def camera_pitch(self) -> float: ...
    @property
    def camera_roll(self) -> float: ...
    @property
    def camera_height_std(self) -> float: ...
    @property
    def camera_angle_std(self) -> float: ...


@dataclass(frozen=True)
class GroundSettings:
    """The fusion node's floor parameters (see jdd_ros.params: ground_classes, camera_height, ...)."""

    classes: tuple[str, ...] = ()  # the classes that stand on the floor (jdd_ros.params.GROUND_CLASSES)
    height: float = 0.0  # 0: unknown
    pitch: float = 0.0
    roll: float = 0.0
    height_std: float = 0.02
    angle_std: float = 1.0

    @classmethod
    def from_params(cls, p: GroundParams) -> GroundSettings:
        """The floor settings of the node's parameter snapshot (integers given for doubles are made floats)."""
        return cls(tuple(p.ground_classes), float(p.camera_height), float(p.camera_pitch), float(p.camera_roll),
                   float(p.camera_height_std), float(p.camera_angle_std))

    @property
    def geometry(self) -> GroundGeometry | None:
        """The mounting geometry, None while the height is unknown (0)."""
        return GroundGeometry(self.height, self.pitch, self.roll) if self.height > 0 else None


def _no_distance(det: Detection, cause: str) -> Detection:
    return dataclasses.replace(det, depth=math.nan, depth_variance=math.nan, depth_valid_fraction=0.0,
                               position=None, extra={**det.extra, 'no_depth_reason': cause})


def _cause(det: Detection, settings: GroundSettings, camera: CameraIntrinsics | None) -> str | None:
    """Why ``det`` cannot get a floor distance, or None when it can (its foot point is then inside the image)."""
    if camera is None:
        return NO_CAMERA_INFO
    if settings.geometry is None:
        return HEIGHT_UNKNOWN
    if det.class_name not in settings.classes:
        return NOT_GROUNDED
    if not all(math.isfinite(v) for v in det.xyxy()):
        return NOT_FINITE
    margin = max(1.0, BOTTOM_MARGIN * camera.height, BOX_EDGE_ERROR * abs(det.y2 - det.y1))
    if max(det.y1, det.y2) >= camera.height - margin:
        return CUT_BY_BOTTOM
    return None


def floor_distance(det: Detection, settings: GroundSettings, camera: CameraIntrinsics | None) -> Detection:
    """``det`` with the distance of the floor point under its box's bottom-centre (``extra['depth_source']`` is
    'floor'), or without a distance and with ``extra['no_depth_reason']``. ``camera``: intrinsics of the image the box
    is in."""
    cause = _cause(det, settings, camera)
    if cause == CUT_BY_BOTTOM:
        return _nearer_than_bottom_row(det, settings, camera)
    if cause is not None:
        return _no_distance(det, cause)
    geometry = settings.geometry
    u, v = 0.5 * (det.x1 + det.x2), max(det.y1, det.y2)
    depth = float(floor_depth(u, v, camera, geometry))
    if not math.isfinite(depth):
        return _no_distance(det, ABOVE_HORIZON)
    variance = float(floor_depth_variance(u, v, camera, geometry, settings.height_std, settings.angle_std))
    cu, cv = det.center
    return dataclasses.replace(det, depth=depth, depth_variance=variance, depth_valid_fraction=1.0,
                               position=camera.back_project(cu, cv, depth),
                               extra={**det.extra, 'depth_source': FLOOR})


def _nearer_than_bottom_row(det: Detection, settings: GroundSettings, camera: CameraIntrinsics) -> Detection:
    """A box cut by the image's bottom edge has no distance, but an object standing on the floor there is nearer than
    the floor seen at the bottom row: that bound (``extra['depth_at_most']``) keeps a person right in front of the
    robot when max_depth is set (core.fusion.FusionResult.place)."""
    bound = float(floor_depth(0.5 * (det.x1 + det.x2), camera.height - 0.5, camera, settings.geometry))
    out = _no_distance(det, CUT_BY_BOTTOM)
    if math.isfinite(bound):
        out.extra['depth_at_most'] = bound
    return out


def fuse_ground(detections: Sequence[Detection], settings: FusionSettings, ground: GroundSettings,
                intrinsics: CameraIntrinsics | None, image_size: tuple[int, int] | None = None) -> FusionResult:
    """Each detection's floor distance, then the distance limits as ``core.fusion.fuse`` applies them.

    ``intrinsics`` are the camera's (camera_info; None: unknown); ``image_size`` (width, height) is the size of the
    image the boxes are in, default the intrinsics' own. The input detections are not modified.
    """
    camera = None
    if intrinsics is not None:
        camera = intrinsics.scaled_to(*image_size) if image_size is not None else intrinsics
    result = FusionResult(kept=[])
    for det in detections:
        result.place(floor_distance(det, ground, camera), settings)
    return result

