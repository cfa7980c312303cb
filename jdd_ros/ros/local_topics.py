"""In-process hand-over of messages between the nodes of one camera in the one-process pipeline.

In ``nodes/pipeline.py`` the depth node publishes ``depth``, and the fusion node of the same camera subscribed to
it over DDS: each 640x480 32FC1 depth image was serialised, delivered, deserialised and then waited for the one
executor thread (docs/speed.md, per-stage profile: 15 ms p50 from the slower network's
publish to the fused output). With a ``LocalTopics`` the publishing node *declares* (``provide``) the resolved topic
names it publishes every message of, and after each publish *offers* the message; the fusion node, when an input of
its own resolves to a declared name (same namespace, no remapping that diverts only one of them), *listens* instead
of subscribing and gets the very message object, in the publishing node's thread. Outside subscribers still get
every message over DDS; an input that resolves elsewhere (remapped, another camera's) stays a DDS subscription.

Declarations are made when the nodes are constructed, before any of them is configured, so the choice does not
depend on the order the nodes are brought up in. No ROS import: the mechanism is tested on its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

Listener = Callable[[object], None]


class LocalTopics:
    """Resolved topic name -> the in-process listeners of the messages one node of this process publishes there."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._provided: set[str] = set()
        self._listeners: dict[str, tuple[Listener, ...]] = {}

    def provide(self, topic: str) -> None:
        """A node of this process publishes every message of ``topic`` (a resolved name) and offers it here."""
        with self._lock:
            self._provided.add(topic)

    def listen(self, topic: str, listener: Listener) -> bool:
        """Call ``listener(msg)`` for each message offered on ``topic``; False (nothing registered) when no node of
        this process provides it: the caller subscribes over DDS instead."""
        with self._lock:
            if topic not in self._provided:
                return False
            self._listeners[topic] = (*self._listeners.get(topic, ()), listener)
            return True

    def unlisten(self, topic: str, listener: Listener) -> None:
        """Stop calling ``listener`` for ``topic`` (a message being delivered right now still reaches it)."""
        with self._lock:
            rest = tuple(x for x in self._listeners.get(topic, ()) if x != listener)
            if rest:
                self._listeners[topic] = rest
            else:
                self._listeners.pop(topic, None)

    def offer(self, topic: str, msg: object) -> int:
        """Hand ``msg`` (just published on ``topic``) to its listeners, in the caller's thread; how many got it."""
        listeners = self._listeners.get(topic, ())  # a tuple, replaced whole: read without the lock
        for listener in listeners:
            listener(msg)
        return len(listeners)
