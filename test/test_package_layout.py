"""make setup lays the package out in the venv exactly as colcon installs it (tools/ament_layout.py).

colcon builds an ament_python package with ``setup.py install --prefix <install>``: this test does that into a
temporary prefix and compares the package's files there (share/jdd_ros/..., the ament marker, lib/jdd_ros/*) with the
venv's, and checks what the ROS 2 tools need of them: real directories (``ros2 launch`` does not search through a
directory link), links to this checkout's files, executables.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PREFIX = Path(sys.prefix)
sys.path.insert(0, str(REPO / 'tools'))

import ament_layout  # noqa: E402


def _package_files(prefix: Path) -> set[str]:
    roots = [prefix / 'share' / 'jdd_ros', prefix / 'lib' / 'jdd_ros']
    found = {str(p.relative_to(prefix)) for root in roots if root.is_dir() for p in root.rglob('*')
             if p.is_file()}
    marker = prefix / 'share' / 'ament_index' / 'resource_index' / 'packages' / 'jdd_ros'
    return found | ({str(marker.relative_to(prefix))} if marker.is_file() else set())


@pytest.fixture(scope='module')
def colcon_prefix(tmp_path_factory):
    """What colcon's ament_python build installs (setup.py install into a prefix; nothing written to the checkout)."""
    tmp = tmp_path_factory.mktemp('colcon')
    (tmp / 'build').mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ('_ROS_WHEELS_BOOTSTRAP_COMPLETE',)}
    out = subprocess.run(
        [sys.executable, 'setup.py', '-q', 'egg_info', '--egg-base', str(tmp / 'build'), 'build', '--build-base',
         str(tmp / 'build'), 'install', '--prefix', str(tmp / 'install'), '--single-version-externally-managed',
         '--record', str(tmp / 'record.txt')], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        pytest.fail(f'setup.py install failed:\n{out.stdout}\n{out.stderr}')
    return tmp / 'install'


def test_the_venv_holds_what_colcon_installs(colcon_prefix):
    colcon = _package_files(colcon_prefix)
    assert {'share/jdd_ros/launch/joint.launch.py', 'share/jdd_ros/config/params.yaml', 'share/jdd_ros/package.xml',
            'share/ament_index/resource_index/packages/jdd_ros', 'lib/jdd_ros/fusion_node', 'lib/jdd_ros/detector_node',
            'lib/jdd_ros/depth_node', 'lib/jdd_ros/pipeline'} <= colcon
    assert _package_files(PREFIX) == colcon, 'the venv layout differs from colcon\'s: run make setup'


def test_the_venv_layout_is_real_directories_of_links_to_the_checkout():
    share = PREFIX / 'share' / 'jdd_ros'
    for directory in (share, share / 'launch', share / 'config', PREFIX / 'lib' / 'jdd_ros'):
        assert directory.is_dir() and not directory.is_symlink(), f'{directory}: run make setup'
    for link, target in ament_layout.planned_links(PREFIX).items():
        assert link.is_symlink() and Path(os.readlink(link)) == target, f'{link}: run make setup'
        assert target.exists()
    for name in ('fusion_node', 'detector_node', 'depth_node', 'pipeline'):
        assert os.access(PREFIX / 'lib' / 'jdd_ros' / name, os.X_OK)
    assert (share / 'launch' / 'joint.launch.py').resolve() == REPO / 'launch' / 'joint.launch.py'


def test_layout_is_idempotent_and_replaces_an_older_layout(tmp_path):
    prefix = tmp_path / 'venv'
    (prefix / 'lib' / 'python3.11' / 'site-packages').mkdir(parents=True)
    (prefix / 'bin').mkdir()
    for name in ('fusion_node', 'detector_node', 'depth_node', 'pipeline', 'jdd-ros'):
        (prefix / 'bin' / name).write_text('#!/bin/sh\n')
    (prefix / 'share' / 'jdd_ros').mkdir(parents=True)
    (prefix / 'share' / 'jdd_ros' / 'launch').symlink_to(REPO / 'launch')  # the layout of earlier make setups
    (prefix / 'share' / 'jdd_ros' / 'config').symlink_to(REPO / 'config')
    first = ament_layout.install(prefix)
    assert any('removed stale' in line and line.endswith('launch') for line in first)
    assert not (prefix / 'share' / 'jdd_ros' / 'launch').is_symlink()
    assert ament_layout.install(prefix) == []  # nothing to do the second time
    assert _package_files(prefix) == {str(p.relative_to(prefix)) for p in ament_layout.planned_links(prefix)}
    pth = prefix / 'lib' / 'python3.11' / 'site-packages' / ament_layout.PTH_NAME
    assert pth.read_text() == ament_layout.PTH_LINE
    signals = prefix / 'lib' / 'python3.11' / 'site-packages' / ament_layout.SIGNALS_PTH_NAME
    assert signals.read_text() == ament_layout.SIGNALS_PTH_LINE


def test_only_the_node_executables_start_with_ctrl_c_held(tmp_path):
    """The venv's signal .pth acts in the package's executables alone (test_user_errors.py: until their handler is
    in place); any other python of the venv starts with SIGINT and SIGTERM as usual."""
    import subprocess
    import sys

    probe = 'import _signal\nprint(sorted(_signal.pthread_sigmask(_signal.SIG_BLOCK, ())))\n'
    plain = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True, timeout=60)
    assert plain.stdout.strip() == '[]', plain.stderr
    node = tmp_path / 'fusion_node'  # a script named like a node executable, without its entry point
    node.write_text(probe)
    held = subprocess.run([sys.executable, str(node)], capture_output=True, text=True, timeout=60)
    assert held.stdout.strip() == '[2, 15]', held.stderr


@pytest.mark.parametrize('before,after', [
    (None, '{prefix}'),
    ('/opt/ros/kilted', '{prefix}:/opt/ros/kilted'),
    ('{prefix}:/opt/ros/kilted', '{prefix}:/opt/ros/kilted'),
])
def test_the_venv_python_puts_the_venv_on_ament_prefix_path(before, after):
    env = {k: v for k, v in os.environ.items() if k not in ('AMENT_PREFIX_PATH', '_ROS_WHEELS_BOOTSTRAP_COMPLETE')}
    if before:
        env['AMENT_PREFIX_PATH'] = before.format(prefix=sys.prefix)
    out = subprocess.run([sys.executable, '-c', 'import os; print(os.environ["AMENT_PREFIX_PATH"])'], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == after.format(prefix=sys.prefix), out.stderr
