"""``jdd-ros demo`` as a new user runs it after ``make setup``: the real nodes over DDS on the sample RGB-D frames.

Its printed distances are checked against the fixture's sensor depth (the median over the central half of each printed
box, computed here by harness.reference_median), the change of ``max_depth`` must show in the next frames, the
annotated images must be written, and every process it started must be gone when it exits (also after Ctrl-C).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from harness import BIN, fixture, new_domain_id, reference_median, yolov4_tiny_files

from jdd_ros.params import defaults

HEADING = re.compile(r'^frame (\d+) of (\d+) \((desk|desk mirrored)\), max_depth (.+):$')
# class, score, box, sensor distance, then the floor-geometry column where fusion_node has depth_source ground
ROW = re.compile(r'^    (.+?)\s+(\d\.\d\d)\s+\[([-\d., ]+)\]\s+(\d+\.\d\d) m(?:\s+(\d+\.\d\d|-|dropped)(?: m)?)?$')
MAX_DEPTH = 2.0


def _user_env() -> dict[str, str]:
    """A user's shell: nothing ROS exported (the demo sets its own domain, discovery range and log directory)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(('ROS_', 'FASTDDS_', 'RMW_'))}
    env['PYTHONUNBUFFERED'] = '1'
    return env


def _tables(output: str) -> list[tuple[str, str, list[tuple[str, float, tuple[float, ...], float]]]]:
    """Every full table the demo printed: (image, max_depth text, rows of class, score, box, distance)."""
    tables, current = [], None
    for line in output.splitlines():
        m = HEADING.match(line)
        if m:
            current = (m.group(3), m.group(4), [])
            tables.append(current)
            continue
        row = ROW.match(line)
        if row and current is not None:
            box = tuple(float(v) for v in row.group(3).split(','))
            floor = row.group(5)
            floor = float(floor) if floor and floor[0].isdigit() else floor
            current[2].append((row.group(1), float(row.group(2)), box, float(row.group(4)), floor))
        elif not line.startswith('    '):
            current = None
    return tables


def _started_pids(workdir: Path) -> list[int]:
    text = (workdir / 'nodes.log').read_text()
    return [int(p) for p in re.findall(r'started \S+ \(pid (\d+)\)', text)]


def _gone(pid: int) -> bool:
    try:
        state = Path(f'/proc/{pid}/stat').read_text().split(')')[-1].split()[0]
    except FileNotFoundError:
        return True
    return state == 'Z'


@pytest.fixture(scope='module')
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path, int]:
    yolov4_tiny_files()  # skips, saying so, without the model make setup fetches
    cwd = tmp_path_factory.mktemp('demo_user')
    domain = new_domain_id()
    proc = subprocess.run([str(BIN / 'jdd-ros'), 'demo', '--domain-id', str(domain), '--max-depth', str(MAX_DEPTH),
                           '--keep-logs'], cwd=cwd, env=_user_env(), capture_output=True, text=True, timeout=400)
    return proc, cwd, domain


def test_demo_prints_each_object_with_the_sensor_distance_of_its_box(demo_run):
    proc, _, domain = demo_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'Traceback' not in proc.stdout + proc.stderr, proc.stderr
    assert f'ROS_DOMAIN_ID={domain}' in proc.stdout and 'ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST' in proc.stdout
    depth_mm = cv2.imread(str(fixture('tum_desk_depth_mm.png')), cv2.IMREAD_UNCHANGED)
    depth = {'desk': depth_mm, 'desk mirrored': np.ascontiguousarray(depth_mm[:, ::-1])}
    fraction = defaults('fusion_node')['box_fraction']
    tables = _tables(proc.stdout)
    assert {t[0] for t in tables} == {'desk', 'desk mirrored'}, proc.stdout
    checked = 0
    for image, _, rows in tables:
        for class_name, _, box, distance, _ in rows:
            # boxes are printed to 0.1 px: the reference region may differ by a pixel column at an edge
            expected = reference_median(depth[image], box, fraction, scale=0.001)
            assert distance == pytest.approx(expected, abs=0.015), (image, class_name, box, distance, expected)
            checked += 1
    assert checked >= 12
    first_desk = next(rows for image, _, rows in tables if image == 'desk')
    chairs = sorted(d for c, _, _, d, _ in first_desk if c == 'chair')
    assert len(chairs) == 2 and chairs[0] < MAX_DEPTH < chairs[1], first_desk  # the sample's near and far chair


def test_demo_sets_max_depth_through_the_parameter_service_and_the_far_chair_disappears(demo_run):
    proc, _, _ = demo_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    before, _, after = proc.stdout.partition(f'$ ros2 param set /fusion_node max_depth {MAX_DEPTH:g}')
    assert after.splitlines()[1] == 'Set parameter successful', after[:300]
    tables_before, tables_after = _tables(before), _tables(after)
    assert tables_before and all(limit == 'no limit' for _, limit, _ in tables_before)
    assert tables_after and all(limit == f'{MAX_DEPTH:g} m' for _, limit, _ in tables_after)
    for image in ('desk', 'desk mirrored'):
        was = next(rows for name, _, rows in tables_before if name == image)
        now = next(rows for name, _, rows in tables_after if name == image)
        assert any(r[3] > MAX_DEPTH for r in was)
        assert now and all(r[3] <= MAX_DEPTH for r in now), now
        assert [r[:4] for r in was if r[3] <= MAX_DEPTH] == [r[:4] for r in now]  # the near objects stay, unchanged
    assert re.search(r'gone \(sensor depth\), beyond max_depth 2 m: .*chair 2\.2\d m', after)


def test_demo_writes_the_annotated_images_and_stops_every_process(demo_run):
    proc, cwd, _ = demo_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = re.findall(r'^annotated image written: (.+)$', proc.stdout, re.M)
    assert [Path(p).name for p in written] == ['demo_before.png', 'demo_after.png']
    before, after = (cv2.imread(str(cwd / p)) for p in written)
    assert before.shape == after.shape == (480, 640, 3)
    assert np.abs(before.astype(int) - after.astype(int)).sum(axis=2).astype(bool).mean() > 0.01  # labels changed
    assert 'all nodes stopped' in proc.stdout
    workdir = Path(re.search(r'logs in (\S+)', proc.stdout).group(1))
    pids = _started_pids(workdir)
    assert pids and all(_gone(p) for p in pids), pids
    assert (workdir / 'ros_log').is_dir()  # the nodes' ROS logs went to the demo's own directory
    shutil.rmtree(workdir)


@pytest.mark.parametrize('when', ['  processes:', 'frame 1 of'], ids=['while the nodes start', 'while playing'])
def test_ctrl_c_stops_the_demo_and_its_nodes(when):
    yolov4_tiny_files()
    proc = subprocess.Popen([str(BIN / 'jdd-ros'), 'demo', '--domain-id', str(new_domain_id()), '--keep-logs'],
                            env=_user_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith(when):
                break
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = ''.join(lines) + out
    assert proc.returncode == 130, text
    assert 'Traceback' not in text and 'all nodes stopped' in text, text
    workdir = Path(re.search(r'logs in (\S+)', text).group(1))
    pids = _started_pids(workdir)
    deadline = time.monotonic() + 5
    while not all(_gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pids and all(_gone(p) for p in pids)
    shutil.rmtree(workdir)


def test_demo_help_runs_without_ros():
    out = subprocess.run([sys.executable, '-m', 'jdd_ros.cli', 'demo', '--help'], capture_output=True, text=True,
                         check=True).stdout
    assert '--max-depth' in out


def test_the_sample_is_installed_with_the_package():
    """The demo reads the sample from the installed package (share/jdd_ros/sample, setup.py data_files), not from
    the checkout's test/fixtures: the same bytes."""
    from jdd_ros.apps.demo import SAMPLE_FILES, sample_file

    for name in SAMPLE_FILES:
        path = sample_file(name)
        assert path.parent.parts[-2:] == ('jdd_ros', 'sample') and 'test' not in path.parent.parts[-3:], path
        assert path.read_bytes() == fixture(name).read_bytes()


def test_the_floor_geometry_column_agrees_with_the_sensor_where_it_gives_a_distance(demo_run):
    """Where fusion_node has depth_source ground, a second fusion node gives each floor-standing object's distance
    from the camera's height and angles (calibrated from the sample's depth): the far chair's agrees with its sensor
    depth; the near chair, cut by the image's bottom edge, and the table-top objects get none."""
    from jdd_ros.apps.demo import ground_supported

    proc, _, _ = demo_run
    if not ground_supported():
        pytest.skip("this fusion_node has no depth_source 'ground': the demo shows the sensor column only")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'ground_fusion_node: depth_source ground, camera_height' in proc.stdout
    before = _tables(proc.stdout.partition('$ ros2 param set')[0])
    for image, _, rows in before:
        floor = {(c, round(d, 2)): f for c, _, _, d, f in rows}
        far_chair = next(f for (c, d), f in floor.items() if c == 'chair' and d > MAX_DEPTH)
        near_chair = next(f for (c, d), f in floor.items() if c == 'chair' and d < MAX_DEPTH)
        sensor = next(d for (c, d) in floor if c == 'chair' and d > MAX_DEPTH)
        assert far_chair == pytest.approx(sensor, rel=0.05), (image, rows)
        assert near_chair == '-' and all(f == '-' for (c, _), f in floor.items() if c in ('bottle', 'book'))
