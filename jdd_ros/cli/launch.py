"""``jdd-ros launch``: start the nodes of ``joint.launch.py`` without a ROS installation."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from jdd_ros.apps.node_supervisor import Supervisor, build_commands, show_args
from jdd_ros.ros.ros_args import ros_args_problem


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('assignments', nargs='*', metavar='NAME:=VALUE',
                        help='launch arguments, as for ros2 launch jdd_ros joint.launch.py (see --show-args)')
    parser.add_argument('--params', metavar='FILE', help='ROS 2 parameter file (default: the package '
                        'config/params.yaml); same as params_file:=FILE')
    parser.add_argument('--show-args', action='store_true', help='list the launch arguments and exit')
    parser.add_argument('--dry-run', action='store_true', help='print the node commands and exit')
    parser.add_argument('--stop-timeout', type=float, default=10.0, metavar='S',
                        help='seconds each node gets to exit after SIGINT before SIGTERM/SIGKILL (default 10)')


def run(args: argparse.Namespace) -> int:
    if args.show_args:
        print(show_args())
        return 0
    try:
        commands = build_commands(args.assignments, args.params)
        problem = next(filter(None, (ros_args_problem(cmd) for _, cmd in commands)), None)
        if problem:  # a topic or namespace no node could use: refused before anything starts
            raise ValueError(problem)
    except (ValueError, FileNotFoundError) as exc:
        print(f'jdd-ros launch: {exc}', file=sys.stderr)
        return 2
    if args.dry_run:
        for name, cmd in commands:
            print(f'{name}: ' + ' '.join(cmd))
        return 0
    supervisor = Supervisor(commands, stop_timeout=args.stop_timeout)

    def on_signal(signum: int, _frame: Any) -> None:
        supervisor.request_stop(f'received {signal.Signals(signum).name}')

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        supervisor.start()
        return supervisor.wait()
    finally:
        supervisor.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)


COMMANDS = {'launch': (add_arguments, run)}
