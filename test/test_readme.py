"""The README is the contract with a new user: every command in it runs, its parameter table is the schema's.

Each command of the README's ``bash`` blocks is matched by exactly one entry of ``HANDLED`` (a new command without
one fails ``test_every_readme_command_is_handled_here``) and run: as written where the machine allows it (outputs
under ``out/`` go to a temporary directory instead), with ``--dry-run`` / ``--show-args`` where it needs a camera,
or skipped with the reason (``make setup`` / ``make test``: what CI runs, on a clean clone).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from harness import BIN, REPO, new_domain_id, ros_env, yolov4_tiny_files

README = (REPO / 'README.md').read_text()
ROS2 = BIN / 'ros2'


def readme_commands(text: str = README) -> list[str]:
    """The commands of the README's bash blocks: continuation lines joined, comments and blank lines dropped."""
    commands = []
    for block in re.findall(r'^```bash\n(.*?)^```', text, re.M | re.S):
        joined = re.sub(r'\\\n\s*', '', block)
        for line in joined.splitlines():
            line = line.split('  #')[0].strip()
            if line and not line.startswith('#'):
                commands.append(line)
    return commands


COMMANDS = readme_commands()
# name -> pattern; each README command must match exactly one
HANDLED = {
    'ci': r'^make (setup|test)$',
    'make test-fast': r'^make test-fast$',
    'make demo': r'^make demo$',
    'fuse': r'^\.venv/bin/jdd-ros fuse (?!.*--depth-source ground)',
    'calibrate ground': r'^\.venv/bin/jdd-ros calibrate-ground ',
    'ground fuse': r'^\.venv/bin/jdd-ros fuse .*--depth-source ground',
    'write bag': r'^\.venv/bin/jdd-ros demo --write-bag ',
    'process': r'^\.venv/bin/jdd-ros process ',
    'camera launch': r'^ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST \.venv/bin/jdd-ros launch (?!.*use_sim_time)',
    'bag launch': r'^ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST \.venv/bin/jdd-ros launch .*use_sim_time:=true',
    'replay': r'^ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST \.venv/bin/jdd-ros replay ',
    'echo': r'^ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST \.venv/bin/jdd-ros echo',
    'param set': r'^ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST \.venv/bin/jdd-ros param set ',
    'ros2 launch': r'^ros2 launch jdd_ros joint\.launch\.py',
    'ros2 param': r'^ros2 param set ',
}


def command(name: str) -> str:
    found = [c for c in COMMANDS if re.search(HANDLED[name], c)]
    assert len(found) == 1, (name, found)
    return found[0]


def _in(out_dir: Path, cmd: str) -> str:
    """The command with its outputs under ``out_dir`` instead of the checkout's out/."""
    return re.sub(r'(?<![\w/])out/', f'{out_dir}/', cmd)


def _bash(cmd: str, env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(['bash', '-c', cmd], cwd=REPO, env=env or dict(os.environ), capture_output=True, text=True,
                          **kw)


def test_every_readme_command_is_handled_here():
    for cmd in COMMANDS:
        matches = [name for name, pattern in HANDLED.items() if re.search(pattern, cmd)]
        assert len(matches) == 1, (cmd, matches)
    assert len(COMMANDS) >= 12


def test_readme_fits_in_200_lines_and_names_its_licence():
    assert len(README.splitlines()) <= 200
    licence = (REPO / 'LICENSE').read_text()
    assert licence.lstrip().startswith('Apache License\n') and 'Version 2.0, January 2004' in licence
    assert 'END OF TERMS AND CONDITIONS' in licence  # the full text, not a notice
    for link in re.findall(r'\]\(((?:docs|benchmarks|test)/[^)#]+|LICENSE)\)', README):
        assert (REPO / link).exists(), link


def test_readme_parameter_tables_match_the_schema():
    sys.path.insert(0, str(REPO / 'tools'))
    import params_table

    assert params_table.readme_with_tables(README) == README, 'run: python tools/params_table.py --write'
    doc = (REPO / 'docs' / 'parameters.md').read_text()
    assert params_table.parameters_doc_with_tables(doc) == doc, 'run: python tools/params_table.py --write'
    assert len(params_table.COMMON) == 10


def test_readme_states_the_two_setup_commands_that_ci_runs():
    assert sorted(c for c in COMMANDS if re.search(HANDLED['ci'], c)) == ['make setup', 'make test']
    assert COMMANDS[:2] == ['make setup', 'make demo']  # the demo is the first command after the set-up
    ci = (REPO / '.ci' / 'run').read_text()
    assert re.search(r'^make setup$', ci, re.M) and re.search(r'^make test$', ci, re.M)


def test_make_demo_runs_jdd_ros_demo():
    """``make demo`` runs ``jdd-ros demo`` (which test_demo.py runs from a clean directory and checks)."""
    command('make demo')
    # --no-print-directory: under 'make test' (CI) this make is a sub-make, which prints 'Entering directory' lines
    dry = _bash('make -n --no-print-directory demo', check=True).stdout.strip()
    assert dry == '.venv/bin/jdd-ros demo'


def test_make_test_fast_runs_the_fast_units():
    """``make test-fast`` as written: ruff and the units that start no process, and they pass."""
    got = _bash(command('make test-fast'), timeout=600)
    assert got.returncode == 0, got.stdout[-3000:] + got.stderr[-3000:]
    assert re.search(r'\d+ passed(, \d+ skipped)?, \d+ deselected', got.stdout), got.stdout[-2000:]


def test_every_jdd_ros_subcommand_in_the_readme_exists():
    from jdd_ros.cli import SUBCOMMANDS

    used = set(re.findall(r'jdd-ros ([a-z][a-z-]+)', README))
    assert used <= set(SUBCOMMANDS), used - set(SUBCOMMANDS)
    out = subprocess.run([sys.executable, '-m', 'jdd_ros.cli', '--help'], capture_output=True, text=True, check=True)
    for name in SUBCOMMANDS:
        assert name in out.stdout


@pytest.fixture(scope='module')
def offline_outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The offline quick-start commands, as written, in order (the bag that process reads is the one written)."""
    yolov4_tiny_files()
    out = tmp_path_factory.mktemp('readme_out')
    for name in ('fuse', 'write bag', 'process'):
        got = _bash(_in(out, command(name)), timeout=300)
        assert got.returncode == 0, (name, got.stdout, got.stderr)
    return out


def test_the_offline_quick_start_commands_run(offline_outputs):
    out = offline_outputs
    assert (out / 'fused.png').is_file() and (out / 'fused.json').is_file()
    assert (out / 'desk' / 'metadata.yaml').is_file()
    assert (out / 'desk_annotated.mp4').stat().st_size > 0
    rows = (out / 'desk_annotated.csv').read_text().splitlines()
    assert len(rows) > 1 and 'chair' in rows[1]


def test_the_floor_quick_start_calibrates_the_camera_and_gives_floor_distances():
    """Step 4: calibrate-ground prints the geometry the ground fuse command is given (rounded), and the far chair gets
    the floor's distance at its feet, within 5 % of the sensor depth there (2.23 m)."""
    import yaml

    calibrated = _bash(command('calibrate ground'), timeout=120)
    assert calibrated.returncode == 0, calibrated.stderr
    geometry = yaml.safe_load(calibrated.stdout)
    given = re.findall(r'--camera-(height|pitch|roll) ([-\d.]+)', command('ground fuse'))
    for name, value in given:
        assert geometry[f'camera_{name}'] == pytest.approx(float(value), abs=0.01 if name == 'height' else 0.1)
    fused = _bash(command('ground fuse'), timeout=300)
    assert fused.returncode == 0, fused.stderr
    distances = [float(m) for m in re.findall(r'chair .* ([\d.]+) m', fused.stdout)]
    assert len(distances) == 1 and distances[0] == pytest.approx(2.23, rel=0.05), fused.stdout


def test_the_camera_launch_command_is_valid():
    """The live-camera command needs a camera: its arguments are checked with --dry-run (what would start)."""
    got = _bash(command('camera launch') + ' --dry-run', env=ros_env(new_domain_id()))
    assert got.returncode == 0, got.stderr
    assert 'image:=/camera/color/image_raw' in got.stdout and 'depth:=/camera/aligned_depth_to_color/image_raw' in \
        got.stdout


def _start(cmd: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(['bash', '-c', cmd], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _stop(proc: subprocess.Popen) -> tuple[int, str]:
    if proc.poll() is None:  # Ctrl-C in its terminal: the whole foreground group (bash and the command) gets it
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return proc.returncode, proc.stdout.read()


def test_the_bag_quick_start_runs_the_nodes_and_max_depth_changes_what_echo_shows(offline_outputs):
    """Quick start 3's second half as a user runs it in two terminals, then quick start 2's echo and param set."""
    env = ros_env(new_domain_id())
    launch = _start(command('bag launch'), env)
    replay = _start(_in(offline_outputs, command('replay')), env)
    try:
        echo = _bash(command('echo') + ' --once --timeout 120', env=env, timeout=180)
        assert echo.returncode == 0, (echo.stderr, launch.poll(), replay.poll())
        distances = [float(m) for m in re.findall(r'\s(\d+\.\d\d) m\s', echo.stdout)]
        assert any(d > 2 for d in distances), echo.stdout  # the far chair and the bottles, before
        param = _bash(command('param set'), env=env, timeout=60)
        assert (param.returncode, param.stdout) == (0, 'Set parameter successful\n'), param
        after = _bash(command('echo') + ' --once --timeout 60', env=env, timeout=120)
        lines = after.stdout.splitlines()
        assert lines and all(float(re.search(r'\s(\d+\.\d\d) m\s', ln).group(1)) <= 2 for ln in lines), lines
    finally:
        replay_status, replay_out = _stop(replay)
        launch_status, launch_out = _stop(launch)
    assert replay_status == 0, replay_out
    assert launch_status == 0, launch_out


def test_the_ros2_commands_where_the_ros2_command_line_is_installed():
    if not ROS2.exists():
        pytest.skip(f'{ROS2} not installed (needs ../shared at make setup): the ROS 2 installation commands are '
                    'not checked here')
    env = ros_env(new_domain_id())
    env['PATH'] = f"{BIN}:{env['PATH']}"
    for cmd in (c for c in COMMANDS if re.search(HANDLED['ros2 launch'], c)):
        shown = _bash(cmd if cmd.endswith('--show-args') else cmd + ' --show-args', env=env, timeout=120)
        assert shown.returncode == 0 and "'depth_source':" in shown.stdout, (cmd, shown.stderr)
    # ros2 param set needs a running node: test_ros2_cli.py runs it against one; here its syntax is ros2 param's
    cmd = command('ros2 param')
    assert re.fullmatch(r'ros2 param set /fusion_node max_depth \d+(\.\d+)?', cmd)
    assert shutil.which('ros2', path=env['PATH'])
