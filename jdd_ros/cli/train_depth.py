"""``jdd-ros train-depth``: train the U-Net depth model (NYU Depth v2 or synthetic scenes)."""

from __future__ import annotations

import argparse
import sys

from jdd_ros.depth.train import ENCODERS, LOSSES, SCHEDULES, TrainConfig, TrainingInterrupted, train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_argument_group('data (exactly one)')
    src.add_argument('--nyu-csv', metavar='ZIP_DIR_OR_CSV',
                     help="DenseDepth's nyu_data.zip, its extracted directory, or its data/nyu2_train.csv")
    src.add_argument('--nyu-mat', metavar='MAT', help='the official nyu_depth_v2_labeled.mat (needs --split-file)')
    src.add_argument('--split-file', metavar='SPLITS', help="NYU's splits.mat (or a text file of 1-based test indices)")
    src.add_argument('--synthetic', type=int, metavar='N', help='train on N generated scenes with exact depth')
    parser.add_argument('--out', required=True, metavar='CKPT', help='checkpoint written after every epoch')
    parser.add_argument('--resume', metavar='CKPT', help='continue the training saved in this checkpoint')
    parser.add_argument('--encoder', default='resnet18', choices=ENCODERS)
    parser.add_argument('--encoder-weights', metavar='PTH', help='torchvision ResNet ImageNet weights to start from')
    parser.add_argument('--epochs', type=int, default=20)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--lr', type=float, default=3e-4, help='peak learning rate (default 3e-4)')
    parser.add_argument('--weight-decay', type=float, default=1e-4)
    parser.add_argument('--schedule', default='onecycle', choices=SCHEDULES)
    parser.add_argument('--input-size', type=int, nargs=2, default=(240, 320), metavar=('H', 'W'),
                        help='network input, at least 32 (multiples of 32 are fastest; default 240 320)')
    parser.add_argument('--loss', default='original', choices=LOSSES,
                        help='original = SSIM + gradient + L1 (DenseDepth); silog = scale-invariant log')
    parser.add_argument('--min-depth', type=float, default=0.1)
    parser.add_argument('--max-depth', type=float, default=10.0)
    parser.add_argument('--no-augment', action='store_true', help='no flips / colour jitter / channel swap')
    parser.add_argument('--val-count', type=int, metavar='N',
                        help='held-out images evaluated per epoch (default: synthetic max(16, N/10); NYU all 654)')
    parser.add_argument('--workers', type=int, default=0, help='DataLoader worker processes')
    parser.add_argument('--threads', type=int, help='torch CPU threads')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--log-csv', metavar='CSV', help='per-epoch log (default: <out>.log.csv)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')


def run(args: argparse.Namespace) -> int:
    try:
        cfg = TrainConfig(out=args.out, nyu_csv=args.nyu_csv, nyu_mat=args.nyu_mat, split_file=args.split_file,
                          synthetic=args.synthetic, encoder=args.encoder, encoder_weights=args.encoder_weights,
                          epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                          schedule=args.schedule, input_size=tuple(args.input_size), loss=args.loss,
                          min_depth=args.min_depth, max_depth=args.max_depth, augment=not args.no_augment,
                          val_count=args.val_count, workers=args.workers, threads=args.threads, seed=args.seed,
                          resume=args.resume, log_csv=args.log_csv, progress=not args.no_progress)
        result = train(cfg)
    except (ValueError, FileNotFoundError) as exc:
        print(f'jdd-ros train-depth: {exc}', file=sys.stderr)
        return 2
    except TrainingInterrupted as stop:
        print(f'jdd-ros train-depth: {stop.describe()}', file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # while the data or the model were being prepared
        print('jdd-ros train-depth: interrupted before training started: no checkpoint written', file=sys.stderr)
        return 130
    b = result.baselines
    print(f'wrote {result.checkpoint} after {result.epochs} epochs ({result.steps} steps, {result.seconds:.0f} s): '
          f'held-out δ1 {result.held_out["delta1"]:.3f}, AbsRel {result.held_out["abs_rel"]:.3f}, '
          f'RMSE {result.held_out["rmse"]:.3f} m; constant predictors: median of training depths '
          f'{b["median_train_depth_m"]:.2f} m δ1 {b["constant_median_delta1"]:.3f}, best constant '
          f'{b["best_constant_m"]:.2f} m δ1 {b["constant_best_delta1"]:.3f}')
    return 0


COMMANDS = {'train-depth': (add_arguments, run)}
