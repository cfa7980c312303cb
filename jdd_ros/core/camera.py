"""Pinhole camera intrinsics, without ROS imports: back-projection of pixels to 3D and rescaling between sizes.

Integer pixel coordinates are pixel centres (the convention of CameraInfo K and OpenCV), so rescaling an image by
``s`` maps ``u`` to ``(u + 0.5) * s - 0.5``; boxes and intrinsics are rescaled the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def scale_coordinate(u: float | np.ndarray, scale: float) -> float | np.ndarray:
    """A pixel coordinate in an image rescaled by ``scale`` (pixel-centre convention)."""
    return (u + 0.5) * scale - 0.5


@dataclass(frozen=True)
class CameraIntrinsics:
    """fx, fy, cx, cy in pixels of an image of width x height (the K matrix of sensor_msgs/CameraInfo)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        values = (self.fx, self.fy, self.cx, self.cy)
        if not all(math.isfinite(v) for v in values) or self.fx <= 0 or self.fy <= 0:
            raise ValueError(f'camera intrinsics need finite fx, fy > 0 and finite cx, cy; got fx={self.fx} '
                             f'fy={self.fy} cx={self.cx} cy={self.cy}')
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f'camera intrinsics need the image size, got {self.width}x{self.height}')

    def back_project(self, u: float, v: float, z: float) -> tuple[float, float, float]:
        """The point (x, y, z) in the camera optical frame (x right, y down, z forward, metres) seen at pixel (u, v)
        at depth z (distance along the optical axis, as depth images store it)."""
        return ((u - self.cx) * z / self.fx, (v - self.cy) * z / self.fy, z)

    def project(self, x: float, y: float, z: float) -> tuple[float, float]:
        """The pixel (u, v) where the optical-frame point (x, y, z) is seen."""
        return (self.fx * x / z + self.cx, self.fy * y / z + self.cy)

    def scaled_to(self, width: int, height: int) -> CameraIntrinsics:
        """The same camera for the image resized to width x height (e.g. a depth image at another resolution)."""
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        return CameraIntrinsics(self.fx * sx, self.fy * sy, float(scale_coordinate(self.cx, sx)),
                                float(scale_coordinate(self.cy, sy)), int(width), int(height))
