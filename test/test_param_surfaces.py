"""Every place a user sets a node parameter is produced from the one schema (jdd_ros/params.py): the launch
arguments (joint.launch.py, jdd-ros launch) and the offline tools' flags (jdd-ros fuse, process, detect) have the
parameter's name, description, allowed values and default, and refuse what the schema refuses with its reason.

The expectations are read from the schema here, surface by surface, so a parameter added to the schema is checked
without touching this file; the refusals are compared with ``ParamSpec.validate`` (what ``ros2 param set`` answers).
"""

from __future__ import annotations

import argparse
import importlib
import json
from typing import Any

import cv2
import numpy as np
import pytest
import yaml
from harness import fixture, reference_median, yolov4_tiny_files

from jdd_ros import bringup
from jdd_ros.cli import SUBCOMMANDS, main
from jdd_ros.cli.fuse import validated
from jdd_ros.cli.param_flags import OLD_SPELLINGS
from jdd_ros.core.detection import Detection
from jdd_ros.core.fusion import fuse
from jdd_ros.param_types import FusionNodeParams as FusionSettings  # the node's snapshot
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


# keep_unmeasured: the parameter added through docs/architecture.md's checklist, over its effect -----------------

@pytest.fixture(scope='module')
def desk_without_near_chair_depth(tmp_path_factory):
    """The TUM desk depth PNG with the near chair's pixels invalid (0), as a sensor gives for a black or shiny
    surface: the chair is seen but has no measurable distance."""
    depth = cv2.imread(str(fixture('tum_desk_depth_mm.png')), cv2.IMREAD_UNCHANGED)
    depth[230:490, 0:250] = 0
    path = tmp_path_factory.mktemp('depth') / 'desk_near_chair_invalid_mm.png'
    cv2.imwrite(str(path), depth)
    return path, depth


def test_keep_unmeasured_keeps_what_has_no_distance_while_a_limit_is_set(desk_without_near_chair_depth):
    _, depth_mm = desk_without_near_chair_depth
    near, far = Detection('chair', 0.9, 6, 272, 242, 480), Detection('chair', 0.8, 391, 217, 527, 425)
    depth_m = depth_mm.astype(np.float32) / 1000.0
    far_median = reference_median(depth_mm, far.xyxy(), scale=0.001)
    dropping = fuse([near, far], depth_m, FusionSettings(max_depth=far_median + 1.0))
    keeping = fuse([near, far], depth_m, FusionSettings(max_depth=far_median + 1.0, keep_unmeasured=True))
    assert [d.score for d in dropping.dropped_unmeasured] == [0.9] and [d.score for d in dropping.kept] == [0.8]
    assert sorted(d.score for d in keeping.kept) == [0.8, 0.9] and not keeping.dropped_unmeasured
    assert np.isnan([d.depth for d in keeping.kept if d.score == 0.9][0])
    assert keeping.no_distance == dropping.no_distance and sum(keeping.no_distance.values()) == 1
    # Without a limit nothing is dropped either way; a measured detection beyond the limit is dropped either way.
    assert len(fuse([near, far], depth_m, FusionSettings(keep_unmeasured=True)).kept) == 2
    assert fuse([far], depth_m, FusionSettings(max_depth=far_median - 0.5, keep_unmeasured=True)).dropped_far


def test_jdd_ros_fuse_keep_unmeasured_flag(desk_without_near_chair_depth, tmp_path):
    path, depth_mm = desk_without_near_chair_depth
    color = fixture('tum_desk_color.png')
    model = [arg for key, value in yolov4_tiny_files().items() for arg in (f'--{key}', value)]
    docs = {}
    for label, extra in (('default', []), ('keep', ['--keep-unmeasured'])):
        out = tmp_path / f'{label}.json'
        assert main(['fuse', str(color), '--depth-image', str(path), '--max-depth', '3.0', *model, *extra,
                     '--json', str(out)]) == 0
        docs[label] = json.loads(out.read_text())

    def unmeasured_chairs(records):
        return [d for d in records if d['class_name'] == 'chair' and d['depth_m'] is None]

    dropped = unmeasured_chairs(docs['default']['dropped'])
    assert len(dropped) == 1 and dropped[0]['dropped_reason'].startswith('no depth')
    assert not unmeasured_chairs(docs['default']['detections'])
    kept = unmeasured_chairs(docs['keep']['detections'])
    assert [d['bbox_xyxy'] for d in kept] == [d['bbox_xyxy'] for d in dropped]
    assert not unmeasured_chairs(docs['keep']['dropped'])
    measured = [d for d in docs['keep']['detections'] if d['depth_m'] is not None]
    assert measured == [d for d in docs['default']['detections'] if d['depth_m'] is not None]
    assert all(d['depth_m'] <= 3.0 for d in measured)
