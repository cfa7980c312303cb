"""``jdd-ros echo [TOPIC]``: one readable line per detection (class, score, distance, ID), as ``ros2 topic echo``
would show them in 40 lines of YAML each."""

from __future__ import annotations

import argparse
import signal
from typing import Any

from jdd_ros.core.stop_flag import StopFlag


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('topic', nargs='?', default='detections_with_depth',
                        help='a vision_msgs/Detection2DArray topic (default: detections_with_depth)')
    parser.add_argument('--once', action='store_true', help='print the first message, then exit')
    parser.add_argument('--csv', action='store_true',
                        help='CSV rows: stamp, frame_id, class, score, distance_m, id, x1, y1, x2, y2')
    parser.add_argument('--timeout', type=float, default=None, metavar='S',
                        help='exit 1 when no message arrived within S seconds (default: wait until Ctrl-C)')


def run(args: argparse.Namespace) -> int:
    from jdd_ros.ros.echo import run_echo

    stop = StopFlag()  # set by the signal handler: no lock (core.stop_flag)

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return run_echo(args.topic, once=args.once, as_csv=args.csv, timeout=args.timeout, stop=stop)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


COMMANDS = {'echo': (add_arguments, run)}
