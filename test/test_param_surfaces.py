"""Every place a user sets a node parameter is produced from the one schema (jdd_ros/params.py): the launch
arguments (joint.launch.py, jdd-ros launch) and the offline tools' flags (jdd-ros fuse, process, detect) have the
parameter's name, description, allowed values and default, and refuse what the schema refuses with its reason.

The expectations are read from the schema here, surface by surface, so a parameter added to the schema is checked
without touching this file; the refusals are compared with ``ParamSpec.validate`` (what ``ros2 param set`` answers).
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

import pytest
import yaml

from jdd_ros import bringup
from jdd_ros.cli import SUBCOMMANDS, main
from jdd_ros.cli.fuse import validated
from jdd_ros.cli.param_flags import OLD_SPELLINGS
from jdd_ros.params import SCHEMA, ParamSpec, load_params_file, spec

# Each offline tool and the nodes whose parameters it takes.
TOOLS = {'fuse': ('fusion_node', 'detector_node', 'depth_node'),
         'process': ('fusion_node', 'detector_node', 'depth_node'),
         'detect': ('detector_node',)}


def parser_of(tool: str) -> argparse.ArgumentParser:
    add_arguments, _ = importlib.import_module(SUBCOMMANDS[tool][0]).COMMANDS[tool]
    parser = argparse.ArgumentParser(prog=f'jdd-ros {tool}')
    add_arguments(parser)
    return parser


def offline_specs(nodes: tuple[str, ...]) -> dict[str, list[tuple[str, ParamSpec[Any]]]]:
    """name -> [(node, spec)] of every parameter the file tools honour, as the schema says."""
    out: dict[str, list[tuple[str, ParamSpec[Any]]]] = {}
    for node in nodes:
        for s in SCHEMA[node]:
            if s.offline:
                out.setdefault(s.name, []).append((node, s))
    return out


def flag_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """dest -> the visible action of every option."""
    return {a.dest: a for a in parser._actions if a.option_strings and a.help != argparse.SUPPRESS}


# A value each kind of rule refuses, as a user would type it.
def refused_text(s: ParamSpec[Any]) -> str | None:
    if s.choices:
        return 'bogus'
    if s.kind is bool:
        return 'maybe'
    if s.name == 'input_size':
        return '400'
    if s.name == 'device':
        return 'gpu'
    if s.min is not None:
        return str(s.min - 1)
    if s.kind in (int, float):
        return 'far'
    return None


def schema_reason(s: ParamSpec[Any], text: str) -> str:
    value = text if s.kind is str else yaml.safe_load(text)
    reason = s.validate(value)
    assert reason, f'{s.name}: {text!r} was meant to be refused'
    return reason


# Launch arguments ------------------------------------------------------------------------------------------------

def test_every_launch_parameter_has_its_argument_with_the_schemas_text():
    arguments = {a.name: a for a in bringup.ARGUMENTS}
    package_file = load_params_file(bringup.default_params_file())
    wanted = {(node, s.name): s for node, specs in SCHEMA.items() for s in specs if s.launch_name}
    assert wanted, 'the schema offers no parameter as a launch argument'
    for (node, name), s in wanted.items():
        a = arguments[s.launch_name]
        assert (node, name) in a.targets
        described = spec(*a.targets[0])  # the first node's meaning is described; every node allows the same
        assert a.description.startswith(described.description), a.name
        assert s.allowed() == described.allowed() and s.default == described.default, a.name
        assert s.allowed().lower() in a.description.lower(), a.name
        if a.default == '':  # empty keeps the parameter file's value: the schema default in the package's file
            assert package_file[node][name] == s.default
            assert 'Empty: the parameter file' in a.description
        else:  # an argument that chooses the nodes has a value of its own: the schema's
            assert a.default == str(s.default) and a.choices == s.choices
    targeted = {t for a in bringup.ARGUMENTS for t in a.targets}
    assert targeted == set(wanted), 'a launch argument sets a parameter the schema does not offer to the launch'


def test_a_launch_argument_refuses_what_the_schema_refuses_with_its_reason():
    for a in bringup.ARGUMENTS:
        for node, name in a.targets:
            s = spec(node, name)
            text = refused_text(s)
            if text is None:
                continue
            with pytest.raises(ValueError) as err:
                bringup.plan({a.name: text, 'depth_source': 'sensor'} if a.name != 'depth_source' else {a.name: text})
            assert schema_reason(s, text) in str(err.value), a.name


# The offline tools' flags ------------------------------------------------------------------------------------------

@pytest.mark.parametrize('tool', TOOLS)
def test_every_offline_parameter_is_a_flag_with_the_schemas_name_help_and_default(tool):
    parser = parser_of(tool)
    actions = flag_actions(parser)
    inferred = getattr(importlib.import_module(SUBCOMMANDS[tool][0]), 'INFERRED', {})
    for name, targets in offline_specs(TOOLS[tool]).items():
        action = actions[name]
        s = targets[0][1]
        assert '--' + name.replace('_', '-') in action.option_strings
        text = ' '.join(action.help.replace('%%', '%').split())
        assert text.startswith(s.description), name
        assert s.allowed() == '' or s.allowed().lower() in text.lower(), name
        if name in inferred:
            assert action.default is None and inferred[name] in text
        else:
            assert action.default == s.default, name
        if len(targets) > 1:
            assert all(node in text for node, _ in targets), name
    assert set(parser.parse_args(['x'] if tool != 'process' else ['x', '--out', 'y']).__dict__) >= \
        set(offline_specs(TOOLS[tool]))


@pytest.mark.parametrize('tool', ('fuse', 'detect'))
def test_a_flag_refuses_what_the_schema_refuses_with_its_reason(tool, capsys):
    for name, targets in offline_specs(TOOLS[tool]).items():
        s = targets[0][1]
        text = refused_text(s)
        if text is None:
            continue
        assert main([tool, 'image.png', '--' + name.replace('_', '-'), text]) == 2
        err = capsys.readouterr().err
        assert f"argument --{name.replace('_', '-')}: {schema_reason(s, text)}" in err, err
        assert len(err.splitlines()) == 1, err


def test_old_spellings_still_set_the_parameters_and_are_hidden():
    parser = parser_of('fuse')
    old = parser.parse_args(['img', '--conf', '0.5', '--nms', '0.3', '--statistic', 'percentile', '--percentile', '10',
                             '--depth-checkpoint', 'd.pt', '--depth-sha256', 'ab'])
    new = parser.parse_args(['img', '--confidence-threshold', '0.5', '--nms-threshold', '0.3', '--depth-statistic',
                             'percentile', '--depth-percentile', '10', '--checkpoint', 'd.pt', '--model-sha256', 'ab'])
    assert validated(old) == validated(new)
    fusion, detector, depth = validated(old)
    assert (detector.confidence_threshold, detector.nms_threshold) == (0.5, 0.3)
    assert (fusion.depth_statistic, fusion.depth_percentile, depth.checkpoint, depth.model_sha256) == \
        ('percentile', 10.0, 'd.pt', 'ab')
    shown = parser.format_help()
    for spellings in OLD_SPELLINGS.values():
        for flag in spellings:
            assert f'{flag} ' not in shown and f'{flag},' not in shown, flag
    with pytest.raises(SystemExit):
        parser.parse_args(['img', '--conf', '1.5'])


def test_a_shared_flag_sets_every_node_that_has_the_parameter():
    fusion, detector, depth = validated(parser_of('fuse').parse_args(
        ['img', '--device', 'cuda:1', '--camera-height', '1.2', '--threads', '2', '--max-depth', '3']))
    assert detector.device == depth.device == 'cuda:1' and detector.threads == depth.threads == 2
    assert fusion.camera_height == depth.camera_height == 1.2
    assert fusion.max_depth == 3.0 and depth.max_depth == 0.0  # depth_node's max_depth means another thing
