"""Training losses on metric depth maps (``N,1,H,W`` metres), masked to valid ground truth (gt > 0).

``original_loss`` is the loss of DenseDepth (Alhashim & Wonka 2018), which the original project used: on the
normalised inverse depth ``y = max_depth / depth`` (DenseDepth's DepthNorm, 1..100 for NYU's 0.1-10 m),
``1.0 * clamp((1 - SSIM) / 2, 0, 1) + 1.0 * mean |grad_y - grad_y_gt| + 0.1 * mean |y - y_gt|``,
with SSIM over an 11x11 Gaussian window (sigma 1.5, no padding; windows touching pixels without ground truth are
left out) and dynamic range ``max_depth / min_depth``, and
image gradients as forward differences (tf.image.image_gradients: the last row/column difference is 0).
``silog_loss`` is the scale-invariant log loss (Eigen et al. 2014) in the form BTS/AdaBins train with:
``10 * sqrt(mean(d^2) - lambda * mean(d)^2)``, ``d = log(pred) - log(gt)``, lambda = 0.85.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

LOSSES = ('original', 'silog')


def _gaussian_window(size: int, sigma: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(x: torch.Tensor, y: torch.Tensor, val_range: float, window_size: int = 11, sigma: float = 1.5,
         valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean SSIM of single-channel maps ``N,1,H,W`` (valid convolution: no border effects from padding).

    With ``valid`` (bool ``N,1,H,W``) only windows lying entirely on valid pixels are averaged, so pixels without
    ground truth cannot change the value.
    """
    size = min(window_size, x.shape[-2], x.shape[-1])
    w = _gaussian_window(size, sigma, x.device, x.dtype)
    mu_x, mu_y = F.conv2d(x, w), F.conv2d(y, w)
    sxx = F.conv2d(x * x, w) - mu_x ** 2
    syy = F.conv2d(y * y, w) - mu_y ** 2
    sxy = F.conv2d(x * y, w) - mu_x * mu_y
    c1, c2 = (0.01 * val_range) ** 2, (0.03 * val_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2))
    if valid is not None:
        full = F.conv2d(valid.to(x.dtype), torch.ones_like(w)) > size * size - 0.5
        if bool(full.any()):
            return ssim_map[full].mean()
    return ssim_map.mean()


def image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(dy, dx) forward differences, same shape as ``x``, zero in the last row / column."""
    dy = torch.zeros_like(x)
    dx = torch.zeros_like(x)
    dy[..., :-1, :] = x[..., 1:, :] - x[..., :-1, :]
    dx[..., :, :-1] = x[..., :, 1:] - x[..., :, :-1]
    return dy, dx


def _fill_invalid(pred: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where gt has no measurement, put the (detached) prediction into gt: those pixels then add no error."""
    valid = torch.isfinite(gt) & (gt > 0)
    gt = torch.where(valid, gt, pred.detach())
    return pred, gt, valid


def original_loss(pred: torch.Tensor, gt: torch.Tensor, min_depth: float = 0.1, max_depth: float = 10.0,
                  w_ssim: float = 1.0, w_edges: float = 1.0, w_depth: float = 0.1) -> torch.Tensor:
    """DenseDepth's SSIM + gradient + L1 loss on ``max_depth / depth`` (see module doc)."""
    pred, gt, valid = _fill_invalid(pred, gt)
    yp = max_depth / pred.clamp(min=min_depth)
    yt = max_depth / gt.clamp(min=min_depth)
    l_ssim = torch.clamp((1 - ssim(yp, yt, val_range=max_depth / min_depth, valid=valid)) * 0.5, 0, 1)
    dyp, dxp = image_gradients(yp)
    dyt, dxt = image_gradients(yt)
    l_edges = torch.mean(torch.abs(dyp - dyt) + torch.abs(dxp - dxt))
    l_depth = torch.mean(torch.abs(yp - yt))
    return w_ssim * l_ssim + w_edges * l_edges + w_depth * l_depth


def silog_loss(pred: torch.Tensor, gt: torch.Tensor, lambd: float = 0.85, scale: float = 10.0) -> torch.Tensor:
    """Scale-invariant log loss over the valid pixels of the whole batch."""
    valid = torch.isfinite(gt) & (gt > 0)
    if not bool(valid.any()):
        return pred.sum() * 0.0
    d = torch.log(pred[valid].clamp(min=1e-6)) - torch.log(gt[valid])
    var = (d ** 2).mean() - lambd * d.mean() ** 2
    return scale * torch.sqrt(var.clamp(min=1e-12))


def depth_loss(name: str, min_depth: float, max_depth: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss function ``(pred, gt) -> scalar`` called ``name`` ('original' or 'silog')."""
    if name == 'original':
        return lambda pred, gt: original_loss(pred, gt, min_depth, max_depth)
    if name == 'silog':
        return silog_loss
    raise ValueError(f"unknown loss '{name}' (known: {', '.join(LOSSES)})")


