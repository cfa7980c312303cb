"""vision_msgs/sensor_msgs (rclpy) <-> jdd_ros core records.

The Detection <-> vision_msgs conversion itself is ``jdd_ros.io.detection_msgs`` (shared with the bags); this module
gives it the rclpy message classes.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from functools import cache

from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, Detection3DArray

from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.core.detection import Detection
from jdd_ros.io import detection_msgs
from jdd_ros.io.detection_msgs import ReadDetections


def stamp_ns(header: Header) -> int:
    """A header stamp as integer nanoseconds: the exact key that joins messages of one camera frame."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


@cache
def message_class(type_name: str) -> type:
    """The rclpy class of a ROS type name such as 'vision_msgs/msg/Detection2D'."""
    package, kind, name = type_name.split('/')
    return getattr(importlib.import_module(f'{package}.{kind}'), name)


def make(type_name: str, **fields: object) -> object:
    """An rclpy message of ``type_name`` with ``fields``: the constructor ``jdd_ros.io.detection_msgs`` takes."""
    return message_class(type_name)(**fields)


def detections_to_msg(detections: Iterable[Detection], header: Header) -> Detection2DArray:
    """Detections (input-image pixels) as a Detection2DArray carrying ``header`` unchanged (layout:
    ``jdd_ros.io.detection_msgs``)."""
    return detection_msgs.detection_array(make, detections, header)


def read_detections(msg: Detection2DArray) -> ReadDetections:
    """The readable detections of a Detection2DArray, each keeping its Detection2D (``fused_detections_to_msg``
    republishes it), and the skipped ones with their cause (no results, negative box size)."""
    return detection_msgs.read_detection_array(msg, keep_messages=True)


def msg_to_detections(msg: Detection2DArray) -> list[Detection]:
    """The readable detections of a Detection2DArray (see ``read_detections`` for the skipped ones)."""
    return read_detections(msg).detections


def fused_detections_to_msg(detections: Iterable[Detection], header: Header) -> Detection2DArray:
    """Fused detections as a Detection2DArray carrying ``header`` unchanged; a detection read from a Detection2D is
    republished as that message, every hypothesis unchanged except its pose (depth, position, variance)."""
    return detection_msgs.fused_array(make, detections, header)


def detections_to_3d_msg(detections: Iterable[Detection], header: Header, intrinsics: CameraIntrinsics,
                         ) -> Detection3DArray:
    """Detections with a back-projected position as a Detection3DArray (optical frame of ``header``)."""
    return detection_msgs.detection_3d_array(make, detections, header, intrinsics)
