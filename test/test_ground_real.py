"""The floor method on real RGB-D frames (TUM desk from test/fixtures, its mirror image, SUN corridor from ../shared):
``jdd-ros calibrate-ground`` against the floor fitted here independently (test/ground_reference.py), and
``jdd-ros fuse --depth-source ground`` (real yolov4-tiny, no depth at all) against the sensor depth at each grounded
detection's foot point."""

from __future__ import annotations

import csv
import json
import math

import cv2
import numpy as np
import pytest
import yaml
from ground_reference import FLOOR_REGIONS, ReferenceFloor, reference_floor
from harness import fixture, shared_file, yolov4_tiny_files

from jdd_ros.cli import main

K = (525.0, 525.0, 319.5, 239.5)  # fx, fy, cx, cy of test/fixtures/tum_desk_camera_info.yaml
FOOT_WINDOW = 3  # the sensor depth at a foot point: the median of the valid pixels within this many pixels of it


def _depth_png(name: str, tmp_path) -> str:
    """The frame's 16-bit depth PNG (the mirror image written to tmp_path)."""
    if name == 'sun_corridor':
        return str(shared_file('data', 'rgbd', 'sun_corridor_depth_mm.png'))
    path = fixture('tum_desk_depth_mm.png')
    if name == 'tum_desk':
        return str(path)
    out = tmp_path / 'tum_desk_mirrored_depth_mm.png'
    cv2.imwrite(str(out), np.ascontiguousarray(cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[:, ::-1]))
    return str(out)


def _color_png(name: str, tmp_path) -> str:
    if name == 'sun_corridor':
        return str(shared_file('data', 'rgbd', 'sun_corridor_color.png'))
    path = fixture('tum_desk_color.png')
    if name == 'tum_desk':
        return str(path)
    out = tmp_path / 'tum_desk_mirrored_color.png'
    cv2.imwrite(str(out), np.ascontiguousarray(cv2.imread(str(path))[:, ::-1]))
    return str(out)


def _metres(depth_png: str) -> np.ndarray:
    raw = cv2.imread(depth_png, cv2.IMREAD_UNCHANGED).astype(np.float64)
    return np.where(raw > 0, raw * 0.001, np.nan)


def _reference(name: str, depth_png: str) -> ReferenceFloor:
    return reference_floor(_metres(depth_png), FLOOR_REGIONS[name], *K)


FRAMES = ['tum_desk', 'tum_desk_mirrored', 'sun_corridor']


@pytest.mark.parametrize('name', FRAMES)
def test_the_reference_floor_is_a_plane_below_the_camera(name, tmp_path):
    ref = _reference(name, _depth_png(name, tmp_path))
    assert ref.points > 20_000 and ref.rms_m < 0.02  # many pixels, within Kinect noise of one plane
    assert 0.5 < ref.height < 2.5 and -5 < ref.pitch < 60 and abs(ref.roll) < 10


@pytest.mark.parametrize('name', FRAMES)
def test_calibrate_ground_recovers_the_reference_geometry(name, tmp_path, capsys):
    depth = _depth_png(name, tmp_path)
    ref = _reference(name, depth)
    assert main(['calibrate-ground', depth, '--depth-scale', '0.001', '--camera-info',
                 str(fixture('tum_desk_camera_info.yaml'))]) == 0
    out = capsys.readouterr().out
    found = yaml.safe_load(out)  # params-YAML lines; the fit's quality is a comment line
    print(f'{name}: calibrate-ground {found} vs reference height {ref.height:.3f} pitch {ref.pitch:.2f} '
          f'roll {ref.roll:.2f}\n{out}')
    assert set(found) == {'camera_height', 'camera_pitch', 'camera_roll'}
    assert found['camera_height'] == pytest.approx(ref.height, abs=0.02)
    assert found['camera_pitch'] == pytest.approx(ref.pitch, abs=1.0)
    assert found['camera_roll'] == pytest.approx(ref.roll, abs=1.0)
    assert 'residual' in out and 'floor fraction' in out


def test_calibrate_ground_refuses_a_frame_without_floor(tmp_path, capsys):
    wall = tmp_path / 'wall.png'  # a wall 2 m ahead, facing the camera: upright, not upward
    cv2.imwrite(str(wall), np.full((480, 640), 2000, dtype=np.uint16))
    assert main(['calibrate-ground', str(wall), '--camera-info', str(fixture('tum_desk_camera_info.yaml'))]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'no floor found' in err


def _foot_depth(depth_m: np.ndarray, box: list[float]) -> float:
    """The sensor depth at the box's bottom-centre: the median of the valid pixels around it."""
    u, v = round((box[0] + box[2]) / 2), min(round(box[3]), depth_m.shape[0] - 1)
    window = depth_m[max(v - FOOT_WINDOW, 0):v + FOOT_WINDOW + 1, max(u - FOOT_WINDOW, 0):u + FOOT_WINDOW + 1]
    return float(np.nanmedian(window))


def _fuse_ground(color: str, ref: ReferenceFloor, tmp_path, *extra: str) -> dict:
    out = tmp_path / 'ground.json'
    model = [arg for key, path in yolov4_tiny_files().items() for arg in (f'--{key}', path)]
    assert main(['fuse', color, '--depth-source', 'ground', '--camera-height', str(ref.height),
                 '--camera-pitch', str(ref.pitch), '--camera-roll', str(ref.roll), '--camera-info',
                 str(fixture('tum_desk_camera_info.yaml')), *model, '--json', str(out), *extra]) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize('name', FRAMES)
def test_ground_distances_match_the_sensor_at_the_foot_point(name, tmp_path):
    depth_png = _depth_png(name, tmp_path)
    ref, depth = _reference(name, depth_png), _metres(depth_png)
    doc = _fuse_ground(_color_png(name, tmp_path), ref, tmp_path)
    assert doc['depth_source'] == 'ground' and doc['dropped'] == []
    grounded = [d for d in doc['detections'] if d['depth_m'] is not None]
    for det in grounded:
        sensor = _foot_depth(depth, det['bbox_xyxy'])
        print(f"{name}: {det['class_name']} {det['bbox_xyxy']}: floor {det['depth_m']:.3f} m (+- "
              f"{det['depth_std_m']:.3f}), sensor at the foot point {sensor:.3f} m, "
              f"{100 * (det['depth_m'] / sensor - 1):+.1f} %")
        assert det['depth_source'] == 'floor' and det['class_name'] in ('chair', 'person', 'refrigerator')
        assert det['depth_m'] == pytest.approx(sensor, rel=0.05)
        assert det['depth_std_m'] > 0
    for det in doc['detections']:
        if det['depth_m'] is None:
            print(f"{name}: {det['class_name']} {det['bbox_xyxy']}: no distance ({det['no_depth_reason']})")
            assert det['no_depth_reason']
    if name.startswith('tum_desk'):  # the yellow chair stands in full view; the red one is cut by the bottom edge
        assert [d['class_name'] for d in grounded] == ['chair']
        assert {d.get('no_depth_reason') for d in doc['detections'] if d['class_name'] == 'chair'} == {
            'box cut by the image bottom edge', None}


def test_a_limit_drops_the_unmeasured_detections_as_unmeasured(tmp_path):
    ref = _reference('tum_desk', str(fixture('tum_desk_depth_mm.png')))
    doc = _fuse_ground(str(fixture('tum_desk_color.png')), ref, tmp_path, '--max-depth', '5')
    assert sorted(d['class_name'] for d in doc['detections']) == ['chair', 'chair']
    measured = [d for d in doc['detections'] if d['depth_m'] is not None]
    assert len(measured) == 1 and measured[0]['depth_m'] < 5  # the yellow chair, on the floor in view
    # The red chair, cut by the image's bottom edge: no distance, but surely nearer than the floor at the bottom row
    [cut] = [d for d in doc['detections'] if d['depth_m'] is None]
    assert cut['no_depth_reason'] == 'box cut by the image bottom edge' and 0 < cut['depth_at_most_m'] < 5
    assert doc['dropped'] and all(d['depth_m'] is None and d['dropped_reason'].startswith('no depth: ')
                                  for d in doc['dropped'])
    assert not any('depth_at_most_m' in d for d in doc['dropped'])
    doc = _fuse_ground(str(fixture('tum_desk_color.png')), ref, tmp_path, '--max-depth', '1')
    assert 'chair' not in [d['class_name'] for d in doc['detections']]  # 1 m: neither chair is surely within it


def test_process_a_folder_with_ground_distances(tmp_path):
    ref = _reference('tum_desk', str(fixture('tum_desk_depth_mm.png')))
    frames = tmp_path / 'frames'
    frames.mkdir()
    for i in range(2):
        (frames / f'{i:03d}.png').write_bytes(fixture('tum_desk_color.png').read_bytes())
    model = [arg for key, path in yolov4_tiny_files().items() for arg in (f'--{key}', path)]
    assert main(['process', str(frames), '--out', str(tmp_path / 'out'), '--depth-source', 'ground',
                 '--camera-height', str(ref.height), '--camera-pitch', str(ref.pitch), '--camera-roll',
                 str(ref.roll), '--camera-info', str(fixture('tum_desk_camera_info.yaml')), *model,
                 '--no-progress']) == 0
    rows = list(csv.DictReader((tmp_path / 'out.csv').open()))
    measured = [r for r in rows if r['depth_m']]
    assert [r['frame'] for r in measured] == ['0', '1'] and {r['class_name'] for r in measured} == {'chair'}
    assert {r['depth_source'] for r in measured} == {'floor'}
    assert {r['no_depth_reason'] for r in rows if not r['depth_m']} == {'class not in ground_classes',
                                                                        'box cut by the image bottom edge'}
    z = float(measured[0]['depth_m'])
    assert math.isclose(z, float(measured[1]['depth_m']))
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == ['000000.png', '000001.png']


@pytest.mark.parametrize('extra, message', [
    ([], '--depth-source ground needs --camera-height'),
    (['--camera-height', '1.7'], '--depth-source ground needs --camera-info'),
    (['--camera-height', '1.7', '--camera-info', 'CAM', '--depth-image', 'D.png'], 'uses no depth'),
    (['--camera-height', '-1', '--camera-info', 'CAM'], 'camera_height must be >= 0.0'),
])
def test_fuse_ground_refuses_what_it_cannot_use(extra, message, capsys):
    extra = [str(fixture('tum_desk_camera_info.yaml')) if a == 'CAM' else a for a in extra]
    assert main(['fuse', str(fixture('tum_desk_color.png')), '--depth-source', 'ground', *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


@pytest.mark.parametrize('extra, message', [
    (['--depth-source', 'sensor'], '--depth-source sensor needs --depth-image'),
    (['--depth-source', 'model', '--depth-image', 'D'], '--depth-source model takes a depth model'),
])
def test_fuse_depth_source_must_match_the_depth_given(extra, message, capsys):
    extra = [str(fixture('tum_desk_depth_mm.png')) if a == 'D' else a for a in extra]
    assert main(['fuse', str(fixture('tum_desk_color.png')), *extra]) == 2
    assert message in capsys.readouterr().err
