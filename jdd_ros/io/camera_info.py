"""sensor_msgs/CameraInfo -> jdd_ros.core.camera.CameraIntrinsics."""

from __future__ import annotations

from typing import Any

from jdd_ros.core.camera import CameraIntrinsics


def intrinsics_from_camera_info(msg: Any) -> CameraIntrinsics:
    """The intrinsics in K of a CameraInfo; ValueError with the reason when K cannot be used.

    An uncalibrated driver publishes K all zeros: refusing it keeps back-projection from dividing by zero.
    """
    k = [float(v) for v in msg.k]
    if len(k) != 9:
        raise ValueError(f'CameraInfo K must have 9 values, got {len(k)}')
    if not any(k):
        raise ValueError('CameraInfo K is all zeros (uncalibrated camera): x/y and detections_3d need a calibration')
    fx, cx, fy, cy = k[0], k[2], k[4], k[5]
    width, height = int(msg.width), int(msg.height)
    if width <= 0 or height <= 0:
        raise ValueError(f'CameraInfo has no image size ({width}x{height})')
    try:
        return CameraIntrinsics(fx, fy, cx, cy, width, height)
    except ValueError as exc:
        raise ValueError(f'CameraInfo K unusable: {exc}') from None
