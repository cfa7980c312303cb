"""``cameras:=front,left`` through both front doors: joint.launch.py (with recording stand-ins for the launch API, as
test_launch_file.py) and ``jdd-ros launch`` start the same one pipeline process serving both cameras."""

from __future__ import annotations

from pathlib import Path

from test_launch_file import PARAMS_FILE, _run, launch_module  # noqa: F401 - launch_module is a fixture

from jdd_ros.apps import node_supervisor


def test_launch_file_and_launcher_start_one_pipeline_for_every_camera(launch_module):  # noqa: F811
    given = {'cameras': 'front,left', 'depth_checkpoint': '/m/depth.pt', 'max_depth': '2.5'}
    _, nodes = _run(launch_module, **given)
    assert len(nodes) == 1
    node = nodes[0].kwargs
    assert node['executable'] == 'pipeline' and node['namespace'] is None
    assert node['arguments'][:2] == ['--cameras', '/front,/left']
    assert not [r for r in node['remappings'] if r[0] in ('image', 'camera_info', 'depth')]
    [(name, cmd)] = node_supervisor.build_commands([f'{k}:={v}' for k, v in given.items()], str(PARAMS_FILE))
    assert name == 'pipeline' and Path(cmd[0]).name == 'pipeline'
    assert cmd[1:3] == ['--cameras', '/front,/left'] and not [a for a in cmd if a.startswith('__ns:=')]


def test_cameras_under_the_launch_namespace(launch_module):  # noqa: F811
    _, nodes = _run(launch_module, cameras='front,left', namespace='robot1', depth_source='sensor')
    node = nodes[0].kwargs
    assert node['namespace'] is None
    assert node['arguments'][:3] == ['--without-depth', '--cameras', '/robot1/front,/robot1/left']
