"""run_node: a node asked to stop while it is still starting exits cleanly, not as a start-up failure."""

import subprocess
import sys

import pytest
from harness import ros_env

_NODE_STOPPED_WHILE_STARTING = """
import os, signal, time
from rclpy.node import Node
from jdd_ros.ros.runtime import run_node

def make_node():
    os.kill(os.getpid(), signal.{sig})  # as if the user or jdd-ros launch stopped us during model loading
    time.sleep(0.5)
    return Node('slow_starter')

run_node(make_node)
"""

_NODE_FAILING_TO_START = """
from jdd_ros.ros.runtime import run_node

def make_node():
    raise FileNotFoundError('weights file /nowhere/yolo.weights does not exist')

run_node(make_node)
"""


@pytest.mark.parametrize('sig', ['SIGINT', 'SIGTERM'])
def test_stop_during_start_up_exits_with_status_0(domain_id, sig):
    out = subprocess.run([sys.executable, '-c', _NODE_STOPPED_WHILE_STARTING.format(sig=sig)], env=ros_env(domain_id),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert 'cannot start' not in out.stderr and 'Traceback' not in out.stderr, out.stderr


def test_a_real_start_up_error_is_one_line_and_status_2(domain_id):
    out = subprocess.run([sys.executable, '-c', _NODE_FAILING_TO_START], env=ros_env(domain_id),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert 'cannot start: weights file /nowhere/yolo.weights does not exist' in out.stderr
    assert 'Traceback' not in out.stderr
