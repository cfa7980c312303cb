"""Process start-up and shutdown shared by the node executables."""

from __future__ import annotations

import ctypes
import faulthandler
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import NoReturn

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
SHUTDOWN_GRACE_S = 5.0  # a node asked to stop has this long to tear down; jdd-ros launch waits 10 s before SIGTERM


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


def run_node(make_node: Callable[[], Node], args: list[str] | None = None) -> NoReturn:
    """Create the node, spin until Ctrl-C / SIGTERM, tear down, and end the process with the exit status.

    Start-up errors that the user must fix (missing model, invalid parameter) are logged in one line and give
    exit status 2 instead of a traceback. The process ends with ``os._exit`` after an explicit teardown: interpreter
    finalization adds nothing for a node and is where middleware threads can block.
    """
    tune_malloc()
    rclpy.init(args=args if args is not None else sys.argv)
    node = None
    status = 0
    try:
        node = make_node()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as exc:
        if node is None and not rclpy.ok():
            # Ctrl-C / SIGTERM while starting: rclpy's signal handler shut the context down under make_node.
            rclpy.logging.get_logger('jdd_ros').info('stopped while starting')
        elif node is None and isinstance(exc, (ValueError, FileNotFoundError, RuntimeError)):
            rclpy.logging.get_logger('jdd_ros').fatal(f'cannot start: {exc}')
            status = 2
        else:
            status = 1
            raise
    except BaseException:
        status = 1
        raise
    finally:
        _exit_after(SHUTDOWN_GRACE_S, status)
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.try_shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
