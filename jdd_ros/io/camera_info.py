"""sensor_msgs/CameraInfo, or its calibration YAML file -> jdd_ros.core.camera.CameraIntrinsics."""

from __future__ import annotations

from pathlib import Path

from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.io.message_fields import CameraInfoFields


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


def camera_info_size(msg: CameraInfoFields) -> tuple[int, int] | None:
    """(width, height) of the camera's image as a CameraInfo states it, or None when it states none."""
    width, height = int(msg.width), int(msg.height)
    return (width, height) if width > 0 and height > 0 else None


def intrinsics_from_camera_info(msg: CameraInfoFields) -> CameraIntrinsics:
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


class CameraInfoFileError(ValueError):
    """A camera calibration YAML that cannot be used; the message names the file and the field."""


def _field(data: dict[str, object], name: str, path: str | Path) -> object:
    if name not in data:
        raise CameraInfoFileError(f'{path}: no {name} (a camera_calibration_parsers YAML has image_width, '
                                  'image_height, camera_matrix and distortion_coefficients)')
    return data[name]


def _matrix(data: dict[str, object], name: str, path: str | Path, rows: int | None, cols: int | None) -> list[float]:
    """The ``data`` list of a ``{rows, cols, data}`` field, checked against its own rows x cols (and the expected
    shape when given)."""
    value = _field(data, name, path)
    if not isinstance(value, dict) or not isinstance(value.get('data'), list):
        raise CameraInfoFileError(f'{path}: {name} must be a mapping with rows, cols and a data list')
    r, c, values = value.get('rows'), value.get('cols'), value['data']
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise CameraInfoFileError(f'{path}: {name}.data must be numbers, got {values!r}')
    if not (isinstance(r, int) and isinstance(c, int)) or r * c != len(values):
        raise CameraInfoFileError(f'{path}: {name} has rows={r!r}, cols={c!r} but {len(values)} data values')
    if (rows is not None and r != rows) or (cols is not None and c != cols):
        raise CameraInfoFileError(f'{path}: {name} must be {rows}x{cols}, got {r}x{c}')
    return [float(v) for v in values]


def read_camera_info_file(path: str | Path) -> CameraIntrinsics:
    """The intrinsics of a camera calibration YAML in camera_calibration_parsers' format (what the ROS camera
    calibrator writes and camera drivers read: image_width, image_height, camera_matrix {rows, cols, data},
    distortion_coefficients). The image is taken to be rectified (or its distortion negligible): the distortion is
    checked but not applied. CameraInfoFileError naming the field when the file is malformed."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise CameraInfoFileError(f'{path}: not YAML ({str(exc).splitlines()[0]})') from None
    if not isinstance(data, dict):
        raise CameraInfoFileError(f'{path}: expected a mapping with image_width, image_height, camera_matrix, '
                                  'distortion_coefficients')
    size = [_field(data, name, path) for name in ('image_width', 'image_height')]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size):
        raise CameraInfoFileError(f'{path}: image_width and image_height must be positive integers, got {size}')
    k = _matrix(data, 'camera_matrix', path, 3, 3)
    _matrix(data, 'distortion_coefficients', path, 1, None)
    try:
        return CameraIntrinsics(k[0], k[4], k[2], k[5], *size)
    except ValueError as exc:
        raise CameraInfoFileError(f'{path}: camera_matrix unusable: {exc}') from None
