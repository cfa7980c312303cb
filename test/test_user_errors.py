"""The errors a new user meets, each as the user meets it (real executables, real DDS) with its one-line message:
an invalid remapping, Ctrl-C at any moment of start-up, a node whose input topic is silent, refused values that
differ, and offline tools given a synthetic or barely trained depth model."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from depth_helpers import plumbing_checkpoint, sample_image
from harness import BIN, NodeProcess, fixture, ros_env, yolov4_tiny_files

from jdd_ros.io.image_codec import fill_image
from jdd_ros.ros.ros_args import remap_problem

pytestmark = pytest.mark.timeout(300)

SPACE = "image:=/camera/image raw"
SPACE_REASON = ("invalid remapping 'image:=/camera/image raw': topic name '/camera/image raw': topic name must not "
                "contain characters other than alphanumerics, '_', '~', '{', or '}' (at character 13)")


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return plumbing_checkpoint(tmp_path_factory.mktemp('errors') / 'depth.pt')


def _image(array, encoding, sec, frame_id='camera'):
    """An rgb8 image's bytes under the encoding name ``encoding``."""
    from sensor_msgs.msg import Image

    msg = fill_image(Image(), array, 'rgb8')
    msg.encoding = encoding
    msg.header.stamp.sec, msg.header.frame_id = sec, frame_id
    return msg


# ---- invalid remappings -------------------------------------------------------------------------------------------

@pytest.mark.parametrize('executable', ['fusion_node', 'pipeline', 'depth_node'])
def test_an_invalid_remapping_of_a_node_is_one_line_and_status_2(domain_id, executable):
    out = subprocess.run([str(BIN / executable), '--ros-args', '-r', SPACE], env=ros_env(domain_id),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == f'{executable}: {SPACE_REASON}'
    assert out.stdout == ''


@pytest.mark.parametrize('argument, message', [
    (SPACE, SPACE_REASON),
    ('camera_info:=/cam//info', "invalid remapping 'camera_info:=/cam//info': topic name '/cam//info': topic name "
                                "must not contain repeated '/' (at character 5)"),
    ('namespace:=robot 1', "invalid remapping '__ns:=/robot 1': namespace '/robot 1': namespace must not contain "
                           "characters other than alphanumerics, '_', or '/' (at character 6)"),
])
def test_an_invalid_topic_or_namespace_through_jdd_ros_launch_starts_nothing(domain_id, argument, message):
    out = subprocess.run([str(BIN / 'jdd-ros'), 'launch', 'depth_source:=sensor', argument], env=ros_env(domain_id),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == f'jdd-ros launch: {message}'
    assert 'started' not in out.stdout


def test_a_rule_rcl_refuses_beyond_the_remappings_is_still_one_line_of_ours(domain_id):
    out = subprocess.run([str(BIN / 'fusion_node'), '--ros-args', '-p', 'max_depth'], env=ros_env(domain_id),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "fusion_node: invalid command-line arguments: Couldn't parse parameter override rule: '-p max_depth'" \
        in out.stderr.splitlines()
    assert 'Traceback' not in out.stderr and 'lexer' not in out.stderr


@pytest.mark.parametrize('rule', ['image:=/camera/color/image_raw', 'image:=camera/image', '__ns:=/robot1',
                                  '__node:=front_depth', 'depth_node:image:=/cam/image', 'image:=~/image',
                                  'rostopic://image:=/cam/image'])
def test_valid_remappings_pass(rule):
    assert remap_problem(rule) is None


# ---- Ctrl-C at any moment of start-up ---------------------------------------------------------------------------

def _mapped(pid: int, libraries: tuple[str, ...]) -> bool:
    try:
        maps = Path(f'/proc/{pid}/maps').read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return any(library in maps for library in libraries)


def _sigint_blocked(pid: int) -> bool:
    """Whether the process holds SIGINT blocked: from the venv's 00_jdd_ros_node_signals.pth (the interpreter's
    start-up, the ROS wheels' re-exec of it) until the entry point's handler is in place."""
    try:
        status = Path(f'/proc/{pid}/status').read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    blocked = next((int(ln.split()[1], 16) for ln in status.splitlines() if ln.startswith('SigBlk:')), 0)
    return bool(blocked & (1 << (signal.SIGINT - 1)))


def _interrupt(cmd, env, libraries=(), after_s=0.0, ready=''):
    """Start ``cmd``; once one of ``libraries`` is mapped into it (a phase of its start-up; 'SIGINT blocked': the
    interpreter's own start-up) or it printed ``ready``, wait ``after_s`` and send SIGINT; return (exit status,
    output)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if ('SIGINT blocked' in libraries and _sigint_blocked(proc.pid)) or _mapped(proc.pid, libraries) \
                    or (ready and any(ready in ln for ln in list(lines))):
                break
            time.sleep(0.002)
        time.sleep(after_s)
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        reader.join(10)
    finally:
        proc.kill()
    return proc.returncode, ''.join(lines)


# Phases, each anchored on something observable in the process (not on a time, which a busy machine stretches): the
# interpreter starting (site, the re-exec, the script's first imports), importing rclpy (its C extension mapped),
# right after it, the middleware (Fast DDS) loaded, the node created (its first log line), the node up.
FUSION_PHASES = [('SIGINT blocked', 0.0), ('SIGINT blocked', 0.005), ('SIGINT blocked', 0.02),
                 ('_rclpy_pybind11', 0.0), ('_rclpy_pybind11', 0.05), ('_rclpy_pybind11', 0.2),
                 ('libfastdds', 0.0), ('line: Fast DDS: ', 0.0), ('line: Fast DDS: ', 0.05),
                 ('line: fusion_node ready', 0.0)]


def test_the_venv_holds_ctrl_c_for_the_node_executables_while_python_starts():
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / 'tools'))
    import ament_layout

    site = Path(next(p for p in sys.path if p.endswith('site-packages')))
    pth = site / ament_layout.SIGNALS_PTH_NAME
    assert pth.is_file() and pth.read_text() == ament_layout.SIGNALS_PTH_LINE, 'run make setup'
    assert sorted(p.name for p in site.glob('*.pth'))[0] == pth.name  # site runs it before any other .pth


@pytest.mark.parametrize('library, after_s', FUSION_PHASES)
def test_ctrl_c_at_any_moment_of_start_up_gives_no_traceback(domain_id, library, after_s):
    anchor = {'ready': library[6:]} if library.startswith('line: ') else {'libraries': (library,)}
    code, out = _interrupt([str(BIN / 'fusion_node')], ros_env(domain_id), after_s=after_s, **anchor)
    assert code == 0, out
    assert 'Traceback' not in out and 'Error' not in out and "isn't present" not in out, out
    assert 'stopped while starting' in out or 'at shutdown' in out, out


@pytest.mark.parametrize('after_s', [0.0, 0.02, 0.1])
def test_ctrl_c_while_jdd_ros_launch_starts_exits_130_without_a_traceback(domain_id, after_s):
    cmd = [str(BIN / 'jdd-ros'), 'launch', 'depth_source:=sensor', 'composition:=false']
    code, out = _interrupt(cmd, ros_env(domain_id), ('SIGINT blocked',), after_s)
    assert code == 130 and 'Traceback' not in out and 'Error' not in out, out


BACKENDS = ('libopenvino', 'libonnxruntime')  # whichever the CPU's backend choice loads


@pytest.mark.parametrize('libraries, after_s, in_load', [
    (('libtorch_cpu',), 0.0, False), (('libtorch_cpu',), 1.0, False),  # torch imported (with the node's modules)
    (('onnx_cpp2py_export',), 0.0, True), (BACKENDS, 0.0, True),  # the checkpoint exported, the backend loaded
    (BACKENDS, 0.3, False)])
def test_ctrl_c_while_the_depth_model_loads_gives_no_traceback(domain_id, checkpoint, libraries, after_s, in_load,
                                                              tmp_path):
    cmd = [str(BIN / 'depth_node'), '--ros-args', '-p', f'checkpoint:={checkpoint}']
    # The checkpoint is exported (torch, onnx) only on a cold cache: a warm one holds the export and imports neither.
    cold = {'XDG_CACHE_HOME': str(tmp_path / 'cache')} if 'onnx_cpp2py_export' in libraries else {}
    code, out = _interrupt(cmd, ros_env(domain_id, **cold), libraries, after_s, ready='waiting for images')
    assert code == 0, out
    assert 'Traceback' not in out and 'cannot start' not in out and 'terminate called' not in out, out
    if in_load:  # inside the model load: it finishes (cutting it midway crashed a native library), then stops
        assert 'stopping once the model has loaded' in out and 'stopped while starting' in out, out


# ---- a silent input ----------------------------------------------------------------------------------------------

def test_a_silent_input_names_its_topic_and_the_image_topics_that_exist(domain_id, ros_peer, checkpoint):
    """A mistyped remapping: after 10 s without a frame the node says which topic it listens to (fully resolved, in
    its namespace) and which image topics exist, with their types; once more only when that list changes."""
    from sensor_msgs.msg import CompressedImage, Image

    ros_peer.publisher(Image, '/cam/color')  # the camera the user meant: publishing, but on another topic
    params = {'checkpoint': str(checkpoint), 'reliability': 'reliable'}
    remap = {'__ns': '/robot', 'image': 'cam/colour'}
    silent = r"no image received on '/robot/cam/colour' for \d+ s; image topics in the ROS graph: (.*); remap"
    with NodeProcess('depth_node', domain_id, params=params, remap=remap) as node:
        node.wait_for_output('subscribed to', timeout=90)
        first = node.wait_for_output(silent, timeout=30).group(1)
        assert "'/cam/color' (sensor_msgs/msg/Image, 1 publisher(s))" in first
        assert '/robot/depth' not in first and 'compressed' not in first  # its own outputs are no camera
        time.sleep(3)
        assert len([ln for ln in node.lines if 'no image received' in ln]) == 1  # said once while nothing changes
        ros_peer.publisher(CompressedImage, '/cam/color/compressed')  # a new image topic appears: said again
        deadline = time.monotonic() + 20
        while len([ln for ln in node.lines if 'no image received' in ln]) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        second = [ln for ln in node.lines if 'no image received' in ln][1]
        assert "'/cam/color/compressed' (sensor_msgs/msg/CompressedImage, 1 publisher(s))" in second
        assert '[WARN]' in second


# ---- each refused value its own first line -----------------------------------------------------------------------

def test_each_refused_encoding_gets_its_own_first_line_in_the_depth_node(domain_id, ros_peer, checkpoint):
    from sensor_msgs.msg import Image

    pub = ros_peer.publisher(Image, '/enc/image')
    params = {'checkpoint': str(checkpoint), 'reliability': 'reliable'}
    with NodeProcess('depth_node', domain_id, params=params, remap={'image': '/enc/image'}) as node:
        node.wait_for_matched('/enc/image', timeout=90)
        rgb = sample_image(48, 64)
        # One at a time (only the newest frame is looked at), 'bar' right after 'foo' was logged: within the 1 s
        # throttle, where a throttle keyed by the call site alone swallowed it.
        for i, encoding in enumerate(('foo', 'bar')):
            pub.publish(_image(rgb, encoding, 10 + i))
            node.wait_for_output(rf"bad image on '/enc/image', frame {10 + i}\.0+ dropped: unsupported image "
                                 rf"encoding '{encoding}'", timeout=30)
        assert node.proc.poll() is None


def test_each_refused_encoding_gets_its_own_first_line_in_the_fusion_node(domain_id, ros_peer):
    from sensor_msgs.msg import Image

    pub = ros_peer.publisher(Image, '/fenc/image')
    with NodeProcess('fusion_node', domain_id, params={'reliability': 'reliable'},
                     remap={'image': '/fenc/image'}) as node:
        node.wait_for_matched('/fenc/image', timeout=60)
        rgb = sample_image(48, 64)
        for i, encoding in enumerate(('foo', 'bar', 'foo', 'bar')):  # within the node's 5 s throttle
            pub.publish(_image(rgb, encoding, 20 + i))  # (the fusion node reads every image message)
        for encoding in ('foo', 'bar'):
            node.wait_for_output(rf"image refused: unsupported image encoding '{encoding}'", timeout=30)
        time.sleep(1.0)
        assert len([ln for ln in node.lines if 'image refused' in ln]) == 2  # the repeats are throttled


# ---- jdd-ros fuse warns about the depth model as depth_node does --------------------------------------------------

def test_fuse_warns_about_synthetic_and_barely_trained_checkpoints_as_the_node_does(tmp_path):
    from jdd_ros.depth.estimator import DepthEstimator
    from jdd_ros.depth.model import SYNTHETIC_WARNING, trust_warnings

    model_args = [a for k, p in yolov4_tiny_files().items() for a in (f'--{k}', p)]
    two_epochs = plumbing_checkpoint(tmp_path / 'two_epochs.pt', trained_on='synthetic', epochs=2,
                                     metrics={'delta1': 0.0, 'constant_best_delta1': 0.458})
    fine = plumbing_checkpoint(tmp_path / 'nyu.pt', trained_on='nyu_depth_v2', epochs=20,
                               metrics={'delta1': 0.81, 'constant_best_delta1': 0.31})
    expected = trust_warnings(DepthEstimator.from_checkpoint(two_epochs))
    assert expected[0] == SYNTHETIC_WARNING and 'BARELY TRAINED: held-out δ1 0.000 after 2 epoch(s)' in expected[1]
    for ckpt, warnings in ((two_epochs, expected), (fine, [])):
        out = subprocess.run([str(BIN / 'jdd-ros'), 'fuse', str(fixture('tum_desk_color.png')), '--depth-checkpoint',
                              str(ckpt), *model_args], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        assert [ln.removeprefix('warning: ') for ln in out.stderr.splitlines() if '!!!' in ln] == warnings
