"""The README's parameter tables, generated from the schema (jdd_ros/params.py) so the docs cannot drift from the code.

Usage: python tools/params_table.py [--write-readme]   (test/test_readme.py checks the README holds this output)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jdd_ros.params import SCHEMA  # noqa: E402

README = Path(__file__).resolve().parents[1] / 'README.md'
BEGIN, END = '<!-- params:begin -->', '<!-- params:end -->'


def _fmt(value: object) -> str:
    if isinstance(value, str):
        return f"`'{value}'`" if value else "`''`"
    if isinstance(value, bool):
        return f'`{str(value).lower()}`'
    return f'`{value}`'


def tables() -> str:
    out = []
    for node, specs in SCHEMA.items():
        out.append(f'#### `{node}`\n')
        out.append('| parameter | default | run-time | allowed | meaning |')
        out.append('|---|---|---|---|---|')
        for s in specs:
            allowed = s.constraints().replace('changeable at run time', '').replace('read at start-up', '')
            allowed = allowed.strip('; ').replace('|', '/') or '—'
            out.append(f"| `{s.name}` | {_fmt(s.default)} | {'yes' if s.dynamic else 'no'} | {allowed} | "
                       f'{s.description} |')
        out.append('')
    return '\n'.join(out).rstrip() + '\n'


def readme_with_tables(text: str) -> str:
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f'{head}{BEGIN}\n{tables()}{END}{tail}'


if __name__ == '__main__':
    if sys.argv[1:] == ['--write-readme']:
        README.write_text(readme_with_tables(README.read_text()))
    else:
        print(tables(), end='')
