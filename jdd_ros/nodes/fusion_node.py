"""fusion_node: detections + depth of the same camera frame -> detections with their distance, filtered by max_depth.

Thin ROS shell around jdd_ros.core.fusion: join by exact header stamp, read each box's depth, publish with the input
header unchanged. Parameters are re-read for every pair, so ``ros2 param set`` applies to the next one.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from vision_msgs.msg import Detection2DArray, Detection3DArray

from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.core.fusion import FusionCounters, FusionSettings, fuse
from jdd_ros.core.stamp_join import DEPTH, DETECTIONS, StampJoiner
from jdd_ros.io.camera_info import intrinsics_from_camera_info
from jdd_ros.io.drawing import draw_detections
from jdd_ros.io.image_codec import ImageFormatError, depth_to_metres, fill_image, image_to_numpy, to_rgb8
from jdd_ros.ros import qos
from jdd_ros.ros.diagnostics import FusionDiagnostics  # diagnostics hook (#12)
from jdd_ros.ros.markers import DetectionMarkers  # markers hook (#12)
from jdd_ros.ros.messages import detections_to_3d_msg, fused_detections_to_msg, msg_to_detections, stamp_ns
from jdd_ros.ros.parameters import NodeParameters
from jdd_ros.ros.runtime import run_node

COUNTER_LOG_PERIOD_S = 10.0  # wall time, for logging only: the join itself never looks at a clock
REPEAT_LOG_PERIOD_S = 5.0  # the same problem is logged at most this often (the counters keep the totals)


class FusionNode(Node):
    def __init__(self) -> None:
        super().__init__('fusion_node')
        self.params = NodeParameters(self, 'fusion_node')
        cache = self.params.current.cache_size
        self.joiner, self.counters = StampJoiner(cache), FusionCounters()
        self.intrinsics: CameraIntrinsics | None = None
        self._image_size: tuple[int, int] | None = None  # the detections' image size, from the image topic
        self._images: OrderedDict[int, Any] = OrderedDict()  # stamp -> Image, kept only while annotated is watched
        self._results: OrderedDict[int, Any] = OrderedDict()  # stamp -> FusionResult waiting for its image
        self._last_log, self._last_summary = time.monotonic(), ''
        self._problems_logged: dict[str, float] = {}
        self.pub_2d = qos.advertise(self, Detection2DArray, 'detections_with_depth')
        self.pub_3d = qos.advertise(self, Detection3DArray, 'detections_3d')
        self.pub_annotated = qos.advertise(self, Image, 'annotated')
        self.markers = DetectionMarkers(self)  # markers hook (#12)
        self.diagnostics = FusionDiagnostics(self, self.params, lambda: (self.counters, self.joiner.counters,
                                                                         self.intrinsics))  # diagnostics hook (#12)
        reliability = self.params.current.reliability
        in_qos = qos.input_qos(reliability, depth=cache)
        qos.subscribe(self, Image, 'depth', lambda m: self._add(DEPTH, m), in_qos)
        qos.subscribe(self, Detection2DArray, 'detections', lambda m: self._add(DETECTIONS, m), in_qos)
        qos.subscribe(self, CameraInfo, 'camera_info', self._on_camera_info, qos.input_qos(reliability))
        qos.subscribe(self, Image, 'image', self._on_image, in_qos)
        self.get_logger().info(f'fusion_node ready: {self.params.as_dict()}')

    def _on_camera_info(self, msg: CameraInfo) -> None:
        try:
            intrinsics = intrinsics_from_camera_info(msg)
        except ValueError as exc:
            self.counters.bad_messages += 1
            # Forget the previous intrinsics too: the camera's calibration is no longer known to be them.
            self._problem(f'camera_info ignored: {exc}; no back-projection until a usable one arrives')
            intrinsics = None
        if intrinsics is not None and intrinsics != self.intrinsics:
            self.get_logger().info(f'camera_info: {intrinsics}')
        self.intrinsics = intrinsics

    def _add(self, side: str, msg: Any) -> None:
        self.diagnostics.received(side)  # diagnostics hook (#12)
        resets = self.joiner.counters.resets
        pair = self.joiner.add(side, stamp_ns(msg.header), msg)
        if self.joiner.counters.resets != resets:
            self._results.clear()
            stamp = msg.header.stamp
            self._problem(f'{side} stamp jumped back to {stamp.sec}.{stamp.nanosec:09d} (looping bag or restarted '
                          'source): join cache reset', key='time jump')
        if pair is not None:
            self._fuse(*pair)
        if time.monotonic() - self._last_log > COUNTER_LOG_PERIOD_S:
            self._log_counters()

    def _fuse(self, depth_msg: Image, detections_msg: Detection2DArray) -> None:
        depth = self._decode(depth_msg, depth_to_metres, 'depth image')
        if depth is None:
            return
        stamp = stamp_ns(detections_msg.header)
        try:
            settings = FusionSettings.from_params(vars(self.params.current))
            result = fuse(msg_to_detections(detections_msg), depth, settings, self.intrinsics, self._image_size)
        except ValueError as exc:  # SizeMismatchError, or anything else malformed in the pair: count it, go on
            self.counters.refused_pairs += 1
            self._problem(f'pair refused: {exc}')
            return
        self.counters.add(result)
        self.pub_2d.publish(fused_detections_to_msg(result.kept, detections_msg.header))
        self.diagnostics.published(detections_msg.header)  # diagnostics hook (#12)
        msg_3d = None  # markers hook (#12)
        if self.intrinsics is not None:
            camera = self.intrinsics.scaled_to(*self._image_size) if self._image_size else self.intrinsics
            msg_3d = detections_to_3d_msg(result.kept, detections_msg.header, camera)  # markers hook (#12) (was inline)
            self.pub_3d.publish(msg_3d)  # markers hook (#12) (was inline)
        self.markers.publish(msg_3d, detections_msg.header)  # markers hook (#12)
        if self.pub_annotated.get_subscription_count() > 0:
            self._results[stamp] = result
            while len(self._results) > self.joiner.cache_size:
                self._results.popitem(last=False)
            self._annotate(stamp)

    def _on_image(self, msg: Image) -> None:
        if msg.width > 0 and msg.height > 0:
            self._image_size = (msg.width, msg.height)
        if self.pub_annotated.get_subscription_count() == 0:
            return
        stamp = stamp_ns(msg.header)
        self._images[stamp] = msg
        while len(self._images) > self.joiner.cache_size:
            self._images.popitem(last=False)
        self._annotate(stamp)

    def _annotate(self, stamp: int) -> None:
        if stamp not in self._images or stamp not in self._results:
            return
        image, result = self._images.pop(stamp), self._results.pop(stamp)
        rgb = self._decode(image, to_rgb8, 'image for the overlay')
        if rgb is None:
            return
        out = fill_image(Image(), draw_detections(rgb, result.kept, result.dropped_with_reasons())[0], 'rgb8')
        out.header = image.header
        self.pub_annotated.publish(out)

    def _decode(self, msg: Image, convert: Callable[[np.ndarray, str], np.ndarray], what: str) -> np.ndarray | None:
        """The image as ``convert`` makes it, or None after counting the message as bad and logging why."""
        try:
            return convert(image_to_numpy(msg), msg.encoding)
        except ImageFormatError as exc:
            self.counters.bad_messages += 1
            self._problem(f'{what} refused: {exc}')
            return None

    def _problem(self, text: str, key: str | None = None) -> None:
        """Log a bad-input problem; the same one (``key``, default the text) again only after REPEAT_LOG_PERIOD_S,
        so that a flood stays readable (the counters keep the totals)."""
        key = key or text
        now = time.monotonic()
        if now - self._problems_logged.get(key, -math.inf) >= REPEAT_LOG_PERIOD_S:
            if len(self._problems_logged) > 100:
                self._problems_logged.clear()
            self._problems_logged[key] = now
            self.get_logger().warning(text)

    def _log_counters(self, final: bool = False) -> None:
        self._last_log = time.monotonic()
        summary = f'{self.counters.summary()}; join: {self.joiner.counters.summary()}'
        if final or summary != self._last_summary:
            self.get_logger().info(('at shutdown: ' if final else '') + summary)
        self._last_summary = summary

    def destroy_node(self) -> None:
        self._log_counters(final=True)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(FusionNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
