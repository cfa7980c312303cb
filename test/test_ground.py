"""The floor geometry (jdd_ros.core.ground) against an independent construction: a camera posed in a world frame by
rotation matrices, its rays intersected with the world's floor z = 0."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.core.ground import (
    GroundGeometry,
    floor_depth,
    floor_depth_image,
    floor_depth_variance,
    height_above_floor,
)

CAMERA = CameraIntrinsics(525.0, 525.0, 319.5, 239.5, 640, 480)


def _rot(axis: int, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def world_from_camera(pitch_deg: float, roll_deg: float) -> np.ndarray:
    """World (x forward, y left, z up) from optical frame: level camera looking along +x, then pitched down about its
    own x axis, then rolled about its optical axis (anticlockwise seen from behind = negative about +z_optical)."""
    level = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # columns: x_c, y_c, z_c in the world
    return level @ _rot(0, -math.radians(pitch_deg)) @ _rot(2, -math.radians(roll_deg))


def reference_floor_depth(u: float, v: float, height: float, pitch: float, roll: float) -> float:
    r = world_from_camera(pitch, roll)
    ray = r @ np.array([(u - CAMERA.cx) / CAMERA.fx, (v - CAMERA.cy) / CAMERA.fy, 1.0])
    if ray[2] >= 0:
        return math.nan
    t = height / -ray[2]
    point_world = np.array([0.0, 0.0, height]) + t * ray
    return float((r.T @ (point_world - np.array([0.0, 0.0, height])))[2])


def test_pitch_down_tilts_the_optical_axis_below_the_horizon() -> None:
    r = world_from_camera(30.0, 0.0)
    assert r[:, 2] @ np.array([0, 0, 1.0]) == pytest.approx(-0.5)  # the optical axis points 30 degrees down


@pytest.mark.parametrize('pitch, roll', [(0.0, 0.0), (29.0, 0.0), (15.0, 5.0), (40.0, -8.0), (-5.0, 3.0)])
def test_normal_is_the_world_up_direction_seen_from_the_camera(pitch: float, roll: float) -> None:
    up_in_camera = world_from_camera(pitch, roll).T @ np.array([0.0, 0.0, 1.0])
    np.testing.assert_allclose(GroundGeometry(1.0, pitch, roll).normal, up_in_camera, atol=1e-12)


@pytest.mark.parametrize('height, pitch, roll', [(1.78, 29.0, 0.0), (0.3, 5.0, 2.0), (1.2, 20.0, -6.0)])
def test_floor_depth_equals_the_ray_plane_intersection(height: float, pitch: float, roll: float) -> None:
    rng = np.random.default_rng(0)
    u, v = rng.uniform(0, 639, 200), rng.uniform(0, 479, 200)
    ours = floor_depth(u, v, CAMERA, GroundGeometry(height, pitch, roll))
    reference = np.array([reference_floor_depth(a, b, height, pitch, roll) for a, b in zip(u, v)])
    hits = np.isfinite(reference) & (reference < 1e3)
    assert hits.sum() > 50
    np.testing.assert_allclose(ours[hits], reference[hits], rtol=1e-9)
    assert np.isnan(ours[~np.isfinite(reference)]).all()


def test_above_the_horizon_there_is_no_floor() -> None:
    geometry = GroundGeometry(1.0, 10.0)
    horizon_v = CAMERA.cy - CAMERA.fy * math.tan(math.radians(10.0))
    assert math.isnan(float(floor_depth(320.0, horizon_v - 5, CAMERA, geometry)))
    assert math.isfinite(float(floor_depth(320.0, horizon_v + 5, CAMERA, geometry)))
    image = floor_depth_image(CAMERA, geometry)
    assert image.shape == (480, 640) and np.isnan(image[0]).all() and np.isfinite(image[-1]).all()


def test_points_on_the_floor_have_zero_height_and_the_camera_height_is_recovered() -> None:
    geometry = GroundGeometry(1.78, 29.0, 2.0)
    v, u = np.mgrid[300:480:7, 0:640:11]
    z = floor_depth(u, v, CAMERA, geometry)
    points = np.stack([(u - CAMERA.cx) * z / CAMERA.fx, (v - CAMERA.cy) * z / CAMERA.fy, z], -1)
    np.testing.assert_allclose(height_above_floor(points, geometry), 0.0, atol=1e-9)
    assert height_above_floor(np.zeros(3), geometry) == pytest.approx(1.78)


@pytest.mark.parametrize('pitch, roll', [(29.0, 0.0), (12.5, -4.0), (-3.0, 7.0)])
def test_from_plane_recovers_the_geometry_whatever_the_plane_s_scale_and_sign(pitch: float, roll: float) -> None:
    geometry = GroundGeometry(1.35, pitch, roll)
    for scale in (1.0, -2.5, 0.1):
        again = GroundGeometry.from_plane(scale * geometry.normal, scale * geometry.height)
        assert (again.height, again.pitch, again.roll) == pytest.approx((1.35, pitch, roll), abs=1e-9)


def test_variance_matches_the_spread_of_sampled_geometries() -> None:
    geometry, u, v = GroundGeometry(1.5, 25.0, 3.0), 400.0, 420.0
    rng = np.random.default_rng(1)
    samples = [float(floor_depth(u, v, CAMERA, GroundGeometry(1.5 + dh, 25.0 + dp, 3.0 + dr)))
               for dh, dp, dr in zip(rng.normal(0, 0.02, 4000), rng.normal(0, 0.5, 4000), rng.normal(0, 0.5, 4000))]
    predicted = float(floor_depth_variance(u, v, CAMERA, geometry, height_std=0.02, angle_std=0.5))
    assert predicted == pytest.approx(np.var(samples), rel=0.1)


@pytest.mark.parametrize('bad', [dict(height=0.0), dict(height=-1.0), dict(height=1.0, pitch=90.0),
                                 dict(height=1.0, roll=math.nan)])
def test_impossible_geometry_is_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match='camera'):
        GroundGeometry(**bad)
