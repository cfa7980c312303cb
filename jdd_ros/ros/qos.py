"""QoS of jdd_ros's outputs and the reporting of incompatible peers.

Outputs are reliable, which every subscriber matches; inputs follow their publishers (``adaptive_qos``). A publisher
or subscriber whose QoS cannot match is reported in the log with the topic and the policy, never ignored silently.
"""

from __future__ import annotations

from collections.abc import Callable

from rclpy.event_handler import PublisherEventCallbacks, QoSRequestedIncompatibleQoSInfo
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_policy_name_from_kind,
)
from rclpy.type_support import MsgT

# What rclpy passes an incompatible-QoS callback, of a publisher or a subscription (one type: the offered and the
# requested event status are the same structure).
IncompatibleQoSInfo = QoSRequestedIncompatibleQoSInfo


def output_qos(depth: int = 5) -> QoSProfile:
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


def incompatible_reporter(node: Node, role: str, topic: str) -> Callable[[IncompatibleQoSInfo], None]:
    """Logs a peer whose QoS cannot match."""
    def report(event: IncompatibleQoSInfo) -> None:
        policy = qos_policy_name_from_kind(event.last_policy_kind)
        # Only a reliable input can refuse a peer on RELIABILITY (a best-effort publisher): say how to accept it.
        hint = (' For a best-effort publisher (a camera driver), set reliability:=auto or best_effort.'
                if role == 'subscription' and policy == 'RELIABILITY' else '')
        node.get_logger().error(
            f"{role} on '{node.resolve_topic_name(topic)}' cannot match a peer: incompatible QoS policy {policy} "
            f'({event.total_count} incompatible peer(s) so far).{hint}')
    return report


def advertise(node: Node, msg_type: type[MsgT], topic: str, qos: QoSProfile | None = None,
              lifecycle: bool = False) -> Publisher[MsgT]:
    """A publisher that logs every incompatible subscriber; with ``lifecycle`` a LifecyclePublisher of a lifecycle
    node (it publishes only while the node is active)."""
    events = PublisherEventCallbacks(incompatible_qos=incompatible_reporter(node, 'publisher', topic))
    create = node.create_lifecycle_publisher if lifecycle else node.create_publisher
    return create(msg_type, topic, qos or output_qos(), event_callbacks=events)
