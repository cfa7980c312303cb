"""fusion_node: detections + depth of the same camera frame -> detections with their distance, filtered by max_depth.

Thin ROS shell: ``jdd_ros.ros.fusion_inputs`` checks, joins (by exact header stamp) and fuses the inputs with the
core; this node subscribes and publishes each output with the input header unchanged. Parameters are re-read for
every pair, so ``ros2 param set`` applies to the next one. In the one-process pipeline the camera's ``image`` is
handed over in process (``jdd_ros.ros.local_topics``) by the node of the process that subscribes to it, and with
``--inprocess-depth`` so is the ``depth`` its depth node publishes, in that node's worker thread, instead of DDS
subscriptions: every input is handled under one lock. (``detections``, a small message
that is rarely the later half of a pair, stays a DDS subscription: tools wait for fusion_node on it.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from sensor_msgs.msg import CameraInfo, Image
from vision_msgs.msg import Detection2DArray, Detection3DArray

from jdd_ros.core.image_size import IMAGE
from jdd_ros.core.stamp_join import DEPTH, DETECTIONS
from jdd_ros.ros.diagnostics import FusionDiagnostics
from jdd_ros.ros.fusion_inputs import RESULT, Fused, FusionInputs
from jdd_ros.ros.local_topics import LocalTopics
from jdd_ros.ros.managed_node import ManagedNode
from jdd_ros.ros.markers import DetectionMarkers, distance_sources
from jdd_ros.ros.messages import detections_to_3d_msg, fused_detections_to_msg, stamp_ns
from jdd_ros.ros.node_log import NodeLog
from jdd_ros.ros.node_process import run_node
from jdd_ros.ros.tracking import ObjectTracking

MsgT = TypeVar('MsgT')


class FusionNode(ManagedNode):
    def __init__(self, *, local: LocalTopics | None = None, **kwargs: object) -> None:
        super().__init__('fusion_node', 'fusion_node', **kwargs)
        self.inputs: FusionInputs | None = None  # the state below exists once configured
        self.tracking: ObjectTracking | None = None
        self._local = local  # the pipeline's in-process hand-over (None: every input over DDS)
        self._local_inputs: list[tuple[str, Callable[[object], None]]] = []  # (resolved topic, listener) while active
        # Handed-over messages arrive in the networks' worker threads, the others in the executor thread: one at a
        # time, and none after deactivate (``_taking``).
        self._lock = threading.Lock()
        self._taking = False
        self.diagnostics = FusionDiagnostics(self, self.params, lambda: self.inputs,
                                             objects=lambda: self.tracking.summary if self.tracking else 'none',
                                             state_lock=self._lock)

    def configure(self) -> None:
        self.log = NodeLog(self.get_logger())
        self.inputs = FusionInputs(self.params.current.cache_size, self.log)
        self.pub_2d = self.advertise(Detection2DArray, 'detections_with_depth')
        self.pub_3d = self.advertise(Detection3DArray, 'detections_3d')
        self.pub_annotated = self.advertise(Image, 'annotated')
        self.markers = DetectionMarkers(self, lifecycle=True)
        self.tracking = ObjectTracking(self)  # track IDs, tracks, ttc_alerts, detections_points

    def activate(self) -> None:
        cache = self.params.current.cache_size
        if self.params.current.depth_source == 'ground':  # no depth image: each detections message on arrival
            self._input(Detection2DArray, 'detections', self._on_ground_detections, cache)
        else:
            self._input(Image, 'depth', lambda m: self._on_half(DEPTH, m), cache)
            self._input(Detection2DArray, 'detections', lambda m: self._on_half(DETECTIONS, m), cache)
        self.subscribe(CameraInfo, 'camera_info', lambda m, _: self._take(self.inputs.camera_info, m))
        self._input(Image, 'image', self._on_image, cache)  # in the pipeline: the frames its detector node receives
        with self._lock:
            self._taking = True
        if self._local_inputs:
            self.get_logger().info('in process (no DDS subscription): ' + ', '.join(t for t, _ in self._local_inputs))
        self.get_logger().info(f'fusion_node ready: {self.params.as_dict()}')

    def deactivate(self) -> None:
        with self._lock:  # a hand-over in progress ends first; none is handled after this
            self._taking = False
        for topic, listener in self._local_inputs:
            self._local.unlisten(topic, listener)
        self._local_inputs.clear()

    def _input(self, msg_type: type[MsgT], topic: str, handle: Callable[[MsgT], None], depth: int) -> None:
        """``handle`` each message of ``topic``: handed over in process where a node of this process publishes the
        very topic this node's input resolves to, else over a DDS subscription."""
        name = self.resolve_topic_name(topic)

        def listener(msg: object) -> None:
            self._take(handle, msg)

        if self._local is not None and self._local.listen(name, listener):
            self._local_inputs.append((name, listener))
        else:
            self.subscribe(msg_type, topic, lambda m, _: self._take(handle, m), depth)

    def _take(self, handle: Callable[[MsgT], None], msg: MsgT) -> None:
        with self._lock:
            if self._taking:
                handle(msg)

    def _on_half(self, side: str, msg: Image | Detection2DArray) -> None:
        self.diagnostics.received(side)
        pair = self.inputs.pair(side, msg)
        fused = self.inputs.fuse(*pair, self.params.current) if pair is not None else None
        if fused is not None:
            self._publish(fused)
        self.log.summary(self.inputs.summary())

    def _on_ground_detections(self, msg: Detection2DArray) -> None:
        self.diagnostics.received(DETECTIONS)
        self._publish(self.inputs.fuse_ground(msg, self.params.current))
        self.log.summary(self.inputs.summary())

    def _on_image(self, msg: Image) -> None:
        if not self.inputs.image(msg):
            return
        self.tracking.on_image(msg)  # the grey frame for the growth cue of the detections of its stamp
        if self.pub_annotated.get_subscription_count() > 0:
            self._publish_annotated(self.inputs.annotate(IMAGE, stamp_ns(msg.header), msg))

    def _publish(self, fused: Fused) -> None:
        header, kept = fused.header, fused.result.kept
        self.inputs.count(fused)
        self.tracking.on_frame(fused.result, header)  # before publishing: gives the detections their IDs
        self.pub_2d.publish(fused_detections_to_msg(kept, header))
        self.diagnostics.published(header)
        camera = self.inputs.camera(fused.image_size)
        msg_3d = detections_to_3d_msg(kept, header, camera) if camera is not None else None
        if msg_3d is not None:
            self.pub_3d.publish(msg_3d)
        self.markers.publish(msg_3d, header, distance_sources(kept), self.tracking.ttc_by_id)
        if self.pub_annotated.get_subscription_count() > 0:
            self._publish_annotated(self.inputs.annotate(RESULT, stamp_ns(header), fused.result))

    def _publish_annotated(self, image: Image | None) -> None:
        if image is not None:
            self.pub_annotated.publish(image)

    def log_final_statistics(self) -> None:
        if self.inputs is not None:  # configured
            with self._lock:
                self.log.summary(self.inputs.summary(), final=True)


def main(args: list[str] | None = None) -> int:
    return run_node(FusionNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
