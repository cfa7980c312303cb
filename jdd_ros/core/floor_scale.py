"""Metric scale for any depth model from the floor: the camera's mounting geometry gives every floor pixel a known
distance (``core.ground``), so the pixels where the model sees the floor fix its unknown scale (and shift).

Two fits, per frame, on the pixels below the horizon whose floor depth is known:

- ``relative_inverse`` (MiDaS, Depth Anything relative): ``raw ~ a * (1 / floor_depth) + b`` (scale and shift).
- ``metric`` (a metric model outside its training domain, off by 1.5-2x; a depth right up to one scale, as a
  Monodepth2-style sigmoid disparity): ``floor_depth ~ s * depth`` (scale only).

Objects standing on the floor (and the walls, desks and legs below the horizon) are outliers: nearer than the floor
behind them, and often most of the candidate pixels, so least squares on all of them is wrong by tens of percent.
The fit is therefore robust: candidate fits from random pairs of pixels (RANSAC), each scored by the number of
pixels it puts within ``tolerance`` (relative depth error) of the floor, the best refined by least squares on its
inliers. This is a few lines of numpy; scikit-learn's RANSACRegressor would do the same but is no dependency of the
package (tens of MB with scipy) and scores by absolute residuals, where a relative depth error is what matters here.
Random draws come from a fixed seed: the same frame always gives the same fit.

A frame whose fit finds less than ``min_floor_fraction`` of its pixels on the floor gets no depth: a scale guessed
from a sliver of floor (or from a wall at the wrong distance) is worse than none. Fits are smoothed over frames
(``ScaleSmoother``: exponential, time constant ``time_constant_s`` on the frames' stamps; reset on a jump).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.core.ground import GroundGeometry, floor_depth_image

KINDS = ('relative_inverse', 'metric')

# Floor pixels farther than this many camera heights are not used: near the horizon a 1 degree pitch error changes the
# floor distance by more than 10 %, so those pixels would pull the fit rather than support it.
MAX_FLOOR_DISTANCE_HEIGHTS = 10.0
MIN_FLOOR_FRACTION = 0.05  # of the image's pixels found on the floor, below which a frame gets no depth
TOLERANCE = 0.05  # relative depth error within which a pixel agrees with the floor (an inlier)
TIME_CONSTANT_S = 0.5  # exponential smoothing of the fitted scale/shift over frames
RESET_JUMP = 0.25  # a frame's scale this far (relative) from the smoothed one restarts the smoothing
# The floor found must span far/near >= this (5th-95th percentile): a surface at one distance (a wall ahead) matches a
# band of the floor within the tolerance (a span of 1.1) at some scale; and scale and shift need a range to separate.
MIN_FLOOR_SPAN = 1.2
HYPOTHESES = 200  # RANSAC draws
SCORE_SAMPLE = 4000  # hypotheses are scored on this many candidate pixels (then refined on all)
REFINEMENTS = 3
# Fits use at most about this many pixels (a regular grid over larger outputs): at 640x480 the whole image took 50-100
# ms per frame on the build machine, a quarter of it fits as well (the floor is smooth) in a quarter of the time.
MAX_FIT_PIXELS = 80_000

# Causes of a frame without depth (counted by the node under these names).
NO_FLOOR_IN_VIEW = 'floor not in view'
TOO_LITTLE_FLOOR = 'too little floor'
FLOOR_TOO_NARROW = 'floor spans too narrow a range of distances'


@dataclass(frozen=True)
class FloorFit:
    """One frame's fit: metres = 1 / (scale * raw + shift) (relative_inverse) or scale * depth (metric, shift 0);
    the fraction of candidate (below the horizon, in range) and inlier (on the floor) pixels, and the inliers'
    median relative depth error."""

    scale: float
    shift: float
    candidate_fraction: float
    floor_fraction: float
    residual: float


class NoFloorError(ValueError):
    """A frame whose floor cannot fix the scale; ``cause`` is one of the counted causes above."""

    def __init__(self, message: str, cause: str, candidate_fraction: float = 0.0, floor_fraction: float = 0.0):
        super().__init__(message)
        self.cause = cause
        self.candidate_fraction = candidate_fraction
        self.floor_fraction = floor_fraction


@functools.lru_cache(maxsize=4)
def floor_candidates(intrinsics: CameraIntrinsics, geometry: GroundGeometry) -> np.ndarray:
    """The floor's depth at every pixel of an image of the intrinsics' size, NaN where it is not used (at or above
    the horizon, or farther than MAX_FLOOR_DISTANCE_HEIGHTS camera heights). Read-only and cached: the camera's
    mounting changes far less often than frames come."""
    floor = floor_depth_image(intrinsics, geometry)
    floor[~(floor <= MAX_FLOOR_DISTANCE_HEIGHTS * geometry.height)] = np.nan
    floor.setflags(write=False)
    return floor


def _grid(shape: tuple[int, int]) -> tuple[slice, slice]:
    """Every pixel, or a regular grid of about MAX_FIT_PIXELS of them over a larger image."""
    step = max(1, math.ceil(math.sqrt(shape[0] * shape[1] / MAX_FIT_PIXELS)))
    return slice(step // 2, None, step), slice(step // 2, None, step)


def _inverse_inliers(raw: np.ndarray, inv_floor: np.ndarray, a: np.ndarray, b: np.ndarray,
                     tolerance: float) -> np.ndarray:
    """Which pixels (columns) each model (a, b rows) puts within ``tolerance`` of the floor: the model's inverse depth
    (raw - b) / a relative to the floor's (first order: the relative depth error)."""
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.abs((raw - b) / (a * inv_floor) - 1.0) < tolerance


def _lstsq_inverse(raw: np.ndarray, inv_floor: np.ndarray) -> tuple[float, float]:
    """raw = a * inv_floor + b by least squares."""
    design = np.stack([inv_floor, np.ones_like(inv_floor)], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, raw, rcond=None)
    return float(a), float(b)


def fit_inverse_affine(raw: np.ndarray, floor: np.ndarray, tolerance: float = TOLERANCE,
                       seed: int = 0) -> tuple[float, float, np.ndarray]:
    """Robust ``raw ~ a / floor + b`` over the 1-D arrays of candidate pixels; returns (a, b, inlier mask). a <= 0
    (no hypothesis where inverse depth grows with raw) comes back with an empty mask."""
    raw, inv = raw.astype(np.float64), 1.0 / floor.astype(np.float64)
    rng = np.random.default_rng(seed)
    sample = rng.choice(raw.size, min(SCORE_SAMPLE, raw.size), replace=False)
    pairs = rng.integers(0, sample.size, (HYPOTHESES, 2))
    i, j = sample[pairs[:, 0]], sample[pairs[:, 1]]
    with np.errstate(divide='ignore', invalid='ignore'):
        a = (raw[i] - raw[j]) / (inv[i] - inv[j])
    b = raw[i] - a * inv[i]
    usable = np.isfinite(a) & np.isfinite(b) & (a > 0)
    if not usable.any():
        return 0.0, 0.0, np.zeros(raw.size, bool)
    a, b = a[usable, None], b[usable, None]
    scores = _inverse_inliers(raw[sample][None], inv[sample][None], a, b, tolerance).sum(axis=1)
    best_a, best_b = float(a[np.argmax(scores), 0]), float(b[np.argmax(scores), 0])
    inliers = _inverse_inliers(raw, inv, best_a, best_b, tolerance)
    for _ in range(REFINEMENTS):
        if inliers.sum() < 2:
            break
        a_fit, b_fit = _lstsq_inverse(raw[inliers], inv[inliers])
        if not a_fit > 0:
            break
        best_a, best_b = a_fit, b_fit
        inliers = _inverse_inliers(raw, inv, best_a, best_b, tolerance)
    return best_a, best_b, inliers


def fit_scale(depth: np.ndarray, floor: np.ndarray, tolerance: float = TOLERANCE) -> tuple[float, np.ndarray]:
    """Robust ``floor ~ s * depth`` over the 1-D arrays of candidate pixels; returns (s, inlier mask).

    One parameter: the scale whose window of +-tolerance (in log) holds the most ratios floor / depth (the mode of
    the ratios, found exactly on the sorted values), refined by the median of its inliers."""
    log_ratio = np.sort(np.log(floor.astype(np.float64) / depth.astype(np.float64)))
    width = 2 * math.log1p(tolerance)
    ends = np.searchsorted(log_ratio, log_ratio + width, side='right')
    start = int(np.argmax(ends - np.arange(log_ratio.size)))
    centre = float(np.median(log_ratio[start:ends[start]]))
    ratio = np.log(floor / depth)
    inliers = np.abs(ratio - centre) < math.log1p(tolerance)
    for _ in range(REFINEMENTS):
        centre = float(np.median(ratio[inliers]))
        inliers = np.abs(ratio - centre) < math.log1p(tolerance)
    return math.exp(centre), inliers


def fit_floor(model_output: np.ndarray, kind: str, intrinsics: CameraIntrinsics, geometry: GroundGeometry,
              min_floor_fraction: float = MIN_FLOOR_FRACTION, tolerance: float = TOLERANCE) -> FloorFit:
    """Fit one frame: ``model_output`` (the raw relative inverse depth, or a metric model's metres, NaN = invalid) at
    the resolution of ``intrinsics``; NoFloorError with the cause when the floor cannot fix the scale."""
    if kind not in KINDS:
        raise ValueError(f"floor alignment kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if model_output.shape != (intrinsics.height, intrinsics.width):
        raise ValueError(f'model output {model_output.shape} and intrinsics {intrinsics.width}x{intrinsics.height} '
                         'differ in size: scale the intrinsics to the output (CameraIntrinsics.scaled_to)')
    grid = _grid(model_output.shape)
    floor, model_output = floor_candidates(intrinsics, geometry)[grid], model_output[grid]
    ok = np.isfinite(floor) & np.isfinite(model_output)
    if kind == 'metric':
        ok &= model_output > 0
    total = model_output.size
    candidates = float(ok.sum()) / total
    if candidates < min_floor_fraction:
        raise NoFloorError(f'only {candidates:.1%} of the image lies below the horizon within '
                           f'{MAX_FLOOR_DISTANCE_HEIGHTS:g} camera heights (needed: {min_floor_fraction:.0%} on the '
                           'floor)', NO_FLOOR_IN_VIEW, candidates)
    values, floor_values = model_output[ok], floor[ok]
    if kind == 'metric':
        scale, inliers = fit_scale(values, floor_values, tolerance)
        shift, predicted = 0.0, scale * values
    else:
        a, b, inliers = fit_inverse_affine(values, floor_values, tolerance)
        scale, shift = (1.0 / a, -b / a) if a > 0 else (math.nan, math.nan)
        with np.errstate(divide='ignore', invalid='ignore'):
            predicted = 1.0 / (scale * values + shift)
    on_floor = float(inliers.sum()) / total
    if on_floor < min_floor_fraction:
        raise NoFloorError(f'the model agrees with the floor on only {on_floor:.1%} of the image (needed: '
                           f'{min_floor_fraction:.0%}); candidates below the horizon: {candidates:.1%}',
                           TOO_LITTLE_FLOOR, candidates, on_floor)
    near, far = np.percentile(floor_values[inliers], [5, 95])
    if far / near < MIN_FLOOR_SPAN:  # a wall at one distance matches a band of the floor at some scale
        raise NoFloorError(f'the floor found spans {near:.2f}-{far:.2f} m only: too narrow to tell it from a wall '
                           '(and to separate scale and shift)', FLOOR_TOO_NARROW, candidates, on_floor)
    residual = float(np.median(np.abs(predicted[inliers] / floor_values[inliers] - 1.0)))
    return FloorFit(scale, shift, candidates, on_floor, residual)


class ScaleSmoother:
    """Exponential smoothing of (scale, shift) over frames with time constant ``time_constant_s`` on the frames'
    stamps: a frame ``dt`` after the previous one moves the smoothed values by ``1 - exp(-dt / tau)`` of the way to
    its own fit. Restarts from the frame's fit when it is RESET_JUMP (relative) or more away in scale (the camera
    was moved, camera_height set at run time), when the stamps go backwards (a bag looped) or with tau 0."""

    def __init__(self, time_constant_s: float = TIME_CONSTANT_S, reset_jump: float = RESET_JUMP):
        if not (time_constant_s >= 0 and math.isfinite(time_constant_s)):
            raise ValueError(f'time constant must be >= 0 seconds, got {time_constant_s}')
        self.time_constant_s = time_constant_s
        self.reset_jump = reset_jump
        self.scale: float | None = None
        self.shift = 0.0
        self._stamp: float | None = None
        self.resets = 0

    def update(self, scale: float, shift: float, stamp_s: float) -> tuple[float, float]:
        """The smoothed (scale, shift) to apply to the frame of ``stamp_s`` whose own fit is (scale, shift)."""
        dt = None if self._stamp is None else stamp_s - self._stamp
        jump = self.scale is not None and abs(scale / self.scale - 1.0) >= self.reset_jump
        if self.scale is None or dt is None or dt < 0 or jump or self.time_constant_s == 0:
            self.resets += int(self.scale is not None)
            self.scale, self.shift = scale, shift
        else:
            alpha = 1.0 - math.exp(-dt / self.time_constant_s)
            self.scale += alpha * (scale - self.scale)
            self.shift += alpha * (shift - self.shift)
        self._stamp = stamp_s
        return self.scale, self.shift

    def drift(self, scale: float) -> float:
        """How far a frame's own scale lies from the smoothed one (relative; 0 before the first frame)."""
        return 0.0 if not self.scale else scale / self.scale - 1.0


@dataclass(frozen=True)
class AppliedScale:
    """What a frame gets: the smoothed ``scale`` and ``shift`` (same meaning as FloorFit's), the frame's own ``fit``
    and its ``drift`` from the smoothed scale (relative)."""

    scale: float
    shift: float
    fit: FloorFit
    drift: float


class FloorAligner:
    """Per-frame floor fits of one image stream (one model, one camera), smoothed over its frames."""

    def __init__(self, kind: str, min_floor_fraction: float = MIN_FLOOR_FRACTION,
                 time_constant_s: float = TIME_CONSTANT_S, tolerance: float = TOLERANCE):
        if kind not in KINDS:
            raise ValueError(f"floor alignment kind must be one of {', '.join(KINDS)}, got {kind!r}")
        self.kind = kind
        self.min_floor_fraction = min_floor_fraction
        self.tolerance = tolerance
        self.smoother = ScaleSmoother(time_constant_s)
        self.last: AppliedScale | None = None

    def align(self, model_output: np.ndarray, intrinsics: CameraIntrinsics, geometry: GroundGeometry,
              stamp_s: float) -> AppliedScale:
        """The scale (and shift) for the frame of ``stamp_s``; NoFloorError (the smoothing untouched) when its floor
        cannot fix them."""
        fit = fit_floor(model_output, self.kind, intrinsics, geometry, self.min_floor_fraction, self.tolerance)
        drift = self.smoother.drift(fit.scale)
        scale, shift = self.smoother.update(fit.scale, fit.shift, stamp_s)
        self.last = AppliedScale(scale, shift, fit, drift)
        return self.last
