"""``jdd-ros param`` and ``jdd-ros echo`` against a running fusion_node over real DDS.

``jdd-ros param`` must behave as ``ros2 param`` does: the same lines, on the same stream, with the same exit status,
for the same typed input (an integer for a double, a word for a double, a value out of range, a node that is not
there). Where the real ROS 2 command line is installed (.venv/bin/ros2, with ../shared) each case is also run through
``ros2 param`` and the two must agree exactly; without it those comparisons skip, saying so.
"""

from __future__ import annotations

import csv
import io
import subprocess
import time

import cv2
import numpy as np
import pytest
from harness import BIN, NodeProcess, RosPeer, fixture, new_domain_id, reference_median, ros_env
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

FRAME = 'camera_color_optical_frame'
# Boxes on real objects of the TUM desk frame (x1, y1, x2, y2), placed by looking at the picture.
OBJECTS = [('chair', 0.91, (5, 255, 240, 475)), ('bottle', 0.55, (285, 22, 312, 105))]
ROS2 = BIN / 'ros2'


@pytest.fixture(scope='module')
def fusion():
    domain = new_domain_id()
    node = NodeProcess('fusion_node', domain, params={'max_depth': 3}).start()
    node.wait_for_output(r'fusion_node ready')
    yield node, domain
    assert node.stop() == 0, node.output
    if ROS2.exists():  # the daemon the real ros2 param starts (as for a user) would outlive the tests
        _run([str(ROS2), 'daemon', 'stop'], domain)


def _run(cmd: list[str], domain: int) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=ros_env(domain), capture_output=True, text=True, timeout=60)


def _param(domain: int, *args: str) -> subprocess.CompletedProcess:
    return _run([str(BIN / 'jdd-ros'), 'param', *args], domain)


def _ros2_param(domain: int, *args: str) -> subprocess.CompletedProcess:
    """The real ``ros2 param`` with the same arguments (its node wait made as long as ours)."""
    return _run([str(ROS2), 'param', *args] + (['--timeout', '5'] if args[0] != 'list' else []), domain)


def _same_as_ros2(domain: int, got: subprocess.CompletedProcess, *args: str) -> None:
    real = _ros2_param(domain, *args)
    assert (got.stdout, got.stderr.strip(), got.returncode) == (real.stdout, real.stderr.strip(), real.returncode), \
        args


def _needs_ros2() -> None:
    if not ROS2.exists():
        pytest.skip(f'{ROS2} not installed (make setup installs it where ../shared is present): the comparison with '
                    'the real ros2 param is not made')


CASES = [
    # (arguments, expected stdout, expected stderr, exit status)
    (('get', '/fusion_node', 'max_depth'), 'Double value is: 3.0\n', '', 0),
    (('set', '/fusion_node', 'max_depth', '2'), 'Set parameter successful\n', '', 0),  # integer for a double
    (('get', 'fusion_node', 'max_depth'), 'Double value is: 2.0\n', '', 0),
    (('set', '/fusion_node', 'max_depth', 'far'), '',
     "Setting parameter failed: max_depth must be of type float, got str 'far'", 0),
    (('set', '/fusion_node', 'max_depth', '-1'), '',
     'Setting parameter failed: Parameter max_depth out of range Min: 0.0, Max: 1000.0, value: -1.0', 0),
    (('set', '/fusion_node', 'depth_statistic', 'mean'), '', 'Setting parameter failed: ', 0),
    (('set', '/fusion_node', 'max_depth', '2.5'), 'Set parameter successful\n', '', 0),
    (('get', '/fusion_node', 'depth_statistic'), "String value is: median\n", '', 0),
    (('get', '/no_such_node', 'max_depth'), '', 'Node not found', 1),
]


def _session(domain: int, compare: bool) -> None:
    for args, stdout, stderr, status in CASES:
        got = _param(domain, *args)
        assert (got.returncode, got.stdout) == (status, stdout), (args, got)
        assert got.stderr.strip().startswith(stderr) and (stderr or not got.stderr.strip()), (args, got.stderr)
        if compare:
            _same_as_ros2(domain, got, *args)


def test_jdd_ros_param_answers_as_ros2_param_does(fusion):
    """A user's session, in order (each set changes what the next get reads)."""
    _session(fusion[1], compare=False)


def test_jdd_ros_param_gives_what_the_real_ros2_param_gives(fusion):
    """The same session again, each step also through ros2 param (a set is sent again with the same value): the
    same stdout, stderr and exit status."""
    _needs_ros2()
    assert _param(fusion[1], 'set', '/fusion_node', 'max_depth', '3').returncode == 0  # where the session starts
    _session(fusion[1], compare=True)


def test_a_refused_value_names_the_choices_and_leaves_the_value(fusion):
    _, domain = fusion
    got = _param(domain, 'set', '/fusion_node', 'depth_statistic', 'mean')
    assert 'center' in got.stderr and 'median' in got.stderr and 'percentile' in got.stderr, got.stderr
    assert _param(domain, 'get', '/fusion_node', 'depth_statistic').stdout == 'String value is: median\n'


def test_jdd_ros_param_list_and_describe_as_ros2_param(fusion):
    _, domain = fusion
    listed = _param(domain, 'list', '/fusion_node')
    assert listed.returncode == 0, listed
    names = [line.strip() for line in listed.stdout.splitlines()]
    assert names == sorted(names) and {'max_depth', 'min_depth', 'depth_statistic', 'use_sim_time'} <= set(names)
    assert all(line.startswith('  ') for line in listed.stdout.splitlines())
    described = _param(domain, 'describe', '/fusion_node', 'max_depth', 'depth_statistic')
    assert described.returncode == 0, described
    assert described.stdout.startswith('Parameter name: max_depth\n  Type: double\n  Description: Detections farther')
    assert '    Min value: 0.0\n    Max value: 1000.0\n' in described.stdout
    assert 'Parameter name: depth_statistic\n  Type: string\n' in described.stdout
    everything = _param(domain, 'list')
    assert everything.stdout.startswith('/fusion_node:\n  ') and '_jdd_ros' not in everything.stdout
    if ROS2.exists():  # and the same as the real ros2 param (the test above skips, saying so, without it)
        _same_as_ros2(domain, listed, 'list', '/fusion_node')
        _same_as_ros2(domain, described, 'describe', '/fusion_node', 'max_depth', 'depth_statistic')


def test_jdd_ros_param_usage_errors_exit_2():
    got = subprocess.run([str(BIN / 'jdd-ros'), 'param', 'set', '/fusion_node', 'max_depth'], capture_output=True,
                         text=True, timeout=30)
    assert got.returncode == 2 and got.stderr.strip() == 'jdd-ros param set NODE NAME VALUE: wrong number of arguments'


def _header(sec: int) -> Header:
    h = Header(frame_id=FRAME)
    h.stamp.sec = sec
    return h


def _detections(h: Header) -> Detection2DArray:
    out = Detection2DArray(header=h)
    for i, (name, score, (x1, y1, x2, y2)) in enumerate(OBJECTS):
        d = Detection2D(header=h, id=f'obj{i}')
        d.bbox.center.position.x, d.bbox.center.position.y = (x1 + x2) / 2, (y1 + y2) / 2
        d.bbox.size_x, d.bbox.size_y = float(x2 - x1), float(y2 - y1)
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id, hyp.hypothesis.score = name, score
        d.results.append(hyp)
        out.detections.append(d)
    return out


def _echo(fusion, *args: str) -> str:
    """jdd-ros echo ARGS --once while frames are published into fusion_node; its stdout."""
    node, domain = fusion
    mm = cv2.imread(str(fixture('tum_desk_depth_mm.png')), cv2.IMREAD_UNCHANGED)
    echo = subprocess.Popen([str(BIN / 'jdd-ros'), 'echo', *args, '--once', '--timeout', '60'], env=ros_env(domain),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peer = RosPeer(domain, 'echo_test_camera')
    try:
        depth_pub = peer.publisher(Image, '/depth')
        det_pub = peer.publisher(Detection2DArray, '/detections')
        peer.wait_for_subscribers(depth_pub)
        peer.wait_for_subscribers(det_pub)
        node.wait_for_matched('/detections')
        sec = 100
        while echo.poll() is None and sec < 200:  # until echo has matched and printed one message
            h = _header(sec)
            depth_pub.publish(Image(header=h, height=480, width=640, encoding='16UC1', step=1280, data=mm.tobytes()))
            det_pub.publish(_detections(h))
            sec += 1
            time.sleep(0.3)
        out, err = echo.communicate(timeout=30)
    finally:
        if echo.poll() is None:
            echo.kill()
            echo.wait()
        peer.close()
    assert echo.returncode == 0, err
    return out


def _expected() -> dict[str, float]:
    mm = cv2.imread(str(fixture('tum_desk_depth_mm.png')), cv2.IMREAD_UNCHANGED)
    return {name: reference_median(mm, box, 0.5, scale=0.001) for name, _, box in OBJECTS}


def test_echo_prints_one_line_per_detection_with_its_distance(fusion):
    _param(fusion[1], 'set', '/fusion_node', 'max_depth', '0')
    lines = _echo(fusion).splitlines()
    assert len(lines) == 2, lines
    expected = _expected()
    for line, (name, score, _) in zip(sorted(lines, key=lambda s: s.split()[1]), sorted(OBJECTS)):
        stamp, cls, got_score, distance, unit, id_word, ident = line.split()
        assert (cls, float(got_score), unit, id_word) == (name, score, 'm', 'id')
        assert float(distance) == pytest.approx(expected[name], abs=0.005)
        assert ident.isdigit() and stamp.endswith('.000000000')  # fusion_node's track ID (docs/tracking.md)
    assert len({line.split()[-1] for line in lines}) == 2


def test_echo_csv_and_the_max_depth_filter(fusion):
    _param(fusion[1], 'set', '/fusion_node', 'max_depth', '2')  # the bottle (2.4 m) is dropped, the chair stays
    rows = list(csv.DictReader(io.StringIO(_echo(fusion, '/detections_with_depth', '--csv'))))
    expected = _expected()
    assert expected['bottle'] > 2 > expected['chair']
    assert [r['class'] for r in rows] == ['chair']
    assert float(rows[0]['distance_m']) == pytest.approx(expected['chair'], abs=0.0005)
    assert rows[0]['id'].isdigit() and rows[0]['frame_id'] == FRAME
    assert np.allclose([float(rows[0][k]) for k in ('x1', 'y1', 'x2', 'y2')], OBJECTS[0][2])


def test_echo_refuses_a_topic_of_another_type(fusion):
    _, domain = fusion
    got = _run([str(BIN / 'jdd-ros'), 'echo', '/depth', '--once', '--timeout', '5'], domain)
    assert got.returncode == 2 and 'sensor_msgs/msg/Image' in got.stderr, got
