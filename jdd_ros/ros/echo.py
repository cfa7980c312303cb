"""``jdd-ros echo [TOPIC]``: the detections of a ``vision_msgs/Detection2DArray`` topic, one readable line each.

Where ``ros2 topic echo /detections_with_depth`` prints ~40 YAML lines per detection, this prints the frame's stamp,
the class, the score, the distance (``results[k].pose.pose.position.z`` as fusion_node writes it; ``-`` when the
message carries none or it was not measurable) and the detection's ID; ``--csv`` gives the same as CSV rows.
"""

from __future__ import annotations

import csv
import math
import sys
import threading
from dataclasses import dataclass
from typing import TextIO

from jdd_ros.core.stop_flag import StopFlag
from jdd_ros.io.message_fields import Detection2DArrayFields
from jdd_ros.ros.client_node import ClientNode

DETECTION_ARRAY = 'vision_msgs/msg/Detection2DArray'
CSV_FIELDS = ('stamp', 'frame_id', 'class', 'score', 'distance_m', 'id', 'x1', 'y1', 'x2', 'y2')


@dataclass(frozen=True)
class EchoRow:
    """One detection of one message, as echo shows it."""

    stamp: str
    frame_id: str
    class_name: str
    score: float
    distance_m: float  # NaN: none in the message
    id: str
    box: tuple[float, float, float, float]


def rows(msg: Detection2DArrayFields) -> list[EchoRow]:
    """The detections of a Detection2DArray (best hypothesis of each) as rows."""
    stamp = f'{msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d}'
    out = []
    for i, d in enumerate(msg.detections):
        if not len(d.results):
            continue
        best = max(d.results, key=lambda r: r.hypothesis.score)
        z = float(best.pose.pose.position.z)
        cx, cy = float(d.bbox.center.position.x), float(d.bbox.center.position.y)
        w, h = float(d.bbox.size_x) / 2, float(d.bbox.size_y) / 2
        out.append(EchoRow(stamp, msg.header.frame_id, best.hypothesis.class_id, float(best.hypothesis.score),
                           z if z > 0 else math.nan, d.id or str(i), (cx - w, cy - h, cx + w, cy + h)))
    return out


def text_line(row: EchoRow) -> str:
    """``1764958012.345678901  chair   0.94  1.75 m  id 0``."""
    distance = f'{row.distance_m:6.2f} m' if math.isfinite(row.distance_m) else '     - m'
    return f'{row.stamp}  {row.class_name:<14} {row.score:4.2f}  {distance}  id {row.id}'


def csv_values(row: EchoRow) -> list[str]:
    distance = f'{row.distance_m:.3f}' if math.isfinite(row.distance_m) else ''
    return [row.stamp, row.frame_id, row.class_name, f'{row.score:.4f}', distance, row.id,
            *(f'{v:.1f}' for v in row.box)]


def topic_type(client: ClientNode, topic: str) -> list[str]:
    """The types the graph knows for ``topic`` now (empty: no one publishes or subscribes it yet)."""
    return next((types for name, types in client.node.get_topic_names_and_types() if name == topic), [])


class Echo:
    """Prints each message of the topic as it arrives; ``once`` stops after the first."""

    def __init__(self, out: TextIO, as_csv: bool, once: bool):
        self.out, self.once = out, once
        self.writer = csv.writer(out, lineterminator='\n') if as_csv else None
        self.done = threading.Event()
        self.messages = 0
        self._lock = threading.Lock()
        if self.writer:
            self.writer.writerow(CSV_FIELDS)
            out.flush()

    def __call__(self, msg: Detection2DArrayFields) -> None:
        with self._lock:
            if self.done.is_set():
                return
            found = rows(msg)
            for row in found:
                if self.writer:
                    self.writer.writerow(csv_values(row))
                else:
                    print(text_line(row), file=self.out)
            if not found and not self.writer:
                stamp = f'{msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d}'
                print(f'{stamp}  (no detections)', file=self.out)
            self.out.flush()
            self.messages += 1
            if self.once:
                self.done.set()


def run_echo(topic: str, *, once: bool = False, as_csv: bool = False, timeout: float | None = None,
             stop: StopFlag | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Echo ``topic`` until Ctrl-C (``stop``), ``once`` message, or ``timeout`` seconds without one (exit 1)."""
    from vision_msgs.msg import Detection2DArray

    from jdd_ros.ros.qos import output_qos

    out, err = out or sys.stdout, err or sys.stderr
    stop = stop or StopFlag()
    topic = topic if topic.startswith('/') else '/' + topic
    with ClientNode('_jdd_ros_echo') as client:
        client.wait_until(lambda: bool(topic_type(client, topic)), 2.0, stop)
        other: list[str] = []  # the topic's types other than detections, once the graph shows them

        def wrong_type() -> bool:  # checked while waiting too: on a busy machine discovery can take over 2 s (and
            # once subscribed, our own subscription adds the detections type to the topic)
            other[:] = [t for t in topic_type(client, topic) if t != DETECTION_ARRAY]
            return bool(other)

        if not wrong_type() and not topic_type(client, topic):
            print(f'jdd-ros echo: waiting for a publisher on {topic}', file=err)
        echo = Echo(out, as_csv, once)
        if not other:
            client.node.create_subscription(Detection2DArray, topic, echo, output_qos(10))
            ended = client.wait_until(lambda: echo.done.is_set() or stop.is_set() or wrong_type(),
                                      math.inf if timeout is None else timeout)
    if other:
        print(f"jdd-ros echo: {topic} is {', '.join(other)}; echo reads {DETECTION_ARRAY} topics "
              '(detections, detections_with_depth)', file=err)
        return 2
    if not ended and not echo.messages:
        print(f'jdd-ros echo: no message on {topic} within {timeout:g} s', file=err)
        return 1
    return 0
