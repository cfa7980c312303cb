"""Play a ROS 2 bag into running nodes without ``ros2 bag play`` (not installable here): rosbags + rclpy.

Like ``ros2 bag play --clock [--loop]``: every message is published (as its recorded CDR bytes, no decoding) at its
recorded time offset scaled by ``rate``, and ``/clock`` carries the recorded time, so nodes with
``use_sim_time:=true`` see the bag's time. On a loop the clock jumps back to the start of the bag, exactly what
nodes must survive with a looping ``ros2 bag play``.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jdd_ros.core.stop_flag import StopFlag
from jdd_ros.io.bags import open_bag
from jdd_ros.ros.dds_config import configure_fastdds

if TYPE_CHECKING:
    from rclpy.node import Node
    from rclpy.publisher import Publisher
    from rclpy.type_support import Msg
    from rosbags.rosbag2 import Reader


def message_class(msgtype: str) -> type[Msg]:
    """The rclpy message class of 'pkg/msg/Name' (its Python package must be installed)."""
    package, _, name = msgtype.split('/')
    try:
        return getattr(importlib.import_module(f'{package}.msg'), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"message type {msgtype} is not installed in this environment: {exc}") from exc


@dataclass
class ReplayStats:
    published: dict[str, int] = field(default_factory=dict)
    loops: int = 0
    wall_s: float = 0.0


class BagReplayer:
    """Publishes a bag's messages through ``node`` at the recorded rate, with ``/clock``."""

    def __init__(self, node: Node, path: str | Path, *, rate: float = 1.0, topics: Iterable[str] | None = None,
                 remap: dict[str, str] | None = None, clock: bool = True, clock_hz: float = 100.0,
                 qos_depth: int = 10):
        from rosgraph_msgs.msg import Clock

        from jdd_ros.ros.qos import advertise, output_qos

        if not rate > 0:
            raise ValueError(f'rate must be > 0, got {rate}')
        self.node, self.path, self.rate = node, Path(path), rate
        self.clock_period = 1.0 / clock_hz
        # ros2 bag play publishes with the recorded (usually reliable) QoS; our nodes' best-effort inputs match it.
        # A subscriber that cannot match (e.g. transient-local durability) is reported in the log.
        qos = output_qos(qos_depth)
        remap = remap or {}
        wanted = None if topics is None else set(topics)
        self.publishers: dict[str, Publisher[Msg]] = {}
        with open_bag(self.path) as reader:
            self.start_ns, self.end_ns = reader.start_time, reader.end_time
            self.period_ns = self._frame_period(reader)
            for conn in reader.connections:
                if (wanted is None or conn.topic in wanted) and conn.topic not in self.publishers:
                    self.publishers[conn.topic] = advertise(
                        node, message_class(conn.msgtype), remap.get(conn.topic, conn.topic), qos)
            if not self.publishers:
                asked = f" among {', '.join(sorted(wanted))}" if wanted else ''
                raise ValueError(f'{self.path} has no topic{asked} to play (its topics: '
                                 f"{', '.join(sorted({c.topic for c in reader.connections})) or 'none'})")
        self._clock_msg = Clock()
        self.clock_publisher = advertise(node, Clock, '/clock', qos) if clock else None
        self.stats = ReplayStats({t: 0 for t in self.publishers})

    @staticmethod
    def _frame_period(reader: Reader) -> int:
        """The median gap between distinct receive times: one camera period for a camera bag."""
        from itertools import islice

        import numpy as np

        times = np.unique([ns for _, ns, _ in islice(reader.messages(), 200)])  # the start is enough
        return int(np.median(np.diff(times))) if len(times) > 1 else 0

    def _publish_clock(self, ns: int) -> None:
        if self.clock_publisher is not None:
            self._clock_msg.clock.sec, self._clock_msg.clock.nanosec = divmod(int(ns), 1_000_000_000)
            self.clock_publisher.publish(self._clock_msg)

    def wait_for_subscribers(self, topics: Iterable[str] | None = None, timeout: float = 10.0,
                             settle_s: float = 0.5, stop: StopFlag | None = None) -> list[str]:
        """Wait (at most ``timeout``) until every played topic (or those of ``topics``) has a subscriber, then
        ``settle_s`` more; returns the topics still without one.

        Discovery completes on each side separately: the publisher may see the subscriber before the subscriber has
        matched the publisher, and a subscriber drops what arrives from a publisher it has not matched, so the
        settling time follows the last match (``ros2 bag play --delay`` exists for the same reason). ``stop`` ends
        the wait early.
        """
        stop = stop or StopFlag()
        deadline = time.monotonic() + timeout
        waiting = {t: self.publishers[t] for t in (self.publishers if topics is None else topics)}
        while waiting and time.monotonic() < deadline and not stop.is_set():
            waiting = {t: p for t, p in waiting.items() if p.get_subscription_count() == 0}
            stop.wait(0.05)
        stop.wait(settle_s)
        return [p.topic_name for p in waiting.values()]

    def _sleep_until(self, wall: float, bag_ns_at: Callable[[float], int], stop: StopFlag) -> bool:
        """Sleep until monotonic time ``wall`` publishing the clock; False when ``stop`` was set."""
        while True:
            left = wall - time.monotonic()
            if left <= 0:
                return not stop.is_set()
            self._publish_clock(bag_ns_at(time.monotonic()))
            if stop.wait(min(left, self.clock_period)):
                return False

    def play(self, loops: int | None = 1, stop: StopFlag | None = None) -> ReplayStats:
        """Play the bag ``loops`` times (None: until ``stop`` is set); returns what was published."""
        stop = stop or StopFlag()
        began = time.monotonic()
        t0 = time.monotonic()
        while (loops is None or self.stats.loops < loops) and not stop.is_set():

            def bag_ns_at(wall: float, t0: float = t0) -> int:
                return self.start_ns + max(0, int((wall - t0) * self.rate * 1e9))

            due, published = t0, sum(self.stats.published.values())
            with open_bag(self.path) as reader:
                conns = [c for c in reader.connections if c.topic in self.publishers]
                for conn, ns, raw in reader.messages(connections=conns):
                    due = t0 + (ns - self.start_ns) / 1e9 / self.rate
                    if not self._sleep_until(due, bag_ns_at, stop):
                        break
                    self._publish_clock(ns)
                    self.publishers[conn.topic].publish(bytes(raw))
                    self.stats.published[conn.topic] += 1
                else:
                    self.stats.loops += 1
            if sum(self.stats.published.values()) == published:
                break  # nothing to play on these topics: looping would only spin
            # The next loop starts one frame period after the last message, keeping the camera's rhythm (an
            # immediate restart would race the last frame's messages against the first of the next loop).
            t0 = due + self.period_ns / 1e9 / self.rate
        self.stats.wall_s = time.monotonic() - began
        return self.stats


def replay(bag: str, *, rate: float = 1.0, loop: bool = False, topics: list[str] | None = None,
           remap: dict[str, str] | None = None, clock: bool = True, wait_s: float = 10.0, delay_s: float = 0.0) -> int:
    """``jdd-ros replay``: a ``ros2 bag play --clock [--loop]`` for machines without ros2cli; the exit status."""
    import signal

    import rclpy
    from rclpy.signals import SignalHandlerOptions

    dds = configure_fastdds()
    # Ctrl-C / SIGTERM end the playback between two messages. rclpy's own handlers would shut the context down at
    # once, and the publish in progress would fail with a traceback ("publisher's context is invalid").
    stop = StopFlag()  # set by the signal handlers: no lock (core.stop_flag)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    # The command's own options are not ROS arguments (FROM:=TO would be read as a remap rule).
    rclpy.init(args=[], signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node('jdd_ros_bag_replay')
    log = node.get_logger()
    log.info(dds)
    try:
        replayer = BagReplayer(node, bag, rate=rate, topics=topics, remap=remap, clock=clock)
        log.info(f'playing {bag}: {", ".join(replayer.publishers)}' + (' (loop)' if loop else ''))
        if wait_s > 0:
            log.info(f'waiting up to {wait_s:.0f} s for subscribers of the played topics')
            missing = replayer.wait_for_subscribers(timeout=wait_s, stop=stop)
            if missing and not stop.is_set():
                log.warning(f'no subscriber after {wait_s:.0f} s on: {", ".join(missing)}; playing anyway')
        stop.wait(max(0.0, delay_s))
        stats = replayer.play(loops=None if loop else 1, stop=stop)
        log.info(f'played {stats.loops} loop(s) in {stats.wall_s:.1f} s: {stats.published}'
                 + (' (stopped)' if stop.is_set() else ''))
    except (FileNotFoundError, ValueError) as exc:
        print(f'jdd-ros replay: {exc}', file=sys.stderr)
        return 2
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
