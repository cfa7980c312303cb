"""The ROS side of ``jdd-ros status``: listen to /diagnostics and keep the newest status of every node.

Runs in its own rclpy context without rclpy's signal handlers, so Ctrl-C reaches the command as KeyboardInterrupt
and it can tear down and exit quietly. The subscription is best-effort, which matches every publisher of
/diagnostics (reliable or not); a lost status is replaced by the next one a second later.
"""

from __future__ import annotations

import os
import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rclpy.subscription import MessageInfo

from jdd_ros.core.health import PACKAGE, NodeStatus
from jdd_ros.ros.diagnostics import DIAGNOSTICS_TOPIC


def node_status(msg: DiagnosticStatus, received: float) -> NodeStatus:
    level = msg.level[0] if isinstance(msg.level, (bytes, bytearray)) else int(msg.level)
    return NodeStatus(name=msg.name, level=level, message=msg.message, hardware_id=msg.hardware_id,
                      values={kv.key: kv.value for kv in msg.values}, received=received)


class DiagnosticsListener:
    """The newest status per name seen on /diagnostics; ``jdd_ros_only`` keeps those of jdd_ros nodes."""

    def __init__(self, jdd_ros_only: bool = True, topic: str = DIAGNOSTICS_TOPIC):
        self.jdd_ros_only = jdd_ros_only
        self.statuses: dict[str, NodeStatus] = {}
        self.heard: set[bytes] = set()  # the /diagnostics publishers (GIDs) that sent something
        self.topic = topic
        self.context = rclpy.Context()
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node(f'jdd_ros_status_{os.getpid()}', context=self.context,
                                      start_parameter_services=False)
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.BEST_EFFORT,
                         durability=DurabilityPolicy.VOLATILE)
        self.node.create_subscription(DiagnosticArray, topic, self._on_array, qos)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def _on_array(self, msg: DiagnosticArray, info: MessageInfo) -> None:  # two parameters: rclpy passes MessageInfo
        gid = info.get('publisher_gid') if isinstance(info, dict) else None
        if isinstance(gid, dict) and gid.get('data') is not None:
            self.heard.add(bytes(gid['data']))
        now = time.monotonic()
        for status in msg.status:
            if self.jdd_ros_only and not any(kv.key == PACKAGE and kv.value == 'jdd_ros' for kv in status.values):
                continue
            self.statuses[status.name] = node_status(status, now)

    def spin_for(self, seconds: float) -> None:
        """Take in what arrives during ``seconds``."""
        deadline = time.monotonic() + seconds
        while self.context.ok():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.executor.spin_once(timeout_sec=min(left, 0.1))

    def all_heard(self) -> bool:
        """Whether every publisher of /diagnostics in the graph (one or more) has sent a status."""
        publishers = self.node.get_publishers_info_by_topic(self.topic)
        return bool(publishers) and all(bytes(p.endpoint_gid) in self.heard for p in publishers)

    def listen_until_all_heard(self, min_s: float, max_s: float, expect: frozenset[str] = frozenset()) -> None:
        """Listen until every name in ``expect`` has reported or, without ``expect``, at least ``min_s`` (for
        discovery to find the publishers) and then until every publisher found has sent a status; ``max_s`` at most.
        """
        deadline = time.monotonic() + max_s
        if not expect:
            self.spin_for(min(min_s, max_s))
        while time.monotonic() < deadline:
            if (expect <= self.statuses.keys()) if expect else self.all_heard():
                return
            self.spin_for(min(0.1, deadline - time.monotonic()))

    def snapshot(self) -> list[NodeStatus]:
        return sorted(self.statuses.values(), key=lambda s: s.name)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
