"""The ``jdd-ros`` command: one entry point for the offline tools, model management and the launcher.

Each sub-command lives in the module of its concept and is imported only when used (so ``jdd-ros fetch-models``
does not import torch). A module exposes ``COMMANDS = {name: (add_arguments, run)}`` where ``add_arguments(parser)``
fills an argparse parser and ``run(args) -> int`` returns the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from typing import NoReturn

# name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    'demo': ('jdd_ros.cli.demo', 'the whole pipeline on a sample frame: distances, max_depth changed, annotated image'),
    'fetch-models': ('jdd_ros.cli.fetch_models', 'download and sha256-verify known detector models into the cache'),
    'detect': ('jdd_ros.cli.detect', 'run a detector on image files (Darknet YOLOv4, or --family ultralytics / yolox)'),
    'train-depth': ('jdd_ros.cli.train_depth', 'train the U-Net depth model (NYU Depth v2 or synthetic scenes)'),
    'eval-depth': ('jdd_ros.cli.eval_depth', 'evaluate a depth checkpoint with the standard NYU metrics'),
    'export-depth-onnx': ('jdd_ros.cli.export_depth', 'export a depth checkpoint to ONNX with its sidecar YAML'),
    'fuse': ('jdd_ros.cli.fuse', 'detections with distances on one image (depth PNG, depth model or the floor)'),
    'process': ('jdd_ros.cli.fuse', 'annotate a bag, video or image folder and write a CSV of every detection'),
    'calibrate-ground': ('jdd_ros.cli.calibrate_ground', "the camera's height, pitch and roll above the floor from "
                         'one RGB-D frame (for depth_source ground)'),
    'launch': ('jdd_ros.cli.launch', 'start the depth, detector and fusion nodes without a ROS installation'),
    'replay': ('jdd_ros.cli.replay', 'play a ROS 2 bag into running nodes with /clock (ros2 bag play --clock)'),
    'param': ('jdd_ros.cli.param', 'list, get, set, describe node parameters, as ros2 param (no ROS install needed)'),
    'echo': ('jdd_ros.cli.echo', 'one line per detection (class, score, distance, ID) of detections_with_depth'),
    'status': ('jdd_ros.cli.status', "the running nodes' /diagnostics on one refreshing screen (--once: one snapshot)"),
}


def _usage() -> str:
    width = max(len(n) for n in SUBCOMMANDS)
    lines = ['usage: jdd-ros COMMAND [options]   (jdd-ros COMMAND --help for its options)', '', 'commands:']
    lines += [f'  {name.ljust(width)}  {help_}' for name, (_, help_) in SUBCOMMANDS.items()]
    return '\n'.join(lines)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (a refused flag value names the flag and gives the schema's reason)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f'{self.prog}: {message} (see {self.prog} --help)\n')


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C while the command's modules load (torch, rclpy) is no error: no traceback
        return 130


def _main(argv: list[str] | None) -> int:
    # Held since the interpreter started (the venv's 00_jdd_ros_node_signals.pth, written by make setup): one that
    # arrived meanwhile is raised here, as KeyboardInterrupt, and ends the command with 130.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGINT, signal.SIGTERM))
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ('-h', '--help', 'help'):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"jdd-ros: unknown command '{name}'\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, help_ = SUBCOMMANDS[name]
    module = importlib.import_module(module_name)
    add_arguments, run = module.COMMANDS[name]
    parser = _Parser(prog=f'jdd-ros {name}', description=help_)
    add_arguments(parser)
    try:
        args = parser.parse_args(rest)
    except SystemExit as exc:  # --help (0) or a refused argument (2, said on stderr): the status, as for any error
        return exc.code if isinstance(exc.code, int) else 2
    return int(run(args) or 0)


if __name__ == '__main__':
    sys.exit(main())
