"""sensor_msgs/CameraInfo -> jdd_ros.core.camera.CameraIntrinsics."""

from __future__ import annotations

from typing import Any

from jdd_ros.core.camera import CameraIntrinsics


class CameraInfoError(ValueError):
    """A CameraInfo whose intrinsics cannot be used; ``cause`` says why in a few words (a counter key).

    ``uncalibrated`` (K all zeros) is what a driver without a calibration rightly publishes: its image size is still
    valid. Any other cause is a malformed message.
    """

    def __init__(self, text: str, cause: str) -> None:
        super().__init__(text)
        self.cause = cause

    @property
    def uncalibrated(self) -> bool:
        return self.cause == UNCALIBRATED


UNCALIBRATED = 'uncalibrated (K all zeros)'


def camera_info_size(msg: Any) -> tuple[int, int] | None:
    """(width, height) of the camera's image as a CameraInfo states it, or None when it states none."""
    width, height = int(msg.width), int(msg.height)
    return (width, height) if width > 0 and height > 0 else None


def intrinsics_from_camera_info(msg: Any) -> CameraIntrinsics:
    """The intrinsics in K of a CameraInfo; CameraInfoError (a ValueError) with the reason when K cannot be used.

    An uncalibrated driver publishes K all zeros: refusing it keeps back-projection from dividing by zero.
    """
    k = [float(v) for v in msg.k]
    if len(k) != 9:
        raise CameraInfoError(f'CameraInfo K must have 9 values, got {len(k)}', 'K without 9 values')
    if not any(k):
        raise CameraInfoError('CameraInfo K is all zeros (uncalibrated camera): x/y and detections_3d need a '
                              'calibration', UNCALIBRATED)
    fx, cx, fy, cy = k[0], k[2], k[4], k[5]
    size = camera_info_size(msg)
    if size is None:
        raise CameraInfoError(f'CameraInfo has no image size ({int(msg.width)}x{int(msg.height)})', 'no image size')
    try:
        return CameraIntrinsics(fx, fy, cx, cy, *size)
    except ValueError as exc:
        raise CameraInfoError(f'CameraInfo K unusable: {exc}', 'K unusable') from None
