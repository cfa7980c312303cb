"""``jdd-ros train-depth``: train the ResNet U-Net on NYU Depth v2 (CSV zip layout or labeled .mat) or synthetic scenes.

AdamW with a one-cycle (default) or cosine schedule stepped per batch; after every epoch the model is evaluated on a
held-out split and the whole training state (weights, optimizer, scheduler, epoch) is written atomically to
``--out``, so an interrupted run continues with ``--resume``. One CSV row per epoch (TensorBoard too when installed).
The held-out split never overlaps training: NYU's test split, or synthetic seeds from a range training never uses.
Metrics reported here are at the network's input resolution; ``jdd-ros eval-depth`` gives the full-resolution ones.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.optim.lr_scheduler import LRScheduler
from torch.utils.data import DataLoader

from jdd_ros.depth.augment import AugmentPolicy
from jdd_ros.depth.checkpoint import CheckpointError, DepthModelMeta, load_checkpoint, save_checkpoint, verify_sha256
from jdd_ros.depth.datasets import IMAGENET_MEAN, IMAGENET_STD, DepthTensorDataset, RGBDSource
from jdd_ros.depth.losses import LOSSES, depth_loss
from jdd_ros.depth.metrics import METRIC_NAMES, MetricAccumulator, best_constant_delta1, compute_metrics
from jdd_ros.depth.unet import DepthUNet

ENCODERS = ('resnet18', 'resnet34', 'resnet50')
SCHEDULES = ('onecycle', 'cosine')


@dataclass
class TrainConfig:
    out: str
    nyu_csv: str | None = None
    nyu_mat: str | None = None
    split_file: str | None = None
    synthetic: int | None = None
    encoder: str = 'resnet18'
    encoder_weights: str | None = None
    epochs: int = 20
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 1e-4
    schedule: str = 'onecycle'
    input_size: tuple[int, int] = (240, 320)
    loss: str = 'original'
    min_depth: float = 0.1
    max_depth: float = 10.0
    augment: bool = True
    val_count: int | None = None
    workers: int = 0
    threads: int | None = None
    seed: int = 0
    resume: str | None = None
    log_csv: str | None = None
    progress: bool = True
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.input_size = (int(self.input_size[0]), int(self.input_size[1]))
        if sum(x is not None for x in (self.nyu_csv, self.nyu_mat, self.synthetic)) != 1:
            raise ValueError('give exactly one data source: --nyu-csv, --nyu-mat or --synthetic')
        if min(self.input_size) < 32:
            # DepthUNet pads any size to a multiple of 32 and crops back (NYU's 240x320 runs as 256x320).
            raise ValueError(f'--input-size must be at least 32 x 32 pixels, got {self.input_size}')
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder '{self.encoder}' (known: {', '.join(ENCODERS)})")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule '{self.schedule}' (known: {', '.join(SCHEDULES)})")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss '{self.loss}' (known: {', '.join(LOSSES)})")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError('--epochs and --batch-size must be at least 1')
        if self.synthetic is not None and not 1 <= self.synthetic <= 900_000:
            raise ValueError('--synthetic N needs 1 <= N <= 900000 scenes (held-out seeds start at 1000000)')


@dataclass
class TrainResult:
    checkpoint: Path
    epochs: int
    steps: int
    held_out: dict[str, float]
    baselines: dict[str, float]
    seconds: float


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during training: which checkpoint this run wrote last, so that the user knows what they
    have and how to continue."""

    def __init__(self, checkpoint: Path | None, epoch: int, epochs: int, resumed_from: str | None = None):
        self.checkpoint, self.epoch, self.epochs, self.resumed_from = checkpoint, epoch, epochs, resumed_from
        super().__init__(self.describe())

    def describe(self) -> str:
        if self.checkpoint is not None:
            return (f'interrupted: the last checkpoint written is {self.checkpoint} (after epoch {self.epoch} of '
                    f'{self.epochs}); continue with --resume {self.checkpoint}')
        kept = f'; {self.resumed_from} is unchanged' if self.resumed_from else ''
        return (f'interrupted before the end of the first epoch of this run: no checkpoint written (one is written '
                f'after every epoch){kept}')


def build_sources(cfg: TrainConfig) -> tuple[RGBDSource, RGBDSource, str, str]:
    """(train source, held-out source, trained_on, a note on what exactly was used)."""
    if cfg.synthetic is not None:
        from jdd_ros.depth.synthetic_scenes import SyntheticSource, held_out_seeds, train_seeds

        h, w = cfg.input_size
        n_val = cfg.val_count if cfg.val_count is not None else max(16, cfg.synthetic // 10)
        train = SyntheticSource(train_seeds(cfg.synthetic, cfg.seed * 10_000_000), h, w)
        val = SyntheticSource(held_out_seeds(n_val), h, w)
        note = (f'synthetic scenes {w}x{h}: {cfg.synthetic} training seeds from {cfg.seed * 10_000_000}, '
                f'{n_val} held-out seeds from {held_out_seeds(n_val).start}')
        return train, val, 'synthetic', note
    if cfg.nyu_csv is not None:
        from jdd_ros.depth.nyu import NYUCsvSource

        train = NYUCsvSource(cfg.nyu_csv, 'train')
        val = NYUCsvSource(cfg.nyu_csv, 'test')
        if train.csv_name == val.csv_name:
            raise ValueError(f'{cfg.nyu_csv} gives no separate test split to hold out: pass nyu_data.zip, its '
                             'extracted directory, or data/nyu2_train.csv with data/nyu2_test.csv beside it')
        return train, val, 'nyu_depth_v2', f'NYU Depth v2 CSV layout ({cfg.nyu_csv}): train split, test split held out'
    from jdd_ros.depth.nyu import NYUMatSource

    train = NYUMatSource(cfg.nyu_mat, 'train', cfg.split_file)
    val = NYUMatSource(cfg.nyu_mat, 'test', cfg.split_file)
    return train, val, 'nyu_depth_v2', f'NYU Depth v2 labeled .mat ({cfg.nyu_mat}): official 795/654 split'


def load_encoder_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """ImageNet encoder weights after their sha256 check, loaded with weights_only=True (no pickled code runs).

    torchvision names its weight files after their digest (``resnet18-f37072fd.pth``: the sha256 starts with
    f37072fd), which torch.hub checks on download; the same check is made here, and against ``<file>.sha256`` when
    that exists, so a corrupt or replaced file is refused before it is unpickled.
    """
    digest, _ = verify_sha256(path)
    named = re.search(r'-([0-9a-f]{8,64})\.[^.]+$', Path(path).name)
    if named and not digest.startswith(named.group(1)):
        raise CheckpointError(f'{path}: sha256 {digest} does not start with {named.group(1)}, the digest in its file '
                              'name (torchvision names weights after their sha256): the file is corrupt or was '
                              'replaced; refusing to load it')
    return torch.load(path, map_location='cpu', weights_only=True)


def _subset(n: int, count: int | None) -> list[int]:
    """``count`` indices spread evenly over ``n`` (all when count is None or >= n)."""
    if count is None or count >= n:
        return list(range(n))
    return sorted({int(i) for i in np.linspace(0, n - 1, count)})


@torch.no_grad()
def evaluate_model(model: DepthUNet, dataset: DepthTensorDataset, batch_size: int = 8,
                   max_depth: float = 10.0) -> tuple[dict[str, float], np.ndarray]:
    """Mean held-out metrics at the input resolution, and the pooled valid ground-truth depths (for baselines)."""
    model.eval()
    acc = MetricAccumulator()
    pooled = []
    for image, depth in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        pred = model(image).numpy()[:, 0]
        gt = depth.numpy()[:, 0]
        for p, g in zip(pred, gt):
            acc.add(compute_metrics(p, g, max_depth=max_depth))
            pooled.append(g[(g > 1e-3) & (g < max_depth)])
    return acc.mean(), (np.concatenate(pooled) if pooled else np.zeros(0))


def constant_baselines(train_depths: np.ndarray, val_depths_per_image: list[np.ndarray],
                       max_depth: float) -> dict[str, float]:
    """δ1 on the held-out set of (a) the median training depth as a constant and (b) the constant that maximises δ1
    on the held-out set itself (an upper bound for any constant predictor)."""
    median = float(np.median(train_depths))
    best_c, _ = best_constant_delta1(np.concatenate(val_depths_per_image))
    out = {'median_train_depth_m': median, 'best_constant_m': best_c}
    for name, c in (('constant_median', median), ('constant_best', best_c)):
        acc = MetricAccumulator()
        for g in val_depths_per_image:
            acc.add(compute_metrics(np.full_like(g, c), g, max_depth=max_depth))
        out[f'{name}_delta1'] = acc.mean()['delta1']
        out[f'{name}_abs_rel'] = acc.mean()['abs_rel']
    return out


def _sample_depths(dataset: DepthTensorDataset, count: int, max_depth: float) -> np.ndarray:
    values = []
    for i in _subset(len(dataset.source), count):
        d = dataset.source.load(i).depth
        d = d[np.isfinite(d) & (d > 1e-3) & (d < max_depth)]
        values.append(d[:: max(1, d.size // 20000)])
    return np.concatenate(values)


def _make_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer, total_steps: int):
    if cfg.schedule == 'onecycle':
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=total_steps,
                                                   pct_start=0.2, div_factor=10.0, final_div_factor=100.0)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps, eta_min=cfg.lr / 100)


class _Logs:
    """One CSV row per epoch, and TensorBoard scalars when the tensorboard package is installed."""

    def __init__(self, csv_path: Path, resume: bool):
        self.csv_path = csv_path
        self.columns = ['epoch', 'step', 'lr', 'train_loss', 'seconds'] + [f'val_{m}' for m in METRIC_NAMES]
        if not resume or not csv_path.exists():
            csv_path.parent.mkdir(parents=True, exist_ok=True)
            with csv_path.open('w', newline='') as f:
                csv.writer(f).writerow(self.columns)
        self.tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(csv_path.with_suffix('')) + '_tensorboard')
        except ImportError:
            pass

    def step(self, step: int, loss: float, lr: float) -> None:
        if self.tb is not None:
            self.tb.add_scalar('train/loss', loss, step)
            self.tb.add_scalar('train/lr', lr, step)

    def epoch(self, row: dict[str, float]) -> None:
        with self.csv_path.open('a', newline='') as f:
            csv.writer(f).writerow([row.get(c, '') for c in self.columns])
        if self.tb is not None:
            for k, v in row.items():
                if k.startswith('val_') and isinstance(v, float) and math.isfinite(v):
                    self.tb.add_scalar(f'held_out/{k[4:]}', v, int(row['step']))
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _initial_model(cfg: TrainConfig, log: Callable[[str], None]) -> tuple[DepthUNet, dict]:
    """A new U-Net (encoder weights when given), or the one of ``cfg.resume`` with its saved training state; a resumed
    run keeps the checkpoint's architecture settings."""
    if not cfg.resume:
        model = DepthUNet(cfg.encoder, cfg.min_depth, cfg.max_depth)
        if cfg.encoder_weights:
            model.load_encoder_state_dict(load_encoder_weights(cfg.encoder_weights))
            log(f'encoder initialised from {cfg.encoder_weights}')
        return model, {}
    model, old_meta, rest = load_checkpoint(cfg.resume, require_trained=False)
    if not rest.get('training_state'):
        raise ValueError(f'{cfg.resume} holds no training state (optimizer, epoch): it cannot be resumed')
    for key in ('encoder', 'input_size', 'min_depth', 'max_depth'):
        want = getattr(old_meta, key)
        if tuple(np.atleast_1d(want)) != tuple(np.atleast_1d(getattr(cfg, key))):
            log(f'resume: using the checkpoint\'s {key} {want} (not {getattr(cfg, key)})')
            setattr(cfg, key, tuple(want) if key == 'input_size' else want)
    model.train()
    return model, rest


def _resume(cfg: TrainConfig, rest: dict, optimizer: torch.optim.Optimizer, scheduler: LRScheduler, total_steps: int,
            log: Callable[[str], None]) -> tuple[int, int]:
    """(first epoch, step) to continue from: the optimizer and schedule of ``cfg.resume`` restored."""
    if not cfg.resume:
        return 0, 0
    state = rest['training_state']
    if int(state.get('total_steps', total_steps)) != total_steps:
        raise ValueError(f'{cfg.resume} was trained with a schedule of {state.get("total_steps")} steps '
                         f'({state.get("epochs")} epochs of {state.get("steps_per_epoch")}); resume with the same '
                         f'--epochs, --batch-size and data (now {total_steps} steps)')
    optimizer.load_state_dict(rest['optimizer_state'])
    scheduler.load_state_dict(rest['scheduler_state'])
    start_epoch, step = int(state['epoch']), int(state['step'])
    log(f'resuming {cfg.resume} after epoch {start_epoch} (step {step} of {total_steps})')
    return start_epoch, step


@dataclass
class _Run:
    """What one training run holds between epochs."""

    cfg: TrainConfig
    model: DepthUNet
    loader: DataLoader
    generator: torch.Generator
    optimizer: torch.optim.Optimizer
    scheduler: LRScheduler
    loss_fn: Callable
    logs: _Logs
    step: int = 0
    saved: Path | None = None  # the checkpoint this run last wrote, after epoch ``saved_epoch``
    saved_epoch: int = 0

    def train_epoch(self, epoch: int) -> list[float]:
        from tqdm import tqdm

        cfg = self.cfg
        # seeded per epoch, so a resumed run sees the same batches and augmentations as an uninterrupted one
        torch.manual_seed(cfg.seed * 100_003 + epoch)
        self.generator.manual_seed(cfg.seed * 100_003 + epoch)
        self.model.train()
        losses = []
        bar = tqdm(self.loader, desc=f'epoch {epoch + 1}/{cfg.epochs}', disable=not cfg.progress, leave=False,
                   file=sys.stderr)
        for image, depth in bar:
            loss = self.loss_fn(self.model(image), depth)
            if not torch.isfinite(loss):
                raise FloatingPointError(f'the loss became {loss.item()} at step {self.step}: lower --lr')
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            losses.append(float(loss.item()))
            lr = self.scheduler.get_last_lr()[0]
            bar.set_postfix(loss=f'{losses[-1]:.4f}', lr=f'{lr:.2e}')
            self.logs.step(self.step, losses[-1], lr)
        return losses

    def save(self, epoch: int, held_out: dict, baselines: dict, trained_on: str, note: str) -> None:
        cfg = self.cfg
        metrics = {**{k: held_out[k] for k in METRIC_NAMES}, 'held_out_images': held_out['images'],
                   'resolution': f'{cfg.input_size[1]}x{cfg.input_size[0]}', **baselines}
        meta = DepthModelMeta(architecture='unet', encoder=cfg.encoder, input_size=cfg.input_size,
                              mean=IMAGENET_MEAN, std=IMAGENET_STD, min_depth=cfg.min_depth,
                              max_depth=cfg.max_depth, trained_on=trained_on, epochs=epoch + 1, metrics=metrics,
                              notes=f'{note}; loss {cfg.loss}; {self.step} steps of batch {cfg.batch_size}')
        config = {k: v for k, v in asdict(cfg).items() if k not in ('resume', 'extra')}
        steps_per_epoch = len(self.loader)
        # A Ctrl-C waits until the checkpoint and its .sha256 are both written (else the pair could disagree and the
        # checkpoint be refused), and then reports this one as the last written.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            save_checkpoint(Path(cfg.out), self.model, meta, optimizer_state=self.optimizer.state_dict(),
                            scheduler_state=self.scheduler.state_dict(),
                            training_state={'epoch': epoch + 1, 'step': self.step, 'epochs': cfg.epochs,
                                            'steps_per_epoch': steps_per_epoch,
                                            'total_steps': steps_per_epoch * cfg.epochs,
                                            'config': json.loads(json.dumps(config, default=str))})
            self.saved, self.saved_epoch = Path(cfg.out), epoch + 1
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def train(cfg: TrainConfig, log: Callable[[str], None] = print) -> TrainResult:
    """Run the training described by ``cfg``; returns where the checkpoint is and the held-out numbers."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    started = time.perf_counter()
    model, rest = _initial_model(cfg, log)
    train_src, val_src, trained_on, note = build_sources(cfg)
    augment = AugmentPolicy() if cfg.augment else None
    train_ds = DepthTensorDataset(train_src, cfg.input_size, augment=augment, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    val_ds = DepthTensorDataset(val_src, cfg.input_size, indices=_subset(len(val_src), cfg.val_count))
    generator = torch.Generator()
    loader = DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=True, drop_last=len(train_ds) > cfg.batch_size,
                        num_workers=cfg.workers, generator=generator, persistent_workers=cfg.workers > 0)
    total_steps = len(loader) * cfg.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = _make_scheduler(cfg, optimizer, total_steps)
    start_epoch, step = _resume(cfg, rest, optimizer, scheduler, total_steps, log)
    log(f'training a {cfg.encoder} U-Net at {cfg.input_size[1]}x{cfg.input_size[0]} on {note}; '
        f'{len(train_ds)} training / {len(val_ds)} held-out images, {cfg.epochs} epochs x {len(loader)} steps, '
        f'loss {cfg.loss}, AdamW lr {cfg.lr:g} {cfg.schedule}')
    logs = _Logs(Path(cfg.log_csv) if cfg.log_csv else Path(cfg.out).with_suffix('.log.csv'), resume=bool(cfg.resume))
    run = _Run(cfg, model, loader, generator, optimizer, scheduler, depth_loss(cfg.loss, cfg.min_depth, cfg.max_depth),
               logs, step)
    baselines: dict = {}
    held_out: dict[str, float] = {}
    try:
        for epoch in range(start_epoch, cfg.epochs):
            losses = run.train_epoch(epoch)
            held_out, _ = evaluate_model(model, val_ds, cfg.batch_size, cfg.max_depth)
            if not baselines:
                per_image = [d[0].numpy()[(d[0].numpy() > 1e-3) & (d[0].numpy() < cfg.max_depth)]
                             for _, d in (val_ds[i] for i in range(len(val_ds)))]
                baselines = constant_baselines(_sample_depths(train_ds, 200, cfg.max_depth), per_image, cfg.max_depth)
            row = {'epoch': epoch + 1, 'step': run.step, 'lr': scheduler.get_last_lr()[0],
                   'train_loss': float(np.mean(losses)) if losses else math.nan,
                   'seconds': round(time.perf_counter() - started, 1),
                   **{f'val_{k}': held_out[k] for k in METRIC_NAMES}}
            logs.epoch(row)
            log(f'epoch {epoch + 1}/{cfg.epochs}: loss {row["train_loss"]:.4f}, held-out δ1 {held_out["delta1"]:.3f} '
                f'AbsRel {held_out["abs_rel"]:.3f} RMSE {held_out["rmse"]:.3f} m '
                f'(best constant δ1 {baselines["constant_best_delta1"]:.3f})')
            run.save(epoch, held_out, baselines, trained_on, note)
    except KeyboardInterrupt:
        raise TrainingInterrupted(run.saved, run.saved_epoch, cfg.epochs, cfg.resume) from None
    finally:
        logs.close()
    return TrainResult(Path(cfg.out), cfg.epochs, run.step, held_out, baselines, time.perf_counter() - started)
