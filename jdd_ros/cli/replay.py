"""``jdd-ros replay``: play a ROS 2 bag into running nodes with /clock, like ``ros2 bag play --clock``."""

from __future__ import annotations

import argparse
import sys

from jdd_ros.ros.bag_player import replay


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('bag', help='bag directory or .mcap/.db3 file')
    parser.add_argument('--rate', type=float, default=1.0, help='playback speed factor (default 1: recorded rate)')
    parser.add_argument('--loop', action='store_true', help='play again and again until Ctrl-C')
    parser.add_argument('--topics', nargs='*', help='only these topics')
    parser.add_argument('--no-clock', action='store_true', help='do not publish /clock')
    parser.add_argument('--remap', nargs='*', default=[], metavar='FROM:=TO', help='publish topic FROM on TO')
    parser.add_argument('--wait-for-subscribers', type=float, default=10.0, metavar='S',
                        help='before the first message, wait up to S seconds until every played topic has a '
                             'subscriber (then 0.5 s for the subscribers to match back), so the start of the bag '
                             'is not lost; 0: do not wait (default 10)')
    parser.add_argument('--delay', type=float, default=0.0, metavar='S',
                        help='wait this long more before playing (as ros2 bag play --delay)')


def run(args: argparse.Namespace) -> int:
    remap = {}
    for item in args.remap:
        if ':=' not in item:
            print(f"jdd-ros replay: --remap takes FROM:=TO, got '{item}'", file=sys.stderr)
            return 2
        src, dst = item.split(':=', 1)
        remap[src] = dst
    return replay(args.bag, rate=args.rate, loop=args.loop, topics=args.topics, remap=remap, clock=not args.no_clock,
                  wait_s=args.wait_for_subscribers, delay_s=args.delay)


COMMANDS = {'replay': (add_arguments, run)}
