"""config/params.yaml holds exactly the defaults of the one parameter schema (jdd_ros/params.py)."""

from pathlib import Path

import pytest
import yaml

from jdd_ros.params import SCHEMA, defaults, load_params_file

PARAMS_FILE = Path(__file__).resolve().parents[1] / 'config' / 'params.yaml'


def test_the_file_is_accepted_by_the_schema():
    loaded = load_params_file(PARAMS_FILE)
    assert set(loaded) == set(SCHEMA)


@pytest.mark.parametrize('node', sorted(SCHEMA))
def test_every_schema_parameter_is_in_the_file_with_its_default(node):
    raw = yaml.safe_load(PARAMS_FILE.read_text())[f'/**/{node}']['ros__parameters']  # any namespace
    assert sorted(raw) == sorted(defaults(node)), 'params.yaml and jdd_ros/params.py list different parameters'
    loaded = load_params_file(PARAMS_FILE)[node]
    for name, default in defaults(node).items():
        assert loaded[name] == default, f'{node}.{name}: params.yaml has {loaded[name]!r}, the schema {default!r}'
        assert type(loaded[name]) is type(default), f'{node}.{name} has another type in params.yaml'


def test_each_parameter_is_explained_next_to_it():
    text = PARAMS_FILE.read_text().splitlines()
    for node in SCHEMA:
        for name in defaults(node):
            lines = [i for i, line in enumerate(text) if line.strip().startswith(f'{name}:')]
            assert lines, f'{name} missing'
            assert all(text[i - 1].strip().startswith('#') for i in lines), f'{name} has no comment above it'


def test_a_wrong_value_in_a_parameter_file_is_refused_with_the_reason(tmp_path):
    bad = yaml.safe_load(PARAMS_FILE.read_text())
    bad['/**/fusion_node']['ros__parameters']['max_depth'] = -2.0
    path = tmp_path / 'bad.yaml'
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError, match='max_depth must be >= 0'):
        load_params_file(path)


def test_the_file_is_generated_from_the_schema_with_its_descriptions():
    import importlib.util

    tool = Path(__file__).resolve().parents[1] / 'tools' / 'write_params_file.py'
    spec = importlib.util.spec_from_file_location('write_params_file', tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert PARAMS_FILE.read_text() == module.params_file_text(), \
        'config/params.yaml is out of date: run .venv/bin/python tools/write_params_file.py'
