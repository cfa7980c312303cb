"""The live pipeline (depth_node, detector_node, fusion_node in their own processes, fed camera frames over real DDS)
on /diagnostics and in ``jdd-ros status``: every node's status with its keys, WARN when the camera stops and OK when
it returns, and the status screen in a pseudo-terminal (refreshing, Ctrl-C) and with --once."""

from __future__ import annotations

import fcntl
import os
import re
import select
import shutil
import struct
import subprocess
import termios
import threading
import time

import pytest
from depth_helpers import plumbing_checkpoint, sample_image
from diag_helpers import COMMON_KEYS, Statuses, describe, level, values
from harness import BIN, REPO, NodeProcess, new_domain_id, ros_env, yolov4_tiny_files

from jdd_ros.apps.node_supervisor import describe_status
from jdd_ros.core.health import OK, WARN
from jdd_ros.inference.backends import resolve_backend
from jdd_ros.inference.hashing import sha256_of
from jdd_ros.io.image_codec import fill_image
from jdd_ros.params import SCHEMA

pytestmark = pytest.mark.timeout(420)

NS = '/pipe'
NODES = ('pipe/depth_node', 'pipe/detector_node', 'pipe/fusion_node')
FEED_HZ = 2.0
ANSI = re.compile(r'\x1b\[[0-9;?]*[A-Za-z]')


class Camera:
    """Publishes a small rgb8 frame stamped with the current time at FEED_HZ while switched on."""

    def __init__(self, peer):
        from sensor_msgs.msg import Image

        self.peer = peer
        self.pub = peer.publisher(Image, f'{NS}/image')
        self.frame = fill_image(Image(), sample_image(120, 160), 'rgb8')
        self.frame.header.frame_id = 'camera_optical'
        self.on = threading.Event()
        self.on.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.peer.wait_for_subscribers(self.pub)  # detector_node's: depth_node infers the frames it receives
        self._thread.start()

    def _run(self):
        while not self._stop.wait(1.0 / FEED_HZ):
            if self.on.is_set():
                self.frame.header.stamp = self.peer.node.get_clock().now().to_msg()
                self.pub.publish(self.frame)

    def stop(self):
        self._stop.set()
        self._thread.join(5)


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return plumbing_checkpoint(tmp_path_factory.mktemp('pipeline') / 'depth.pt', input_size=(64, 96))


@pytest.fixture(scope='module')
def pipeline(domain_id, checkpoint):
    remap = {'__ns': NS}
    reliable = {'reliability': 'reliable'}
    procs = [NodeProcess('depth_node', domain_id, params={'checkpoint': str(checkpoint), **reliable}, remap=remap),
             NodeProcess('detector_node', domain_id, params={**yolov4_tiny_files(), **reliable}, remap=remap,
                         OMP_NUM_THREADS='1'),
             NodeProcess('fusion_node', domain_id, params=reliable, remap=remap)]
    for proc in procs:
        proc.start()
    try:
        procs[0].wait_for_output('subscribed to', timeout=90)
        procs[1].wait_for_output('waiting for images', timeout=180)
        procs[2].wait_for_output('fusion_node ready', timeout=60)
        yield dict(zip(NODES, procs))
        for proc in procs:
            assert proc.proc.poll() is None, f'{proc.cmd[0]} died:\n{proc.output}'
    finally:
        for proc in procs:
            proc.stop()


@pytest.fixture(scope='module')
def statuses(ros_peer):
    return Statuses(ros_peer)


@pytest.fixture(scope='module')
def camera(pipeline, ros_peer):
    cam = Camera(ros_peer)
    cam.start()
    yield cam
    cam.stop()


def fed_and_ok(s):
    v = values(s)
    return level(s) == OK and 'input frames/s' in s.message and v.get('frames inferred', v.get('pairs fused')) != '0'


def wait_all(statuses, predicate, since=0, timeout=60.0):
    return {name: statuses.wait(name, predicate, since=since, timeout=timeout)[1] for name in NODES}


def test_every_node_reports_its_status_with_the_keys(camera, statuses, checkpoint):
    got = wait_all(statuses, fed_and_ok)
    for s in got.values():
        assert set(COMMON_KEYS) <= set(values(s)), describe(s)
    depth, detector = values(got['pipe/depth_node']), values(got['pipe/detector_node'])
    for v in (depth, detector):
        for key in ('frames received', 'frames inferred', 'frames skipped', 'frames refused', 'inference failures',
                    'backend', 'device', 'model', 'model sha256'):
            assert key in v, key
        auto = resolve_backend('auto', 'cpu').backend  # what the nodes' default runs on this machine
        assert (v['input topic'], v['backend'], v['device']) == (f'{NS}/image', auto, 'cpu')
        assert float(v['input rate (Hz)']) > 0 and float(v['published rate (Hz)']) > 0
        assert 0 <= float(v['latency p50 (ms)']) <= float(v['latency p95 (ms)'])
    assert got['pipe/depth_node'].hardware_id == depth['model'] == 'depth.pt'
    assert depth['model sha256'] == sha256_of(checkpoint)[:16] and depth['max_depth'] == '0.0'
    weights = yolov4_tiny_files()['weights']
    assert got['pipe/detector_node'].hardware_id == detector['model'] == 'yolov4-tiny.weights'
    assert detector['model sha256'] == sha256_of(weights)[:16]
    assert (detector['confidence_threshold'], detector['nms_threshold'], detector['classes']) == ('0.25', '0.45', '[]')
    assert int(values(got['pipe/fusion_node'])['pairs fused']) > 0  # the two nodes' outputs were joined
    # docs/diagnostics.md documents every key (run-time parameters as a group: their own table is the schema's).
    readme = (REPO / 'docs' / 'diagnostics.md').read_text()
    keys_doc = readme[readme.index('**Keys**'):readme.index('**RViz markers.**')]
    parameters = {spec.name for specs in SCHEMA.values() for spec in specs if spec.dynamic}
    undocumented = {k for s in got.values() for k in values(s) if k not in parameters and f'`{k}`' not in keys_doc}
    assert not undocumented, undocumented


def test_the_camera_stopping_warns_every_node_and_its_return_clears_it(camera, statuses, pipeline):
    wait_all(statuses, fed_and_ok)
    starved = {'pipe/depth_node': [f'{NS}/image'], 'pipe/detector_node': [f'{NS}/image'],
               'pipe/fusion_node': [f'{NS}/depth', f'{NS}/detections']}  # each one silent 5 s after the last frame
    camera.on.clear()
    try:
        mark = statuses.mark()
        for name, topics in starved.items():
            statuses.wait(name, lambda s, t=topics: level(s) == WARN and all(f"no input on '{x}' for " in s.message
                                                                             for x in t), since=mark)
    finally:
        camera.on.set()
    mark = statuses.mark()
    wait_all(statuses, fed_and_ok, since=mark)
    # The nodes' own log lines are still there.
    pipeline['pipe/depth_node'].wait_for_output(r'\d+ frames received, \d+ inferred')


def status_env(domain_id):
    env = ros_env(domain_id)
    for name in ('COLUMNS', 'LINES'):
        env.pop(name, None)
    return env


def read_until(fd, predicate, timeout):
    """Read the pseudo-terminal until ``predicate(text)`` holds for the text read so far; returns that text."""
    text, deadline = '', time.monotonic() + timeout
    while not predicate(text):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f'the screen never showed what was expected; it showed:\n{ANSI.sub("", text)[-3000:]}')
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if ready:
            try:
                text += os.read(fd, 65536).decode(errors='replace')
            except OSError:  # EIO: the child closed the terminal (it ended)
                break
    return text


def read_screen_until(fd, proc, predicate, timeout):
    """``read_until`` for a program that must keep running: its end is reported with its exit status and what it
    showed."""
    text = read_until(fd, predicate, timeout)
    if not predicate(text):
        raise AssertionError(f'jdd-ros status ended early ({describe_status(proc.wait(10))}); it showed:\n'
                             f'{ANSI.sub("", text)[-3000:]}')
    return text


def start_in_terminal(argv, env, rows=40, columns=150):
    """``argv`` on a new pseudo-terminal that is its controlling terminal, as a login over SSH runs it: (process,
    the terminal's master side). Started by subprocess, which forks and execs in C, then util-linux ``setsid --ctty``:
    a forked copy of this multi-threaded test process that ran Python before its exec (pty.fork) was seen dying of
    SIGSEGV, under load, before the program started."""
    setsid = shutil.which('setsid')
    if setsid is None:
        pytest.skip('setsid (util-linux) is not installed')
    master, slave = os.openpty()
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack('HHHH', rows, columns, 0, 0))
    try:
        proc = subprocess.Popen([setsid, '--ctty', *argv], stdin=slave, stdout=slave, stderr=slave, env=env)
    finally:
        os.close(slave)
    return proc, master


def last_screen(text):
    """The last complete screen: between the last two cursor-home codes."""
    frames = text.split('\x1b[H')
    return ANSI.sub('', frames[-2] if len(frames) > 2 else frames[-1]).replace('\r', '')


def all_rows_ok(text):
    screen = last_screen(text)
    return all(re.search(rf'^OK +{re.escape(name)} ', screen, re.M) for name in NODES)


def test_status_screen_in_a_terminal_shows_the_live_pipeline(camera, statuses, domain_id):
    wait_all(statuses, fed_and_ok)
    proc, fd = start_in_terminal([str(BIN / 'jdd-ros'), 'status'], status_env(domain_id))
    try:
        text = read_screen_until(fd, proc, all_rows_ok, timeout=60)
        screen = last_screen(text)
        assert screen.startswith('jdd-ros status ') and '3 node(s) on /diagnostics' in screen, screen
        assert all(len(line) <= 150 for line in screen.splitlines()), screen
        assert re.search(r'^LEVEL +NODE +IN/s +OUT/s +P50ms +P95ms +SKIP +LOST +REFUSED +MESSAGE$', screen, re.M)
        refreshed = read_screen_until(fd, proc, lambda t: t.count('\x1b[H') >= 2, timeout=10)  # it keeps redrawing
        assert all_rows_ok(text + refreshed)
        os.write(fd, b'\x03')  # Ctrl-C, through the terminal
        rest = read_until(fd, lambda t: False, timeout=15)
        assert proc.wait(10) == 0, (describe_status(proc.returncode), ANSI.sub('', rest))
        assert 'Traceback' not in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(fd)


def test_status_once_prints_one_snapshot_for_scripts(camera, statuses, domain_id):
    wait_all(statuses, fed_and_ok)
    out = subprocess.run([str(BIN / 'jdd-ros'), 'status', '--once', '--verbose', '--wait', '60', '--expect',
                          ','.join(NODES)], env=status_env(domain_id), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert '\x1b' not in out.stdout  # not a terminal: plain lines
    for name in NODES:
        assert re.search(rf'^(OK|WARN) +{re.escape(name)} ', out.stdout, re.M), out.stdout
        assert re.search(rf'^{re.escape(name)} \[(OK|WARN)\] ', out.stdout, re.M)  # the details
    assert re.search(r'^  model sha256 +[0-9a-f]{16}$', out.stdout, re.M)

    other_domain = next(d for d in iter(new_domain_id, None) if d != domain_id)  # where no node runs
    empty = subprocess.run([str(BIN / 'jdd-ros'), 'status', '--once', '--wait', '1.5', '--expect', 'depth_node'],
                           env=status_env(other_domain), capture_output=True, text=True, timeout=120)
    assert empty.returncode == 1 and 'no jdd_ros status on /diagnostics yet' in empty.stdout, empty
    assert 'expected but not reporting within 1.5 s: depth_node' in empty.stdout
