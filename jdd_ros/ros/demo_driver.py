"""``jdd-ros demo``, the ROS side: plays the sample into the running nodes over DDS as a camera would (colour image,
16UC1 depth in millimetres and camera_info, one header per frame), collects what each fusion node publishes for that
frame, sets parameters through the parameter services as ``ros2 param set`` does, and keeps the annotated images.

Frames are played one at a time: the next is sent once every fusion node has answered the last (or after
``FRAME_TIMEOUT_S``, then counted as lost and sent again; the first frame sooner, ``FIRST_FRAME_WAITS_S``), so every
frame of the demo is fused and printed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

import numpy as np

from jdd_ros.core.detection import Detection
from jdd_ros.core.stop_flag import StopFlag
from jdd_ros.io.detection_msgs import read_detection_array
from jdd_ros.io.frames import RGBDFrame
from jdd_ros.io.image_codec import fill_image, image_to_numpy, to_rgb8
from jdd_ros.io.message_fields import Detection2DArrayFields, StampedFields
from jdd_ros.ros.client_node import ClientNode
from jdd_ros.ros.messages import stamp_ns
from jdd_ros.ros.param_tool import ParamTool, set_result_line

if TYPE_CHECKING:
    from rclpy.parameter import AllowableParameterValue
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

FRAME_TIMEOUT_S = 15.0
CAMERA_PERIOD_NS = 100_000_000  # frames are stamped as a 10 Hz camera's, whatever the pace of the demo
CUT_NS = 2_000_000_000
ATTEMPTS = 3
# The first frame: the demo sees every node's subscriptions, but not whether one node's publisher has matched another
# node's subscription yet (discovery between two other processes; measured: ground_fusion_node matched the pipeline's
# /detections ~0.6 s after the first frame's detections went out, and missed them). So the first frame is sent again
# soon, with a growing wait (a slow first inference still gets its time).
FIRST_FRAME_WAITS_S = (2.0, 4.0, 8.0, 15.0, 15.0)
SETTLE_S = 0.5  # after the publishers see the subscriptions, until the subscriptions have matched back
FRAME_ID = 'camera_color_optical_frame'


class Interrupted(Exception):
    """The demo was asked to stop (Ctrl-C, or a node ended)."""


def detections_with_depth(msg: Detection2DArrayFields) -> list[Detection]:
    """A fused Detection2DArray as Detections with ``depth`` (``position.z``; NaN where the fusion had none)."""
    out = []
    for det in read_detection_array(msg, keep_messages=True).detections:
        d2d = det.extra.pop('msg')
        best = max(d2d.results, key=lambda r: r.hypothesis.score)
        z = float(best.pose.pose.position.z)
        det.depth = z if z > 0 else float('nan')
        out.append(det)
    return out


Stamped = TypeVar('Stamped', bound=StampedFields)


class _Collector(Generic[Stamped]):
    """The messages of one topic by header stamp (the newest few)."""

    def __init__(self, keep: int = 50):
        self.by_stamp: dict[int, Stamped] = {}
        self.keep = keep
        self.cond = threading.Condition()

    def __call__(self, msg: Stamped) -> None:
        with self.cond:
            self.by_stamp[stamp_ns(msg.header)] = msg
            while len(self.by_stamp) > self.keep:
                self.by_stamp.pop(next(iter(self.by_stamp)))
            self.cond.notify_all()

    def wait(self, stamp: int, timeout: float, stop: StopFlag) -> Stamped | None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while stamp not in self.by_stamp:
                left = deadline - time.monotonic()
                if left <= 0 or stop.is_set():
                    return None
                self.cond.wait(min(left, 0.1))
            return self.by_stamp[stamp]


class DemoDriver:
    """Publishes the sample frames and reads the fusion nodes' answers (``topics``: one per column)."""

    def __init__(self, client: ClientNode, topics: Sequence[str], image_topic: str, depth_topic: str,
                 camera_info_topic: str, stop: StopFlag):
        from sensor_msgs.msg import CameraInfo, Image
        from vision_msgs.msg import Detection2DArray

        from jdd_ros.ros.qos import output_qos

        self.client, self.stop = client, stop
        node = client.node
        self.image_pub = node.create_publisher(Image, image_topic, output_qos(5))
        self.depth_pub = node.create_publisher(Image, depth_topic, output_qos(5))
        self.info_pub = node.create_publisher(CameraInfo, camera_info_topic, output_qos(5))
        self.results: dict[str, _Collector[Detection2DArray]] = {t: _Collector() for t in topics}
        for topic, collector in self.results.items():
            node.create_subscription(Detection2DArray, topic, collector, output_qos(50))
        self.annotated: _Collector[Image] = _Collector(keep=5)
        node.create_subscription(Image, 'annotated', self.annotated, output_qos(5))
        self.lost = 0
        self.first_frame_sends = 0  # how often the first frame was sent until it was answered
        self.answered = False  # whether any frame has been answered yet
        self._last_ns = 0
        self._gap_ns = 0

    def _subscribers(self, topic: str) -> set[str]:
        return {info.node_name for info in self.client.node.get_subscriptions_info_by_topic(topic)}

    def wait_ready(self, expected: dict[str, set[str]], timeout: float) -> None:
        """Until the nodes named in ``expected`` (topic -> node names) subscribe those topics, and every fusion node
        publishes its output: a node subscribes once its model is loaded. TimeoutError naming what is missing,
        Interrupted on a stop."""
        node = self.client.node

        def missing() -> list[str]:
            out = [f'{n} on {topic}' for topic, names in expected.items()
                   for n in sorted(names - self._subscribers(topic))]
            return out + [f'a publisher of {t}' for t in [*self.results, 'annotated'] if node.count_publishers(t) == 0]

        if not self.client.wait_until(lambda: not missing(), timeout, self.stop):
            if self.stop.is_set():
                raise Interrupted
            raise TimeoutError(f'the nodes were not ready within {timeout:.0f} s (missing: {", ".join(missing())})')
        if self.stop.wait(SETTLE_S):
            raise Interrupted

    def _stamp_ns(self) -> int:
        """The next frame's stamp: a 10 Hz camera's, after ``cut()`` a jump forward."""
        if not self._last_ns:
            self._last_ns = self.client.node.get_clock().now().nanoseconds
        self._last_ns += CAMERA_PERIOD_NS + self._gap_ns
        self._gap_ns = 0
        return self._last_ns

    def cut(self) -> None:
        """The next frame shows another scene: its stamp jumps CUT_NS ahead, beyond fusion_node's track lifetime
        (1 s), so no object of the last scene is taken to have moved into this one (a time to contact from nothing)."""
        self._gap_ns = CUT_NS

    def _publish(self, frame: RGBDFrame, ns: int) -> None:
        from builtin_interfaces.msg import Time
        from sensor_msgs.msg import CameraInfo, Image
        from std_msgs.msg import Header

        header = Header(stamp=Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000), frame_id=FRAME_ID)
        intr = frame.intrinsics
        info = CameraInfo(header=header, height=intr.height, width=intr.width, distortion_model='plumb_bob')
        info.d = [0.0] * 5
        info.k = [intr.fx, 0.0, intr.cx, 0.0, intr.fy, intr.cy, 0.0, 0.0, 1.0]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = [intr.fx, 0.0, intr.cx, 0.0, 0.0, intr.fy, intr.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
        depth_mm = np.nan_to_num(frame.depth_m * 1000.0, nan=0.0).round().astype(np.uint16)
        self.info_pub.publish(info)
        self.depth_pub.publish(fill_image(Image(header=header), depth_mm, '16UC1'))
        self.image_pub.publish(fill_image(Image(header=header), np.ascontiguousarray(frame.rgb), 'rgb8'))

    def play(self, frame: RGBDFrame) -> tuple[int, dict[str, list[Detection]]]:
        """Publish one frame and return its stamp and each topic's detections with their distances. A frame that
        a node did not answer in time is sent again with a new stamp (counted in ``lost`` after the first frame)."""
        waits = (FRAME_TIMEOUT_S,) * ATTEMPTS if self.answered else FIRST_FRAME_WAITS_S
        for wait in waits:
            ns = self._stamp_ns()
            self._publish(frame, ns)
            got = self._answers(ns, wait)
            if not self.answered:
                self.first_frame_sends += 1
            if got is not None:
                self.answered = True
                return ns, got
            if self.answered:
                self.lost += 1
        raise TimeoutError(f'no answer from the fusion node(s) to {len(waits)} frames sent, the last waited '
                           f'{waits[-1]:.0f} s')

    def _answers(self, ns: int, wait: float) -> dict[str, list[Detection]] | None:
        """Every fusion node's detections for the frame ``ns``, or None when one did not answer within ``wait``."""
        got = {}
        deadline = time.monotonic() + wait
        for topic, collector in self.results.items():
            msg = collector.wait(ns, max(0.0, deadline - time.monotonic()), self.stop)
            if self.stop.is_set():
                raise Interrupted
            if msg is None:
                return None
            got[topic] = detections_with_depth(msg)
        return got

    def annotated_rgb(self, ns: int, timeout: float = 5.0) -> np.ndarray | None:
        """The annotated image fusion_node published for the frame ``ns`` (RGB), or None."""
        msg = self.annotated.wait(ns, timeout, self.stop)
        if msg is None:
            return None
        return to_rgb8(image_to_numpy(msg), msg.encoding)

    def set_parameter(self, node: str, name: str, text: str) -> tuple[str, bool]:
        """``ros2 param set NODE NAME TEXT``: its line and whether the node took the value."""
        return set_result_line(ParamTool(self.client, timeout=10.0).set(node, name, text))

    def get_parameter(self, node: str, name: str) -> AllowableParameterValue:
        """``ros2 param get NODE NAME`` as a Python value."""
        from rclpy.parameter import parameter_value_to_python

        return parameter_value_to_python(ParamTool(self.client, timeout=10.0).get(node, name))
