"""The floor seen by a camera mounted at a known height, pitch and roll: metric distance with no depth network.

A robot knows where its camera is mounted; with the intrinsics, every pixel below the horizon then looks at a floor
point at a known distance. Conventions (docs/ground.md), in the camera optical frame (x right, y down,
z forward): ``pitch`` is positive when the optical axis points below the horizon, ``roll`` positive when the camera
is turned anticlockwise about its optical axis as seen from behind it. The floor's upward unit normal is then
``n = (sin(roll) cos(pitch), -cos(roll) cos(pitch), -sin(pitch))`` and the floor is the plane ``n . p = -height``.
Distances are along the optical axis (z), as depth images store them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from jdd_ros.core.camera import CameraIntrinsics

# A ray must descend at least this much (n . d, per unit of z) to meet the floor: nearer the horizon the distance
# grows without bound and the slightest pitch error changes it by metres.
MIN_DESCENT = 1e-3


@dataclass(frozen=True)
class GroundGeometry:
    """Where the camera is mounted: ``height`` metres above a flat floor, ``pitch`` and ``roll`` in degrees."""

    height: float
    pitch: float = 0.0
    roll: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.height) and self.height > 0):
            raise ValueError(f'camera height above the floor must be a positive number of metres, got {self.height}')
        for name, value in (('pitch', self.pitch), ('roll', self.roll)):
            if not (math.isfinite(value) and -90.0 < value < 90.0):
                raise ValueError(f'camera {name} must be within (-90, 90) degrees, got {value}')

    @property
    def normal(self) -> np.ndarray:
        """The floor's upward unit normal in the camera optical frame."""
        p, r = math.radians(self.pitch), math.radians(self.roll)
        return np.array([math.sin(r) * math.cos(p), -math.cos(r) * math.cos(p), -math.sin(p)])

    @classmethod
    def from_plane(cls, normal: np.ndarray, offset: float) -> GroundGeometry:
        """The mounting geometry of a floor plane ``normal . p + offset = 0`` in the optical frame (any scale or
        orientation of the pair); ValueError when the camera is not above the plane or looks at it edge-on."""
        normal = np.asarray(normal, dtype=np.float64)
        length = float(np.linalg.norm(normal))
        if not (length > 0 and math.isfinite(offset)):
            raise ValueError('a plane needs a non-zero normal and a finite offset')
        normal, offset = normal / length, float(offset) / length
        if offset < 0:  # orient the normal towards the camera (the camera is above the floor)
            normal, offset = -normal, -offset
        if offset == 0:
            raise ValueError('the camera lies in the plane: it cannot be the floor')
        pitch = math.degrees(math.asin(float(np.clip(-normal[2], -1.0, 1.0))))
        roll = math.degrees(math.atan2(normal[0], -normal[1]))
        return cls(offset, pitch, roll)


def pixel_rays(u: np.ndarray, v: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """Rays through pixels (u, v) scaled to z = 1: shape (..., 3)."""
    u, v = np.broadcast_arrays(np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64))
    return np.stack([(u - intrinsics.cx) / intrinsics.fx, (v - intrinsics.cy) / intrinsics.fy, np.ones_like(u)], -1)


def floor_depth(u: np.ndarray | float, v: np.ndarray | float, intrinsics: CameraIntrinsics,
                geometry: GroundGeometry) -> np.ndarray:
    """Depth (z, metres) of the floor point seen at pixels (u, v) of an image of the intrinsics' size; NaN where the
    ray does not meet the floor (at or above the horizon)."""
    descent = pixel_rays(u, v, intrinsics) @ geometry.normal  # n . d: negative when the ray goes down
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(descent < -MIN_DESCENT, -geometry.height / descent, np.nan)


def floor_depth_image(intrinsics: CameraIntrinsics, geometry: GroundGeometry) -> np.ndarray:
    """The depth image (height x width, float32 metres, NaN above the horizon) of an empty flat floor."""
    v, u = np.mgrid[0:intrinsics.height, 0:intrinsics.width]
    return floor_depth(u, v, intrinsics, geometry).astype(np.float32)


def floor_depth_variance(u: np.ndarray | float, v: np.ndarray | float, intrinsics: CameraIntrinsics,
                         geometry: GroundGeometry, height_std: float, angle_std: float) -> np.ndarray:
    """Variance (m^2) of ``floor_depth`` from a height uncertainty (metres) and a pitch and roll uncertainty
    (degrees, each), propagated to first order: z = -h / (n . d), so dz/dh = z / h and dz/da = -z (dn/da . d) / (n . d).
    """
    rays = pixel_rays(u, v, intrinsics)
    descent = rays @ geometry.normal
    p, r = math.radians(geometry.pitch), math.radians(geometry.roll)
    dn_dpitch = np.array([-math.sin(r) * math.sin(p), math.cos(r) * math.sin(p), -math.cos(p)])
    dn_droll = np.array([math.cos(r) * math.cos(p), math.sin(r) * math.cos(p), 0.0])
    with np.errstate(divide='ignore', invalid='ignore'):
        z = np.where(descent < -MIN_DESCENT, -geometry.height / descent, np.nan)
        dz_dh = z / geometry.height
        dz_dpitch = -z * (rays @ dn_dpitch) / descent
        dz_droll = -z * (rays @ dn_droll) / descent
    angle_var = math.radians(angle_std) ** 2
    return dz_dh ** 2 * height_std ** 2 + (dz_dpitch ** 2 + dz_droll ** 2) * angle_var


def height_above_floor(points: np.ndarray, geometry: GroundGeometry) -> np.ndarray:
    """Signed height (metres) above the floor of optical-frame points (..., 3): 0 on the floor, < 0 below it."""
    return np.asarray(points, dtype=np.float64) @ geometry.normal + geometry.height
