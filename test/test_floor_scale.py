"""Metric scale from the floor (jdd_ros.core.floor_scale) on synthetic scenes with a known answer: a flat floor seen by
a camera at a known height and pitch, objects standing on it (nearer than the floor behind them), a wall above the
horizon; a model's output made from the scene's true depth with a known scale and shift."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.core.floor_scale import (
    FLOOR_TOO_NARROW,
    NO_FLOOR_IN_VIEW,
    TOO_LITTLE_FLOOR,
    FloorAligner,
    NoFloorError,
    ScaleSmoother,
    fit_floor,
    fit_inverse_affine,
)
from jdd_ros.core.ground import GroundGeometry, floor_depth_image

CAMERA = CameraIntrinsics(262.5, 262.5, 159.75, 119.75, 320, 240)  # the TUM frame's intrinsics at half size
GEOMETRY = GroundGeometry(1.5, 20.0, 2.0)


def scene(object_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(true depth, floor mask) of a room: the floor, a wall at 6 m above the horizon, and upright boxes standing on
    the floor covering about ``object_fraction`` of the floor pixels (each at the depth of its foot row: nearer than
    the floor behind it)."""
    floor = floor_depth_image(CAMERA, GEOMETRY).astype(np.float64)
    depth = np.where(np.isfinite(floor) & (floor < 6.0), floor, 6.0)
    on_floor = np.isfinite(floor) & (floor < 6.0)
    rng = np.random.default_rng(seed)
    target = object_fraction * on_floor.sum()
    while (on_floor & (depth < floor - 1e-9)).sum() < target:
        foot_v = int(rng.integers(CAMERA.height // 2 + 20, CAMERA.height))
        u0 = int(rng.integers(0, CAMERA.width - 20))
        w, h = int(rng.integers(15, 60)), int(rng.integers(30, 120))
        foot_depth = floor[foot_v, u0]
        region = (slice(max(foot_v - h, 0), foot_v), slice(u0, u0 + w))
        depth[region] = np.minimum(depth[region], foot_depth)
    return depth, on_floor & (np.abs(depth - floor) < 1e-9)


@pytest.mark.parametrize('object_fraction', [0.0, 0.3, 0.6])
@pytest.mark.parametrize('a, b', [(2.0, 0.5), (37.0, -3.0)])
def test_relative_inverse_scale_and_shift_recovered_despite_objects(object_fraction, a, b):
    depth, _ = scene(object_fraction)
    raw = a / depth + b
    fit = fit_floor(raw.astype(np.float32), 'relative_inverse', CAMERA, GEOMETRY)
    # metres = 1 / (scale * raw + shift) with scale = 1 / a, shift = -b / a. Not exact: where the wall meets the
    # floor, and at the feet of the objects, pixels within the tolerance of the floor behind them count as floor.
    assert fit.scale == pytest.approx(1 / a, rel=5e-3)
    recovered = 1.0 / (fit.scale * raw + fit.shift)
    np.testing.assert_allclose(recovered, depth, rtol=1e-2)
    assert fit.residual < 0.01


def test_least_squares_on_every_floor_candidate_would_be_wrong():
    """Why the fit is robust: with 60 % of the floor pixels covered by objects, plain least squares on all pixels below
    the horizon is off by tens of percent."""
    depth, _ = scene(0.6)
    raw = 2.0 / depth + 0.5
    floor = floor_depth_image(CAMERA, GEOMETRY)
    ok = np.isfinite(floor) & (floor < 15.0)
    design = np.stack([1 / floor[ok], np.ones(ok.sum())], 1)
    (a_ls, _), *_ = np.linalg.lstsq(design, raw[ok], rcond=None)
    assert abs(a_ls / 2.0 - 1) > 0.1
    a_robust, _, _ = fit_inverse_affine(raw[ok], floor[ok])
    assert a_robust == pytest.approx(2.0, rel=5e-3)


@pytest.mark.parametrize('object_fraction', [0.0, 0.5])
def test_metric_model_off_by_a_factor_gets_scale_only(object_fraction):
    depth, _ = scene(object_fraction)
    model = depth / 1.7  # an out-of-domain metric model reads everything 1.7x too near
    fit = fit_floor(model.astype(np.float32), 'metric', CAMERA, GEOMETRY)
    assert fit.scale == pytest.approx(1.7, rel=5e-3) and fit.shift == 0.0


def test_noisy_model_within_its_noise():
    depth, _ = scene(0.3)
    rng = np.random.default_rng(3)
    noisy = depth * np.exp(rng.normal(0, 0.02, depth.shape))  # 2 % per-pixel depth noise
    fit = fit_floor((4.0 / noisy + 1.0).astype(np.float32), 'relative_inverse', CAMERA, GEOMETRY)
    recovered = 1.0 / (fit.scale * (4.0 / depth + 1.0) + fit.shift)
    assert np.nanmedian(np.abs(recovered / depth - 1)) < 0.01
    fit_m = fit_floor((noisy / 1.7).astype(np.float32), 'metric', CAMERA, GEOMETRY)
    assert fit_m.scale == pytest.approx(1.7, rel=0.01)


def test_frame_with_too_little_floor_is_refused_with_the_cause():
    depth, _ = scene(0.0)
    wall = np.full_like(depth, 0.8)  # a wall 0.8 m ahead fills the view: it meets the floor along one band only
    with pytest.raises(NoFloorError) as err:
        fit_floor((2.0 / wall).astype(np.float32), 'relative_inverse', CAMERA, GEOMETRY)
    assert err.value.cause == TOO_LITTLE_FLOOR and err.value.candidate_fraction > 0.4
    # Scale only: a wall at one distance matches the floor band at 0.8 m times any scale; it spans too narrow a
    # range of floor distances to be taken for the floor.
    with pytest.raises(NoFloorError) as err:
        fit_floor(wall.astype(np.float32), 'metric', CAMERA, GEOMETRY)
    assert err.value.cause == FLOOR_TOO_NARROW
    # Looking up: the floor is (almost) out of the picture.
    with pytest.raises(NoFloorError) as err:
        fit_floor(depth.astype(np.float32), 'metric', CAMERA, GroundGeometry(1.5, -30.0))
    assert err.value.cause == NO_FLOOR_IN_VIEW


def test_invalid_model_pixels_are_not_used():
    depth, _ = scene(0.3)
    raw = (2.0 / depth + 0.5).astype(np.float32)
    raw[::2] = np.nan
    fit = fit_floor(raw, 'relative_inverse', CAMERA, GEOMETRY)
    assert fit.scale == pytest.approx(0.5, rel=5e-3)


def test_output_and_intrinsics_must_have_one_size():
    with pytest.raises(ValueError, match='scaled_to'):
        fit_floor(np.ones((120, 160), np.float32), 'metric', CAMERA, GEOMETRY)
    with pytest.raises(ValueError, match='kind'):
        FloorAligner('disparity')


def test_smoothing_follows_the_time_constant_and_resets_on_a_jump():
    s = ScaleSmoother(time_constant_s=1.0, reset_jump=0.25)
    assert s.update(1.0, 0.0, 10.0) == (1.0, 0.0)
    scale, shift = s.update(1.1, 0.2, 11.0)  # one time constant later: 1 - 1/e of the way
    assert scale == pytest.approx(1.0 + 0.1 * (1 - math.exp(-1))) and shift == pytest.approx(0.2 * (1 - math.exp(-1)))
    assert s.drift(1.1) == pytest.approx(1.1 / scale - 1)
    assert s.update(2.0, 0.0, 11.1) == (2.0, 0.0) and s.resets == 1  # a jump: start over
    assert s.update(2.1, 0.0, 5.0) == (2.1, 0.0) and s.resets == 2  # stamps backwards (a bag looped)
    assert ScaleSmoother(0.0).update(3.0, 1.0, 0.0) == (3.0, 1.0)
    with pytest.raises(ValueError):
        ScaleSmoother(-1.0)


def test_aligner_keeps_its_smoothing_through_frames_without_floor():
    depth, _ = scene(0.3)
    aligner = FloorAligner('metric', time_constant_s=1.0)
    first = aligner.align((depth / 1.7).astype(np.float32), CAMERA, GEOMETRY, 0.0)
    assert first.scale == pytest.approx(1.7, rel=5e-3) and first.drift == 0.0
    with pytest.raises(NoFloorError):
        aligner.align(np.full_like(depth, 0.8, dtype=np.float32), CAMERA, GEOMETRY, 0.1)
    second = aligner.align((depth / 1.8).astype(np.float32), CAMERA, GEOMETRY, 1.0)
    assert second.fit.scale == pytest.approx(1.8, rel=5e-3)
    expected = first.scale + (second.fit.scale - first.scale) * (1 - math.exp(-1))
    assert second.scale == pytest.approx(expected, rel=1e-9)
    assert second.drift == pytest.approx(1.8 / 1.7 - 1, rel=1e-2)
