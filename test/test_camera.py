"""Pinhole intrinsics: back-projection, rescaling, and CameraInfo K parsing."""

import math

import pytest

from jdd_ros.core.camera import CameraIntrinsics

TUM = CameraIntrinsics(525.0, 525.0, 319.5, 239.5, 640, 480)


def test_back_project_optical_frame_and_round_trip():
    assert TUM.back_project(319.5, 239.5, 2.0) == (0.0, 0.0, 2.0)  # principal point: straight ahead
    x, y, z = TUM.back_project(319.5 + 52.5, 239.5 - 105.0, 2.0)
    assert (x, y, z) == pytest.approx((0.2, -0.4, 2.0))  # right of centre: +x; above: -y (optical frame)
    assert TUM.project(x, y, z) == pytest.approx((372.0, 134.5))


def test_scaled_to_keeps_the_same_rays():
    half = TUM.scaled_to(320, 240)
    assert (half.fx, half.fy, half.cx, half.cy) == pytest.approx((262.5, 262.5, 159.5, 119.5))
    # The same physical pixel (centre of full-res pixel 100.5 -> half-res 50) gives the same 3D point.
    assert half.back_project(50.0, 30.0, 3.0) == pytest.approx(TUM.back_project(100.5, 60.5, 3.0))
    assert TUM.scaled_to(640, 480) is TUM


@pytest.mark.parametrize('values', [(0, 525, 319.5, 239.5, 640, 480), (525, 525, math.nan, 239.5, 640, 480),
                                    (525, 525, 319.5, 239.5, 0, 480)])
def test_invalid_intrinsics_refused(values):
    with pytest.raises(ValueError, match='intrinsics'):
        CameraIntrinsics(*values)


def test_camera_info_k():
    from sensor_msgs.msg import CameraInfo

    from jdd_ros.io.camera_info import intrinsics_from_camera_info

    msg = CameraInfo(width=640, height=480, k=[525.0, 0.0, 319.5, 0.0, 524.0, 239.5, 0.0, 0.0, 1.0])
    assert intrinsics_from_camera_info(msg) == CameraIntrinsics(525.0, 524.0, 319.5, 239.5, 640, 480)
    with pytest.raises(ValueError, match='all zeros'):
        intrinsics_from_camera_info(CameraInfo(width=640, height=480))
    with pytest.raises(ValueError, match='no image size'):
        intrinsics_from_camera_info(CameraInfo(k=msg.k))
    with pytest.raises(ValueError, match='fx'):
        intrinsics_from_camera_info(CameraInfo(width=640, height=480, k=[0.0, 0, 319.5, 0, 525, 239.5, 0, 0, 1]))
