"""Write jdd_ros/param_types.py: one frozen dataclass per node, generated from the schema (jdd_ros/params.py), so that
nodes and tools read typed attributes (``params.max_depth``) instead of string keys, and a mistyped name fails in the
linter or at start-up, never per frame.

Usage: python tools/gen_param_types.py [--check]   (test/test_params_schema.py checks the file is current)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jdd_ros.params import SCHEMA, ParamSpec  # noqa: E402

TARGET = ROOT / 'jdd_ros' / 'param_types.py'


def class_name(node: str) -> str:
    return ''.join(part.capitalize() for part in node.split('_')) + 'Params'


def _wrapped_tuple(name: str, values: list[str], width: int = 120) -> str:
    """``name: tuple[str, ...] = (...)`` with the values on as many lines as the line length needs."""
    one_line = f'    {name}: tuple[str, ...] = {tuple(values)!r}'
    if len(one_line) <= width:
        return one_line
    lines, line = [], '       '
    for value in values:
        item = f' {value!r},'
        if len(line) + len(item) > width:
            lines.append(line)
            line = '       '
        line += item
    return '\n'.join([f'    {name}: tuple[str, ...] = (', *lines, line, '    )'])


def _field(spec: ParamSpec) -> str:
    if spec.kind is list:
        return _wrapped_tuple(spec.name, list(spec.default))
    return f'    {spec.name}: {spec.kind.__name__} = {spec.default!r}'


def source() -> str:
    out = ['"""Typed snapshots of each node\'s parameters, generated from ``jdd_ros.params`` by',
           'tools/gen_param_types.py (test/test_params_schema.py keeps it current): do not edit by hand.',
           '',
           'A snapshot holds values already validated by the schema; a node replaces its snapshot as a whole when',
           "``ros2 param set`` succeeds, so a frame is always processed with one consistent set of values.",
           '"""', '', 'from __future__ import annotations', '', 'from dataclasses import dataclass',
           'from typing import Literal', '']
    for node, specs in SCHEMA.items():
        out += ['', '@dataclass(frozen=True)', f'class {class_name(node)}:',
                f'    """{node}\'s parameters (jdd_ros.params.SCHEMA[{node!r}])."""', '']
        out += [_field(s) for s in specs]
        out.append('')
    names = ', '.join(repr(node) for node in SCHEMA)
    classes = ' | '.join(class_name(node) for node in SCHEMA)
    out += ['', f'NodeName = Literal[{names}]', f'NodeParams = {classes}', '',
            'SNAPSHOT_TYPES: dict[NodeName, type[NodeParams]] = {']
    out += [f'    {node!r}: {class_name(node)},' for node in SCHEMA]
    out += ['}', '']
    return '\n'.join(out)


if __name__ == '__main__':
    text = source()
    if '--check' in sys.argv[1:]:
        sys.exit(0 if TARGET.read_text() == text else 1)
    TARGET.write_text(text)
    print(f'wrote {TARGET}')
