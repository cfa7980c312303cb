"""``jdd-ros eval-depth``: the standard depth metrics of a checkpoint or ONNX depth model."""

from __future__ import annotations

import argparse
import sys

from jdd_ros.depth.evaluate import EvalOptions, evaluate, format_summary
from jdd_ros.inference.backends import PRECISIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    model = parser.add_argument_group('model (one)')
    model.add_argument('--checkpoint', metavar='CKPT', help='a trained jdd_ros depth checkpoint')
    model.add_argument('--onnx', metavar='MODEL', help='an ONNX depth model with its sidecar YAML')
    model.add_argument('--sidecar', metavar='YAML', help='the ONNX sidecar (default: MODEL with .yaml)')
    data = parser.add_argument_group('data (one)')
    data.add_argument('--nyu-csv', metavar='ZIP_DIR_OR_CSV', help="nyu_data.zip (or extracted): its test split")
    data.add_argument('--nyu-mat', metavar='MAT', help='nyu_depth_v2_labeled.mat with --split-file splits.mat')
    data.add_argument('--split-file', metavar='SPLITS', help="NYU's splits.mat (or a text file of 1-based indices)")
    data.add_argument('--all-images', action='store_true', help='with --nyu-mat: all 1449 images, no split file')
    data.add_argument('--synthetic', type=int, metavar='N', help='N held-out synthetic scenes (never trained on)')
    data.add_argument('--synthetic-size', type=int, nargs=2, default=(240, 320), metavar=('H', 'W'))
    parser.add_argument('--median-scaling', action='store_true', help='scale each prediction by median(gt)/median(pred)'
                        ' (for relative-depth models)')
    crop = parser.add_mutually_exclusive_group()
    crop.add_argument('--eigen-crop', dest='eigen_crop', action='store_true', default=None,
                      help='evaluate inside the Eigen crop (default for NYU)')
    crop.add_argument('--no-eigen-crop', dest='eigen_crop', action='store_false')
    parser.add_argument('--min-depth', type=float, default=1e-3, help='valid ground truth lower bound (m)')
    parser.add_argument('--max-depth', type=float, default=10.0, help='valid ground truth upper bound (m)')
    parser.add_argument('--limit', type=int, metavar='N', help='evaluate N images spread over the split')
    parser.add_argument('--worst', type=int, default=6, metavar='K', help='images in worst_images.png')
    parser.add_argument('--out', metavar='DIR', help='write summary.json, per_image.csv and plots here')
    parser.add_argument('--threads', type=int, help='CPU threads')
    parser.add_argument('--precision', choices=PRECISIONS, default='auto',
                        help="what the network computes in ('auto': as the node runs it, int8 or bf16 where the CPU "
                             "computes it natively; 'fp32' for numbers comparable with published fp32 results)")
    parser.add_argument('--no-progress', action='store_true')


def run(args: argparse.Namespace) -> int:
    if bool(args.checkpoint) == bool(args.onnx):
        print('jdd-ros eval-depth: give one model: --checkpoint CKPT or --onnx MODEL', file=sys.stderr)
        return 2
    if sum(x is not None and x is not False for x in (args.nyu_csv, args.nyu_mat, args.synthetic)) != 1:
        print('jdd-ros eval-depth: give one data source: --nyu-csv, --nyu-mat or --synthetic N', file=sys.stderr)
        return 2
    try:
        summary = evaluate(EvalOptions(**vars(args)))
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f'jdd-ros eval-depth: {exc}', file=sys.stderr)
        return 2
    print(format_summary(summary))
    if args.out:
        print(f'wrote {args.out}/summary.json, per_image.csv and plots')
    return 0


COMMANDS = {'eval-depth': (add_arguments, run)}
