"""A short-lived rclpy node for the command-line tools (``jdd-ros param``, ``echo``, ``demo``): its own context,
spun in a background thread, shut down cleanly however the tool ends.

The tools' own options are never read as ROS arguments, and Ctrl-C is left to the tool (rclpy's handler would shut
the context down under a call in progress and end it with a traceback).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from jdd_ros.ros.dds_config import configure_fastdds

if TYPE_CHECKING:
    from rclpy.task import Future

T = TypeVar('T')


class ClientNode:
    """``with ClientNode('_jdd_ros_param') as client: client.node ...``; a name starting with '_' is hidden from
    ``ros2 node list``, as ros2cli's own nodes are."""

    def __init__(self, name: str, large_messages: bool = False, domain_id: int | None = None):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        if large_messages:
            configure_fastdds()  # full-size images, as the nodes configure themselves
        self.context = rclpy.Context()
        extra = {} if domain_id is None else {'domain_id': domain_id}
        rclpy.init(args=[], context=self.context, signal_handler_options=SignalHandlerOptions.NO, **extra)
        self.node = rclpy.create_node(f'{name}_{os.getpid()}', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name=f'{name}_spin', daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            while self.context.ok():
                self.executor.spin_once(timeout_sec=0.05)
        except (ExternalShutdownException, Exception):  # noqa: BLE001 - a shutdown race ends the thread, nothing else
            pass

    def node_names(self) -> set[str]:
        """The fully qualified names of the nodes in the graph now."""
        return {(ns.rstrip('/') + '/' + name) for name, ns in self.node.get_node_names_and_namespaces()}

    def wait_until(self, condition: Callable[[], bool], timeout: float,
                   stop: threading.Event | None = None) -> bool:
        """Poll ``condition`` until it holds (True) or ``timeout`` passes or ``stop`` is set (False)."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                return False
            time.sleep(0.05)
        return True

    def call(self, future: Future[T], timeout: float) -> T | None:
        """The result of a service future, or TimeoutError."""
        deadline = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > deadline:
                raise TimeoutError(f'no answer within {timeout:g} s')
            time.sleep(0.01)
        return future.result()

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=2.0)

    def __enter__(self) -> ClientNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def absolute_node_name(name: str) -> str:
    """'fusion_node' -> '/fusion_node', as ros2cli reads a node name."""
    return name if name.startswith('/') else '/' + name
