"""The detector node's ``filter_mode: mask_then_detect``: blank the frame beyond ``max_depth`` before detecting.

The detector node calls an instance with each frame it is about to infer (in its worker thread). The depth image
of the same frame comes on the ``depth`` topic (the depth node's output, or an RGB-D camera's depth remapped to it);
it may arrive after the colour frame (the depth network is slower than the camera), so the call waits for it up to
``wait_s``. The frame and its depth are matched by ``jdd_ros.core.stamp_join`` (exact stamp, or the nearest within
MAX_STAMP_GAP_NS: an RGB-D camera's depth); after ``wait_s`` the nearest there is within it is taken. The subscription
exists only while the mode is in use, so ``detect_then_filter`` costs nothing.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from jdd_ros.core.masking import mask_beyond
from jdd_ros.core.stamp_join import DEPTH, StampMatcher
from jdd_ros.io.image_codec import ImageFormatError, depth_to_metres, image_to_numpy
from jdd_ros.ros.adaptive_qos import AdaptiveSubscription
from jdd_ros.ros.messages import stamp_ns
from jdd_ros.ros.node_log import NodeLog

MAX_STAMP_GAP_NS = 50_000_000  # an RGB-D camera's depth and colour frames of one instant differ by a few ms
KEPT_DEPTHS = 8
FRAME = 'frame'  # the join's first input: the colour frame about to be inferred, which looks for its depth


class DepthMaskFilter:
    """``(rgb, header, max_depth) -> rgb`` with pixels beyond ``max_depth`` (or of unknown depth) in grey."""

    def __init__(self, node: Node, reliability: str = 'auto', wait_s: float = 1.0, subscribe_now: bool = False):
        self.node, self.reliability, self.wait_s = node, reliability, wait_s
        self._join: StampMatcher[Image | int] = StampMatcher((FRAME, DEPTH), KEPT_DEPTHS, MAX_STAMP_GAP_NS)
        self._matched: dict[int, Image] = {}  # frame stamp -> its depth, matched when the depth came
        self._last: tuple[int, Image | None] = (-1, None)  # the latest frame's stamp and depth (a frame sent again)
        self._cond = threading.Condition()  # guards the join; notified when a waiting frame got its depth
        self._sub = None
        self._sub_lock = threading.Lock()
        self.stats = {'masked': 0, 'no_depth': 0, 'bad_depth': 0}
        self._log = NodeLog(node.get_logger())  # each problem value logged at once, the same one every 5 s
        if subscribe_now:  # the mode is on from the start: be subscribed before the first frame
            self._subscribe()
        node.add_post_set_parameters_callback(self._on_parameters)  # switched on at run time: subscribe at once

    def close(self) -> None:
        """Unsubscribe and stop following parameter changes (the node is deactivated)."""
        self.node.remove_post_set_parameters_callback(self._on_parameters)
        with self._sub_lock:
            if self._sub is not None:
                self._sub.destroy()
                self._sub = None

    def _on_parameters(self, params: list[Parameter]) -> None:
        if any(p.name == 'filter_mode' and p.value == 'mask_then_detect' for p in params):
            self._subscribe()

    def _subscribe(self) -> None:
        with self._sub_lock:
            if self._sub is not None:
                return
            # Keep a few: the depth of a frame can arrive before or after the colour frame that needs it.
            self._sub = AdaptiveSubscription(self.node, Image, 'depth', lambda m, _: self._on_depth(m), KEPT_DEPTHS,
                                             self.reliability)
        self.node.get_logger().info(
            f"filter_mode mask_then_detect: masking with depth from '{self._sub.topic_name}'")

    def _on_depth(self, msg: Image) -> None:
        with self._cond:
            match = self._join.add(DEPTH, stamp_ns(msg.header), msg)
            if match is not None:  # the frame waiting in depth_for
                self._matched[match[FRAME]] = match[DEPTH]
                self._cond.notify_all()

    def depth_for(self, header: Header) -> Image | None:
        """The depth message of this frame (exact stamp, else the nearest within 50 ms), waiting up to wait_s."""
        self._subscribe()
        stamp = stamp_ns(header)
        deadline = time.monotonic() + self.wait_s
        with self._cond:
            if stamp == self._last[0] and self._last[1] is not None:  # a frame sent again: the join matches once
                return self._last[1]
            match = self._join.add(FRAME, stamp, stamp)
            while match is None and stamp not in self._matched:
                left = deadline - time.monotonic()
                if left <= 0:  # no exact or nearer depth came: the nearest there is within the gap, if any
                    match = self._join.settle(FRAME, stamp)
                    break
                self._cond.wait(left)
            depth = match[DEPTH] if match is not None else self._matched.pop(stamp, None)
            self._last = (stamp, depth)
            return depth

    def __call__(self, rgb: np.ndarray, header: Header, max_depth: float) -> np.ndarray:
        log = self.node.get_logger()
        depth_msg = self.depth_for(header)
        if depth_msg is None:
            self.stats['no_depth'] += 1
            self._log.problem(f"mask_then_detect: no depth within {self.wait_s:.1f} s for frame "
                              f'{header.stamp.sec}.{header.stamp.nanosec:09d} on {self._sub.topic_name}: detecting on '
                              f"the whole image ({self.stats['no_depth']} such frame(s))", 'no depth')
            return rgb
        try:
            depth = depth_to_metres(image_to_numpy(depth_msg), depth_msg.encoding)
            result = mask_beyond(rgb, depth, max_depth)
        except (ImageFormatError, ValueError) as exc:
            self.stats['bad_depth'] += 1
            self._log.problem(f'mask_then_detect: depth refused ({exc}): detecting on the whole image',
                              f'depth refused: {getattr(exc, "cause", type(exc).__name__)}', str(exc))
            return rgb
        self.stats['masked'] += 1
        log.debug(f'masked beyond {max_depth} m: {100 * result.kept_fraction:.0f} % of the image kept')
        return result.image
