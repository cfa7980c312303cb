"""detector_node: detections for each camera frame, never for a backlog, by any family of the detector registry
(YOLOv4 from Darknet files by default; ``family:=ultralytics`` with an Ultralytics / YOLOv5 ONNX export).

Subscribes ``image`` (sensor_msgs/Image, any colour encoding of the codec); publishes ``detections``
(vision_msgs/Detection2DArray: the image's header, boxes in image pixels, class name and score per detection) and,
when ``publish_debug_image`` is true, ``debug_image`` (rgb8, boxes drawn). In ``filter_mode`` mask_then_detect it also
reads ``depth`` and blanks what lies beyond ``max_depth`` before detecting.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from rcl_interfaces.msg import SetParametersResult
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray

from jdd_ros.detect.base import Detector
from jdd_ros.detect.registry import build_detector
from jdd_ros.io.drawing import draw_detections
from jdd_ros.io.image_codec import fill_image, image_to_numpy, to_rgb8
from jdd_ros.ros.depth_masking import DepthMaskFilter
from jdd_ros.ros.inference_node import InferenceNode
from jdd_ros.ros.messages import detections_to_msg
from jdd_ros.ros.node_process import run_node


class DetectorNode(InferenceNode):
    model: Detector | None

    def __init__(self, **kwargs: Any):
        super().__init__('detector_node', 'detector_node', **kwargs)
        # rclpy calls the newest callback first: unknown classes are refused before NodeParameters keeps a value.
        self.add_on_set_parameters_callback(self._on_set_classes)

    def load(self) -> None:
        p = self.params.current
        t0 = time.perf_counter()
        detector, fresh = self.obtain_model(
            lambda: build_detector(dataclasses.replace(p, threads=self.inference_threads())))
        reason = self._check_classes(list(p.classes), detector.class_names)
        if reason:
            self.cleanup()  # a shared model is released
            raise ValueError(reason)
        self.model = detector
        if fresh:
            self.get_logger().info(
                f'loaded in {time.perf_counter() - t0:.1f} s ({detector.backend} {detector.precision} on '
                f'{detector.device}: {detector.backend_reason}): {detector.description}')
            if (p.cfg or p.family != 'darknet') and not p.weights_sha256:
                self.get_logger().warning(
                    f'{p.weights} is not checked against a checksum: set weights_sha256 to pin your own weights')
        self._pub = self.advertise(Detection2DArray, 'detections')
        self._debug_pub = self.advertise(Image, 'debug_image')

    def activate(self) -> None:
        # filter_mode 'mask_then_detect' blanks pixels beyond max_depth using the 'depth' frame of the same stamp;
        # it subscribes 'depth' only while the mode is in use.
        p = self.params.current
        self.depth_mask = DepthMaskFilter(self, p.reliability, subscribe_now=p.filter_mode == 'mask_then_detect')
        super().activate()

    def deactivate(self) -> None:
        super().deactivate()
        self.depth_mask.close()

    @staticmethod
    def _check_classes(classes: list[str], known: list[str]) -> str | None:
        unknown = [c for c in classes if c not in known]
        if unknown:
            return f"classes: unknown class name(s) {', '.join(unknown)}; this model's classes are: {', '.join(known)}"
        return None

    def _on_set_classes(self, params: list[Parameter]) -> SetParametersResult:
        for param in params:
            if param.name == 'classes' and param.value is not None and self.model is not None:
                reason = self._check_classes(list(param.value), self.model.class_names)
                if reason:
                    self.get_logger().warning(f'refused classes={list(param.value)!r}: {reason}')
                    return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def process(self, msg: Image) -> Detection2DArray:
        """Detect on one frame and publish; returns the published message."""
        t0 = time.perf_counter()
        self.mark(msg, 'started')
        self.frames.check_stamp(msg.header)
        p = self.params.current  # one consistent set of values for the whole frame
        rgb = to_rgb8(image_to_numpy(msg), msg.encoding)
        if p.filter_mode == 'mask_then_detect' and p.max_depth > 0:
            rgb = self.depth_mask(rgb, msg.header, p.max_depth)
        self.mark(msg, 'decoded')
        t_wait = time.perf_counter()
        with self.model_lock:  # another camera's frame may be in the network (several cameras, one model)
            t1 = time.perf_counter()
            self.mark(msg, 'network free')
            detections = self.model.detect(rgb, conf_threshold=p.confidence_threshold,
                                           nms_threshold=p.nms_threshold, classes=set(p.classes) or None)
            t2 = time.perf_counter()
        self.mark(msg, 'inferred')
        out = detections_to_msg(detections, msg.header)
        self._pub.publish(out)
        self.mark(msg, 'published')
        self.diagnostics.published(msg.header)
        if p.publish_debug_image:
            drawn, _ = draw_detections(rgb, detections, show_distance=False)
            debug = fill_image(Image(), drawn, 'rgb8')
            debug.header = msg.header
            self._debug_pub.publish(debug)
        t3 = time.perf_counter()
        self.frames.inferred(t2 - t1, (t_wait - t0) + (t3 - t2))
        return out


def main(args: list[str] | None = None) -> int:
    return run_node(DetectorNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
