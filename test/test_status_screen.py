"""The text of ``jdd-ros status`` from statuses, without ROS: the table, STALE, the width limit, the details, and the
conversion of a received diagnostic_msgs/DiagnosticStatus."""

from __future__ import annotations

import pytest

from jdd_ros.apps.status_screen import details, level_of, screen, table
from jdd_ros.core.health import (
    ERROR,
    INPUT_RATE,
    LATENCY_P50,
    LATENCY_P95,
    LOST,
    OK,
    PUBLISHED_RATE,
    REFUSED,
    SKIPPED,
    STALE,
    STALE_AFTER_S,
    WARN,
    NodeStatus,
)


def status(name, level=OK, message='10.0 input frames/s, 9.8 published/s', received=100.0, **values):
    base = {INPUT_RATE: '10.0', PUBLISHED_RATE: '9.8', LATENCY_P50: '61.2', LATENCY_P95: '88.0', SKIPPED: '3',
            LOST: '0', REFUSED: '1', 'backend': 'onnxruntime'}
    return NodeStatus(name=name, level=level, message=message, hardware_id='yolov4-tiny', values={**base, **values},
                      received=received)


STATUSES = [status('depth_node'), status('detector_node', WARN, "no input on '/image' for 6 s"),
            status('cam/fusion_node', ERROR, 'incompatible QoS', **{INPUT_RATE: 'n/a', SKIPPED: ''})]


def test_one_row_per_node_with_the_columns():
    lines = table(STATUSES, now=100.5)
    assert lines[0].split() == ['LEVEL', 'NODE', 'IN/s', 'OUT/s', 'P50ms', 'P95ms', 'SKIP', 'LOST', 'REFUSED',
                                'MESSAGE']
    assert lines[1].split() == ['OK', 'depth_node', '10.0', '9.8', '61.2', '88.0', '3', '0', '1', '10.0', 'input',
                                'frames/s,', '9.8', 'published/s']
    assert lines[2].startswith('WARN   detector_node') and lines[2].endswith("no input on '/image' for 6 s")
    assert lines[3].split()[:4] == ['ERROR', 'cam/fusion_node', '-', '9.8']  # n/a and absent values show as '-'
    column = lines[0].index('MESSAGE')  # the columns line up: every message starts under its heading
    assert [line[column:] for line in lines[1:]] == [s.message for s in STATUSES]
    rate_end = lines[0].index('IN/s') + len('IN/s')  # numbers are right-aligned under theirs
    assert lines[1][:rate_end].endswith(' 10.0') and lines[3][:rate_end].endswith(' -')


def test_a_status_not_renewed_is_stale():
    old = status('depth_node', received=100.0)
    assert level_of(old, 100.0 + STALE_AFTER_S) == OK
    assert level_of(old, 100.0 + STALE_AFTER_S + 0.1) == STALE
    [_, row] = table([old], now=110.0)
    assert row.startswith('STALE') and 'no status for 10 s (last: 10.0 input frames/s' in row


def test_lines_fit_the_width_and_details_list_every_value():
    lines = screen(STATUSES, 100.5, title='jdd-ros status', width=60, verbose=True)
    assert all(len(line) <= 60 for line in lines)
    assert any(line.endswith('...') for line in lines)
    full = details(STATUSES, 100.5)
    assert full[0] == 'depth_node [OK] yolov4-tiny'
    assert '  backend              onnxruntime' in full
    assert screen(STATUSES, 100.5, title='t', width=None)[2:] == table(STATUSES, 100.5)


def test_no_status_says_what_to_check():
    lines = screen([], 0.0, title='jdd-ros status')
    assert 'no jdd_ros status on /diagnostics yet' in lines[-1] and 'ROS_DOMAIN_ID' in lines[-1]


def test_a_received_diagnostic_status_becomes_a_node_status():
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

    from jdd_ros.ros.status_monitor import node_status

    msg = DiagnosticStatus(level=DiagnosticStatus.WARN, name='depth_node', message='m', hardware_id='depth.pt',
                           values=[KeyValue(key=INPUT_RATE, value='4.0')])
    s = node_status(msg, received=5.0)
    assert (s.name, s.level, s.message, s.hardware_id, dict(s.values), s.received) == \
        ('depth_node', WARN, 'm', 'depth.pt', {INPUT_RATE: '4.0'}, 5.0)


@pytest.mark.parametrize('argv', [['--period', '0'], ['--wait', '-1'], ['--period', 'fast']])
def test_bad_arguments_are_refused(argv, capsys):
    from jdd_ros.cli import main

    assert main(['status', *argv]) == 2
    assert 'jdd-ros status' in capsys.readouterr().err


def test_fusion_nodes_tracked_objects_are_shown_under_the_table():
    from jdd_ros.core.health import TRACKED_OBJECTS

    fusion = status('fusion_node', **{TRACKED_OBJECTS: '#3 chair 1.75 m TTC 4.1 s; #5 bottle 2.10 m'})
    lines = screen([status('depth_node'), fusion], 100.5, title='jdd-ros status')
    assert lines[-1] == 'fusion_node objects: #3 chair 1.75 m TTC 4.1 s; #5 bottle 2.10 m'
    assert not any('objects:' in line for line in screen(STATUSES, 100.5, title='t'))  # no tracks: no line
