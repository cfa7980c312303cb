"""Test harness: real node processes on real DDS, driven from the test process with rclpy.

Every process started here keeps DDS discovery on this machine (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST), gets the
test module's own ROS_DOMAIN_ID and a ROS_LOG_DIR in a temporary directory.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jdd_ros.detect.darknet import model_store

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get('JDD_ROS_SHARED', REPO.parent / 'shared'))
BIN = Path(sys.executable).parent
LOG_ROOT = Path(tempfile.mkdtemp(prefix='jdd_ros_test_logs_'))

os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
# The environment a user has: nothing else exported. The nodes configure their own DDS participant (jdd_ros.ros.
# dds_config); the test's own participants (cameras, bag players, viewers) run with Fast DDS's defaults.
for _name in ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTDDS_BUILTIN_TRANSPORTS', 'RMW_FASTRTPS_USE_QOS_FROM_XML'):
    os.environ.pop(_name, None)
os.environ.setdefault('ROS_LOG_DIR', str(LOG_ROOT / 'pytest'))
os.environ.setdefault('HOME', tempfile.gettempdir())
# A suite started in the background of a script (`make test &`, nohup, CI runners) inherits SIGINT and SIGQUIT
# ignored, and an ignored signal stays ignored across exec: every process it starts (nodes, `jdd-ros status` on its
# pseudo-terminal, `ros2 run`) would then ignore the Ctrl-C the tests send, as no user's terminal does. A handled
# signal is reset to its default at exec, so handling them here gives every child the terminal's defaults.
for _sig, _handler in ((signal.SIGINT, signal.default_int_handler), (signal.SIGQUIT, signal.SIG_DFL)):
    if signal.getsignal(_sig) is signal.SIG_IGN:
        signal.signal(_sig, _handler)


FIXTURES = REPO / 'test' / 'fixtures'
# The model store as the suite's environment gives it, fixed now: some tests point XDG_CACHE_HOME elsewhere (for their
# own caches) while they use the yolov4-tiny files.
MODEL_STORE = model_store.cache_dir()


def shared_file(*parts: str) -> Path:
    """A file from ../shared, or skip the test saying what is missing. Only for what the suite can do without: what
    every run needs is a fixture (``fixture``) or comes from the model store (``yolov4_tiny_files``)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f'{path} not found: the shared data (../shared beside the checkout) is absent')
    return path


def fixture(name: str) -> Path:
    """A small real file that the repository ships in test/fixtures (its README says where each comes from)."""
    path = FIXTURES / name
    if not path.is_file():
        raise FileNotFoundError(f'{path} is missing from the checkout (test/fixtures/README.md lists the fixtures)')
    return path


def yolov4_tiny_files() -> dict[str, str]:
    """The real COCO yolov4-tiny Darknet files as node parameters (cfg, weights, names), verified, from the model
    store that ``make setup`` fills (``jdd-ros fetch-models yolov4-tiny``); the test is skipped, saying so, when the
    store lacks them."""
    try:
        files = model_store.resolve_model('yolov4-tiny', MODEL_STORE)
    except model_store.ModelNotFoundError as exc:
        pytest.skip(f'the yolov4-tiny model is not in the model store (make setup fetches it): {exc}')
    return {'cfg': str(files.cfg), 'weights': str(files.weights), 'names': str(files.names)}


def tum_desk_frame() -> Any:
    """The real 640x480 TUM RGB-D desk frame of test/fixtures (colour, depth in metres, approximate intrinsics)."""
    from jdd_ros.io.frames import KINECT_640x480, read_rgbd

    frame = read_rgbd(fixture('tum_desk_color.png'), fixture('tum_desk_depth_mm.png'), 0.001, KINECT_640x480)
    frame.name = 'tum_desk'
    return frame


def mirror_box(box: tuple[float, float, float, float], width: int = 640) -> tuple[float, float, float, float]:
    """A box (x1, y1, x2, y2) of an image mirrored left-right."""
    x1, y1, x2, y2 = box
    return (width - x2, y1, width - x1, y2)


def real_rgbd_frames() -> list[Any]:
    """Two real 640x480 RGB-D frames: the TUM desk and the same frame mirrored left-right (real colour and depth, other
    pixels under every box), so that tests of several frames need nothing beyond the repository."""
    import numpy as np

    tum = tum_desk_frame()
    mirrored = type(tum)(np.ascontiguousarray(tum.rgb[:, ::-1]), np.ascontiguousarray(tum.depth_m[:, ::-1]),
                         tum.intrinsics, name='tum_desk_mirrored')
    return [tum, mirrored]


def reference_box_region(depth: Any, box: tuple[float, float, float, float], fraction: float = 0.5) -> Any:
    """The pixels the fusion reads for a box, computed here independently of jdd_ros's box_depth: those whose centres
    lie inside the central ``fraction`` of the box, clipped to the image. ``depth``: an array, or a depth PNG's path."""
    import math

    import cv2

    if not hasattr(depth, 'shape'):
        depth = cv2.imread(str(depth), cv2.IMREAD_UNCHANGED)
    x1, y1, x2, y2 = box
    cx, cy, hw, hh = (x1 + x2) / 2, (y1 + y2) / 2, fraction * (x2 - x1) / 2, fraction * (y2 - y1) / 2
    u0, u1 = max(math.ceil(cx - hw), 0), min(math.floor(cx + hw), depth.shape[1] - 1)
    v0, v1 = max(math.ceil(cy - hh), 0), min(math.floor(cy + hh), depth.shape[0] - 1)
    return depth[v0:v1 + 1, u0:u1 + 1]


def reference_median(depth: Any, box: tuple[float, float, float, float], fraction: float = 0.5,
                     scale: float = 1.0) -> float:
    """The fusion's median statistic from the depth itself: the median of the valid values (finite, > 0) of
    ``reference_box_region``, times ``scale`` (0.001 for a millimetre PNG)."""
    import numpy as np

    region = reference_box_region(depth, box, fraction).astype(np.float64)
    return float(np.median(region[np.isfinite(region) & (region > 0)])) * scale


# Developers running several suites at once on one machine (one per work tree) may give each its own start
# (JDD_ROS_TEST_DOMAIN_START) so that their modules never meet; a user's run needs nothing.
_DOMAINS = itertools.count(int(os.environ.get('JDD_ROS_TEST_DOMAIN_START') or random.SystemRandom().randrange(232)))


def new_domain_id() -> int:
    """A domain of its own per test module: consecutive from a random start, so parallel test runs on one machine
    rarely meet, and no two modules of one run share a domain (a module's processes, stopped or killed, leave
    nothing behind that the next module could meet)."""
    return 1 + next(_DOMAINS) % 232


def ros_env(domain_id: int, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
        'ROS_DOMAIN_ID': str(domain_id),
        'ROS_LOG_DIR': str(LOG_ROOT / f'domain{domain_id}'),
        'PYTHONUNBUFFERED': '1',
        'RCUTILS_COLORIZED_OUTPUT': '0',
    })
    env.setdefault('HOME', tempfile.gettempdir())
    env.update(extra)
    return env


def _ros_arg(value: Any) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return '[' + ','.join(str(v) for v in value) + ']'
    return str(value)


class NodeProcess:
    """A node executable from this venv in its own process, with its output captured."""

    def __init__(self, executable: str, domain_id: int, params: dict[str, Any] | None = None,
                 remap: dict[str, str] | None = None, args: list[str] | None = None, **env_extra: str):
        cmd = [str(BIN / executable)] + list(args or [])
        ros_args = []
        for name, value in (params or {}).items():
            ros_args += ['-p', f'{name}:={_ros_arg(value)}']
        for src, dst in (remap or {}).items():
            ros_args += ['-r', f'{src}:={dst}']
        if ros_args:
            cmd += ['--ros-args'] + ros_args
        self.cmd = cmd
        self.env = ros_env(domain_id, **env_extra)
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.proc: subprocess.Popen | None = None

    def start(self) -> NodeProcess:
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip('\n'))
                del self.lines[:-5000]
                self._cond.notify_all()

    @property
    def output(self) -> str:
        with self._cond:
            return '\n'.join(self.lines)

    def wait_for_output(self, pattern: str, timeout: float = 20.0) -> re.Match:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    m = regex.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc is not None and self.proc.poll() is not None and not self._cond.wait(0.2)):
                    raise AssertionError(f'no output matching {pattern!r} within {timeout}s; output:\n{self.output}')
                self._cond.wait(min(left, 0.2))

    def wait_for_matched(self, topic: str, count: int = 1, timeout: float = 20.0, node: str = '') -> None:
        """Until the node (``node``, in a process running several) logs that its input ``topic`` has matched
        ``count`` publishers (or more): only then is a message published to it received (the publisher side may see
        the subscription earlier)."""
        who = rf'\[{re.escape(node)}\]: ' if node else ''
        regex = re.compile(rf"{who}input '{re.escape(topic)}': (\d+) publisher\(s\) matched")
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                counts = [int(m.group(1)) for m in map(regex.search, self.lines) if m]
                if counts and counts[-1] >= count:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f'{topic} did not match {count} publisher(s) within {timeout}s; output:\n'
                                         f'{self.output}')
                self._cond.wait(min(left, 0.2))

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def __enter__(self) -> NodeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Inbox:
    """Messages received on one topic, waited on with a timeout."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self._cond = threading.Condition()

    def put(self, msg: Any) -> None:
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def wait_for(self, count: int = 1, timeout: float = 20.0,
                 predicate: Callable[[Any], bool] | None = None) -> list[Any]:
        """Block until ``count`` messages (satisfying ``predicate``) have arrived; return them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [m for m in self.messages if predicate is None or predicate(m)]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f'received {len(got)} of {count} expected messages within {timeout}s')
                self._cond.wait(left)

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()


class RosPeer:
    """An rclpy node in the test process, spun in a background thread, on its own context and domain."""

    def __init__(self, domain_id: int, name: str = 'test_peer'):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            while self.context.ok():
                self.executor.spin_once(timeout_sec=0.05)
        except (ExternalShutdownException, Exception):  # noqa: BLE001 - shutdown races end the thread
            pass

    def publisher(self, msg_type: type, topic: str, qos: Any = None) -> Any:
        from jdd_ros.ros.qos import output_qos

        return self.node.create_publisher(msg_type, topic, qos or output_qos(10))

    def subscribe(self, msg_type: type, topic: str, qos: Any = None) -> Inbox:
        from jdd_ros.ros.qos import output_qos

        inbox = Inbox()
        self.node.create_subscription(msg_type, topic, inbox.put, qos or output_qos(100))
        return inbox

    def wait_for_subscribers(self, publisher: Any, count: int = 1, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while publisher.get_subscription_count() < count:
            if time.monotonic() > deadline:
                raise AssertionError(f'no subscriber on {publisher.topic_name} within {timeout}s')
            time.sleep(0.05)

    def wait_for_publishers(self, topic: str, count: int = 1, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.node.count_publishers(topic) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f'no publisher on {topic} within {timeout}s')
            time.sleep(0.05)

    def _param_client(self, node_name: str, timeout: float) -> Any:
        from rclpy.parameter_client import AsyncParameterClient

        client = AsyncParameterClient(self.node, node_name)
        if not client.wait_for_services(timeout_sec=timeout):
            raise AssertionError(f'parameter services of {node_name} not available within {timeout}s')
        return client

    def _wait(self, future: Any, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > deadline:
                raise AssertionError(f'service call not answered within {timeout}s')
            time.sleep(0.01)
        return future.result()

    def set_parameters(self, node_name: str, values: dict[str, Any], timeout: float = 10.0) -> list[Any]:
        """What ``ros2 param set`` does: call <node>/set_parameters; returns the SetParametersResult list."""
        from rclpy.parameter import Parameter

        client = self._param_client(node_name, timeout)
        # rclpy cannot infer a type from [] (it would send a byte array): an empty list clears a string array.
        params = [Parameter(k, Parameter.Type.STRING_ARRAY, []) if isinstance(v, list) and not v else
                  Parameter(k, value=v) for k, v in values.items()]
        return list(self._wait(client.set_parameters(params), timeout).results)

    def get_parameters(self, node_name: str, names: list[str], timeout: float = 10.0) -> dict[str, Any]:
        from rclpy.parameter import parameter_value_to_python

        client = self._param_client(node_name, timeout)
        values = self._wait(client.get_parameters(names), timeout).values
        return {n: parameter_value_to_python(v) for n, v in zip(names, values)}

    def describe_parameters(self, node_name: str, names: list[str], timeout: float = 10.0) -> list[Any]:
        client = self._param_client(node_name, timeout)
        return list(self._wait(client.describe_parameters(names), timeout).descriptors)

    def lifecycle(self, node: str) -> tuple[Callable[[], str], Callable[[str], bool]]:
        """What a lifecycle manager (``ros2 lifecycle get/set``) calls: ``state()`` (the label) and
        ``transition(label)`` (configure, activate, deactivate, cleanup; True on success)."""
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState, GetState

        get = self.node.create_client(GetState, f'/{node}/get_state')
        change = self.node.create_client(ChangeState, f'/{node}/change_state')
        for client in (get, change):
            assert client.wait_for_service(timeout_sec=20), f'{client.srv_name} not available'
        ids = {'configure': Transition.TRANSITION_CONFIGURE, 'activate': Transition.TRANSITION_ACTIVATE,
               'deactivate': Transition.TRANSITION_DEACTIVATE, 'cleanup': Transition.TRANSITION_CLEANUP}

        def state() -> str:
            return self._wait(get.call_async(GetState.Request()), 10).current_state.label

        def transition(label: str) -> bool:
            request = ChangeState.Request()
            request.transition.id = ids[label]
            return self._wait(change.call_async(request), 30).success

        return state, transition

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=2.0)


def detector_topics(peer: RosPeer) -> tuple:
    """A publisher of ``image`` and an inbox of ``detections``, both matched with the detector node under test."""
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    pub = peer.publisher(Image, 'image')
    inbox = peer.subscribe(Detection2DArray, 'detections')
    peer.wait_for_subscribers(pub)
    peer.wait_for_publishers('detections')
    return pub, inbox
