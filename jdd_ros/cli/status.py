"""``jdd-ros status``: the /diagnostics of the running jdd_ros nodes on one screen, refreshed every second (like
``ros2 topic hz``, for the whole pipeline); ``--once`` prints one snapshot for scripts. Plain terminal output (ANSI
cursor-home and clear-to-end only when stdout is a terminal), usable over SSH."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

CLEAR_LINE, CLEAR_BELOW, HOME = '\x1b[K', '\x1b[J', '\x1b[H'
# --once: time for discovery to find the publishers of /diagnostics. A new participant is found within ~0.1 s on an
# idle machine; when its first announcements are missed (a loaded machine), at the next one, 3 s later (Fast DDS's
# default announcement period).
MIN_LISTEN_S = 4.0


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f'must be > 0, got {text}')
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--once', action='store_true',
                        help='print one snapshot and exit (exit status 1 when no node reported): listens at least '
                             f'{MIN_LISTEN_S:.0f} s, then until every publisher of /diagnostics found has reported')
    parser.add_argument('--wait', type=_positive, default=10.0,
                        help='with --once: listen at most this many seconds (default 10)')
    parser.add_argument('--expect', default='', metavar='NODE[,NODE...]',
                        help='with --once: wait until these nodes have reported (names as shown, e.g. depth_node or '
                             'cam/fusion_node), at most --wait; exit status 1 when one is missing')
    parser.add_argument('--period', type=_positive, default=1.0, help='seconds between refreshes (default 1)')
    parser.add_argument('-v', '--verbose', action='store_true', help='every key-value of every node under the table')
    parser.add_argument('--all', action='store_true', help='also the statuses of other packages on /diagnostics')


def _title(count: int, watching: bool) -> str:
    domain = os.environ.get('ROS_DOMAIN_ID', '0')
    text = f"jdd-ros status  {time.strftime('%H:%M:%S')}  {count} node(s) on /diagnostics, ROS_DOMAIN_ID={domain}"
    return text + ('  (Ctrl-C quits)' if watching else '')


def _once(listener, args: argparse.Namespace) -> int:
    from jdd_ros.apps.status_screen import screen

    expect = frozenset(name.strip().lstrip('/') for name in args.expect.split(',') if name.strip())
    listener.listen_until_all_heard(MIN_LISTEN_S, args.wait, expect)
    statuses = listener.snapshot()
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    print('\n'.join(screen(statuses, time.monotonic(), _title(len(statuses), False), width, args.verbose)))
    missing = sorted(expect - {s.name for s in statuses})
    if missing:
        print(f"expected but not reporting within {args.wait:g} s: {', '.join(missing)}")
    return 0 if statuses and not missing else 1


def _watch(listener, args: argparse.Namespace) -> int:
    from jdd_ros.apps.status_screen import screen

    tty = sys.stdout.isatty()
    if tty:
        sys.stdout.write('\x1b[2J')
    while True:
        statuses = listener.snapshot()
        width = shutil.get_terminal_size().columns if tty else None
        lines = screen(statuses, time.monotonic(), _title(len(statuses), True), width, args.verbose)
        if tty:  # redraw in place: home, each line cleared to its end, then everything below cleared
            sys.stdout.write(HOME + ''.join(line + CLEAR_LINE + '\n' for line in lines) + CLEAR_BELOW)
        else:
            sys.stdout.write('\n'.join(lines) + '\n\n')
        sys.stdout.flush()
        listener.spin_for(args.period)


def run(args: argparse.Namespace) -> int:
    from jdd_ros.ros.status_monitor import DiagnosticsListener

    listener = DiagnosticsListener(jdd_ros_only=not args.all)
    try:
        return _once(listener, args) if args.once else _watch(listener, args)
    except KeyboardInterrupt:
        return 0
    finally:
        listener.close()


COMMANDS = {'status': (add_arguments, run)}
