"""An input subscription whose reliability follows the publishers it finds.

Rule (re-decided whenever the set of publishers changes, each change logged once with its reason):
  * every publisher reliable (a bag player, most drivers)  -> RELIABLE: no frame lost in transport
  * any best-effort publisher (a camera driver)            -> BEST_EFFORT: a reliable reader cannot match it
  * no publisher yet                                       -> RELIABLE; a best-effort publisher that appears later is
                                                              reported at once by the incompatible-QoS event
``ReliabilityPolicy.BEST_AVAILABLE`` is not enough: rclpy resolves it once, at creation, and a best-effort camera that
starts later is then refused for good. A fixed reliability (the ``reliability`` parameter) gives a plain subscription
with the same logging.

A change is make-before-break: the new subscription is created while the old one still receives, both feed one
delivery function that drops, per publisher, what it already delivered (publication sequence numbers from rclpy's
MessageInfo), and the old one is destroyed once the new one has matched its publishers (or after
``HANDOVER_TIMEOUT_S``). Measured (/work/scratch/dds REPORT, Q6): first frame 0.12 s after a publisher appears, and a
reliable publisher joined and left by a best-effort one lost and duplicated no frame.

Matches are counted by polling ``get_publisher_count`` (logged on change: what is published before a subscription
has matched its publisher is not received, so tests wait for that line): a ``matched`` event callback made
rmw_fastrtps (Kilted wheels) keep the DDS reader alive after the subscription was destroyed, and peers kept matching a
stopped node for seconds. Timers run on the steady clock, so ``use_sim_time`` without /clock does not stop them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic

from rclpy.clock import Clock, ClockType
from rclpy.event_handler import QoSMessageLostInfo, SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_policy_name_from_kind
from rclpy.subscription import MessageInfo, Subscription
from rclpy.timer import Timer
from rclpy.type_support import MsgT

from jdd_ros.ros.qos import IncompatibleQoSInfo, incompatible_reporter

RELIABLE, BEST_EFFORT = ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT
MODES = ('auto', 'reliable', 'best_effort')
POLL_PERIOD_S = 0.25
HANDOVER_TIMEOUT_S = 2.0
_MAX_PUBLISHERS = 256


def _name(reliability: ReliabilityPolicy) -> str:
    return 'reliable' if reliability == RELIABLE else 'best_effort'


def decide(publishers: list[ReliabilityPolicy], mode: str = 'auto') -> tuple[ReliabilityPolicy, str]:
    """The reliability for these publishers' reliabilities, and why (for the log)."""
    if mode != 'auto':
        return (RELIABLE if mode == 'reliable' else BEST_EFFORT), f'reliability:={mode}'
    if not publishers:
        return RELIABLE, 'no publisher yet: reliable until a best-effort one appears'
    best_effort = sum(1 for r in publishers if r == BEST_EFFORT)
    if best_effort:
        return BEST_EFFORT, (f'{best_effort} of {len(publishers)} publisher(s) best-effort (a reliable subscription '
                             'cannot match them)')
    return RELIABLE, f'all {len(publishers)} publisher(s) reliable: no frame lost in transport'


def steady_timer(node: Node, period_s: float, callback: Callable[[], None]) -> Timer:
    """A timer on the steady clock: it runs with ``use_sim_time`` even while no /clock is published."""
    return node.create_timer(period_s, callback, clock=Clock(clock_type=ClockType.STEADY_TIME))


class AdaptiveSubscription(Generic[MsgT]):
    """``callback(msg, info)`` for every message of ``topic``, through a subscription that follows its publishers."""

    def __init__(self, node: Node, msg_type: type[MsgT], topic: str, callback: Callable[[MsgT, MessageInfo], None],
                 depth: int = 1, mode: str = 'auto',
                 message_lost: Callable[[QoSMessageLostInfo], None] | None = None):
        if mode not in MODES:
            raise ValueError(f"reliability must be one of {', '.join(MODES)}, got '{mode}'")
        self._node, self._type, self._topic, self._callback = node, msg_type, topic, callback
        self._depth, self._mode, self._message_lost = depth, mode, message_lost
        self._lock = threading.RLock()
        self._last_seq: dict[bytes, int] = {}
        self._seq_seen = False
        self._sub: Subscription[MsgT] | None = None
        self._reliability: ReliabilityPolicy | None = None
        self._old: list[tuple[Subscription[MsgT], float]] = []  # subscriptions being replaced, with when
        self._matched: int | None = None
        self.topic_name = node.resolve_topic_name(topic)
        self.duplicates_dropped = 0
        self._switch(*self._decide())
        self._timer = steady_timer(node, POLL_PERIOD_S, self._poll)

    @property
    def reliability(self) -> str:
        return _name(self._reliability)

    def get_publisher_count(self) -> int:
        return self._sub.get_publisher_count() if self._sub is not None else 0

    def destroy(self) -> None:
        with self._lock:
            self._node.destroy_timer(self._timer)
            for sub, _ in self._old:
                self._node.destroy_subscription(sub)
            self._old.clear()
            if self._sub is not None:
                self._node.destroy_subscription(self._sub)
                self._sub = None

    def _decide(self) -> tuple[ReliabilityPolicy, str]:
        infos = self._node.get_publishers_info_by_topic(self.topic_name)
        return decide([i.qos_profile.reliability for i in infos], self._mode)

    def _reconsider(self) -> None:
        with self._lock:
            reliability, reason = self._decide()
            if reliability != self._reliability:
                self._switch(reliability, reason)

    def _switch(self, reliability: ReliabilityPolicy, reason: str) -> None:
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self._depth, reliability=reliability,
                         durability=DurabilityPolicy.VOLATILE)
        report = incompatible_reporter(self._node, 'subscription', self._topic)

        def incompatible(event: IncompatibleQoSInfo) -> None:
            # In 'auto' a best-effort publisher is expected: the switch that follows logs itself.
            if self._mode == 'auto' and qos_policy_name_from_kind(event.last_policy_kind) == 'RELIABILITY':
                self._reconsider()
            else:
                report(event)

        events = SubscriptionEventCallbacks(incompatible_qos=incompatible, message_lost=self._message_lost)
        new = self._node.create_subscription(self._type, self._topic, self._deliver, qos, event_callbacks=events)
        if self._sub is not None:
            if self._seq_seen:
                self._old.append((self._sub, time.monotonic()))
            else:  # without sequence numbers duplicates could not be dropped: break before make
                self._node.destroy_subscription(self._sub)
        previous, self._sub, self._reliability = self._reliability, new, reliability
        verb = 'subscribed' if previous is None else f'switched from {_name(previous)} to'
        self._node.get_logger().info(f"input '{self.topic_name}': {verb} {_name(reliability)} ({reason})")

    def _poll(self) -> None:
        if self._mode == 'auto':
            self._reconsider()
        with self._lock:
            count = self.get_publisher_count()
            if count != self._matched:
                self._matched = count
                self._node.get_logger().info(f"input '{self.topic_name}': {count} publisher(s) matched")
            if self._old:
                now = time.monotonic()
                done = count >= len(self._node.get_publishers_info_by_topic(self.topic_name))
                keep = [(s, t) for s, t in self._old if not done and now - t <= HANDOVER_TIMEOUT_S]
                for sub, _ in set(self._old) - set(keep):
                    self._node.destroy_subscription(sub)
                self._old = keep

    def _deliver(self, msg: MsgT, info: MessageInfo) -> None:
        seq = info.get('publication_sequence_number') if isinstance(info, dict) else None
        gid = info.get('publisher_gid') if isinstance(info, dict) else None
        if seq and gid is not None:
            key = bytes(gid.get('data', b'')) if isinstance(gid, dict) else bytes(gid)
            with self._lock:
                self._seq_seen = True
                last = self._last_seq.get(key)
                if last is not None and seq <= last:
                    self.duplicates_dropped += 1
                    return
                if len(self._last_seq) > _MAX_PUBLISHERS:
                    self._last_seq.clear()
                self._last_seq[key] = seq
        self._callback(msg, info)
