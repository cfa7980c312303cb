"""Depth metrics on cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jdd_ros.depth.metrics import (
    MetricAccumulator,
    best_constant_delta1,
    compute_metrics,
    eigen_crop_mask,
    soft_accuracy,
)


def test_perfect_prediction():
    gt = np.linspace(0.5, 9.5, 48).reshape(6, 8)
    m = compute_metrics(gt.copy(), gt)
    assert m['delta1'] == m['delta2'] == m['delta3'] == m['soft_accuracy'] == 1.0
    for k in ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10'):
        assert m[k] == pytest.approx(0.0, abs=1e-12)
    assert m['valid_pixels'] == 48


def test_hand_computed_values():
    gt = np.array([[1.0, 2.0], [4.0, 8.0]])
    pred = np.array([[1.2, 2.0], [2.0, 10.0]])
    # ratios max(g/p, p/g): 1.2, 1, 2, 1.25 (1.25 is not < 1.25)
    m = compute_metrics(pred, gt, max_depth=20.0)
    assert m['delta1'] == pytest.approx(0.5)
    assert m['delta2'] == pytest.approx(0.75)  # 2 > 1.5625
    assert m['delta3'] == pytest.approx(0.75)  # 2 > 1.953125
    assert m['abs_rel'] == pytest.approx((0.2 / 1 + 0 + 2 / 4 + 2 / 8) / 4)
    assert m['sq_rel'] == pytest.approx((0.04 / 1 + 0 + 4 / 4 + 4 / 8) / 4)
    assert m['rmse'] == pytest.approx(math.sqrt((0.04 + 0 + 4 + 4) / 4))
    assert m['rmse_log'] == pytest.approx(math.sqrt((math.log(1.2) ** 2 + math.log(2) ** 2
                                                     + math.log(1.25) ** 2) / 4))
    assert m['log10'] == pytest.approx((math.log10(1.2) + math.log10(2) + math.log10(1.25)) / 4)


def test_invalid_ground_truth_is_ignored_and_predictions_are_clipped():
    gt = np.array([[2.0, 0.0, np.nan, 12.0]])  # only the first pixel is valid (0 < gt < 10)
    pred = np.array([[2.0, 5.0, 5.0, 5.0]])
    m = compute_metrics(pred, gt)
    assert m['valid_pixels'] == 1 and m['abs_rel'] == 0.0
    # a prediction of 50 m is clipped to 10 m before comparison
    m = compute_metrics(np.array([[50.0]]), np.array([[5.0]]))
    assert m['abs_rel'] == pytest.approx(1.0)
    empty = compute_metrics(np.ones((2, 2)), np.zeros((2, 2)))
    assert empty['valid_pixels'] == 0 and math.isnan(empty['delta1'])
    with pytest.raises(ValueError, match='resize'):
        compute_metrics(np.ones((2, 3)), np.ones((3, 2)))


def test_eigen_crop():
    mask = eigen_crop_mask((480, 640))
    assert mask.sum() == (471 - 45) * (601 - 41)
    assert mask[45, 41] and mask[470, 600] and not mask[44, 41] and not mask[45, 601] and not mask[471, 300]
    gt = np.full((480, 640), 3.0)
    pred = gt.copy()
    pred[:45] = 9.0  # wrong only outside the crop
    assert compute_metrics(pred, gt, eigen_crop=True)['delta1'] == 1.0
    assert compute_metrics(pred, gt, eigen_crop=False)['delta1'] == pytest.approx(1 - 45 / 480)


def test_median_scaling_removes_a_global_scale():
    gt = np.linspace(1, 8, 100).reshape(10, 10)
    m = compute_metrics(0.25 * gt, gt, median_scaling=True)
    assert m['scale'] == pytest.approx(4.0)
    assert m['delta1'] == 1.0 and m['abs_rel'] == pytest.approx(0.0, abs=1e-12)
    assert compute_metrics(0.25 * gt, gt)['delta1'] == 0.0


def test_soft_accuracy_rounds_normalised_depth():
    gt = np.array([1.0, 2.0, 5.0, 9.6])  # /10 -> 0.1, 0.2, 0.5, 0.96 -> rounded 0.1, 0.2, 0.5, 1.0
    pred = np.array([1.4, 2.6, 5.4, 9.4])  # /10 -> 0.14, 0.26, 0.54, 0.94 -> 0.1, 0.3, 0.5, 0.9
    assert soft_accuracy(pred, gt, max_depth=10.0) == pytest.approx(0.5)
    assert compute_metrics(pred.reshape(2, 2), gt.reshape(2, 2))['soft_accuracy'] == pytest.approx(0.5)


def test_metrics_are_averaged_over_images_not_pixels():
    acc = MetricAccumulator()
    acc.add(compute_metrics(np.full((2, 2), 3.0), np.full((2, 2), 3.0)))  # 4 pixels, all right
    acc.add(compute_metrics(np.full((10, 10), 9.0), np.full((10, 10), 3.0)))  # 100 pixels, all wrong
    acc.add(compute_metrics(np.ones((2, 2)), np.zeros((2, 2))))  # no valid pixel: skipped
    mean = acc.mean()
    assert mean['delta1'] == pytest.approx(0.5) and mean['abs_rel'] == pytest.approx(1.0)
    assert mean['images'] == 2 and mean['images_without_valid_pixels'] == 1


def test_best_constant_delta1_beats_every_constant_on_a_grid():
    gt = np.array([1.0, 1.0, 1.0, 10.0])
    c, d1 = best_constant_delta1(gt)
    assert d1 == pytest.approx(0.75) and 0.8 < c < 1.25
    rng = np.random.default_rng(0)
    values = np.exp(rng.normal(1.0, 0.6, size=3000))
    c, d1 = best_constant_delta1(values)
    grid = np.exp(np.linspace(-1, 3, 4001))
    best_on_grid = max(np.mean(np.maximum(values / g, g / values) < 1.25) for g in grid)
    assert d1 >= best_on_grid - 1e-9
    assert d1 == pytest.approx(np.mean(np.maximum(values / c, c / values) < 1.25))
