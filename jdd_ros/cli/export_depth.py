"""``jdd-ros export-depth-onnx``: a depth checkpoint as ONNX with its sidecar YAML."""

from __future__ import annotations

import argparse
import sys

from jdd_ros.depth.onnx_export import OPSET, export_checkpoint


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--checkpoint', required=True, help='jdd_ros depth checkpoint (.pt)')
    parser.add_argument('--out', required=True, help='ONNX file to write; its sidecar <out>.yaml is written beside it')
    parser.add_argument('--input-size', type=int, nargs=2, metavar=('HEIGHT', 'WIDTH'),
                        help="input size of the export and its sidecar; default: the checkpoint's")
    parser.add_argument('--opset', type=int, default=OPSET, help=f'ONNX opset (default {OPSET})')


def _run(args: argparse.Namespace) -> int:

    from jdd_ros.depth.checkpoint import CheckpointError

    if args.input_size and any(v < 32 for v in args.input_size):
        print(f'--input-size must be at least 32x32, got {args.input_size}', file=sys.stderr)
        return 2
    try:
        onnx_path, side = export_checkpoint(args.checkpoint, args.out, args.input_size, args.opset)
    except (CheckpointError, FileNotFoundError) as exc:
        print(f'jdd-ros export-depth-onnx: {exc}', file=sys.stderr)
        return 2
    print(f'wrote {onnx_path} and {side}')
    return 0


COMMANDS = {'export-depth-onnx': (_add_arguments, _run)}
