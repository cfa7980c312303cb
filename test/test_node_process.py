"""run_node: a node asked to stop while it is still starting exits cleanly, not as a start-up failure."""

import subprocess
import sys

import pytest
from harness import ros_env

_NODE_STOPPED_WHILE_STARTING = """
import os, signal, time
from rclpy.node import Node
from jdd_ros.ros.node_process import run_node

def make_node():
    os.kill(os.getpid(), signal.{sig})  # as if the user or jdd-ros launch stopped us during model loading
    time.sleep(0.5)
    return Node('slow_starter')

run_node(make_node)
"""

# The second signal lands while the first handler is still setting the stop request: 'jdd-ros launch' SIGKILLed sends
# its children the parent-death SIGTERM, and a terminal's Ctrl-C reaches them a moment later. With threading.Event
# (its set() takes a lock) a pipeline hung for good in three nested handlers; core.stop_flag takes none.
_NODE_SIGNALLED_WHILE_HANDLING = """
import os, signal, time
from rclpy.node import Node
from jdd_ros.core import stop_flag
from jdd_ros.ros.node_process import run_node

plain_set, raised = stop_flag.StopFlag.set, []

def set_during_a_second_signal(self):
    if not raised:
        raised.append(True)
        signal.raise_signal(signal.SIGINT)  # handled at once, inside this handler
    plain_set(self)

stop_flag.StopFlag.set = set_during_a_second_signal

def make_node():
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.5)
    return Node('signalled_twice')

run_node(make_node)
"""

_NODE_FAILING_TO_START = """
from jdd_ros.ros.node_process import run_node

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


def test_a_second_signal_inside_the_first_handler_still_stops_the_node(domain_id):
    out = subprocess.run([sys.executable, '-c', _NODE_SIGNALLED_WHILE_HANDLING], env=ros_env(domain_id),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert 'stopped while starting' in out.stderr and 'Traceback' not in out.stderr, out.stderr


def test_a_real_start_up_error_is_one_line_and_status_2(domain_id):
    out = subprocess.run([sys.executable, '-c', _NODE_FAILING_TO_START], env=ros_env(domain_id),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert 'cannot start: weights file /nowhere/yolo.weights does not exist' in out.stderr
    assert 'Traceback' not in out.stderr


@pytest.mark.parametrize('executable', ['fusion_node', 'pipeline'])
def test_a_stopped_node_leaves_no_shared_memory_behind(domain_id, executable):
    """Each jdd_ros process maps a 32 MiB Fast DDS segment; a node that stops (Ctrl-C) must delete its participant,
    so that the segment goes with it: otherwise every start of a node leaves 33.5 MiB in /dev/shm until reboot."""
    import re
    import signal
    from pathlib import Path

    from harness import NodeProcess

    args = ['--without-depth'] if executable == 'pipeline' else []
    with NodeProcess(executable, domain_id, args=args) as node:
        node.wait_for_output('fusion_node ready', timeout=60)
        maps = Path(f'/proc/{node.proc.pid}/maps').read_text()
        segments = sorted(set(re.findall(r'(/dev/shm/fastdds_\w+)', maps)))
        assert segments, 'the node maps no Fast DDS segment: the check below would prove nothing'
        node.proc.send_signal(signal.SIGINT)
        assert node.proc.wait(30) == 0, node.output
    left = [s for s in segments if Path(s).exists()]
    assert not left, f'shared memory left behind by a stopped {executable}: {left}'
