"""Metric depth from the floor on real RGB-D frames: models made in the test from the sensor depth (a relative
inverse-depth model with an arbitrary scale and shift, a metric model off by 1.7x, a model in metres at a reference
focal length), run through DepthEstimator with the camera's intrinsics and the mounting geometry of a floor plane
fitted here to the sensor depth; the box distances must come back within 5 % of the sensor's medians."""

from __future__ import annotations

import json

import numpy as np
import pytest
from floor_models import buffer_model, filled_depth, reference_floor, tile_boxes
from harness import fixture, reference_median, shared_file, tum_desk_frame
from test_box_depth import TUM_BOXES

from jdd_ros.cli import main
from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.core.floor_scale import NO_FLOOR_IN_VIEW, TOO_LITTLE_FLOOR, NoFloorError
from jdd_ros.core.ground import GroundGeometry
from jdd_ros.depth.estimator import NO_CAMERA_HEIGHT, NO_CAMERA_INFO, CameraNeeded, DepthEstimator
from jdd_ros.depth.model import build_depth_model
from jdd_ros.io.frames import KINECT_640x480, read_rgbd
from jdd_ros.params import snapshot

pytestmark = pytest.mark.timeout(300)
TOLERANCE = 0.05
PAIRS = [(0.8, 0.1), (37.0, -4.0)]  # (s, t): raw = s / depth + t


def _frame(name: str):
    if name == 'tum_desk':
        return tum_desk_frame(), TUM_BOXES
    color = shared_file('data', 'rgbd', 'sun_corridor_color.png')
    frame = read_rgbd(color, shared_file('data', 'rgbd', 'sun_corridor_depth_mm.png'), 0.001, KINECT_640x480)
    return frame, tile_boxes()


@pytest.fixture(scope='module', params=['tum_desk', 'sun_corridor'])
def scene(request):
    frame, boxes = _frame(request.param)
    sensor = np.nan_to_num(frame.depth_m)
    ref = reference_floor(sensor, 525.0, 525.0, 319.5, 239.5)
    geometry = GroundGeometry(ref['height'], ref['pitch'], ref['roll'])
    references = {}
    for name, box in boxes.items():  # boxes with enough sensor readings to have a reference
        region = sensor[int(box[1]):int(box[3]), int(box[0]):int(box[2])]
        if (region > 0).mean() > 0.5:
            references[name] = reference_median(sensor, box)
    return request.param, frame, filled_depth(sensor), geometry, boxes, references


def _box_errors(depth: np.ndarray, boxes: dict, references: dict) -> dict[str, float]:
    return {name: reference_median(depth, boxes[name]) / ref - 1 for name, ref in references.items()}


def _run(path, frame, geometry, intrinsics=KINECT_640x480, frames: int = 1):
    est = DepthEstimator.from_onnx(path)
    aligner = est.floor_aligner()
    raw = est.run_network(est.preprocess(frame.rgb)[None])[0]
    for i in range(frames):
        depth, applied = est.postprocess_camera(raw, frame.rgb.shape[:2], intrinsics, geometry, aligner, i / 30)
    return depth, applied


def _report(label: str, errors: dict[str, float], applied) -> None:
    print(f"\n{label}: " + ', '.join(f'{k} {100 * v:+.2f} %' for k, v in errors.items())
          + (f'; floor fraction {100 * applied.fit.floor_fraction:.1f} %' if applied else ''))


def test_reference_geometry_is_the_issues(scene):
    name, _, _, geometry, _, references = scene
    if name == 'tum_desk':  # the issue measured 1.78 m and about 29 degrees with its own fit
        assert geometry.height == pytest.approx(1.78, abs=0.05) and geometry.pitch == pytest.approx(29, abs=2)
    assert len(references) >= 5


@pytest.mark.parametrize('s, t', PAIRS)
def test_relative_inverse_model_gets_metres_from_the_floor(scene, tmp_path, s, t):
    name, frame, filled, geometry, boxes, references = scene
    path = buffer_model(tmp_path / 'rel.onnx', s / filled + t,
                        {'output_kind': 'relative_inverse', 'alignment': 'ground', 'mean': [0, 0, 0], 'std': [1, 1, 1]})
    depth, applied = _run(path, frame, geometry)
    errors = _box_errors(depth, boxes, references)
    _report(f'{name} relative s={s} t={t}', errors, applied)
    assert max(abs(e) for e in errors.values()) < TOLERANCE, errors
    assert applied.fit.floor_fraction > 0.05
    # The same frame again: the smoothing of equal fits changes nothing.
    again, _ = _run(path, frame, geometry, frames=3)
    np.testing.assert_allclose(again, depth, rtol=1e-5)


def test_relative_inverse_model_without_the_floor_fit_is_not_metric(scene, tmp_path):
    """The reason for the fit: the same model read with a fixed scale (1/s, shift 0) is off."""
    name, frame, filled, _, boxes, references = scene
    s, t = PAIRS[1]
    path = buffer_model(tmp_path / 'fixed.onnx', s / filled + t,
                        {'output_kind': 'relative_inverse', 'output_scale': 1 / s, 'output_shift': 0.0})
    depth = DepthEstimator.from_onnx(path).predict(frame.rgb)
    errors = _box_errors(depth, boxes, references)
    assert max(abs(e) for e in errors.values()) > 0.2, errors


def test_metric_model_off_by_1_7_gets_its_scale_from_the_floor(scene, tmp_path):
    name, frame, filled, geometry, boxes, references = scene
    path = buffer_model(tmp_path / 'metric.onnx', filled / 1.7,
                        {'output_kind': 'metric', 'alignment': 'ground', 'mean': [0, 0, 0], 'std': [1, 1, 1]})
    depth, applied = _run(path, frame, geometry)
    errors = _box_errors(depth, boxes, references)
    _report(f'{name} metric x1/1.7', errors, applied)
    assert applied.scale == pytest.approx(1.7, rel=0.03) and applied.shift == 0.0
    assert max(abs(e) for e in errors.values()) < TOLERANCE, errors


@pytest.mark.parametrize('size', [(480, 640), (240, 320)])
def test_metric_focal_model_uses_the_camera_focal_length(scene, tmp_path, size):
    """Metres = raw x fx / 300 with fx at the network input: the model's buffer is made for a 525 px camera."""
    name, frame, filled, _, boxes, references = scene
    h, w = size
    fx_in = 525.0 * w / 640
    buffer = cv2_resize(filled, (w, h)) * 300.0 / fx_in
    path = buffer_model(tmp_path / 'focal.onnx', buffer, {'output_kind': 'metric_focal', 'mean': [0, 0, 0],
                                                          'std': [1, 1, 1]})
    depth, applied = _run(path, frame, None)
    assert applied is None
    errors = _box_errors(depth, boxes, references)
    _report(f'{name} metric_focal {w}x{h}', errors, None)
    assert max(abs(e) for e in errors.values()) < TOLERANCE, errors
    # A camera with twice the focal length (same image size): twice the distances.
    long_lens = CameraIntrinsics(1050.0, 1050.0, 319.5, 239.5, 640, 480)
    far, _ = _run(path, frame, None, intrinsics=long_lens)
    np.testing.assert_allclose(far, 2 * depth, rtol=1e-5)
    with pytest.raises(CameraNeeded) as err:
        _run(path, frame, None, intrinsics=None)
    assert err.value.cause == NO_CAMERA_INFO


def cv2_resize(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(depth, size, interpolation=cv2.INTER_AREA)


def test_too_little_floor_gives_no_depth(scene, tmp_path):
    name, frame, filled, geometry, _, _ = scene
    path = buffer_model(tmp_path / 'rel.onnx', 2.0 / filled, {'output_kind': 'relative_inverse',
                                                              'alignment': 'ground'})
    with pytest.raises(NoFloorError) as err:  # the camera said to look 40 degrees up: no floor in view
        _run(path, frame, GroundGeometry(geometry.height, -40.0, 0.0))
    assert err.value.cause == NO_FLOOR_IN_VIEW
    wall = buffer_model(tmp_path / 'wall.onnx', np.full_like(filled, 2.0 / 0.9),
                        {'output_kind': 'relative_inverse', 'alignment': 'ground'})
    with pytest.raises(NoFloorError) as err:  # a wall 0.9 m ahead fills the view
        _run(wall, frame, geometry)
    assert err.value.cause == TOO_LITTLE_FLOOR
    with pytest.raises(CameraNeeded) as err:
        _run(path, frame, None)
    assert err.value.cause == NO_CAMERA_HEIGHT


def test_models_that_need_the_camera_are_refused_where_it_is_not_given(tmp_path):
    frame = tum_desk_frame()
    path = buffer_model(tmp_path / 'rel.onnx', np.ones((48, 64), np.float32), {'output_kind': 'relative_inverse',
                                                                               'alignment': 'ground'})
    with pytest.raises(RuntimeError, match='needs the camera'):
        DepthEstimator.from_onnx(path).predict(frame.rgb)
    params = snapshot('depth_node', {'onnx_model': str(path)})
    with pytest.raises(ValueError, match='needs the camera'):
        build_depth_model(params)
    assert build_depth_model(params, camera=True).needs_camera


def test_jdd_ros_fuse_gets_metres_from_the_floor(tmp_path, capsys):
    """The offline tool with the same model: real yolov4-tiny detections on the TUM frame, the camera from
    --camera-info and the geometry from the --camera-* flags; each grounded object's distance within 5 % of the
    sensor's median over the region the fusion reads."""
    frame = tum_desk_frame()
    sensor = np.nan_to_num(frame.depth_m)
    ref = reference_floor(sensor, 525.0, 525.0, 319.5, 239.5)
    s, t = PAIRS[1]
    path = buffer_model(tmp_path / 'rel.onnx', s / filled_depth(sensor) + t,
                        {'output_kind': 'relative_inverse', 'alignment': 'ground', 'mean': [0, 0, 0], 'std': [1, 1, 1]})
    args = ['fuse', str(fixture('tum_desk_color.png')), '--depth-onnx', str(path), '--json', str(tmp_path / 'o.json')]
    assert main(args) == 2  # without the camera: one line saying what to give
    assert '--camera-info' in capsys.readouterr().err
    geometry = ['--camera-height', f"{ref['height']:.4f}", '--camera-pitch', f"{ref['pitch']:.3f}",
                '--camera-roll', f"{ref['roll']:.3f}"]
    assert main(args + ['--camera-info', str(fixture('tum_desk_camera_info.yaml'))] + geometry) == 0
    detections = json.loads((tmp_path / 'o.json').read_text())['detections']
    chairs = [d for d in detections if d['class_name'] == 'chair']
    assert len(chairs) == 2
    for det in chairs:
        reference = reference_median(sensor, det['bbox_xyxy'])
        print(f"chair {det['depth_m']:.3f} m vs sensor {reference:.3f} m")
        assert det['depth_m'] == pytest.approx(reference, rel=TOLERANCE)
