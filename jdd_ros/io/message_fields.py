"""The fields of the ROS messages that ``jdd_ros.io`` reads and writes, as Protocols (no ROS import).

``io`` must stay ROS-free (rclpy messages in the nodes, rosbags messages in bags, plain objects in tests), so its
functions take any object with these fields: the rclpy message classes and rosbags' dataclasses both match. Only the
fields the codecs use are listed. Sequence fields are ``Sequence``: rclpy gives ``array.array`` or lists, rosbags
numpy arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

# What a message's ``data`` holds: bytes, bytearray, array.array('B') (rclpy) or a uint8 numpy array (rosbags); all
# expose the buffer protocol that numpy.frombuffer reads.
ByteBuffer = bytes | bytearray | memoryview | Sequence[int] | np.ndarray


class TimeFields(Protocol):
    sec: int
    nanosec: int


class HeaderFields(Protocol):
    stamp: TimeFields
    frame_id: str


class ImageFields(Protocol):
    """sensor_msgs/Image."""

    header: HeaderFields
    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: ByteBuffer


class CompressedImageFields(Protocol):
    """sensor_msgs/CompressedImage."""

    header: HeaderFields
    format: str
    data: ByteBuffer


class CameraInfoFields(Protocol):
    """sensor_msgs/CameraInfo: the image size and K (row-major 3x3)."""

    header: HeaderFields
    height: int
    width: int
    k: Sequence[float]


class PointFields(Protocol):
    x: float
    y: float
    z: float


class PoseFields(Protocol):
    position: PointFields


class PoseWithCovarianceFields(Protocol):
    pose: PoseFields
    covariance: Sequence[float]


class ObjectHypothesisFields(Protocol):
    class_id: str
    score: float


class HypothesisWithPoseFields(Protocol):
    """vision_msgs/ObjectHypothesisWithPose."""

    hypothesis: ObjectHypothesisFields
    pose: PoseWithCovarianceFields


class Point2DFields(Protocol):
    x: float
    y: float


class Pose2DFields(Protocol):
    position: Point2DFields


class BoundingBox2DFields(Protocol):
    center: Pose2DFields
    size_x: float
    size_y: float


class Detection2DFields(Protocol):
    """vision_msgs/Detection2D."""

    header: HeaderFields
    results: Sequence[HypothesisWithPoseFields]
    bbox: BoundingBox2DFields
    id: str


class Detection2DArrayFields(Protocol):
    """vision_msgs/Detection2DArray."""

    header: HeaderFields
    detections: Sequence[Detection2DFields]


class StampedFields(Protocol):
    """Any message with a std_msgs/Header."""

    header: HeaderFields


class BoundingBox3DFields(Protocol):
    center: PoseFields
    size: PointFields  # a geometry_msgs/Vector3: x, y, z


class Detection3DFields(Protocol):
    """vision_msgs/Detection3D."""

    header: HeaderFields
    results: Sequence[HypothesisWithPoseFields]
    bbox: BoundingBox3DFields
    id: str


class Detection3DArrayFields(Protocol):
    """vision_msgs/Detection3DArray."""

    header: HeaderFields
    detections: Sequence[Detection3DFields]
