"""The standard monocular depth metrics (Eigen et al. 2014, as reported for NYU Depth v2) and the original project's
"soft accuracy", computed on valid pixels only.

Conventions (those of the NYU results this package is compared with: BTS, AdaBins, ZoeDepth):
- a ground-truth pixel is valid when it is finite and ``min_depth < gt < max_depth`` (defaults 1e-3 and 10 m);
- predictions are clipped to ``[min_depth, max_depth]`` before comparison;
- on 480x640 NYU images the Eigen crop (rows 45:471, columns 41:601) is applied when asked; on other sizes the same
  crop is scaled proportionally;
- metrics are computed per image, then averaged over images (``MetricAccumulator``).
- ``median_scaling`` multiplies the prediction by median(gt) / median(pred) over the valid pixels first: the protocol
  for relative-depth models, which have no metric scale. A metric model should be evaluated without it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

EIGEN_CROP = (45, 471, 41, 601)  # row start, row end, column start, column end, for 480 x 640
METRIC_NAMES = ('delta1', 'delta2', 'delta3', 'abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'soft_accuracy')
HIGHER_IS_BETTER = {'delta1', 'delta2', 'delta3', 'soft_accuracy'}


def eigen_crop_mask(shape: tuple[int, int]) -> np.ndarray:
    """True inside the Eigen crop for an image of ``shape`` (exact for 480x640, proportional otherwise)."""
    h, w = shape
    r0, r1, c0, c1 = EIGEN_CROP
    if (h, w) != (480, 640):
        r0, r1 = round(r0 * h / 480), round(r1 * h / 480)
        c0, c1 = round(c0 * w / 640), round(c1 * w / 640)
    mask = np.zeros((h, w), dtype=bool)
    mask[r0:r1, c0:c1] = True
    return mask


def valid_mask(gt: np.ndarray, min_depth: float = 1e-3, max_depth: float = 10.0,
               eigen_crop: bool = False) -> np.ndarray:
    with np.errstate(invalid='ignore'):
        mask = np.isfinite(gt) & (gt > min_depth) & (gt < max_depth)
    if eigen_crop:
        mask &= eigen_crop_mask(gt.shape)
    return mask


def soft_accuracy(pred: np.ndarray, gt: np.ndarray, max_depth: float = 10.0, decimals: int = 1) -> float:
    """The original project's "soft accuracy": the fraction of pixels whose depth, normalised to [0, 1] by
    ``max_depth`` and rounded to ``decimals`` decimal places, equals the ground truth's (numpy rounding, half to even).

    With NYU's 10 m and one decimal, a pixel counts as right when prediction and truth fall in the same 1 m-wide
    bin centred on a whole metre (bins [0, 0.5), [0.5, 1.5), ... m): a coarse score, reported only to compare with
    the original project's 83 %. Its code is not available; this follows its description ("rounded normalised depth
    equal") and is not comparable to δ1.
    """
    p = np.round(np.clip(pred / max_depth, 0.0, 1.0), decimals)
    g = np.round(np.clip(gt / max_depth, 0.0, 1.0), decimals)
    return float(np.mean(p == g)) if g.size else math.nan


def compute_metrics(pred: np.ndarray, gt: np.ndarray, *, min_depth: float = 1e-3, max_depth: float = 10.0,
                    eigen_crop: bool = False, median_scaling: bool = False,
                    mask: np.ndarray | None = None) -> dict[str, float]:
    """The metrics of one image. ``pred`` and ``gt`` are metres of the same shape; ``mask`` further restricts pixels.

    Returns NaN for every metric when no pixel is valid (and ``valid_pixels`` = 0).
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f'prediction {pred.shape} and ground truth {gt.shape} differ in size; resize the '
                         'prediction to the ground truth first')
    valid = valid_mask(gt, min_depth, max_depth, eigen_crop) & np.isfinite(pred)
    if mask is not None:
        valid &= mask
    n = int(np.count_nonzero(valid))
    if n == 0:
        return {**dict.fromkeys(METRIC_NAMES, math.nan), 'valid_pixels': 0, 'scale': math.nan}
    p, g = pred[valid], gt[valid]
    scale = 1.0
    if median_scaling:
        scale = float(np.median(g) / max(np.median(p), 1e-12))
        p = p * scale
    p = np.clip(p, min_depth, max_depth)
    ratio = np.maximum(g / p, p / g)
    diff = g - p
    log_diff = np.log(g) - np.log(p)
    return {
        'delta1': float(np.mean(ratio < 1.25)),
        'delta2': float(np.mean(ratio < 1.25 ** 2)),
        'delta3': float(np.mean(ratio < 1.25 ** 3)),
        'abs_rel': float(np.mean(np.abs(diff) / g)),
        'sq_rel': float(np.mean(diff ** 2 / g)),
        'rmse': float(np.sqrt(np.mean(diff ** 2))),
        'rmse_log': float(np.sqrt(np.mean(log_diff ** 2))),
        'log10': float(np.mean(np.abs(np.log10(g) - np.log10(p)))),
        'soft_accuracy': soft_accuracy(p, g, max_depth),
        'valid_pixels': n,
        'scale': scale,
    }


class MetricAccumulator:
    """Per-image metrics in, their mean over images out (images without valid pixels are skipped and counted)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []
        self.skipped = 0

    def add(self, metrics: dict[str, float]) -> None:
        if metrics.get('valid_pixels', 0) == 0:
            self.skipped += 1
        else:
            self.rows.append(metrics)

    def extend(self, many: Iterable[dict[str, float]]) -> None:
        for m in many:
            self.add(m)

    def mean(self) -> dict[str, float]:
        out = {k: float(np.mean([r[k] for r in self.rows])) if self.rows else math.nan for k in METRIC_NAMES}
        out['images'] = len(self.rows)
        out['images_without_valid_pixels'] = self.skipped
        return out


def best_constant_delta1(gt_values: np.ndarray, threshold: float = 1.25) -> tuple[float, float]:
    """The constant depth c that maximises δ1 over ``gt_values`` (pooled valid pixels) and that δ1.

    A pixel is right when gt/1.25 < c < 1.25*gt, i.e. log c within log(1.25) of log gt: the best c is the centre of
    the densest window of width 2*log(1.25) in log depth, found exactly with a sliding window over sorted values.
    """
    logs = np.sort(np.log(np.asarray(gt_values, dtype=np.float64).ravel()))
    if logs.size == 0:
        return math.nan, math.nan
    width = 2 * math.log(threshold)
    # window [logs[i], logs[i] + width): count of values inside for every start i
    ends = np.searchsorted(logs, logs + width, side='left')
    counts = ends - np.arange(logs.size)
    i = int(np.argmax(counts))
    # ratio < 1.25 is strict on both sides: centre the window a hair left so that logs[i] itself counts
    c = math.exp(logs[i] + width / 2 - 1e-9)
    ratio = np.maximum(np.exp(logs) / c, c / np.exp(logs))
    return c, float(np.mean(ratio < threshold))
