"""The depth of an object from a depth image and its box, without ROS imports.

The centre pixel alone (the original project's method) fails on hollow or thin objects (a chair's back, a bottle
edge-on) and on invalid pixels, so the default reads a robust statistic over the central part of the box and reports
how much of it was valid and how spread it was, so that callers can decide whether to trust it.

Pixel convention (the same as OpenCV's and CameraInfo K's): integer coordinates are pixel centres, so pixel ``i``
covers ``[i - 0.5, i + 0.5)``. The region read for a box with centre ``c`` and width ``w`` is every pixel whose
centre lies in ``[c - box_fraction*w/2, c + box_fraction*w/2]`` (at least the pixel nearest ``c``), clipped to the
image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

STATISTICS = ('center', 'median', 'percentile')
# 1.4826 x MAD estimates the standard deviation of normally distributed values, and ignores outliers (background
# seen through a chair's back) that would dominate a plain variance.
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class BoxDepth:
    """The depth read in one box.

    depth: metres (NaN when no valid pixel was read, or the centre pixel is invalid for 'center');
    variance: square of the robust spread (1.4826 x median absolute deviation) of the valid pixels of the region,
    in m^2 (NaN without valid pixels); valid_fraction: valid pixels / pixels of the region (0 for an empty region);
    n_valid: number of valid pixels in the region.
    """

    depth: float
    variance: float
    valid_fraction: float
    n_valid: int


UNMEASURED = BoxDepth(math.nan, math.nan, 0.0, 0)


def region_bounds(box_xyxy: Sequence[float], width: int, height: int,
                  box_fraction: float = 0.5) -> tuple[int, int, int, int] | None:
    """Inclusive pixel bounds (u0, v0, u1, v1) of the central region read for a box, or None when it is empty.

    None also for a box with a non-finite coordinate (a NaN box cannot be read).
    """
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return None
    us = _axis_bounds(min(x1, x2), max(x1, x2), box_fraction, width)
    vs = _axis_bounds(min(y1, y2), max(y1, y2), box_fraction, height)
    if us is None or vs is None:
        return None
    return us[0], vs[0], us[1], vs[1]


def _axis_bounds(lo: float, hi: float, fraction: float, size: int) -> tuple[int, int] | None:
    centre = 0.5 * (lo + hi)
    half = 0.5 * fraction * (hi - lo)
    first, last = math.ceil(centre - half), math.floor(centre + half)
    if last < first:  # narrower than a pixel: the pixel nearest the centre
        first = last = math.floor(centre + 0.5)
    first, last = max(first, 0), min(last, size - 1)
    return (first, last) if first <= last else None


def centre_pixel(box_xyxy: Sequence[float]) -> tuple[int, int]:
    """(u, v) of the pixel that contains the box centre."""
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    return math.floor(0.5 * (x1 + x2) + 0.5), math.floor(0.5 * (y1 + y2) + 0.5)


def valid_depth(depth_m: np.ndarray) -> np.ndarray:
    """A float32 copy of a depth image in metres with every invalid pixel (NaN, 0, negative, inf) set to NaN.

    Done once per image so that each box only has to skip NaNs.
    """
    depth = np.asarray(depth_m, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f'a depth image must be HxW, got shape {depth.shape}')
    with np.errstate(invalid='ignore'):
        ok = np.isfinite(depth) & (depth > 0)
    return np.where(ok, depth, np.float32(np.nan))


def box_depth(depth_m: np.ndarray, box_xyxy: Sequence[float], statistic: str = 'median', percentile: float = 20.0,
              box_fraction: float = 0.5) -> BoxDepth:
    """The depth of one box; for many boxes on one image use ``boxes_depth`` (cleans the image once)."""
    return boxes_depth(depth_m, [box_xyxy], statistic, percentile, box_fraction)[0]


def boxes_depth(depth_m: np.ndarray, boxes_xyxy: Sequence[Sequence[float]] | np.ndarray, statistic: str = 'median',
                percentile: float = 20.0, box_fraction: float = 0.5, *, cleaned: bool = False) -> list[BoxDepth]:
    """The depth of every box on one depth image (metres).

    ``statistic``: 'median' (default) or 'percentile' (``percentile``, 0-100, of the valid pixels: a low value picks
    the nearest surface of an object seen through gaps) over the central region; 'center': the box-centre pixel
    (NaN when it is invalid), with the spread and valid fraction still taken over the region.
    ``cleaned=True`` says ``depth_m`` already came from ``valid_depth``.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"unknown depth statistic '{statistic}' (one of: {', '.join(STATISTICS)})")
    if not 0.0 <= percentile <= 100.0:
        raise ValueError(f'percentile must be in [0, 100], got {percentile}')
    if not 0.0 < box_fraction <= 1.0:
        raise ValueError(f'box_fraction must be in (0, 1], got {box_fraction}')
    depth = depth_m if cleaned else valid_depth(depth_m)
    height, width = depth.shape
    out = []
    for box in boxes_xyxy:
        bounds = region_bounds(box, width, height, box_fraction)
        if bounds is None:
            out.append(UNMEASURED)
            continue
        u0, v0, u1, v1 = bounds
        region = depth[v0:v1 + 1, u0:u1 + 1]
        values = region[~np.isnan(region)]
        n_valid = int(values.size)
        fraction = n_valid / region.size
        if n_valid == 0:
            value, variance = math.nan, math.nan
        else:
            value = _percentile(values, percentile) if statistic == 'percentile' else math.nan
            median = _percentile(values, 50.0)
            if statistic == 'median':
                value = median
            np.abs(np.subtract(values, np.float32(median), out=values), out=values)  # values is a copy: reuse it
            variance = (_MAD_TO_SIGMA * _percentile(values, 50.0)) ** 2
        if statistic == 'center':
            u, v = centre_pixel(box)
            value = float(depth[v, u]) if 0 <= u < width and 0 <= v < height else math.nan
        out.append(BoxDepth(value, variance, fraction, n_valid))
    return out


def _percentile(values: np.ndarray, q: float) -> float:
    """np.percentile(values, q) (linear interpolation), without its per-call overhead (100 boxes per frame).

    Reorders ``values`` in place.
    """
    position = q / 100.0 * (values.size - 1)
    lo = math.floor(position)
    hi = min(lo + 1, values.size - 1)
    if hi == lo or position == lo:
        values.partition(lo)
        return float(values[lo])
    values.partition(hi)
    low = float(values[:hi].max())  # the element of rank lo: the largest of those before rank hi
    return low + (float(values[hi]) - low) * (position - lo)
