"""``jdd-ros param list/get/set/describe``: ``ros2 param`` for a machine without the ROS 2 command line."""

from __future__ import annotations

import argparse

VERBS = ('list', 'get', 'set', 'describe')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ('as ros2 param: jdd-ros param set /fusion_node max_depth 2 (an integer is taken for a double '
                     'parameter); a refused value prints the node\'s reason')
    parser.add_argument('verb', choices=VERBS, help='list [NODE], get NODE NAME, set NODE NAME VALUE, '
                        'describe NODE NAME [NAME ...]')
    parser.add_argument('node', nargs='?', help="the node, e.g. /fusion_node (a leading '/' may be left out)")
    parser.add_argument('names', nargs='*', metavar='NAME [VALUE]', help='parameter name(s); for set: NAME VALUE')
    parser.add_argument('--hide-type', action='store_true', help='get: print only the value')
    parser.add_argument('--timeout', type=float, default=5.0, metavar='S',
                        help='seconds to wait for the node to appear (default 5; ros2 param waits 1)')


def _usage_error(args: argparse.Namespace) -> str | None:
    wanted = {'list': (0, 0), 'get': (1, 1), 'set': (2, 2), 'describe': (1, 10 ** 6)}[args.verb]
    if args.verb != 'list' and not args.node:
        return f'param {args.verb}: the node name is required'
    if not wanted[0] <= len(args.names) <= wanted[1]:
        return {'get': 'param get NODE NAME', 'set': 'param set NODE NAME VALUE', 'list': 'param list [NODE]',
                'describe': 'param describe NODE NAME [NAME ...]'}[args.verb] + ': wrong number of arguments'
    return None


def run(args: argparse.Namespace) -> int:
    import sys

    problem = _usage_error(args)
    if problem:
        print(f'jdd-ros {problem}', file=sys.stderr)
        return 2
    from jdd_ros.ros.param_tool import run_param

    names, value = (args.names[:1], args.names[1]) if args.verb == 'set' else (args.names, None)
    return run_param(args.verb, args.node, names, value, timeout=args.timeout, hide_type=args.hide_type)


COMMANDS = {'param': (add_arguments, run)}
