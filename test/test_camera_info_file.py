"""The camera calibration YAML of camera_calibration_parsers (jdd_ros.io.camera_info.read_camera_info_file): the
shipped TUM file gives the frame's intrinsics, and each malformed field is refused by name."""

from __future__ import annotations

import pytest
import yaml
from harness import fixture

from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.io.camera_info import CameraInfoFileError, read_camera_info_file
from jdd_ros.io.frames import KINECT_640x480


def test_the_tum_file_gives_the_frame_s_intrinsics():
    camera = read_camera_info_file(fixture('tum_desk_camera_info.yaml'))
    assert camera == CameraIntrinsics(525.0, 525.0, 319.5, 239.5, 640, 480) == KINECT_640x480


def _write(tmp_path, **changes):
    data = yaml.safe_load(fixture('tum_desk_camera_info.yaml').read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    path = tmp_path / 'cam.yaml'
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize('changes, message', [
    ({'camera_matrix': None}, 'no camera_matrix'),
    ({'image_width': None}, 'no image_width'),
    ({'image_height': 0}, 'image_width and image_height must be positive integers'),
    ({'camera_matrix': {'rows': 3, 'cols': 3, 'data': [525.0, 0, 319.5]}}, 'camera_matrix has rows=3, cols=3 but 3'),
    ({'camera_matrix': {'rows': 1, 'cols': 3, 'data': [525.0, 0, 319.5]}}, 'camera_matrix must be 3x3'),
    ({'camera_matrix': [525.0, 0, 319.5]}, 'camera_matrix must be a mapping'),
    ({'camera_matrix': {'rows': 3, 'cols': 3, 'data': [0, 0, 319.5, 0, 0, 239.5, 0, 0, 1]}}, 'camera_matrix unusable'),
    ({'distortion_coefficients': {'rows': 1, 'cols': 5, 'data': ['a', 0, 0, 0, 0]}},
     'distortion_coefficients.data must be numbers'),
    ({'distortion_coefficients': None}, 'no distortion_coefficients'),
])
def test_a_malformed_field_is_refused_by_name(tmp_path, changes, message):
    with pytest.raises(CameraInfoFileError, match=message):
        read_camera_info_file(_write(tmp_path, **changes))


def test_not_a_mapping_or_not_yaml(tmp_path):
    path = tmp_path / 'cam.yaml'
    path.write_text('- 1\n- 2\n')
    with pytest.raises(CameraInfoFileError, match='expected a mapping'):
        read_camera_info_file(path)
    path.write_text('image_width: [1,\n')
    with pytest.raises(CameraInfoFileError, match='not YAML'):
        read_camera_info_file(path)
