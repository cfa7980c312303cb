"""The floor fit of jdd-ros calibrate-ground (jdd_ros.core.ground_fit) on synthetic depth images built from a known
mounting geometry (a floor with noise and holes, a table top, a wall): height, pitch and roll are recovered, the
floor is told from the table top even when the table is larger, and a scene without floor is refused."""

from __future__ import annotations

import numpy as np
import pytest
from test_ground import CAMERA, reference_floor_depth

from jdd_ros.core.ground import GroundGeometry
from jdd_ros.core.ground_fit import NoFloorFound, fit_floor


def _scene(height: float, pitch: float, roll: float, table_rows: tuple[int, int] | None = None,
           noise_m: float = 0.005, seed: int = 0) -> np.ndarray:
    """A depth image of the floor (from test_ground's independent world-frame construction), a wall 3 m ahead
    where the floor is not seen, an optional table top 0.7 m above the floor over ``table_rows``, noise, holes."""
    v, u = np.mgrid[0:480:4, 0:640:4]  # every 4th pixel, in the full image's pixel coordinates
    floor = np.vectorize(lambda a, b: reference_floor_depth(a, b, height, pitch, roll))(u, v)
    depth = np.where(np.isfinite(floor) & (floor < 6.0), floor, 3.0)
    if table_rows is not None:
        table = np.vectorize(lambda a, b: reference_floor_depth(a, b, height - 0.7, pitch, roll))(u, v)
        rows = (v >= table_rows[0]) & (v < table_rows[1]) & np.isfinite(table)
        depth = np.where(rows, table, depth)
    rng = np.random.default_rng(seed)
    depth = depth + rng.normal(0.0, noise_m, depth.shape)
    depth[rng.random(depth.shape) < 0.1] = np.nan  # holes, as a sensor has them
    full = np.full((480, 640), np.nan)
    full[0:480:4, 0:640:4] = depth
    return full


@pytest.mark.parametrize('height, pitch, roll', [(1.78, 29.0, 0.7), (0.45, 12.0, -4.0), (1.2, 20.0, 6.0),
                                                 (0.8, 35.0, 0.0)])
def test_height_pitch_and_roll_are_recovered(height, pitch, roll):
    fit = fit_floor(_scene(height, pitch, roll), CAMERA)
    g = fit.geometry
    assert (g.height, g.pitch, g.roll) == pytest.approx((height, pitch, roll), abs=0.01)
    assert 0.001 < fit.rms_m < 0.0055  # the depth noise put in (5 mm along z) seen across the plane
    assert 0.1 < fit.floor_fraction <= 1.0


def test_the_floor_is_below_a_table_top_even_a_larger_one():
    depth = _scene(1.2, 30.0, 2.0, table_rows=(200, 400))  # the table covers most of the floor seen
    fit = fit_floor(depth, CAMERA)
    assert (fit.geometry.height, fit.geometry.pitch, fit.geometry.roll) == pytest.approx((1.2, 30.0, 2.0), abs=0.01)


def test_a_scene_without_floor_is_refused():
    wall = np.full((480, 640), 2.0)  # a wall facing the camera: upright, not upward
    with pytest.raises(NoFloorFound, match='no roughly upward plane'):
        fit_floor(wall, CAMERA)
    with pytest.raises(NoFloorFound, match='only 0 valid depth pixels'):
        fit_floor(np.full((480, 640), np.nan), CAMERA)
    steep = _scene(1.0, 75.0, 0.0)  # looking almost straight down: beyond the upright-camera range of the search
    with pytest.raises(NoFloorFound):
        fit_floor(steep, CAMERA)
    assert fit_floor(steep, CAMERA, max_tilt_deg=85.0).geometry.pitch == pytest.approx(75.0, abs=0.05)


def test_the_same_frame_gives_the_same_geometry():
    depth = _scene(1.78, 29.0, 0.7)
    assert fit_floor(depth, CAMERA) == fit_floor(depth, CAMERA)
    assert isinstance(fit_floor(depth, CAMERA).geometry, GroundGeometry)
