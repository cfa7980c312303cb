"""detector_node: YOLOv4 detections for each camera frame, never for a backlog.

Subscribes ``image`` (sensor_msgs/Image, any colour encoding of the codec); publishes ``detections``
(vision_msgs/Detection2DArray: the image's header, boxes in image pixels, class name and score per detection) and,
when ``publish_debug_image`` is true, ``debug_image`` (rgb8, boxes drawn).

The subscription keeps only the last message and its callback only hands it to a NewestFrameWorker, which infers the
newest frame once in its own thread: a slow model skips frames (counted and logged) instead of falling behind the
camera, and the executor stays free to answer parameter changes while a frame is inferred.
"""

from __future__ import annotations

import time
from typing import Any

from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray

from jdd_ros.detect.registry import build_detector
from jdd_ros.io.drawing import draw_detections
from jdd_ros.io.image_codec import fill_image, image_to_numpy, to_rgb8
from jdd_ros.ros.depth_masking import DepthMaskFilter
from jdd_ros.ros.diagnostics import frame_node_diagnostics  # diagnostics hook (#12)
from jdd_ros.ros.frame_stats import FrameStats
from jdd_ros.ros.messages import detections_to_msg
from jdd_ros.ros.newest_frame import NewestFrameWorker
from jdd_ros.ros.parameters import NodeParameters
from jdd_ros.ros.qos import advertise, input_qos, subscribe
from jdd_ros.ros.runtime import run_node

STATS_PERIOD_S = 10.0


class DetectorNode(Node):
    def __init__(self, **kwargs: Any):
        super().__init__('detector_node', **kwargs)
        self._worker: NewestFrameWorker | None = None  # first: rclpy destroys a node whose start-up failed
        self.params = NodeParameters(self, 'detector_node')
        p = self.params.current
        t0 = time.perf_counter()
        self.detector = build_detector(p)
        self._class_names = set(self.detector.class_names)
        reason = self._check_classes(list(p.classes))
        if reason:
            raise ValueError(reason)
        # rclpy calls the newest callback first: unknown classes are refused before NodeParameters keeps a value.
        self.add_on_set_parameters_callback(self._on_set_classes)
        d = self.detector
        self.get_logger().info(
            f'loaded in {time.perf_counter() - t0:.1f} s ({d.backend} on {d.device}): {d.description}')
        if (p.cfg or p.family != 'darknet') and not p.weights_sha256:
            self.get_logger().warning(
                f'{p.weights} is not checked against a checksum: set weights_sha256 to pin your own weights')

        # filter_mode 'mask_then_detect' blanks pixels beyond max_depth using the 'depth' frame of the same stamp;
        # it subscribes 'depth' only while the mode is in use.
        self.depth_mask = DepthMaskFilter(self, p.reliability, subscribe_now=p.filter_mode == 'mask_then_detect')

        self._pub = advertise(self, Detection2DArray, 'detections')
        self._debug_pub = advertise(self, Image, 'debug_image')
        self._sub = subscribe(self, Image, 'image', self._on_image, input_qos(p.reliability, depth=1))
        self.frames = FrameStats(self.get_logger(), self._sub.topic_name)
        self._worker = NewestFrameWorker(self.process, lambda msg, exc: self.frames.refused(msg, exc),
                                         name='detector_worker')
        self.create_timer(STATS_PERIOD_S, self.frames.log_summary)
        self.diagnostics = frame_node_diagnostics(  # diagnostics hook (#12)
            self, 'detector_node', lambda: (self.frames, self._worker, self.detector), self.params)
        self.get_logger().info(
            f"waiting for images on '{self._sub.topic_name}' (reliability {p.reliability}); publishing "
            f"'{self._pub.topic_name}'")

    # ---- parameters ----------------------------------------------------------------------------------------------

    def _check_classes(self, classes: list[str]) -> str | None:
        unknown = [c for c in classes if c not in self._class_names]
        if unknown:
            return (f"classes: unknown class name(s) {', '.join(unknown)}; this model's classes are: "
                    f"{', '.join(self.detector.class_names)}")
        return None

    def _on_set_classes(self, params: list[Parameter]) -> SetParametersResult:
        for param in params:
            if param.name == 'classes' and param.value is not None:
                reason = self._check_classes(list(param.value))
                if reason:
                    self.get_logger().warning(f'refused classes={list(param.value)!r}: {reason}')
                    return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    # ---- frames --------------------------------------------------------------------------------------------------

    def _on_image(self, msg: Image, info: Any) -> None:  # two parameters: rclpy then passes MessageInfo
        self.frames.received(info, self._worker.offer(msg))

    def process(self, msg: Image) -> Detection2DArray:
        """Detect on one frame and publish; returns the published message."""
        t0 = time.perf_counter()
        self.frames.check_stamp(msg.header)
        p = self.params.current  # one consistent set of values for the whole frame
        rgb = to_rgb8(image_to_numpy(msg), msg.encoding)
        if p.filter_mode == 'mask_then_detect' and p.max_depth > 0:
            rgb = self.depth_mask(rgb, msg.header, p.max_depth)
        t1 = time.perf_counter()
        detections = self.detector.detect(rgb, conf_threshold=p.confidence_threshold,
                                          nms_threshold=p.nms_threshold, classes=set(p.classes) or None)
        t2 = time.perf_counter()
        out = detections_to_msg(detections, msg.header)
        self._pub.publish(out)
        self.diagnostics.published(msg.header)  # diagnostics hook (#12)
        if p.publish_debug_image:
            drawn, _ = draw_detections(rgb, detections, show_distance=False)
            debug = fill_image(Image(), drawn, 'rgb8')
            debug.header = msg.header
            self._debug_pub.publish(debug)
        t3 = time.perf_counter()
        self.frames.inferred(t2 - t1, (t1 - t0) + (t3 - t2))
        return out

    def destroy_node(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self.frames.log_summary(final=True)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(DetectorNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
