"""How much an object's image grew between two frames, measured on the texture inside its box; no ROS imports.

The box-growth time to contact TTC = dt / (scale - 1) needs the scale change between two frames to a fraction of a
percent: at 10 Hz an object 5 s away grows by 2 % per frame. A detector's box edges are far worse (yolov4-tiny's box
sizes on the zoomed TUM frame err by -10..+16 %, each error lasting up to half a second, docs/tracking.md). The
texture inside the box scales exactly as the object's image does, so here (the classic feature-scale TTC):

1. good features (Shi-Tomasi corners, ``cv2.goodFeaturesToTrack``) inside the box in the earlier frame, away from
   its edges (where the background shows);
2. tracked into the later frame by pyramidal Lucas-Kanade (``cv2.calcOpticalFlowPyrLK``), and kept only where
   tracking them back lands within ``fb_max_px`` of where they started (forward-backward check: drops points that
   were occluded, left the window, or slid along an edge);
3. the scale change is the median of the ratios of the pairwise distances of the kept points (later / earlier):
   free of translation and rotation, and robust to a minority of points on the background or on another object.
   Only pairs at least ``min_pair_px`` apart count: a ratio's error is the points' position error over their
   distance.

Its variance is the robust spread of the pair ratios (1.4826 x MAD) squared over the number of points (the pairs of
n points are not independent: n points carry about n independent distances), with a floor for what the tracker's
sub-pixel accuracy cannot resolve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in the patch's pixels
# goodFeaturesToTrack's reach: its 3x3 covariance block of 3x3 Sobel derivatives (2 px) and the 3x3 local
# maximum around each corner (1 px), plus one spare
FEATURE_BORDER_PX = 4


@dataclass(frozen=True)
class ScaleSettings:
    """Feature detection and tracking for ``image_scale_change`` (defaults measured by test/test_image_scale.py and
    the real-frame sequence of test/test_tracking_real.py)."""

    max_points: int = 40  # features per box (the pair ratios grow with the square of this)
    quality: float = 0.01  # of the strongest corner's response (goodFeaturesToTrack qualityLevel)
    min_spacing_px: float = 4.0  # between two features
    inset: float = 0.15  # this fraction of the box's width / height on each side is not searched (background)
    window_px: int = 15  # Lucas-Kanade window (pixels, odd)
    iterations: int = 30  # Lucas-Kanade iterations per level at most
    levels: int = 2  # pyramid levels above the image: about window_px * 2**levels / 2 pixels from the first guess
    margin: float = 0.25  # ``window_scale_change``: the window around both boxes, this fraction of their size ...
    margin_px: int = 16  # ... plus this many pixels (room for the tracker's window and a wrong first guess)
    fb_max_px: float = 0.5  # forward-backward error above this: the point is not used
    min_points: int = 8  # fewer surviving points: no measurement (the caller falls back to the box size)
    min_pair_px: float = 12.0  # pairs of points closer than this give too imprecise a ratio
    ratio_floor: float = 2e-4  # 1-sigma floor of the ratio (sub-pixel tracking and interpolation)


@dataclass(frozen=True)
class ScaleChange:
    """The object's image size in the later frame over its size in the earlier one, with its variance."""

    ratio: float
    variance: float
    points: int  # features that survived tracking and the forward-backward check


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """An RGB (or already grey) uint8 image as a contiguous grey uint8 image, as ``image_scale_change`` takes it."""
    if rgb.ndim == 2:
        return np.ascontiguousarray(rgb)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def image_scale_change(prev: np.ndarray, cur: np.ndarray, box: Box, expected: Box | None = None,
                       settings: ScaleSettings = ScaleSettings()) -> ScaleChange | None:
    """The scale change of the object inside ``box`` of ``prev`` between ``prev`` and ``cur`` (grey uint8 images of
    the same size and coordinates, e.g. the same window cut from two frames), or None when fewer than
    ``settings.min_points`` features survive (too small, too plain, or lost). ``expected``, the object's box in
    ``cur`` if known (its detection, or its predicted size), is the first guess: ``prev`` is scaled by the boxes'
    size ratio about the box centre before the features are tracked (Lucas-Kanade follows translations: it
    misplaces a point by a small fraction of the scale change it has to absorb), and the points start at the
    expected centre. It moves where and at what scale the tracking starts, never what it finds."""
    if prev.shape != cur.shape or prev.ndim != 2:
        raise ValueError(f'image_scale_change needs two grey images of one size, got {prev.shape} and {cur.shape}')
    found = _features(prev, box, settings)
    if found is None:
        return None
    guess, centre, shift = _first_guess(box, expected)
    start = found
    if guess != 1.0:  # prev scaled by the guess about the box centre, the features with it
        m = np.array([[guess, 0.0, (1 - guess) * centre[0]], [0.0, guess, (1 - guess) * centre[1]]])
        prev = cv2.warpAffine(prev, m, (prev.shape[1], prev.shape[0]), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        start = ((found - centre) * np.float32(guess) + centre).astype(np.float32)
    p0, p1 = _track(prev, cur, start, (start + shift).astype(np.float32), settings)
    if len(p0) < settings.min_points:
        return None
    i, j = np.triu_indices(len(p0), k=1)
    d0 = np.linalg.norm(p0[i] - p0[j], axis=1)
    long_enough = d0 >= settings.min_pair_px * guess
    if np.count_nonzero(long_enough) < settings.min_points:
        return None
    ratios = guess * np.linalg.norm(p1[i] - p1[j], axis=1)[long_enough] / d0[long_enough]
    ratio = float(np.median(ratios))
    spread = 1.4826 * float(np.median(np.abs(ratios - ratio)))
    variance = max(spread * spread / len(p0), settings.ratio_floor ** 2)
    return ScaleChange(ratio, variance, len(p0))


def _features(prev: np.ndarray, box: Box, s: ScaleSettings) -> np.ndarray | None:
    """Shi-Tomasi corners inside the inset box (N x 1 x 2 float32), or None when fewer than ``s.min_points``."""
    x1, y1, x2, y2 = box
    dx, dy = s.inset * (x2 - x1), s.inset * (y2 - y1)
    h, w = prev.shape
    c0, r0 = max(int(np.ceil(x1 + dx)), 0), max(int(np.ceil(y1 + dy)), 0)
    c1, r1 = min(int(np.floor(x2 - dx)), w), min(int(np.floor(y2 - dy)), h)
    if c1 - c0 < 3 or r1 - r0 < 3:
        return None
    # Searched on the inset box and a border of FEATURE_BORDER_PX, not on the whole image with a mask: the corner
    # response and its local maxima there depend only on pixels within that border, so the corners are the same
    # (test_image_scale.py compares with the masked whole image), at a fifth of the cost on a tracking window.
    a0, b0 = max(c0 - FEATURE_BORDER_PX, 0), max(r0 - FEATURE_BORDER_PX, 0)
    a1, b1 = min(c1 + FEATURE_BORDER_PX, w), min(r1 + FEATURE_BORDER_PX, h)
    mask = np.zeros((b1 - b0, a1 - a0), np.uint8)
    mask[r0 - b0:r1 - b0, c0 - a0:c1 - a0] = 255
    found = cv2.goodFeaturesToTrack(prev[b0:b1, a0:a1], s.max_points, s.quality, s.min_spacing_px, mask=mask)
    if found is None or len(found) < s.min_points:
        return None
    return found + np.array([a0, b0], np.float32)


def _first_guess(box: Box, expected: Box | None) -> tuple[float, np.ndarray, np.ndarray]:
    """(scale, centre of ``box``, shift of the centre) from ``box`` to ``expected`` (1, centre, 0 without one)."""
    c0 = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], dtype=np.float32)
    if expected is None:
        return 1.0, c0, np.zeros(2, np.float32)
    size0 = math.sqrt(max((box[2] - box[0]) * (box[3] - box[1]), 1e-6))
    size1 = math.sqrt(max((expected[2] - expected[0]) * (expected[3] - expected[1]), 1e-6))
    c1 = np.array([(expected[0] + expected[2]) / 2, (expected[1] + expected[3]) / 2], dtype=np.float32)
    return size1 / size0, c0, c1 - c0


def _track(prev: np.ndarray, cur: np.ndarray, p0: np.ndarray, guess: np.ndarray,
           s: ScaleSettings) -> tuple[np.ndarray, np.ndarray]:
    """The points of ``p0`` that Lucas-Kanade tracks into ``cur`` (starting from ``guess``) and back to within
    ``fb_max_px``: (N x 2, N x 2)."""
    lk = {'winSize': (s.window_px, s.window_px), 'maxLevel': s.levels,
          'criteria': (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, s.iterations, 0.01)}
    p1, ok1, _ = cv2.calcOpticalFlowPyrLK(prev, cur, p0, guess, flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **lk)
    back, ok2, _ = cv2.calcOpticalFlowPyrLK(cur, prev, p1, p0.copy(), flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **lk)
    fb = np.linalg.norm((back - p0).reshape(-1, 2), axis=1)
    h, w = cur.shape
    q = p1.reshape(-1, 2)
    inside = (q[:, 0] >= 0) & (q[:, 1] >= 0) & (q[:, 0] <= w - 1) & (q[:, 1] <= h - 1)
    keep = (ok1.ravel() == 1) & (ok2.ravel() == 1) & (fb <= s.fb_max_px) & inside
    return p0.reshape(-1, 2)[keep].astype(np.float64), q[keep].astype(np.float64)


def window_scale_change(prev_frame: np.ndarray, frame: np.ndarray, prev_box: Box, box: Box,
                        settings: ScaleSettings = ScaleSettings()) -> ScaleChange | None:
    """``image_scale_change`` of an object detected at ``prev_box`` in ``prev_frame`` and at ``box`` in ``frame``
    (whole grey frames of one size), on the window around both boxes only (a fraction of the cost of whole frames).
    None also when the boxes lie outside the frame or the frames differ in size (a camera that changed its
    resolution): no measurement, not an error."""
    if prev_frame.shape != frame.shape or not np.isfinite(np.r_[prev_box, box]).all():
        return None
    x1, y1 = min(prev_box[0], box[0]), min(prev_box[1], box[1])
    x2, y2 = max(prev_box[2], box[2]), max(prev_box[3], box[3])
    pad = settings.margin * np.sqrt(max((x2 - x1) * (y2 - y1), 0.0)) + settings.margin_px
    h, w = frame.shape
    c0, r0 = max(int(x1 - pad), 0), max(int(y1 - pad), 0)
    c1, r1 = min(int(np.ceil(x2 + pad)), w), min(int(np.ceil(y2 + pad)), h)
    if c1 - c0 < settings.window_px or r1 - r0 < settings.window_px:
        return None
    shift = (c0, r0, c0, r0)
    local = tuple(v - o for v, o in zip(prev_box, shift))
    expected = tuple(v - o for v, o in zip(box, shift))
    return image_scale_change(prev_frame[r0:r1, c0:c1], frame[r0:r1, c0:c1], local, expected, settings)
