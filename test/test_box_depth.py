"""Depth of a box: hand-made arrays with known answers, and the real TUM depth frame against plain numpy."""

import math

import cv2
import numpy as np
import pytest
from harness import fixture

from jdd_ros.core.box_depth import box_depth, boxes_depth, region_bounds

# Boxes on real objects of the TUM desk frame (tum_desk_color.png, 640x480), placed by looking at the picture.
TUM_BOXES = {
    'chair_red': (5, 255, 240, 475),
    'chair_yellow': (372, 230, 530, 435),
    'globe': (55, 10, 165, 105),
    'dice': (125, 195, 172, 245),
    'bottle': (285, 22, 312, 105),
    'bag': (467, 95, 548, 192),
}


def reference_region(depth, box, fraction):
    """Valid values of the pixels whose centres lie in the central fraction of the box (independent of the module)."""
    x1, y1, x2, y2 = box
    cx, cy, hw, hh = (x1 + x2) / 2, (y1 + y2) / 2, fraction * (x2 - x1) / 2, fraction * (y2 - y1) / 2
    us, vs = np.arange(depth.shape[1]), np.arange(depth.shape[0])
    region = depth[np.ix_((vs >= cy - hh) & (vs <= cy + hh), (us >= cx - hw) & (us <= cx + hw))]
    valid = region[np.isfinite(region) & (region > 0)]
    return region, valid


def test_median_ignores_nan_zero_inf_and_reports_valid_fraction():
    depth = np.full((10, 10), 2.0, dtype=np.float32)
    depth[4, 4], depth[4, 5], depth[5, 4] = np.nan, 0.0, np.inf
    depth[5, 5] = 9.0  # one outlier among the valid pixels
    r = box_depth(depth, (2, 2, 8, 8), 'median', box_fraction=0.5)  # centre 5, half-size 1.5: pixels 4..6
    assert r.n_valid == 6 and r.valid_fraction == pytest.approx(6 / 9)
    assert r.depth == pytest.approx(2.0)
    assert r.variance == pytest.approx(0.0)  # MAD ignores the outlier


def test_only_the_central_region_is_read():
    depth = np.full((100, 100), 5.0, dtype=np.float32)  # background seen around the object
    depth[40:60, 40:60] = 1.0
    assert box_depth(depth, (30, 30, 70, 70), 'median', box_fraction=0.5).depth == pytest.approx(1.0)
    assert box_depth(depth, (30, 30, 70, 70), 'median', box_fraction=1.0).depth == pytest.approx(5.0)


def test_percentile_picks_near_surface_and_matches_numpy():
    rng = np.random.default_rng(0)
    depth = rng.uniform(1.0, 4.0, size=(50, 60)).astype(np.float32)
    box = (0, 0, 60, 50)
    r = box_depth(depth, box, 'percentile', percentile=20, box_fraction=1.0)
    assert r.depth == pytest.approx(float(np.percentile(depth, 20)), rel=1e-6)
    assert r.depth < box_depth(depth, box, 'median', box_fraction=1.0).depth


def test_center_is_the_centre_pixel_and_nan_when_invalid():
    depth = np.arange(100, dtype=np.float32).reshape(10, 10) + 1
    r = box_depth(depth, (2, 3, 6, 7), 'center')  # centre (4, 5)
    assert r.depth == depth[5, 4]
    depth[5, 4] = 0
    r = box_depth(depth, (2, 3, 6, 7), 'center')
    assert math.isnan(r.depth) and r.n_valid > 0  # the region around it still says how much was valid


def test_boxes_outside_nan_and_degenerate():
    depth = np.full((20, 30), 3.0, dtype=np.float32)
    outside = box_depth(depth, (100, 100, 120, 130))
    assert math.isnan(outside.depth) and outside.n_valid == 0 and outside.valid_fraction == 0
    nan_box = box_depth(depth, (float('nan'), 0, 10, 10))
    assert math.isnan(nan_box.depth) and nan_box.n_valid == 0
    clipped = box_depth(depth, (-10, -10, 4, 4), box_fraction=1.0)
    assert clipped.n_valid == 25 and clipped.depth == 3.0  # pixels 0..4 in both axes
    inverted = box_depth(depth, (10, 10, 0, 0), box_fraction=1.0)
    assert inverted.n_valid == 121
    point = box_depth(depth, (7.2, 7.2, 7.2, 7.2))
    assert point.n_valid == 1 and region_bounds((7.2, 7.2, 7.2, 7.2), 30, 20) == (7, 7, 7, 7)
    empty = box_depth(np.zeros((20, 30), np.float32), (0, 0, 10, 10))
    assert math.isnan(empty.depth) and math.isnan(empty.variance) and empty.valid_fraction == 0


def test_bad_arguments_are_refused():
    depth = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="unknown depth statistic 'mean'"):
        box_depth(depth, (0, 0, 2, 2), 'mean')
    with pytest.raises(ValueError, match='percentile'):
        box_depth(depth, (0, 0, 2, 2), 'percentile', percentile=120)
    with pytest.raises(ValueError, match='box_fraction'):
        box_depth(depth, (0, 0, 2, 2), box_fraction=0)


@pytest.fixture(scope='module')
def tum_depth_m():
    mm = cv2.imread(str(fixture('tum_desk_depth_mm.png')), cv2.IMREAD_UNCHANGED)
    assert mm is not None and mm.dtype == np.uint16 and mm.shape == (480, 640)
    metres = mm.astype(np.float64) / 1000.0
    metres[mm == 0] = np.nan
    return metres.astype(np.float32)


@pytest.mark.parametrize('fraction', [0.5, 0.3, 1.0])
def test_real_tum_frame_matches_numpy(tum_depth_m, fraction):
    readings = boxes_depth(tum_depth_m, list(TUM_BOXES.values()), 'median', box_fraction=fraction)
    for (name, box), r in zip(TUM_BOXES.items(), readings):
        region, valid = reference_region(tum_depth_m, box, fraction)
        assert r.n_valid == valid.size, name
        assert r.valid_fraction == pytest.approx(valid.size / region.size), name
        assert r.depth == pytest.approx(float(np.median(valid)), abs=1e-6), name
        mad = np.median(np.abs(valid - np.median(valid)))
        assert r.variance == pytest.approx((1.4826 * mad) ** 2, rel=1e-4, abs=1e-9), name
        p10 = box_depth(tum_depth_m, box, 'percentile', percentile=10, box_fraction=fraction).depth
        assert p10 == pytest.approx(float(np.percentile(valid, 10)), abs=1e-6), name
    # Real scene sanity: the red chair is in front of the desk, the bag on the desk behind it.
    depth = dict(zip(TUM_BOXES, (r.depth for r in readings)))
    assert 1.3 < depth['chair_red'] < depth['bag'] < 3.0


def test_real_tum_centre_pixel_of_hollow_chair_misses_it(tum_depth_m):
    """Why the centre pixel is not the default: the yellow chair's centre pixel is a hole in the sensor depth."""
    box = TUM_BOXES['chair_yellow']
    u, v = 451, 333  # the pixel containing the box centre (451.0, 332.5)
    assert tum_depth_m[v, u] != tum_depth_m[v, u]  # NaN in the PNG (0 mm)
    centre = box_depth(tum_depth_m, box, 'center')
    assert math.isnan(centre.depth)
    median = box_depth(tum_depth_m, box, 'median')
    _, valid = reference_region(tum_depth_m, box, 0.5)
    assert median.depth == pytest.approx(float(np.median(valid)), abs=1e-6) and 2.0 < median.depth < 2.8
