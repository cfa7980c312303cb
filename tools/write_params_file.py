"""Rewrite config/params.yaml from the parameter schema (jdd_ros/params.py): every default, with its description.

Run after changing the schema: .venv/bin/python tools/write_params_file.py  (test/test_params_file.py checks the file)
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jdd_ros.params import SCHEMA  # noqa: E402

HEADER = """\
# jdd_ros parameters: the defaults of the schema in jdd_ros/params.py (test/test_params_file.py checks they agree;
# tools/write_params_file.py rewrites this file from the schema).
# Used by launch/joint.launch.py and jdd-ros launch; launch arguments (max_depth:=4.0 ...) override single values.
# Parameters marked "changeable at run time" can be set while running: ros2 param set /fusion_node max_depth 4.0
"""


def params_file_text() -> str:
    lines = [HEADER]
    for node, specs in SCHEMA.items():
        lines += [f'/**/{node}:', '  ros__parameters:']  # any namespace (namespace:=/robot)
        for s in specs:
            lines += ['    # ' + line for line in textwrap.wrap(f'{s.description} ({s.constraints()})', 110)]
            value = yaml.safe_dump({s.name: s.default}, default_flow_style=True, width=1000).strip()[1:-1]
            lines.append('    ' + value)
        lines.append('')
    return '\n'.join(lines)


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / 'config' / 'params.yaml'
    path.write_text(params_file_text())
    print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
