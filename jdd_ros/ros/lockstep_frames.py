"""The same newest frame for several networks: how the one-process pipeline makes depth and detections pair up.

Each network infers only the newest frame (``NewestFrameWorker``), but two nodes that each keep their own newest
frame infer different frames when their speeds differ, and the exact-stamp join of the fusion node can then pair
only the few frames both happened to infer (measured before: 61 of 117 depth frames fused at 30 Hz). Here every
member infers the same frame, each in its own thread, in parallel on the cores; the next frame (the newest waiting
one) starts when all members have finished, so every inferred frame can be fused.

One member per input topic *feeds* it (subscribes and offers every frame, telling the other members of that topic
that it arrived); the others subscribe nothing, so a camera frame is delivered and deserialised once, not once per
network (measured: no change with one camera, 1.09x the total fused frames/s with four; docs/speed.md). When the
feeder leaves, another member of its topic is told to feed. No ROS import: the mechanism is tested on its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar('T')  # a frame (the pipeline's: sensor_msgs/Image)


@dataclass
class Member(Generic[T]):
    """One network's part: ``process(msg)`` runs in the member's thread; ``on_error(msg, exc)`` gets its failures;
    ``on_replaced()`` is told when a frame it received was replaced by a newer one before inference started."""

    name: str
    process: Callable[[T], object]
    on_error: Callable[[T, Exception], None]
    on_replaced: Callable[[], None] = lambda: None
    topic: Hashable = None  # the input it reads (the resolved image topic): members of one topic share one feed
    feed: Callable[[], None] = lambda: None  # told once it is its topic's feeder: subscribe and ``offer`` every frame
    on_received: Callable[[object], None] = lambda info: None  # a frame of its topic arrived (the feeder's info)
    on_lost: Callable[[object], None] = lambda event: None  # frames of its topic lost in transport (feeder's event)
    _work: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None


class LockstepFrames(Generic[T]):
    """Members infer the same frames; ``offer`` takes a frame from any member's subscription, once per stamp."""

    def __init__(self, key: Callable[[T], Hashable] = id):
        self._key = key  # what makes two offers the same frame (the header stamp)
        self._cond = threading.Condition()
        self._members: list[Member[T]] = []
        self._latest: T | None = None
        self._latest_key: Hashable = None
        self._current: T | None = None  # the frame the members are inferring
        self._pending: set[str] = set()  # members still inferring the current frame
        self._stopping = False
        self._recent_keys: list[Hashable] = []
        self._feeders: dict[Hashable, str] = {}  # input topic -> the member that subscribes to it

    def join(self, member: Member[T]) -> None:
        """Add a member (its thread starts); it takes part from the next frame on, and feeds its topic (``feed``
        called here) when no other member does."""
        with self._cond:
            member._thread = threading.Thread(target=self._run, args=(member,), name=member.name, daemon=True)
            self._members.append(member)
            member._thread.start()
            feeds = self._feeders.setdefault(member.topic, member.name) == member.name
        if feeds:
            member.feed()

    def leave(self, name: str, timeout: float = 5.0) -> None:
        """Remove a member: its frame in progress finishes, the others go on without it (another member of its
        topic feeds it from now on)."""
        with self._cond:
            member = next((m for m in self._members if m.name == name), None)
            if member is None:
                return
            self._members.remove(member)
            member._work.set()
            self._cond.notify_all()
            heir = None
            if self._feeders.get(member.topic) == name:
                del self._feeders[member.topic]
                heir = None if self._stopping else next((m for m in self._members if m.topic == member.topic), None)
                if heir is not None:
                    self._feeders[member.topic] = heir.name
        if heir is not None:
            heir.feed()
        if member._thread is not None and member._thread is not threading.current_thread():
            member._thread.join(timeout)

    def feeder(self, topic: Hashable) -> str | None:
        """The name of the member that feeds ``topic``."""
        with self._cond:
            return self._feeders.get(topic)

    def lost(self, topic: Hashable, event: object) -> None:
        """The feeder's subscription lost frames of ``topic`` in transport: every member of the topic is told."""
        for m in self._readers(topic):
            m.on_lost(event)

    def _readers(self, topic: Hashable) -> list[Member[T]]:
        with self._cond:
            return [m for m in self._members if m.topic == topic]

    def offer(self, msg: T, topic: Hashable = None, info: object = None) -> bool:
        """Make ``msg`` the frame to infer next unless it was offered already (another topic's feeder); the
        members reading ``topic`` are first told it arrived (``on_received(info)``). True when it replaced a frame
        that will never be inferred (every member is told)."""
        for m in self._readers(topic):
            m.on_received(info)
        key = self._key(msg)
        with self._cond:
            if key == self._latest_key or key in self._recent_keys:
                return False
            replaced = self._latest is not None
            self._latest, self._latest_key = msg, key
            self._recent_keys = (self._recent_keys + [key])[-8:]
            members = list(self._members)
            self._dispatch()
        if replaced:
            for m in members:
                m.on_replaced()
        return replaced

    def _dispatch(self) -> None:
        """Hand the waiting frame to every member when none is busy (lock held)."""
        if self._pending or self._latest is None or not self._members or self._stopping:
            return
        self._current, self._latest, self._latest_key = self._latest, None, None
        self._pending = {m.name for m in self._members}
        for m in self._members:
            m._work.set()

    def _done(self, member: Member[T]) -> None:
        """``member`` has finished (or will not do) the current frame (lock held)."""
        if member.name in self._pending:
            self._pending.discard(member.name)
            self._dispatch()

    def _run(self, member: Member[T]) -> None:
        while True:
            member._work.wait()
            with self._cond:
                member._work.clear()
                if self._stopping or member not in self._members:
                    self._done(member)
                    return
                msg = self._current
            try:
                member.process(msg)
            except Exception as exc:  # noqa: BLE001 - one failed frame must not stop the member
                member.on_error(msg, exc)
            with self._cond:
                self._done(member)

    def stop(self, timeout: float = 5.0) -> None:
        """The process ends: every member finishes its frame in progress and infers no more; no member is told
        to feed any more."""
        with self._cond:
            self._stopping = True
            members = list(self._members)
            for m in members:
                m._work.set()
        for m in members:
            if m._thread is not None and m._thread is not threading.current_thread():
                m._thread.join(timeout)
