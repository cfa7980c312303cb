"""The remapping rules of a command line, checked before rclpy sees them, so that a mistake is one line.

rcl refuses an invalid rule (``-r image:=/camera/image raw``) inside ``rclpy.init`` with an RCLError that names the
rule and then a lexer's internals ('Expected lexeme type (19) not found, search ended at index 20, at
/project/src/rcl/lexer_lookahead.c:238'), after its own '[rcl]: Failed to parse global arguments' line. Here each rule
of ``--ros-args`` is checked with rclpy's own name validators and the problem said in plain words: which rule, what
is wrong with which name, and where. ``init_error`` turns whatever rcl still refuses into one line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rclpy.exceptions import NameValidationException
from rclpy.validate_full_topic_name import validate_full_topic_name
from rclpy.validate_namespace import validate_namespace
from rclpy.validate_node_name import validate_node_name
from rclpy.validate_topic_name import validate_topic_name

REMAP_FLAGS = ('-r', '--remap')
_SCHEMES = ('rostopic://', 'rosservice://')


def _reason(exc: NameValidationException) -> str:
    """rclpy's three-line message ('Invalid topic name: REASON:\\n  'NAME'\\n    ^') as 'REASON (at character N)'."""
    lines = str(exc).splitlines()
    reason = lines[0].split(': ', 1)[-1].rstrip(':') if lines else str(exc)
    if len(lines) >= 3 and '^' in lines[2]:
        reason += f' (at character {lines[2].index("^") - 3})'
    return reason


def _check_topic(name: str) -> None:
    validate_topic_name(name)
    if '~' not in name and '{' not in name:  # substitutions are expanded by rcl first
        validate_full_topic_name(name if name.startswith('/') else '/' + name)


def remap_problem(rule: str) -> str | None:
    """What is wrong with one remapping rule ``[node:]FROM:=TO``, or None."""
    if ':=' not in rule:
        return f"invalid remapping '{rule}': expected FROM:=TO (e.g. image:=/camera/color/image_raw)"
    source, target = rule.split(':=', 1)
    for scheme in _SCHEMES:
        source = source.removeprefix(scheme)
    node, _, name = source.rpartition(':')
    checks = [('node name', node, validate_node_name)] if node else []
    if name == '__ns':
        checks.append(('namespace', target, validate_namespace))
    elif name in ('__node', '__name'):
        checks.append(('node name', target, validate_node_name))
    else:
        checks += [('topic name', name, _check_topic), ('topic name', target, _check_topic)]
    for what, value, check in checks:
        try:
            check(value)
        except NameValidationException as exc:
            return f"invalid remapping '{rule}': {what} '{value}': {_reason(exc)}"
    return None


def ros_args_problem(argv: Sequence[str]) -> str | None:
    """The first invalid remapping rule in the ``--ros-args`` sections of ``argv``, in one line, or None."""
    inside = False
    args = list(argv)
    for i, arg in enumerate(args):
        if arg == '--ros-args':
            inside = True
        elif arg == '--':
            inside = False
        elif inside and arg in REMAP_FLAGS:
            if i + 1 >= len(args):
                return f"'{arg}' at the end of the command line: a remapping FROM:=TO must follow it"
            problem = remap_problem(args[i + 1])
            if problem:
                return problem
    return None


def init_error(exc: Exception) -> str:
    """An rclpy.init / remove_ros_args failure on the command line as one line (without rcl's source locations)."""
    text = str(exc).removeprefix('failed to initialize rcl: ')
    text = re.sub(r'\. Error: .*', '', text, flags=re.DOTALL)
    return f'invalid command-line arguments: {text.strip()}'
