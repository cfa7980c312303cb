"""fusion_node: detections + depth of the same camera frame -> detections with their distance, filtered by max_depth.

Thin ROS shell around jdd_ros.core.fusion: join by exact header stamp, read each box's depth, publish with the input
header unchanged. Parameters are re-read for every pair, so ``ros2 param set`` applies to the next one.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
from sensor_msgs.msg import CameraInfo, Image
from vision_msgs.msg import Detection2DArray, Detection3DArray

from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.core.fusion import FusionCounters, FusionSettings, PairRefused, check_frames, fuse
from jdd_ros.core.ground_distance import SETUP_HINTS, GroundSettings, fuse_ground
from jdd_ros.core.image_size import CAMERA_INFO, IMAGE, DetectionImageSize, Note
from jdd_ros.core.log_throttle import ProblemThrottle
from jdd_ros.core.stamp_join import DEPTH, DETECTIONS, StampJoiner
from jdd_ros.io.camera_info import CameraInfoError, camera_info_size, intrinsics_from_camera_info
from jdd_ros.io.drawing import draw_detections
from jdd_ros.io.image_codec import (
    ImageFormatError,
    colour_image_size,
    depth_to_metres,
    fill_image,
    image_to_numpy,
    to_rgb8,
)
from jdd_ros.ros.diagnostics import FusionDiagnostics
from jdd_ros.ros.managed_node import ManagedNode
from jdd_ros.ros.markers import DetectionMarkers, distance_sources
from jdd_ros.ros.messages import detections_to_3d_msg, fused_detections_to_msg, read_detections, stamp_ns
from jdd_ros.ros.node_process import run_node
from jdd_ros.ros.tracking import ObjectTracking

COUNTER_LOG_PERIOD_S = 10.0  # wall time, for logging only: the join itself never looks at a clock
REPEAT_LOG_PERIOD_S = 5.0  # the same problem is logged at most this often (the counters keep the totals)


class FusionNode(ManagedNode):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__('fusion_node', 'fusion_node', **kwargs)
        self.counters: FusionCounters | None = None  # the state below exists once configured
        self.joiner: StampJoiner | None = None
        self.intrinsics: CameraIntrinsics | None = None
        self.markers: DetectionMarkers | None = None
        self.tracking: ObjectTracking | None = None
        self.diagnostics = FusionDiagnostics(self, self.params, lambda: (
            self.counters, self.joiner.counters if self.joiner else None, self.intrinsics),
            objects=lambda: self.tracking.summary if self.tracking else 'none')

    def configure(self) -> None:
        cache = self.params.current.cache_size
        self.joiner, self.counters = StampJoiner(cache), FusionCounters()
        self.intrinsics = None
        self.sizes = DetectionImageSize()  # the detections' image size, from checked image / camera_info messages
        self._images: OrderedDict[int, Any] = OrderedDict()  # stamp -> Image, kept only while annotated is watched
        self._results: OrderedDict[int, Any] = OrderedDict()  # stamp -> FusionResult waiting for its image
        self._last_log, self._last_summary = time.monotonic(), ''
        self._problems = ProblemThrottle(REPEAT_LOG_PERIOD_S)
        self.pub_2d = self.advertise(Detection2DArray, 'detections_with_depth')
        self.pub_3d = self.advertise(Detection3DArray, 'detections_3d')
        self.pub_annotated = self.advertise(Image, 'annotated')
        self.markers = DetectionMarkers(self, lifecycle=True)
        self.tracking = ObjectTracking(self)  # track IDs, tracks, ttc_alerts, detections_points

    def activate(self) -> None:
        cache = self.params.current.cache_size
        if self.params.current.depth_source == 'ground':  # no depth image: each detections message on arrival
            self.subscribe(Detection2DArray, 'detections', lambda m, _: self._fuse_ground(m), cache)
        else:
            self.subscribe(Image, 'depth', lambda m, _: self._add(DEPTH, m), cache)
            self.subscribe(Detection2DArray, 'detections', lambda m, _: self._add(DETECTIONS, m), cache)
        self.subscribe(CameraInfo, 'camera_info', lambda m, _: self._on_camera_info(m))
        self.subscribe(Image, 'image', lambda m, _: self._on_image(m), cache)
        self.get_logger().info(f'fusion_node ready: {self.params.as_dict()}')

    def _on_camera_info(self, msg: CameraInfo) -> None:
        try:
            intrinsics = intrinsics_from_camera_info(msg)
        except CameraInfoError as exc:
            cause = f'camera_info: {exc.cause}'
            self.counters.bad_messages[cause] += 1
            if not exc.uncalibrated:  # malformed: ignored, so the calibration and size in use stay
                self._problem(f'camera_info ignored: {exc}; the previous one stays in use', cause, str(exc))
                return
            # A driver without a calibration says so: forget the intrinsics; its image size still holds.
            self._problem(f'camera_info without calibration: {exc}; no back-projection until a calibrated one '
                          'arrives', cause, str(exc))
            intrinsics = None
        if camera_info_size(msg) is not None:
            self._note(self.sizes.set(CAMERA_INFO, *camera_info_size(msg)))
        if intrinsics is not None and intrinsics != self.intrinsics:
            self.get_logger().info(f'camera_info: {intrinsics}')
        self.intrinsics = intrinsics

    def _add(self, side: str, msg: Any) -> None:
        self.diagnostics.received(side)
        resets = self.joiner.counters.resets
        pair = self.joiner.add(side, stamp_ns(msg.header), msg)
        if self.joiner.counters.resets != resets:
            self._results.clear()
            stamp = msg.header.stamp
            self._problem(f'{side} stamp jumped back to {stamp.sec}.{stamp.nanosec:09d} (looping bag or restarted '
                          'source): join cache reset', 'time jump')
        if pair is not None:
            self._fuse(*pair)
        if time.monotonic() - self._last_log > COUNTER_LOG_PERIOD_S:
            self._log_counters()

    def _fuse(self, depth_msg: Image, detections_msg: Detection2DArray) -> None:
        depth = self._decode(depth_msg, depth_to_metres, 'depth image')
        if depth is None:
            return
        read = read_detections(detections_msg)
        try:
            settings = FusionSettings.from_params(vars(self.params.current))
            check_frames(depth_msg.header.frame_id, detections_msg.header.frame_id, settings.depth_registered)
            image_size = self._image_size_for(depth)
            result = fuse(read.detections, depth, settings, self.intrinsics, image_size)
        except ValueError as exc:  # PairRefused, or anything else malformed in the pair: count it, go on
            cause = exc.cause if isinstance(exc, PairRefused) else 'malformed pair'
            self.counters.refused[cause] += 1
            self._problem(f'pair refused: {exc}', cause, str(exc))
            return
        self._publish(detections_msg, read, result, image_size)

    def _fuse_ground(self, msg: Detection2DArray) -> None:
        """depth_source ground: the floor under each box (core.ground_distance) gives the distances."""
        self.diagnostics.received(DETECTIONS)
        read, current, known = read_detections(msg), vars(self.params.current), self.sizes.known
        image_size = known[1] if known else None
        result = fuse_ground(read.detections, FusionSettings.from_params(current), GroundSettings.from_params(current),
                             self.intrinsics, image_size)
        for cause in result.no_distance.keys() & SETUP_HINTS.keys():
            self._problem(f'no floor distances: {cause}: {SETUP_HINTS[cause]}', cause)
        self._publish(msg, read, result, image_size)
        if time.monotonic() - self._last_log > COUNTER_LOG_PERIOD_S:
            self._log_counters()

    def _publish(self, detections_msg: Detection2DArray, read: Any, result: Any,
                 image_size: tuple[int, int] | None) -> None:
        stamp = stamp_ns(detections_msg.header)
        unreadable = read.skipped_by_cause()
        for cause, n in unreadable.items():
            self._problem(f'detections dropped: {n} with {cause} at {_stamp_text(detections_msg.header)} (they '
                          'cannot carry or get a distance)', f'detection: {cause}')
        self.counters.add(result, unreadable)
        self.tracking.on_frame(result, detections_msg.header)  # before publishing: gives the detections their IDs
        self.pub_2d.publish(fused_detections_to_msg(result.kept, detections_msg.header))
        self.diagnostics.published(detections_msg.header)
        msg_3d = None
        if self.intrinsics is not None:
            camera = self.intrinsics.scaled_to(*image_size) if image_size else self.intrinsics
            msg_3d = detections_to_3d_msg(result.kept, detections_msg.header, camera)
            self.pub_3d.publish(msg_3d)
        self.markers.publish(msg_3d, detections_msg.header, distance_sources(result.kept), self.tracking.ttc_by_id)
        if self.pub_annotated.get_subscription_count() > 0:
            self._results[stamp] = result
            while len(self._results) > self.joiner.cache_size:
                self._results.popitem(last=False)
            self._annotate(stamp)

    def _image_size_for(self, depth: np.ndarray) -> tuple[int, int] | None:
        """The detections' image size to fuse with (None: boxes in depth pixels), saying once when that starts."""
        image_size, note = self.sizes.for_pair((depth.shape[1], depth.shape[0]))
        self._note(note)
        return image_size

    def _note(self, note: Note | None) -> None:
        if note is not None and note.warning:
            self.get_logger().warning(note.text)
        elif note is not None:
            self.get_logger().info(note.text)

    def _on_image(self, msg: Image) -> None:
        try:  # checked first: a malformed image must not pass for the size of the detections' image
            self._note(self.sizes.set(IMAGE, *colour_image_size(msg)))
        except ImageFormatError as exc:
            self.counters.bad_messages[f'image: {exc.cause}'] += 1
            self._problem(f"image refused: {exc}; the detections' image size stays {self.sizes.describe()}",
                          f'image: {exc.cause}', str(exc))
            return
        self.tracking.on_image(msg)  # the grey frame for the growth cue of the detections of its stamp
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
            self.counters.bad_messages[f'{what}: {exc.cause}'] += 1
            self._problem(f'{what} refused: {exc}', f'{what}: {exc.cause}', str(exc))
            return None

    def _problem(self, text: str, cause: str, value: str = '') -> None:
        """Log a bad-input problem: each (``cause``, ``value``) at once, the same again only after
        REPEAT_LOG_PERIOD_S, so that a flood stays readable and a second kind of problem is not hidden behind the
        first (the counters keep the totals)."""
        if self._problems.allow(cause, value, time.monotonic()):
            self.get_logger().warning(text)

    def _log_counters(self, final: bool = False) -> None:
        self._last_log = time.monotonic()
        summary = f'{self.counters.summary()}; join: {self.joiner.counters.summary()}'
        if final or summary != self._last_summary:
            self.get_logger().info(('at shutdown: ' if final else '') + summary)
        self._last_summary = summary

    def log_final_statistics(self) -> None:
        if self.counters is not None:  # configured
            self._log_counters(final=True)


def _stamp_text(header: Any) -> str:
    return f'{header.stamp.sec}.{header.stamp.nanosec:09d}'


def main(args: list[str] | None = None) -> int:
    return run_node(FusionNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
