"""Training losses on cases with known answers, SSIM against scikit-image."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from jdd_ros.depth.losses import depth_loss, image_gradients, original_loss, silog_loss, ssim

torch.set_num_threads(1)


def _depth(seed=0, h=24, w=32):
    g = torch.Generator().manual_seed(seed)
    return 0.5 + 9 * torch.rand(2, 1, h, w, generator=g, dtype=torch.float64)


def test_identical_maps_cost_nothing():
    d = _depth()
    assert original_loss(d, d.clone()).item() == pytest.approx(0.0, abs=1e-9)
    assert silog_loss(d, d.clone()).item() == pytest.approx(0.0, abs=1e-4)


def test_image_gradients_of_a_ramp():
    rows, cols = torch.meshgrid(torch.arange(5.0), torch.arange(7.0), indexing='ij')
    dy, dx = image_gradients((3 * rows + 2 * cols)[None, None])
    assert torch.all(dx[..., :, :-1] == 2) and torch.all(dx[..., :, -1] == 0)
    assert torch.all(dy[..., :-1, :] == 3) and torch.all(dy[..., -1, :] == 0)


def test_original_loss_of_constant_maps_by_hand():
    # depth 2 m vs 1 m -> DenseDepth's normalised inverse depth 10/2 = 5 vs 10/1 = 10
    gt, pred = torch.full((1, 1, 16, 16), 2.0, dtype=torch.float64), torch.full((1, 1, 16, 16), 1.0,
                                                                                dtype=torch.float64)
    c1 = (0.01 * 100) ** 2  # SSIM dynamic range max/min = 100; constant maps: only the luminance term remains
    ssim_value = (2 * 5 * 10 + c1) / (5 ** 2 + 10 ** 2 + c1)
    expected = 1.0 * (1 - ssim_value) / 2 + 1.0 * 0.0 + 0.1 * 5.0
    assert original_loss(pred, gt, 0.1, 10.0).item() == pytest.approx(expected)


def test_ssim_matches_scikit_image():
    a = _depth(1, 40, 48)[0, 0]
    b = a + 0.5 * _depth(2, 40, 48)[0, 0]
    ours = ssim(a[None, None], b[None, None], val_range=10.0).item()
    ref = structural_similarity(a.numpy(), b.numpy(), data_range=10.0, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False)
    assert ours == pytest.approx(ref, abs=1e-6)


def test_silog_is_scale_invariant_by_its_lambda():
    gt = _depth(3)
    # pred = 2 gt: d = log 2 everywhere, loss = 10 sqrt(d^2 - 0.85 d^2)
    assert silog_loss(2 * gt, gt).item() == pytest.approx(10 * math.sqrt(0.15) * math.log(2), rel=1e-6)


@pytest.mark.parametrize('name', ['original', 'silog'])
def test_pixels_without_ground_truth_are_ignored(name):
    loss = depth_loss(name, 0.1, 10.0)
    gt = _depth(4)
    pred = gt * 1.1
    gt_holes = gt.clone()
    pred_wild = pred.clone()
    gt_holes[..., :4, :] = 0.0  # no measurement
    pred_wild[..., :4, :] = 9.9  # whatever the prediction is there
    base = gt.clone()
    base[..., :4, :] = 0.0
    a = loss(pred_wild, gt_holes).item()
    b = loss(pred, base).item()
    assert a == pytest.approx(b, rel=1e-9)


@pytest.mark.parametrize('name', ['original', 'silog'])
def test_gradients_point_towards_the_truth(name):
    gt = _depth(5)
    pred = (gt * 1.3).requires_grad_(True)
    depth_loss(name, 0.1, 10.0)(pred, gt).backward()
    assert torch.isfinite(pred.grad).all()
    with torch.no_grad():  # a small step against the gradient lowers the loss
        stepped = pred - 1e-2 * pred.grad / pred.grad.abs().max()
    assert depth_loss(name, 0.1, 10.0)(stepped, gt).item() < depth_loss(name, 0.1, 10.0)(pred, gt).item()
    with pytest.raises(ValueError, match='unknown loss'):
        depth_loss('l2', 0.1, 10.0)
    assert np.isfinite(silog_loss(pred.detach(), torch.zeros_like(gt)).item())
