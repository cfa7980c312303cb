"""The parameter tables of the docs, generated from the schema (jdd_ros/params.py) so the docs cannot drift from the
code: every parameter of every node in docs/parameters.md, the ten that people change most in the README.

Usage: python tools/params_table.py [--write]   (test/test_readme.py checks that both files hold this output;
--write-readme is the same as --write)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jdd_ros.params import SCHEMA, Spec, spec  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
README = REPO / 'README.md'
PARAMETERS_DOC = REPO / 'docs' / 'parameters.md'
BEGIN, END = '<!-- params:begin -->', '<!-- params:end -->'
# The parameters a user changes most, with the node(s) whose parameter is meant: the README's short table.
COMMON: tuple[tuple[str, tuple[str, ...]], ...] = (
    ('max_depth', ('fusion_node',)),
    ('min_depth', ('fusion_node',)),
    ('min_ttc', ('fusion_node',)),
    ('camera_height', ('fusion_node', 'depth_node')),
    ('camera_pitch', ('fusion_node', 'depth_node')),
    ('camera_roll', ('fusion_node', 'depth_node')),
    ('confidence_threshold', ('detector_node',)),
    ('classes', ('detector_node',)),
    ('depth_statistic', ('fusion_node',)),
    ('device', ('detector_node', 'depth_node')),
)


def _fmt(value: object) -> str:
    if isinstance(value, str):
        return f"`'{value}'`" if value else "`''`"
    if isinstance(value, bool):
        return f'`{str(value).lower()}`'
    return f'`{value}`'


def _allowed(s: Spec) -> str:
    return s.allowed().replace('|', '/') or '—'


def _surfaces(s: Spec) -> str:
    """Where else it is set: its launch argument and its flag in jdd-ros fuse/process/detect."""
    where = ([f'`{s.launch_name}:=`'] if s.launch_name else []) + ([f"`--{s.name.replace('_', '-')}`"] if s.offline
                                                                     else [])
    return ' '.join(where) or '—'


def tables() -> str:
    """Every node's parameters (docs/parameters.md)."""
    out = []
    for node, specs in SCHEMA.items():
        out.append(f'#### `{node}`\n')
        out.append('| parameter | default | run-time | allowed | launch / flag | meaning |')
        out.append('|---|---|---|---|---|---|')
        for s in specs:
            out.append(f"| `{s.name}` | {_fmt(s.default)} | {'yes' if s.dynamic else 'no'} | {_allowed(s)} | "
                       f'{_surfaces(s)} | {s.description} |')
        out.append('')
    return '\n'.join(out).rstrip() + '\n'


def common_table() -> str:
    """The ten parameters people change most (the README)."""
    out = ['| parameter | node | default | run-time | meaning |', '|---|---|---|---|---|']
    for name, nodes in COMMON:
        s = spec(nodes[0], name)
        where = ', '.join(f'`{n}`' for n in nodes)
        out.append(f"| `{name}` | {where} | {_fmt(s.default)} | {'yes' if s.dynamic else 'no'} | {s.description} |")
    return '\n'.join(out) + '\n'


def with_table(text: str, table: str) -> str:
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f'{head}{BEGIN}\n{table}{END}{tail}'


def readme_with_tables(text: str) -> str:
    return with_table(text, common_table())


def parameters_doc_with_tables(text: str) -> str:
    return with_table(text, tables())


if __name__ == '__main__':
    if sys.argv[1:] in (['--write'], ['--write-readme']):
        README.write_text(readme_with_tables(README.read_text()))
        PARAMETERS_DOC.write_text(parameters_doc_with_tables(PARAMETERS_DOC.read_text()))
    else:
        print(tables(), end='')
