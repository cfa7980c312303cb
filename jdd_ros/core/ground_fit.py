"""The floor plane of one sensor depth image, and from it the camera's mounting geometry (``jdd-ros calibrate-ground``).

A depth camera at hand once is enough to calibrate the height, pitch and roll that ``depth_source: ground`` needs
(``jdd_ros.core.ground``). The floor is found by RANSAC on the back-projected points among the planes whose normal
is roughly "up" for a camera mounted roughly upright; of those that carry enough points, the one lowest below the
camera is the floor (a table top is higher, a wall is not upward). The winner is refined by least squares (the
plane through the inliers' centroid with the smallest-variance direction as normal). Pure numpy, seeded: the same
image gives the same result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.core.ground import GroundGeometry

MAX_POINTS = 40_000  # the points sampled from the image (a 640x480 frame has 307,200): enough, and fast
MAX_RANGE_M = 4.0  # farther, a Kinect-class sensor's depth noise (~1.4 mm x z^2: 2.3 cm at 4 m) nears INLIER_M
INLIER_M = 0.03  # a point this close to a plane is on it (Kinect-class noise and distortion at 1-4 m)
REFINE_SCHEDULE = (3.0, 2.0, 1.0, 1.0)  # least-squares rounds, tolerance in units of the inlier distance: starting
# wide makes the result independent of which three points RANSAC happened to draw
PARALLEL_DEG = 15.0  # a plane this close in direction to the best-supported one is a level surface (table, floor)
DISTINCT_M = 0.10  # a level surface at least this far below the best-supported one is another surface (the floor)
MAX_TILT_DEG = 60.0  # a floor's normal lies within this angle of the camera's -y axis (camera roughly upright)
MIN_FLOOR_FRACTION = 0.05  # a plane with fewer of the valid points is not the floor
PLANES = 4  # upward planes searched one after the other (floor, table tops, seats, shelves)
ITERATIONS = 400  # RANSAC samples per plane


class NoFloorFound(ValueError):
    """No plane in the depth image can be the floor; the message says what was found instead."""


@dataclass(frozen=True)
class FloorFit:
    """The floor found in a depth image: the geometry, the RMS of the inliers' distances to the plane (metres), the
    fraction of the valid depth pixels on it, and how many points were used."""

    geometry: GroundGeometry
    rms_m: float
    floor_fraction: float
    inliers: int
    points: int


def depth_points(depth_m: np.ndarray, intrinsics: CameraIntrinsics, max_points: int = MAX_POINTS,
                 max_range: float = MAX_RANGE_M, seed: int = 0) -> tuple[np.ndarray, int]:
    """(optical-frame points of at most ``max_points`` valid depth pixels, the number of valid pixels)."""
    depth = np.asarray(depth_m, dtype=np.float64)
    h, w = depth.shape
    camera = intrinsics.scaled_to(w, h)
    valid = np.isfinite(depth) & (depth > 0) & (depth <= max_range)
    v, u = np.nonzero(valid)
    total = int(v.size)
    if total > max_points:
        pick = np.random.default_rng(seed).choice(total, max_points, replace=False)
        v, u = v[pick], u[pick]
    z = depth[v, u]
    points = np.stack([(u - camera.cx) * z / camera.fx, (v - camera.cy) * z / camera.fy, z], axis=1)
    return points, total


def _oriented(normal: np.ndarray, offset: float) -> tuple[np.ndarray, float]:
    """The plane ``normal . p + offset = 0`` with a unit normal pointing towards the camera (offset > 0)."""
    length = float(np.linalg.norm(normal))
    normal, offset = normal / length, offset / length
    return (-normal, -offset) if offset < 0 else (normal, offset)


def _upward(normal: np.ndarray, max_tilt_deg: float) -> bool:
    return -normal[1] >= math.cos(math.radians(max_tilt_deg))


def _ransac_plane(points: np.ndarray, tolerance: float, rng: np.random.Generator,
                  max_tilt_deg: float) -> np.ndarray | None:
    """The inlier mask of the upward plane through three sampled points that has the most inliers."""
    best, best_count = None, 0
    n = len(points)
    if n < 3:
        return None
    samples = rng.integers(0, n, size=(ITERATIONS, 3))
    for i, j, k in samples:
        normal = np.cross(points[j] - points[i], points[k] - points[i])
        if not np.linalg.norm(normal) > 1e-9:
            continue
        normal, offset = _oriented(normal, -float(normal @ points[i]))
        if not _upward(normal, max_tilt_deg):
            continue
        inliers = np.abs(points @ normal + offset) < tolerance
        count = int(inliers.sum())
        if count > best_count:
            best, best_count = inliers, count
    return best


def refine_plane(points: np.ndarray, inliers: np.ndarray, tolerance: float) -> tuple[np.ndarray, float, np.ndarray]:
    """Least-squares plane (unit normal towards the camera, offset) of the inliers, re-selecting them each round
    with the tolerances of REFINE_SCHEDULE; the last selection is returned with the plane fitted to it."""
    normal, offset = np.zeros(3), 0.0
    for factor in REFINE_SCHEDULE:
        chosen = points[inliers]
        centroid = chosen.mean(axis=0)
        normal = np.linalg.svd(chosen - centroid, full_matrices=False)[2][-1]
        normal, offset = _oriented(normal, -float(normal @ centroid))
        updated = np.abs(points @ normal + offset) < factor * tolerance
        if updated.sum() < 3:
            break
        inliers = updated
    chosen = points[inliers]
    centroid = chosen.mean(axis=0)
    normal = np.linalg.svd(chosen - centroid, full_matrices=False)[2][-1]
    normal, offset = _oriented(normal, -float(normal @ centroid))
    return normal, offset, inliers


def _lowest_level_surface(candidates: list[tuple[float, np.ndarray, np.ndarray]],
                          ) -> tuple[float, np.ndarray, np.ndarray]:
    """Of the (offset, normal, inliers) planes, the floor: the best-supported one fixes what is level; a level
    plane distinctly lower than it (the floor under a large table top) wins, the lowest of them."""
    dominant = max(candidates, key=lambda c: int(c[2].sum()))
    cos_parallel = math.cos(math.radians(PARALLEL_DEG))
    lower = [c for c in candidates if float(c[1] @ dominant[1]) >= cos_parallel and c[0] >= dominant[0] + DISTINCT_M]
    return max(lower, key=lambda c: c[0]) if lower else dominant


def fit_floor(depth_m: np.ndarray, intrinsics: CameraIntrinsics, *, inlier_m: float = INLIER_M,
              max_tilt_deg: float = MAX_TILT_DEG, min_fraction: float = MIN_FLOOR_FRACTION,
              max_range: float = MAX_RANGE_M, seed: int = 0) -> FloorFit:
    """The floor of a sensor depth image (metres, NaN or 0 = no reading) seen with ``intrinsics``.

    Only depth nearer than ``max_range`` is used. Upward planes are found one after the other (each search without
    the previous planes' points); of those holding at least ``min_fraction`` of the valid points, the best supported
    fixes what is level and the lowest level one is the floor. NoFloorFound (a ValueError) says why when none
    qualifies.
    """
    points, total = depth_points(depth_m, intrinsics, max_range=max_range, seed=seed)
    if total < 100:
        raise NoFloorFound(f'no floor found: only {total} valid depth pixels nearer than {max_range:g} m')
    rng = np.random.default_rng(seed)
    remaining = np.ones(len(points), dtype=bool)
    candidates = []
    for _ in range(PLANES):
        index = np.nonzero(remaining)[0]
        found = _ransac_plane(points[index], inlier_m, rng, max_tilt_deg)
        if found is None or found.sum() < min_fraction * len(points):
            break
        inliers = np.zeros(len(points), dtype=bool)
        inliers[index[found]] = True
        normal, offset, inliers = refine_plane(points, inliers, inlier_m)
        remaining &= ~inliers
        if _upward(normal, max_tilt_deg) and inliers.sum() >= min_fraction * len(points):
            candidates.append((offset, normal, inliers))
    if not candidates:
        raise NoFloorFound(f'no floor found: no roughly upward plane (within {max_tilt_deg:.0f} degrees of the '
                           f"camera's down axis) holds {100 * min_fraction:.0f} % of the {total} valid depth pixels "
                           f'nearer than {max_range:g} m')
    offset, normal, inliers = _lowest_level_surface(candidates)
    residual = points[inliers] @ normal + offset
    return FloorFit(GroundGeometry.from_plane(normal, offset), float(np.sqrt(np.mean(residual ** 2))),
                    float(inliers.sum() / len(points)), int(inliers.sum()), len(points))
