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
from types import FrameType
from typing import NoReturn

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


class _Signals:
    """Ctrl-C / SIGTERM, as the sequence of ``NodeProcess`` needs them: while starting, abort the start
    (KeyboardInterrupt where Python runs next) unless a model is loading; once spinning, only ask the spin loop to
    end. rclpy's own handlers would shut the context down first, and every log line after that (the final statistics)
    would fail to reach /rosout."""

    def __init__(self) -> None:
        self.requested = StopFlag()  # set by the handler: no lock (core.stop_flag)
        self.interrupts = True  # starting: a stop raises KeyboardInterrupt; spinning or tearing down: it does not
        self.loading = False  # bringing a node up (its model load): a stop waits for the end of it
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        # Only the first signal interrupts: Ctrl-C in the terminal of 'ros2 launch' reaches a node twice (from the
        # terminal, and forwarded by launch), and a second KeyboardInterrupt raised while the first was being handled
        # ended the process with a traceback and status -2.
        first = not self.requested.is_set()
        self.requested.set()
        if first and self.loading:
            os.write(2, LOADING_STOP.encode())
        elif first and self.interrupts:
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


class NodeProcess:
    """One process running ROS nodes, in six steps that ``run`` takes in this order:

    1. **start**: the command line checked (exit 2 in one line for what rcl would refuse), DDS configured, our signal
       handlers installed (``_Signals``), rclpy initialised, the nodes made and brought up (configure: the model
       load; activate). A stop while starting ends the start: exit 0. A start-up error the user must fix (missing
       model, invalid parameter: ``START_ERRORS``) is logged in one line: exit 2, no traceback.
    2. **spin** until a stop request or until the context is shut down.
    3. **stop request**: Ctrl-C / SIGTERM only set a flag from here on (``core.stop_flag``: no lock); the spin loop
       looks at it every ``SPIN_PERIOD_S``.
    4. **final statistics**: each node logs its totals while the context is still valid (they reach /rosout).
    5. **shutdown**: the lifecycle shutdown transition, the nodes destroyed, rclpy shut down and the context destroyed
       (its DDS participant tells every peer at once that its endpoints are gone).
    6. **watchdog**: armed when teardown begins; a process whose teardown hangs is ended with its status after
       ``SHUTDOWN_GRACE_S``. The process always ends with ``os._exit``: interpreter finalization adds nothing for a
       node and is where middleware threads can block. An unexpected error ends it with its traceback, status 1.
    """

    def __init__(self, argv: list[str]):
        self.argv = argv
        self.nodes: list[Node] = []
        self.status = 1  # until a step decides otherwise: an unexpected error leaves it
        self.dds = ''  # how DDS was configured, logged once the first node exists

    def run(self, make_nodes: Callable[[], Sequence[Node]]) -> NoReturn:
        signals = self._start_process()
        try:
            self._start_nodes(make_nodes, signals)
            self._spin(signals)
            self.status = 0
        except (KeyboardInterrupt, ExternalShutdownException, *START_ERRORS) as exc:
            self.status = self._stopped_or_failed(exc, signals)
        finally:
            signals.interrupts = False  # a second Ctrl-C during teardown must not interrupt it
            _exit_after(SHUTDOWN_GRACE_S, self.status)
            self._tear_down()
        _exit(self.status)

    def _start_process(self) -> _Signals:
        problem = ros_args_problem(self.argv)
        if problem:
            self._refuse(problem)
        self.dds = configure_fastdds()
        signals = _Signals()
        try:
            rclpy.init(args=self.argv, signal_handler_options=SignalHandlerOptions.NO)
        except RCLError as exc:  # what rcl refuses beyond the remappings checked above (a malformed -p rule, ...)
            self._refuse(init_error(exc))
        return signals

    def _refuse(self, problem: str) -> NoReturn:
        """A command line that cannot start a node: one line, exit status 2 (no traceback, no ROS context yet)."""
        print(f'{os.path.basename(self.argv[0]) if self.argv else "jdd_ros"}: {problem}', file=sys.stderr, flush=True)
        os._exit(2)

    def _start_nodes(self, make_nodes: Callable[[], Sequence[Node]], signals: _Signals) -> None:
        self.nodes = list(make_nodes())
        self.nodes[0].get_logger().info(self.dds)
        for node in self.nodes:
            if isinstance(node, ManagedNode) and node.params.current.autostart:
                signals.bring_up(node)

    def _spin(self, signals: _Signals) -> None:
        # Up: from here a stop only ends the spin loop. An interrupt raised inside rclpy's Executor constructor left a
        # half-built executor whose __del__ printed a traceback (a Ctrl-C right after "ready", test_ros2_cli).
        signals.interrupts = False
        executor = SingleThreadedExecutor()
        for node in self.nodes:
            executor.add_node(node)
        while not signals.requested.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=SPIN_PERIOD_S)

    def _stopped_or_failed(self, exc: BaseException, signals: _Signals) -> int:
        """The status of a start that a stop request ended (0) or a start-up error ended (2, logged in one line);
        an error while spinning is unexpected: raised again, with its traceback (status 1)."""
        spinning = not signals.interrupts
        if isinstance(exc, (KeyboardInterrupt, ExternalShutdownException)):
            stopping = True
        else:
            stopping = signals.requested.is_set() or interrupted(exc)  # a start stopped by the user is no error
            signals.requested.set()  # a Ctrl-C while this is reported must not interrupt it
            if spinning:
                raise exc
        logger = rclpy.logging.get_logger('jdd_ros')
        if stopping and not spinning:
            logger.info('stopped while starting')
        elif not stopping:
            logger.fatal(f'cannot start: {exc}')
            return 2
        return 0

    def _tear_down(self) -> None:
        """Final statistics while the context is valid, then the lifecycle shutdown transition, the nodes'
        destruction, rclpy's shutdown and the context's destruction."""
        if rclpy.ok():
            for node in self.nodes:
                if isinstance(node, ManagedNode):
                    node.log_final_statistics()
                    if node.lifecycle_state in ('active', 'inactive', 'unconfigured'):
                        node.trigger_shutdown()
            for node in self.nodes:
                node.destroy_node()
            rclpy.try_shutdown()
        # Destroying the context deletes the DDS participant, which tells every peer at once that its endpoints
        # are gone. Without it os._exit below can end the process before those announcements leave, and a peer
        # keeps matching the dead node's subscriptions until their lease runs out (seen: a test's new publisher
        # counted a stopped fusion_node's subscription for 10 s).
        rclpy.get_default_context().destroy()


def _exit_after(grace_s: float, status: int) -> None:
    """The watchdog: end the process if teardown hangs. Once, in CI, a fusion_node stopped by SIGINT never returned
    from the middleware's teardown and ignored SIGTERM (not reproduced in hundreds of stops since). A node that was
    asked to stop must stop: a Python watchdog exits with the intended status, and faulthandler's C watchdog (which
    needs no GIL) dumps every thread's stack, showing where it hung, and exits if even that cannot run."""
    def watchdog() -> None:
        time.sleep(grace_s)
        print(f'[jdd_ros] teardown did not finish within {grace_s:.0f} s: exiting', file=sys.stderr, flush=True)
        os._exit(status)

    threading.Thread(target=watchdog, name='shutdown_watchdog', daemon=True).start()
    faulthandler.dump_traceback_later(grace_s + 3.0, exit=True)


def _exit(status: int) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def run_nodes(make_nodes: Callable[[], Sequence[Node]], args: list[str] | None = None) -> NoReturn:
    """Create the nodes, bring them up, spin until Ctrl-C / SIGTERM, tear down, end the process with its status
    (the steps: ``NodeProcess``)."""
    tune_malloc()
    NodeProcess(list(args if args is not None else sys.argv)).run(make_nodes)


def run_node(make_node: Callable[[], Node], args: list[str] | None = None) -> NoReturn:
    """``run_nodes`` for one node: what each node executable's ``main`` calls."""
    run_nodes(lambda: [make_node()], args)
