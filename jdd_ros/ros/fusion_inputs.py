"""What fusion_node does with its input messages before publishing: check them, join them, fuse them, count them.

The node (``jdd_ros.nodes.fusion_node``) subscribes and publishes; this class holds what it learnt from its inputs
(camera intrinsics, the detections' image size), the joins (``jdd_ros.core.stamp_join``: depth + detections, colour
image + fused result for the ``annotated`` overlay) and the counters, and turns messages into calls of the core
(``core.fusion``, ``core.ground_distance``). Every message that is not used is counted under its cause and logged
through the node's throttled log (``jdd_ros.ros.node_log``); the node keeps running.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray

from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.core.fusion import FusionCounters, FusionResult, FusionSettings, PairRefused, check_frames, fuse
from jdd_ros.core.ground_distance import SETUP_HINTS, GroundParams, GroundSettings, fuse_ground
from jdd_ros.core.image_size import CAMERA_INFO, IMAGE, DetectionImageSize
from jdd_ros.core.stamp_join import DEPTH, DETECTIONS, StampMatcher
from jdd_ros.io.camera_info import CameraInfoError, camera_info_size, intrinsics_from_camera_info
from jdd_ros.io.detection_msgs import ReadDetections
from jdd_ros.io.drawing import draw_detections
from jdd_ros.io.image_codec import (
    ImageFormatError,
    colour_image_size,
    depth_to_metres,
    fill_image,
    image_to_numpy,
    to_rgb8,
)
from jdd_ros.ros.messages import read_detections, stamp_ns
from jdd_ros.ros.node_log import NodeLog

RESULT = 'result'  # the overlay's second input: a fused frame waiting for its colour image


class Settings(FusionSettings, GroundParams, Protocol):
    """The fusion node's parameters that fusing a frame reads (its snapshot has them all)."""


@dataclass
class Fused:
    """One fused frame: the detections message, what could be read of it, the result and the boxes' image size."""

    msg: Detection2DArray
    read: ReadDetections
    result: FusionResult
    image_size: tuple[int, int] | None

    @property
    def header(self) -> Header:
        return self.msg.header


class FusionInputs:
    """fusion_node's state between messages (created on configure): see the module's docstring."""

    def __init__(self, cache_size: int, log: NodeLog):
        self.log = log
        self.counters = FusionCounters()
        self.join: StampMatcher[Image | Detection2DArray] = StampMatcher((DEPTH, DETECTIONS), cache_size)
        self.overlay: StampMatcher[Image | FusionResult] = StampMatcher((IMAGE, RESULT), cache_size)
        self.sizes = DetectionImageSize()  # the detections' image size, from checked image / camera_info messages
        self.intrinsics: CameraIntrinsics | None = None

    def summary(self) -> str:
        return f'{self.counters.summary()}; join: {self.join.counters.summary()}'

    def camera(self, image_size: tuple[int, int] | None) -> CameraIntrinsics | None:
        """The intrinsics for boxes in an image of ``image_size`` (None: the intrinsics' own size)."""
        if self.intrinsics is None or image_size is None:
            return self.intrinsics
        return self.intrinsics.scaled_to(*image_size)

    def camera_info(self, msg: CameraInfo) -> None:
        """Take the intrinsics and image size of a camera_info; a malformed one is ignored, an uncalibrated one
        forgets the intrinsics (its image size still holds)."""
        try:
            intrinsics = intrinsics_from_camera_info(msg)
        except CameraInfoError as exc:
            cause = f'camera_info: {exc.cause}'
            self.counters.bad_messages[cause] += 1
            if not exc.uncalibrated:  # malformed: ignored, so the calibration and size in use stay
                self.log.problem(f'camera_info ignored: {exc}; the previous one stays in use', cause, str(exc))
                return
            self.log.problem(f'camera_info without calibration: {exc}; no back-projection until a calibrated one '
                             'arrives', cause, str(exc))
            intrinsics = None
        size = camera_info_size(msg)
        if size is not None:
            self.log.note(self.sizes.set(CAMERA_INFO, *size))
        if intrinsics is not None and intrinsics != self.intrinsics:
            self.log.logger.info(f'camera_info: {intrinsics}')
        self.intrinsics = intrinsics

    def image(self, msg: Image) -> bool:
        """Take the size of a colour image; False (counted, logged) when it is malformed: it must not pass for the
        size of the detections' image."""
        try:
            self.log.note(self.sizes.set(IMAGE, *colour_image_size(msg)))
        except ImageFormatError as exc:
            self.counters.bad_messages[f'image: {exc.cause}'] += 1
            self.log.problem(f"image refused: {exc}; the detections' image size stays {self.sizes.describe()}",
                             f'image: {exc.cause}', str(exc))
            return False
        return True

    def pair(self, side: str, msg: Image | Detection2DArray) -> tuple[Image, Detection2DArray] | None:
        """Join a depth or detections message; the (depth, detections) pair it completes, or None."""
        resets = self.join.counters.resets
        match = self.join.add(side, stamp_ns(msg.header), msg)
        if self.join.counters.resets != resets:
            self.log.problem(f'{side} stamp jumped back to {stamp_text(msg.header)} (looping bag or restarted '
                             'source): join cache reset', 'time jump')
        return (match[DEPTH], match[DETECTIONS]) if match is not None else None

    def fuse(self, depth_msg: Image, detections_msg: Detection2DArray, settings: FusionSettings) -> Fused | None:
        """Fuse a joined pair; None when it is refused (counted by cause, logged)."""
        depth = self._decode(depth_msg, depth_to_metres, 'depth image')
        if depth is None:
            return None
        read = read_detections(detections_msg)
        try:
            check_frames(depth_msg.header.frame_id, detections_msg.header.frame_id, settings.depth_registered)
            image_size, note = self.sizes.for_pair((depth.shape[1], depth.shape[0]))
            self.log.note(note)
            result = fuse(read.detections, depth, settings, self.intrinsics, image_size)
        except ValueError as exc:  # PairRefused, or anything else malformed in the pair: count it, go on
            cause = exc.cause if isinstance(exc, PairRefused) else 'malformed pair'
            self.counters.refused[cause] += 1
            self.log.problem(f'pair refused: {exc}', cause, str(exc))
            return None
        return Fused(detections_msg, read, result, image_size)

    def fuse_ground(self, msg: Detection2DArray, settings: Settings) -> Fused:
        """depth_source ground: the floor under each box (core.ground_distance) gives the distances."""
        read, known = read_detections(msg), self.sizes.known
        image_size = known[1] if known else None
        result = fuse_ground(read.detections, settings, GroundSettings.from_params(settings), self.intrinsics,
                             image_size)
        for cause in result.no_distance.keys() & SETUP_HINTS.keys():
            self.log.problem(f'no floor distances: {cause}: {SETUP_HINTS[cause]}', cause)
        return Fused(msg, read, result, image_size)

    def count(self, fused: Fused) -> None:
        """Count a fused frame, and log the detections of its message that could not be read."""
        unreadable = fused.read.skipped_by_cause()
        for cause, n in unreadable.items():
            self.log.problem(f'detections dropped: {n} with {cause} at {stamp_text(fused.header)} (they cannot carry '
                             'or get a distance)', f'detection: {cause}')
        self.counters.add(fused.result, unreadable)

    def annotate(self, name: str, stamp: int, item: Image | FusionResult) -> Image | None:
        """Join a colour image (``name`` IMAGE) or a fused result (RESULT) for the overlay; the annotated image (with
        the image's header) once both of a stamp are in, else None."""
        match = self.overlay.add(name, stamp, item)
        if match is None:
            return None
        image, result = match[IMAGE], match[RESULT]
        rgb = self._decode(image, to_rgb8, 'image for the overlay')
        if rgb is None:
            return None
        out = fill_image(Image(), draw_detections(rgb, result.kept, result.dropped_with_reasons())[0], 'rgb8')
        out.header = image.header
        return out

    def _decode(self, msg: Image, convert: Callable[[np.ndarray, str], np.ndarray], what: str) -> np.ndarray | None:
        """The image as ``convert`` makes it, or None after counting the message as bad and logging why."""
        try:
            return convert(image_to_numpy(msg), msg.encoding)
        except ImageFormatError as exc:
            self.counters.bad_messages[f'{what}: {exc.cause}'] += 1
            self.log.problem(f'{what} refused: {exc}', f'{what}: {exc.cause}', str(exc))
            return None


def stamp_text(header: Header) -> str:
    return f'{header.stamp.sec}.{header.stamp.nanosec:09d}'
