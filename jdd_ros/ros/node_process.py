"""Process start-up and shutdown shared by the node executables and the one-process pipeline."""

from __future__ import annotations

import ctypes
import faulthandler
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import rclpy
from rclpy._rclpy_pybind11 import RCLError
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from jdd_ros.core.stop_flag import StopFlag
from jdd_ros.ros.dds_config import configure_fastdds
from jdd_ros.ros.managed_node import START_ERRORS, ManagedNode, interrupted
from jdd_ros.ros.ros_args import init_error, ros_args_problem

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
SHUTDOWN_GRACE_S = 5.0  # a node asked to stop has this long to tear down; jdd-ros launch waits 10 s before SIGTERM
SPIN_PERIOD_S = 0.2  # how often the spin loop looks at the stop flag
LOADING_STOP = '[jdd_ros] stopping once the model has loaded (a load cut midway can crash native libraries)\n'


def tune_malloc() -> None:
    """Keep ~1 MB image buffers on the heap: glibc's default mmap/trim of each one cut throughput by 5x here."""
    try:
        libc = ctypes.CDLL('libc.so.6')
        libc.mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)
        libc.mallopt(_M_TRIM_THRESHOLD, 512 * 1024 * 1024)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


def _exit_after(grace_s: float, status: int) -> None:
    """End the process if teardown hangs: once, in CI, a fusion_node stopped by SIGINT never returned from the
    middleware's teardown and ignored SIGTERM (not reproduced in hundreds of stops since). A node that was asked to
    stop must stop: a Python watchdog exits with the intended status, and faulthandler's C watchdog (which needs no
    GIL) dumps every thread's stack, showing where it hung, and exits if even that cannot run."""
    def watchdog() -> None:
        time.sleep(grace_s)
        print(f'[jdd_ros] teardown did not finish within {grace_s:.0f} s: exiting', file=sys.stderr, flush=True)
        os._exit(status)

    threading.Thread(target=watchdog, name='shutdown_watchdog', daemon=True).start()
    faulthandler.dump_traceback_later(grace_s + 3.0, exit=True)


class _Stop:
    """Ctrl-C / SIGTERM: while starting, abort the start (KeyboardInterrupt where Python runs next); once spinning,
    ask the spin loop to end. rclpy's own handlers would shut the context down first, and every log line after that
    (the final statistics) would fail to reach /rosout."""

    def __init__(self) -> None:
        self.requested = StopFlag()  # set by the handler: no lock (core.stop_flag)
        self.spinning = False
        self.loading = False  # bringing a node up (its model load): a stop waits for the end of it
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: Any) -> None:
        # Only the first signal interrupts: Ctrl-C in the terminal of 'ros2 launch' reaches a node twice (from the
        # terminal, and forwarded by launch), and a second KeyboardInterrupt raised while the first was being handled
        # ended the process with a traceback and status -2.
        first = not self.requested.is_set()
        self.requested.set()
        if first and self.loading:
            os.write(2, LOADING_STOP.encode())
        elif first and not self.spinning:
            raise KeyboardInterrupt

    def bring_up(self, node: ManagedNode) -> None:
        """``node.bring_up()`` (configure: the model load; activate), then stop here if asked meanwhile. A
        KeyboardInterrupt raised inside a model load ran into Python code that a native library had called (torch's
        ONNX export importing a module through nanobind): 'terminate called after throwing an instance of
        nanobind::python_error', and the process aborted. So the load finishes first (a few seconds at most)."""
        self.loading = True
        try:
            node.bring_up()
        finally:
            self.loading = False
        if self.requested.is_set():
            raise KeyboardInterrupt


def _bring_up(nodes: Sequence[Node], stop: _Stop) -> None:
    for node in nodes:
        if isinstance(node, ManagedNode) and node.params.current.autostart:
            stop.bring_up(node)


def _tear_down(nodes: Sequence[Node]) -> None:
    """Final statistics while the context is valid, then the lifecycle shutdown transition, then destruction."""
    for node in nodes:
        if isinstance(node, ManagedNode):
            node.log_final_statistics()
            if node.lifecycle_state in ('active', 'inactive', 'unconfigured'):
                node.trigger_shutdown()
    for node in nodes:
        node.destroy_node()


def _refuse(argv: Sequence[str], problem: str) -> NoReturn:
    """A command line that cannot start a node: one line, exit status 2 (no traceback, no ROS context yet)."""
    print(f'{os.path.basename(argv[0]) if argv else "jdd_ros"}: {problem}', file=sys.stderr, flush=True)
    os._exit(2)


def run_nodes(make_nodes: Callable[[], Sequence[Node]], args: list[str] | None = None) -> NoReturn:
    """Create the nodes, bring them up, spin until Ctrl-C / SIGTERM, tear down, end the process with its status.

    Start-up errors that the user must fix (missing model, invalid parameter) are logged in one line and give exit
    status 2 instead of a traceback; a stop while starting exits 0. The process ends with ``os._exit`` after an
    explicit teardown: interpreter finalization adds nothing for a node and is where middleware threads can block.
    """
    tune_malloc()
    argv = list(args if args is not None else sys.argv)
    problem = ros_args_problem(argv)
    if problem:
        _refuse(argv, problem)
    dds = configure_fastdds()
    stop = _Stop()
    try:
        rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
    except RCLError as exc:  # what rcl refuses beyond the remappings checked above (a malformed -p rule, ...)
        _refuse(argv, init_error(exc))
    logger = rclpy.logging.get_logger('jdd_ros')
    nodes: list[Node] = []
    status = 0
    try:
        nodes = list(make_nodes())
        nodes[0].get_logger().info(dds)
        _bring_up(nodes, stop)
        # Up: from here a stop only ends the spin loop. An interrupt raised inside rclpy's Executor constructor left a
        # half-built executor whose __del__ printed a traceback (a Ctrl-C right after "ready", test_ros2_cli).
        stop.spinning = True
        executor = SingleThreadedExecutor()
        for node in nodes:
            executor.add_node(node)
        while not stop.requested.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=SPIN_PERIOD_S)
    except (KeyboardInterrupt, ExternalShutdownException):
        if not stop.spinning:
            logger.info('stopped while starting')
    except START_ERRORS as exc:
        stopping = stop.requested.is_set() or interrupted(exc)  # a start stopped by the user is no start-up error
        stop.requested.set()  # a Ctrl-C while this is reported must not interrupt it
        if not stop.spinning and stopping:
            logger.info('stopped while starting')
        elif not stop.spinning:
            logger.fatal(f'cannot start: {exc}')
            status = 2
        else:
            status = 1
            raise
    except BaseException:
        status = 1
        raise
    finally:
        stop.spinning = True  # a second Ctrl-C during teardown must not interrupt it
        _exit_after(SHUTDOWN_GRACE_S, status)
        if rclpy.ok():
            _tear_down(nodes)
            rclpy.try_shutdown()
        # Destroying the context deletes the DDS participant, which tells every peer at once that its endpoints
        # are gone. Without it os._exit below can end the process before those announcements leave, and a peer
        # keeps matching the dead node's subscriptions until their lease runs out (seen: a test's new publisher
        # counted a stopped fusion_node's subscription for 10 s).
        rclpy.get_default_context().destroy()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def run_node(make_node: Callable[[], Node], args: list[str] | None = None) -> NoReturn:
    """``run_nodes`` for one node: what each node executable's ``main`` calls."""
    run_nodes(lambda: [make_node()], args)
