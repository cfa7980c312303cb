"""QoS profiles of jdd_ros's topics and the reporting of incompatible peers.

Inputs default to best-effort, which matches both best-effort camera drivers and reliable publishers such as
``ros2 bag play``; outputs are reliable, which every subscriber matches. A publisher or subscriber whose QoS cannot
match is reported in the log with the topic and the policy, never ignored silently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_policy_name_from_kind,
)


def input_qos(reliability: str = 'best_effort', depth: int = 1) -> QoSProfile:
    """Keep-last ``depth`` (1 for images: only the newest frame matters)."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.BEST_EFFORT if reliability == 'best_effort' else ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    )


def output_qos(depth: int = 5) -> QoSProfile:
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


def _incompatible_reporter(node: Node, role: str, topic: str) -> Callable[[Any], None]:
    def report(event: Any) -> None:
        policy = qos_policy_name_from_kind(event.last_policy_kind)
        # Only a reliable input can refuse a peer on RELIABILITY (a best-effort publisher): say how to accept it.
        hint = (' For a best-effort publisher (a camera driver), set reliability:=best_effort.'
                if role == 'subscription' and policy == 'RELIABILITY' else '')
        node.get_logger().error(
            f"{role} on '{node.resolve_topic_name(topic)}' cannot match a peer: incompatible QoS policy {policy} "
            f'({event.total_count} incompatible peer(s) so far).{hint}')
    return report


def subscribe(node: Node, msg_type: type, topic: str, callback: Callable[[Any], None], qos: QoSProfile) -> Any:
    """A subscription that logs every incompatible publisher."""
    events = SubscriptionEventCallbacks(incompatible_qos=_incompatible_reporter(node, 'subscription', topic))
    return node.create_subscription(msg_type, topic, callback, qos, event_callbacks=events)


def advertise(node: Node, msg_type: type, topic: str, qos: QoSProfile | None = None) -> Any:
    """A publisher that logs every incompatible subscriber."""
    events = PublisherEventCallbacks(incompatible_qos=_incompatible_reporter(node, 'publisher', topic))
    return node.create_publisher(msg_type, topic, qos or output_qos(), event_callbacks=events)
