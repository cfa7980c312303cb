"""The floor of a real RGB-D frame fitted here, independently of jdd_ros's RANSAC (jdd_ros.core.ground_fit): the
pixels of an image region a person marked as floor, back-projected, and a least-squares plane through them (np.linalg
.lstsq on y = a x + b z + c), refitted twice without the points more than 3 standard deviations off it. The camera's
height, pitch and roll follow from the issue's convention: the floor's upward unit normal in the optical frame is
(sin(roll) cos(pitch), -cos(roll) cos(pitch), -sin(pitch)) and the floor is n . p = -height."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Rectangles (rows, columns) of floor in each frame, marked by looking at the colour image: between the two chairs
# and left of the desk's legs, right of the yellow chair and of the desk in the TUM desk frame, the carpet
# between the walls in the SUN corridor frame.
FLOOR_REGIONS = {
    'tum_desk': [((300, 480), (245, 308)), ((440, 480), (245, 380)), ((390, 480), (580, 640)),
                 ((260, 390), (592, 640))],
    'sun_corridor': [((330, 480), (200, 420))],
}
FLOOR_REGIONS['tum_desk_mirrored'] = [(rows, (640 - c1, 640 - c0)) for rows, (c0, c1) in FLOOR_REGIONS['tum_desk']]


GROW_M = 0.03  # pixels this close to the plane of the marked regions are floor too
MAX_Z_M = 6.0  # farther, a Kinect's depth is too coarse to help


@dataclass(frozen=True)
class ReferenceFloor:
    normal: np.ndarray  # upward unit normal, optical frame
    height: float
    pitch: float
    roll: float
    rms_m: float
    points: int

    def depth_at(self, u: float, v: float, fx: float, fy: float, cx: float, cy: float) -> float:
        """The depth (z) of the floor point seen at pixel (u, v): the ray through it meets n . p = -height."""
        ray = np.array([(u - cx) / fx, (v - cy) / fy, 1.0])
        return float(-self.height / (ray @ self.normal))


def _lstsq_floor(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, float]:
    """(upward unit normal, height) of the least-squares plane y = a x + b z + c, refitted twice without the points
    more than 3 standard deviations off it."""
    keep = np.ones(x.size, dtype=bool)
    for _ in range(3):
        a = np.stack([x[keep], z[keep], np.ones(keep.sum())], axis=1)
        (ca, cb, cc), *_ = np.linalg.lstsq(a, y[keep], rcond=None)
        residual = y - (ca * x + cb * z + cc)
        keep = np.abs(residual) < 3 * residual[keep].std()
    normal = np.array([ca, -1.0, cb])  # a x - y + b z + c = 0: n_y < 0 points up (y is down)
    length = float(np.linalg.norm(normal))
    return normal / length, float(cc / length)


def reference_floor(depth_m: np.ndarray, regions: list[tuple[tuple[int, int], tuple[int, int]]], fx: float,
                    fy: float, cx: float, cy: float, grow_m: float = GROW_M) -> ReferenceFloor:
    """The floor seeded by the marked regions, then grown to every pixel within ``grow_m`` of the seed plane (nearer
    than MAX_Z_M), and fitted again to all of them."""
    v, u = np.nonzero(np.isfinite(depth_m) & (depth_m > 0) & (depth_m < MAX_Z_M))
    z = depth_m[v, u].astype(np.float64)
    points = np.stack([(u - cx) * z / fx, (v - cy) * z / fy, z], axis=1)
    marked = np.zeros(depth_m.shape, dtype=bool)
    for (r0, r1), (c0, c1) in regions:
        marked[r0:r1, c0:c1] = True
    seed = marked[v, u]
    normal, height = _lstsq_floor(*points[seed].T)
    grown = np.abs(points @ normal + height) < grow_m
    normal, height = _lstsq_floor(*points[grown].T)
    distance = points[grown] @ normal + height
    pitch = math.degrees(math.asin(-normal[2]))
    roll = math.degrees(math.atan2(normal[0], -normal[1]))
    return ReferenceFloor(normal, height, pitch, roll, float(np.sqrt(np.mean(distance ** 2))), int(grown.sum()))
