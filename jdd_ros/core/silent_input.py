"""Why a node hears nothing: after ``SILENT_AFTER_S`` without a frame, one warning naming the topic it subscribed
(fully resolved) and the image topics that do exist in the ROS graph, with their types.

A mistyped remapping (``image:=/camera/imag_raw``) otherwise shows only as '0 publisher(s) matched' once at start-up.
The warning is repeated only when the list of image topics changes (a camera driver started, or stopped), never
periodically: a node left waiting on purpose must not flood the log. No ROS imports and no clock of its own: the ROS
side passes ``now`` and what it found in the graph (``jdd_ros.ros.graph``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SILENT_AFTER_S = 10.0
IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')


@dataclass(frozen=True, order=True)
class GraphTopic:
    """A topic of the ROS graph: its name, its types and how many publishers it has."""

    name: str
    types: tuple[str, ...]
    publishers: int = 0

    def describe(self) -> str:
        return f"'{self.name}' ({', '.join(self.types)}, {self.publishers} publisher(s))"


def image_topics(topics: Iterable[GraphTopic]) -> list[GraphTopic]:
    """The topics that carry images (sensor_msgs Image or CompressedImage) and have a publisher, sorted by name."""
    return sorted(t for t in topics if t.publishers > 0 and any(ty in IMAGE_TYPES for ty in t.types))


class SilentInput:
    """One input topic's silence: ``silent`` says when to look at the graph, ``report`` what to log (or None)."""

    def __init__(self, topic: str, now: float, after_s: float = SILENT_AFTER_S):
        self.topic = topic
        self.after_s = after_s
        self._since = now
        self._received = 0
        self._reported: tuple[GraphTopic, ...] | None = None  # the image topics of the last warning

    def silent(self, now: float, received: int) -> bool:
        """Whether the input has been silent for ``after_s`` (``received``: the node's frame counter); a frame that
        arrived resets the silence, so that a later one is reported again."""
        if received != self._received:
            self._received, self._since, self._reported = received, now, None
            return False
        return now - self._since >= self.after_s

    def report(self, now: float, graph: Sequence[GraphTopic]) -> str | None:
        """The warning for the image topics now in ``graph``, or None when the last warning named the same ones."""
        found = image_topics(graph)
        own = next((t for t in found if t.name == self.topic), None)
        others = tuple(t for t in found if t.name != self.topic)
        key = tuple(found)
        if key == self._reported:
            return None
        self._reported = key
        silent = f"no image received on '{self.topic}' for {now - self._since:.0f} s"
        if own is not None and self._received:
            silent += f' (it has {own.publishers} publisher(s))'
        elif own is not None:
            silent += f' (it has {own.publishers} publisher(s), which sent nothing this node could receive)'
        if not others:
            return (f'{silent}; no other image topic is published in the ROS graph: is the camera driver or bag '
                    'running, with the same ROS_DOMAIN_ID?')
        listed = ', '.join(t.describe() for t in others)
        return f'{silent}; image topics in the ROS graph: {listed}; remap the input to one of them (image:=TOPIC)'
