"""``jdd-ros eval-depth``: the standard depth metrics of a model on NYU Depth v2's test split or synthetic scenes.

The model runs exactly as the depth node runs it (``DepthEstimator``: same resizing and normalisation), and its
prediction is resized back to the ground truth's resolution before comparison, so the numbers describe what users
get. NYU defaults follow the published protocol: the 654 test images, the Eigen crop, valid depth in (1e-3, 10) m,
per-image metrics averaged over images (see ``jdd_ros.depth.metrics``). Writes ``summary.json``, ``per_image.csv``
and, when matplotlib is installed, ``error_histogram.png`` and ``worst_images.png``.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from jdd_ros.depth.metrics import HIGHER_IS_BETTER, METRIC_NAMES, MetricAccumulator, compute_metrics, valid_mask

if TYPE_CHECKING:
    from jdd_ros.depth.estimator import DepthEstimator


@dataclass
class EvalOptions:
    """What ``jdd-ros eval-depth`` evaluates, on what data and how (its command-line options)."""

    checkpoint: str | None = None
    onnx: str | None = None
    sidecar: str | None = None
    nyu_csv: str | None = None
    nyu_mat: str | None = None
    split_file: str | None = None
    all_images: bool = False
    synthetic: int | None = None
    synthetic_size: tuple[int, int] = (240, 320)
    median_scaling: bool = False
    eigen_crop: bool | None = None  # None: the dataset's convention (on for NYU)
    min_depth: float = 1e-3
    max_depth: float = 10.0
    limit: int | None = None
    worst: int = 6
    out: str | None = None
    threads: int | None = None
    precision: str = 'auto'
    no_progress: bool = False


def _estimator(args: EvalOptions):
    from jdd_ros.depth.estimator import DepthEstimator

    if args.onnx:
        return DepthEstimator.from_onnx(args.onnx, args.sidecar, threads=args.threads or 0, precision=args.precision)
    return DepthEstimator.from_checkpoint(args.checkpoint, threads=args.threads or 0, precision=args.precision)


def _source(args: EvalOptions):
    """(source, dataset description, eigen crop by default?)"""
    if args.synthetic is not None:
        from jdd_ros.depth.synthetic_scenes import SyntheticSource, held_out_seeds

        h, w = args.synthetic_size
        seeds = held_out_seeds(args.synthetic)
        return SyntheticSource(seeds, h, w, cache=False), \
            f'synthetic held-out scenes {w}x{h}, seeds {seeds.start}..{seeds.stop - 1}', False
    if args.nyu_csv:
        from jdd_ros.depth.nyu import NYUCsvSource

        return NYUCsvSource(args.nyu_csv, 'test'), f'NYU Depth v2 test split (CSV layout, {args.nyu_csv})', True
    from jdd_ros.depth.nyu import NYUMatSource

    split = 'all' if args.all_images else 'test'
    return NYUMatSource(args.nyu_mat, split, args.split_file), \
        f'NYU Depth v2 labeled .mat ({args.nyu_mat}), {split} images', True


def _predict(estimator: DepthEstimator, rgb: np.ndarray, median_scaling: bool) -> np.ndarray:
    if estimator.is_metric:
        return estimator.predict(rgb)
    if not median_scaling and estimator.needs_camera:
        raise ValueError(f'{estimator.description} needs the camera (intrinsics; for alignment ground its height, '
                         'pitch and roll), which eval-depth does not take: evaluate it with --median-scaling')
    if not median_scaling:
        raise ValueError(f'{estimator.description} gives relative depth only: evaluate it with --median-scaling')
    return estimator.predict_up_to_scale(rgb)


def evaluate(args: EvalOptions, log: Callable[[str], None] = print) -> dict:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    estimator = _estimator(args)
    source, description, crop_default = _source(args)
    eigen_crop = crop_default if args.eigen_crop is None else args.eigen_crop
    n = len(source)
    indices = list(range(n)) if not args.limit or args.limit >= n else \
        sorted({int(i) for i in np.linspace(0, n - 1, args.limit)})
    log(f'evaluating {estimator.description} on {len(indices)} images of {description}'
        f'{", Eigen crop" if eigen_crop else ""}{", median scaling" if args.median_scaling else ""}')
    out_dir = Path(args.out) if args.out else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    acc = MetricAccumulator()
    rows = []
    errors = []  # a sample of per-pixel relative errors for the histogram
    worst: list[tuple[float, int]] = []
    started = time.perf_counter()
    from tqdm import tqdm

    for i in tqdm(indices, disable=args.no_progress, file=sys.stderr, leave=False):
        sample = source.load(i)
        pred = _predict(estimator, sample.rgb, args.median_scaling)
        m = compute_metrics(pred, sample.depth, min_depth=args.min_depth, max_depth=args.max_depth,
                            eigen_crop=eigen_crop, median_scaling=args.median_scaling)
        acc.add(m)
        rows.append({'index': i, 'name': sample.name, **m})
        if m['valid_pixels']:
            worst.append((m['abs_rel'], i))
            g = sample.depth
            ok = valid_mask(g, args.min_depth, args.max_depth, eigen_crop) & np.isfinite(pred)  # the metrics' pixels
            p = np.clip(pred[ok] * m['scale'], args.min_depth, args.max_depth)
            rel = (p - g[ok]) / g[ok]
            errors.append(rel[:: max(1, rel.size // 5000)])
    seconds = time.perf_counter() - started
    summary = {'model': estimator.description, 'dataset': description, 'images': len(indices),
               'eigen_crop': eigen_crop, 'median_scaling': args.median_scaling,
               'valid_depth_m': [args.min_depth, args.max_depth], 'metrics': acc.mean(),
               'seconds': round(seconds, 1),
               'protocol': 'per-image metrics averaged over images; predictions resized to the ground truth and '
                           'clipped to the valid depth range'}
    if out_dir:
        (out_dir / 'summary.json').write_text(json.dumps(summary, indent=2, allow_nan=True) + '\n')
        with (out_dir / 'per_image.csv').open('w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=['index', 'name', *METRIC_NAMES, 'valid_pixels', 'scale'])
            writer.writeheader()
            writer.writerows(rows)
        worst.sort(reverse=True)
        _plots(out_dir, estimator, source, errors, [i for _, i in worst[: args.worst]], args)
    return summary


def _plots(out_dir: Path, estimator, source, errors: list[np.ndarray], worst: list[int],
           args: EvalOptions) -> None:
    try:
        import matplotlib

        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        print('matplotlib is not installed: no plots (pip install matplotlib)', file=sys.stderr)
        return
    if errors:
        rel = np.concatenate(errors)
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.hist(np.clip(rel, -1, 1), bins=100, color='tab:blue')
        ax.set_xlabel('(predicted - true) / true depth (clipped to ±1)')
        ax.set_ylabel('pixels (sampled)')
        ax.set_title(f'relative depth error, median {np.median(rel):+.3f}, median |e| {np.median(np.abs(rel)):.3f}')
        fig.tight_layout()
        fig.savefig(out_dir / 'error_histogram.png', dpi=100)
        plt.close(fig)
    if worst:
        fig, axes = plt.subplots(len(worst), 4, figsize=(12, 2.6 * len(worst)), squeeze=False)
        for row, i in zip(axes, worst):
            sample = source.load(i)
            pred = _predict(estimator, sample.rgb, args.median_scaling)
            m = compute_metrics(pred, sample.depth, min_depth=args.min_depth, max_depth=args.max_depth,
                                median_scaling=args.median_scaling)
            pred = pred * m['scale']
            vmax = float(np.nanmax(sample.depth)) if np.isfinite(sample.depth).any() else args.max_depth
            row[0].imshow(sample.rgb)
            row[0].set_title(f'{sample.name} AbsRel {m["abs_rel"]:.3f}', fontsize=8)
            row[1].imshow(sample.depth, cmap='plasma_r', vmin=0, vmax=vmax)
            row[1].set_title('true depth', fontsize=8)
            row[2].imshow(pred, cmap='plasma_r', vmin=0, vmax=vmax)
            row[2].set_title('predicted', fontsize=8)
            with np.errstate(invalid='ignore', divide='ignore'):
                err = np.abs(pred - sample.depth) / sample.depth
            row[3].imshow(np.where(sample.depth > 0, err, np.nan), cmap='magma', vmin=0, vmax=0.5)
            row[3].set_title('|error| / depth (0-0.5)', fontsize=8)
            for ax in row:
                ax.axis('off')
        fig.tight_layout()
        fig.savefig(out_dir / 'worst_images.png', dpi=80)
        plt.close(fig)


def format_summary(summary: dict) -> str:
    m = summary['metrics']
    names = list(METRIC_NAMES)
    head = '| ' + ' | '.join(('δ' + n[-1]) if n.startswith('delta') else n for n in names) + ' |'
    rule = '|' + '---|' * len(names)
    vals = '| ' + ' | '.join(f'{m[n]:.3f}' if isinstance(m[n], float) and math.isfinite(m[n]) else 'n/a'
                             for n in names) + ' |'
    arrows = ', '.join(f'{n} {"↑" if n in HIGHER_IS_BETTER else "↓"}' for n in names)
    return (f'{summary["model"]}\n{summary["dataset"]}: {m["images"]} images'
            f'{", Eigen crop" if summary["eigen_crop"] else ""}\n{head}\n{rule}\n{vals}\n({arrows})')
