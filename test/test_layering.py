"""The package's layers (docs/architecture.md), enforced on the source: what may import what, no import cycles, only
the ROS layer imports rclpy, every command line lives in ``cli``, and functions stay short enough to read."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / 'jdd_ros'

# layer -> the layers it may import (besides itself). Top-level modules are layers of their own.
ALLOWED: dict[str, set[str]] = {
    'core': set(),
    'io': {'core'},
    'inference': set(),
    'param_types': set(),
    'detect': {'core', 'io', 'inference'},
    'depth': {'core', 'io', 'inference'},
    'params': {'param_types', 'inference', 'detect'},
    'bringup': {'core', 'params', 'param_types', 'detect', 'inference'},
    'apps': {'core', 'io', 'inference', 'detect', 'depth', 'params', 'param_types', 'bringup'},
    'ros': {'core', 'io', 'inference', 'detect', 'depth', 'params', 'param_types', 'bringup'},
    'nodes': {'core', 'io', 'inference', 'detect', 'depth', 'params', 'param_types', 'bringup', 'ros'},
    'cli': {'core', 'io', 'inference', 'detect', 'depth', 'params', 'param_types', 'bringup', 'apps', 'ros'},
}
# Single modules a layer may import besides its layers: the detector families calibrate int8 on the package's
# synthetic scenes (numpy only), which live in depth.
EXTRA_ALLOWED: dict[str, set[str]] = {'detect': {'jdd_ros.depth.calibration', 'jdd_ros.depth.synthetic_scenes'}}
ROS_LAYERS = {'ros', 'nodes'}
ROS_MODULES = ('rclpy', 'rcl_interfaces', 'sensor_msgs', 'vision_msgs', 'std_msgs', 'builtin_interfaces',
               'geometry_msgs', 'diagnostic_msgs', 'visualization_msgs', 'lifecycle_msgs', 'jdd_ros_msgs')
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob('*.py'):
        rel = path.relative_to(PACKAGE.parent).with_suffix('')
        parts = list(rel.parts)
        if parts[-1] == '__init__':
            parts = parts[:-1]
        out['.'.join(parts)] = path
    return out


MODULES = _modules()


def _layer(module: str) -> str:
    parts = module.split('.')
    return parts[1] if len(parts) > 1 else ''


def _imports(path: Path, module: str) -> list[tuple[str, int]]:
    """Every import in the file (module level or inside functions), resolved to absolute names."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                pkg = module.split('.')[: -node.level] if not path.name == '__init__.py' else \
                    module.split('.')[: len(module.split('.')) - node.level + 1]
                base = '.'.join(pkg + ([base] if base else []))
            found.append((base, node.lineno))
            found += [(f'{base}.{alias.name}', node.lineno) for alias in node.names
                      if f'{base}.{alias.name}' in MODULES]
    return found


def _internal_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for module, path in MODULES.items():
        for name, _ in _imports(path, module):
            while name and name not in MODULES:
                name = name.rpartition('.')[0]
            if name and name != module and name.startswith('jdd_ros'):
                edges[module].add(name)
    return edges


def test_layers_import_only_what_they_may():
    wrong = []
    for module, targets in _internal_edges().items():
        here = _layer(module)
        for target in targets:
            there = _layer(target)
            if target in EXTRA_ALLOWED.get(here, ()):
                continue
            if there and there != here and here in ALLOWED and there not in ALLOWED[here]:
                wrong.append(f'{module} ({here}) imports {target} ({there})')
    assert not wrong, 'layering broken:\n' + '\n'.join(sorted(wrong))


def test_only_the_ros_layer_imports_ros():
    wrong = [f'{module}:{line} imports {name}' for module, path in MODULES.items() if _layer(module) not in ROS_LAYERS
             for name, line in _imports(path, module) if name.split('.')[0] in ROS_MODULES]
    assert not wrong, 'ROS imported outside jdd_ros.ros / jdd_ros.nodes:\n' + '\n'.join(wrong)


def test_every_command_line_lives_in_cli():
    wrong = [f'{module}:{line}' for module, path in MODULES.items() if _layer(module) != 'cli'
             for name, line in _imports(path, module) if name == 'argparse']
    assert not wrong, 'argparse outside jdd_ros.cli:\n' + '\n'.join(wrong)


def test_no_import_cycles():
    edges = _internal_edges()
    cycles, state = [], {}

    def visit(module: str, stack: list[str]) -> None:
        state[module] = 'open'
        for target in sorted(edges.get(module, ())):
            if state.get(target) == 'open':
                cycles.append(' -> '.join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target, stack + [target])
        state[module] = 'done'

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [module])
    assert not cycles, 'import cycles (lazy imports included):\n' + '\n'.join(cycles)


@pytest.mark.parametrize('module', sorted(MODULES))
def test_functions_fit_on_a_screen(module):
    tree = ast.parse(MODULES[module].read_text())
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    long = [f'{n.name} ({n.end_lineno - n.lineno + 1} lines)' for n in functions
            if n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f'{module}: functions longer than {MAX_FUNCTION_LINES} lines: {", ".join(long)}'
